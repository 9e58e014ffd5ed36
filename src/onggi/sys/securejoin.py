"""Resolve untrusted paths inside a root directory without ever leaving it.

Every path that comes from an image, a layer, config.json or an API request is opened
through these helpers: symlinks (absolute or with ``..``) are resolved as if the root
were ``/``, and ``/proc/self/fd``-style magic links are refused. On Linux >= 5.6 this is
``openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``, done by the kernel; elsewhere a
userspace walk with the same semantics.

The results are ``O_PATH`` file descriptors: act on them (``/proc/self/fd/N`` as a mount
target, ``dir_fd=`` arguments), never on a re-joined string path, so that nothing can be
swapped between the check and the use.
"""

from __future__ import annotations

import errno
import os

from . import libc

__all__ = ["open_in_root", "mkdir_all", "ensure_file", "proc_fd_path", "clean_parts"]

_RESOLVE = libc.RESOLVE_IN_ROOT | libc.RESOLVE_NO_MAGICLINKS
_have_openat2: bool | None = None
_MAX_LINKS = 255


def proc_fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def clean_parts(path: str) -> list[str]:
    """The components of ``path`` cleaned lexically (no ``.``, ``..`` stops at the root)."""
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return parts


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH, mode: int = 0) -> int:
    """Open ``path`` as seen from ``root_fd`` treated as ``/``. Raises OSError."""
    global _have_openat2
    flags |= os.O_CLOEXEC
    if _have_openat2 is not False:
        try:
            fd = libc.openat2(root_fd, path.lstrip("/") or ".", flags, mode, _RESOLVE)
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM) or _have_openat2:
                if e.errno == errno.EAGAIN:  # a rename raced the lookup; the walk retries
                    return _walk(root_fd, path, flags, mode)
                raise
            _have_openat2 = False  # no openat2 here (old kernel, or a seccomp filter)
        else:
            _have_openat2 = True  # a later EPERM is then a real one, not a missing syscall
            return fd
    return _walk(root_fd, path, flags, mode)


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def _walk(root_fd: int, path: str, flags: int, mode: int) -> int:
    """Userspace RESOLVE_IN_ROOT: follow each symlink by hand, clamping ``..`` at root.

    ``..`` is resolved as the kernel does, against the directory actually reached (after
    any symlinks), never by string; every directory on the way is opened O_NOFOLLOW."""
    todo = _parts(path)
    links = 0
    stack = [os.dup(root_fd)]  # the root, then each directory walked into
    try:
        while todo:
            name = todo.pop(0)
            last = not todo
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            cur = stack[-1]
            try:
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
            except FileNotFoundError:
                if last and flags & os.O_CREAT:
                    return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=cur)
                raise
            if (st.st_mode & 0o170000) == 0o120000:
                if last and (flags & os.O_NOFOLLOW or flags & os.O_CREAT and flags & os.O_EXCL):
                    # the kernel does not follow a final symlink here: ELOOP, EEXIST, or
                    # (O_PATH|O_NOFOLLOW) the link itself
                    return os.open(name, flags, mode, dir_fd=cur)
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                target = os.readlink(name, dir_fd=cur)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo = _parts(target) + todo
                continue
            if last:
                fd = os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=cur)
                if (flags & (os.O_PATH | os.O_NOFOLLOW) == os.O_PATH
                        and (os.fstat(fd).st_mode & 0o170000) == 0o120000):
                    # swapped for a symlink since the stat (O_PATH|O_NOFOLLOW opens the
                    # link itself): look again
                    os.close(fd)
                    todo = [name]
                    continue
                return fd
            stack.append(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 dir_fd=cur))
        return os.open(".", flags, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def mkdir_all(root_fd: int, path: str, mode: int = 0o755, _depth: int = 0) -> int:
    """Make every missing directory of ``path`` inside the root; return an O_PATH fd of
    the final directory. An existing non-directory on the way is ``ENOTDIR``."""
    parts = clean_parts(path)
    cur = os.dup(root_fd)
    try:
        for i, name in enumerate(parts):
            sub = "/".join(parts[: i + 1])
            try:
                nxt = open_in_root(root_fd, sub, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                try:
                    os.mkdir(name, mode, dir_fd=cur)
                except FileExistsError:
                    # a dangling symlink (make its target, inside the root) or a racer
                    if _depth > 40:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links", path) from None
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                    if (st.st_mode & 0o170000) == 0o120000:
                        target = os.readlink(name, dir_fd=cur)
                        base = "" if target.startswith("/") else "/".join(parts[:i])
                        os.close(mkdir_all(root_fd, base + "/" + target, mode, _depth + 1))
                nxt = open_in_root(root_fd, sub, os.O_PATH | os.O_DIRECTORY)
            os.close(cur)
            cur = nxt
        return os.dup(cur)
    finally:
        os.close(cur)


def ensure_file(root_fd: int, path: str, mode: int = 0o644, _depth: int = 0) -> int:
    """An O_PATH fd of the file at ``path`` (made empty if missing), for bind mounts of
    files and masked paths. A dangling symlink on the way gets its target made, inside
    the root (as runc does for ``/etc/resolv.conf -> ../run/...``)."""
    try:
        return open_in_root(root_fd, path, os.O_PATH)
    except FileNotFoundError:
        pass
    parts = clean_parts(path)
    if not parts:
        raise OSError(errno.EISDIR, "is the root", path)
    parent = mkdir_all(root_fd, "/".join(parts[:-1]), 0o755)
    try:
        try:
            fd = os.open(parts[-1], os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode, dir_fd=parent)
            os.close(fd)
        except FileExistsError:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            if (st.st_mode & 0o170000) == 0o120000:
                if _depth > 40:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path) from None
                target = os.readlink(parts[-1], dir_fd=parent)
                base = "" if target.startswith("/") else "/".join(parts[:-1])
                os.close(ensure_file(root_fd, base + "/" + target, mode, _depth + 1))
    finally:
        os.close(parent)
    return open_in_root(root_fd, path, os.O_PATH)
