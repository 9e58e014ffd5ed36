"""Network namespaces pinned to a file: create one (bind-mounted on an empty file, the
way ``ip netns add`` does), tell whether a file holds one, and remove it.

A new namespace is made in a short-lived thread: network namespaces belong to a task
(thread), so ``unshare(CLONE_NEWNET)`` there leaves the rest of the process where it was,
and no fork is needed. The thread bind-mounts its own ``ns/net`` on the file and exits;
the mount keeps the namespace alive."""

from __future__ import annotations

import errno
import os
import threading

from .libc import CLONE_NEWNET, MNT_DETACH, MS_BIND, mount, umount2, unshare

__all__ = ["create_netns", "is_netns", "remove_netns", "loopback_up"]

_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace (a new one has it
    down; runc brings it up in every new network namespace, and so does the runtime)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def create_netns(path: str, sysctls: dict[str, str] | None = None) -> None:
    """A new, empty network namespace pinned at ``path`` (which must not exist), with
    ``sysctls`` (``{"net/ipv4/ping_group_range": "0 0"}``) set inside it."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, 0o444)
    os.close(fd)
    failure: list[OSError] = []

    def pin() -> None:
        try:
            unshare(CLONE_NEWNET)
            for key, value in (sysctls or {}).items():  # /proc/sys/net follows this thread's netns
                with open(f"/proc/sys/{key}", "w") as f:
                    f.write(value)
            mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, MS_BIND)
        except OSError as e:
            failure.append(e)

    t = threading.Thread(target=pin, name="onggi-netns")
    t.start()
    t.join()
    if failure:
        os.unlink(path)
        raise failure[0]


def is_netns(path: str) -> bool:
    """Whether ``path`` has a namespace mounted on it (a different device than its dir)."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(os.path.abspath(path)))
    except FileNotFoundError:
        return False
    return st.st_dev != parent.st_dev


def remove_netns(path: str) -> None:
    """Unmount and remove the file; a missing file or a missing mount is fine."""
    try:
        umount2(path, MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
