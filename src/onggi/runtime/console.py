"""Terminals: the container's pty (made inside the container's devpts) and runc's
``--console-socket`` protocol (the master end sent over a unix socket with SCM_RIGHTS)."""

from __future__ import annotations

import fcntl
import os
import struct

from ..errors import InvalidArgument
from ..sys import libc as L

TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413
TIOCSCTTY = 0x540E


def open_pty() -> tuple[int, int, str]:
    """(master, slave, slave path) from the current /dev/ptmx."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
    path = f"/dev/pts/{n}"
    slave = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return master, slave, path


def set_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def setup_console(console_fd: int | None, size: tuple[int, int] | None, in_mount_ns: bool) -> None:
    """In the container's init, after pivot_root: make the pty, bind it on /dev/console,
    make it the controlling terminal and stdio, and send the master to the caller."""
    if console_fd is None or console_fd < 0:
        raise InvalidArgument("process.terminal is true but no --console-socket was given")
    master, slave, path = open_pty()
    if size:
        set_size(master, *size)
    else:
        # attached to the caller's terminal (run, exec): its window size, before the
        # program can ask for it
        try:
            fcntl.ioctl(master, TIOCSWINSZ, fcntl.ioctl(0, TIOCGWINSZ, b"\0" * 8))
        except OSError:
            pass
    if in_mount_ns:
        from ..sys.securejoin import ensure_file, proc_fd_path

        root = os.open("/", os.O_PATH | os.O_CLOEXEC)
        try:
            fd = ensure_file(root, "/dev/console", 0o600)
            try:
                L.mount(path, proc_fd_path(fd), None, L.MS_BIND)
            finally:
                os.close(fd)
        finally:
            os.close(root)
    send_fd(console_fd, master, "/dev/ptmx")
    os.close(master)
    os.close(console_fd)
    for i in (0, 1, 2):
        os.dup2(slave, i)
    os.close(slave)
    fcntl.ioctl(0, TIOCSCTTY, 0)


def send_fd(sock_fd: int, fd: int, name: str) -> None:
    import socket

    s = socket.socket(fileno=os.dup(sock_fd))
    try:
        socket.send_fds(s, [name.encode()], [fd])
    finally:
        s.close()


def connect_socket(path: str) -> int:
    """Connect to a console socket; the fd is inherited by the container's init."""
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise InvalidArgument(f"--console-socket {path}: cannot connect: {e.strerror}") from None
    fd = s.detach()
    os.set_inheritable(fd, False)
    return fd


def recv_fd(sock_fd: int) -> int:
    import socket

    s = socket.socket(fileno=os.dup(sock_fd))
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(s, 4096, 1)
    finally:
        s.close()
    if not fds:
        raise InvalidArgument("console socket: no file descriptor received")
    return fds[0]
