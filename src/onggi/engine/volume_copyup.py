"""Filling a new volume from the image, as podman does: what the image holds at the
volume's path is copied into the empty volume (files, directories, symlinks, device
nodes, fifos, hard links; owners, modes, times and extended attributes), and the volume's
top directory takes the owner and mode of the image's directory.

The image's tree is untrusted: it is opened through the secure join and walked with
file descriptors only (``O_NOFOLLOW``, ``dir_fd=``), so a symlink in the image can never
make the copy read a host file.
"""

from __future__ import annotations

import errno
import os
import stat

from ..sys.securejoin import open_in_root

__all__ = ["copy_up", "chown_tree"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_up(rootfs: str, path: str, dest: str) -> bool:
    """Copy the content of ``path`` (inside ``rootfs``) into the directory ``dest``.
    False (nothing done) when the image has no directory there."""
    try:
        root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        try:
            src = open_in_root(root, path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except Exception:  # noqa: BLE001 - missing, not a directory, or escaping: nothing to copy
            return False
    finally:
        os.close(root)
    try:
        st = os.fstat(src)
        links: dict[tuple[int, int], str] = {}
        _copy_dir(src, dest, links)
        _attrs(dest, st, src_fd=src)
    finally:
        os.close(src)
    return True


def _copy_dir(src_fd: int, dest: str, links: dict[tuple[int, int], str]) -> None:
    for name in os.listdir(src_fd):
        st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
        target = os.path.join(dest, name)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(target, 0o700)
            fd = os.open(name, _DIR_FLAGS, dir_fd=src_fd)
            try:
                _copy_dir(fd, target, links)
                _attrs(target, st, src_fd=fd)
            finally:
                os.close(fd)
            continue
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], target, follow_symlinks=False)
            continue
        if stat.S_ISREG(mode):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
            try:
                _copy_file(fd, target, st.st_size)
                _attrs(target, st, src_fd=fd)
            finally:
                os.close(fd)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), target)
            _attrs(target, st, symlink=True)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(target, stat.S_IFMT(mode) | 0o600, st.st_rdev)
            _attrs(target, st)
        else:
            continue  # sockets mean nothing in a copy
        if st.st_nlink > 1:
            links[key] = target


def _copy_file(fd: int, target: str, size: int) -> None:
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        left = size
        while left > 0:
            try:
                n = os.sendfile(out, fd, None, min(left, 1 << 30))
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.ENOSYS):
                    raise
                n = os.write(out, os.read(fd, 1 << 20))
            if n == 0:
                break
            left -= n
    finally:
        os.close(out)


def _attrs(target: str, st: os.stat_result, src_fd: int | None = None, symlink: bool = False) -> None:
    """Owner, mode, extended attributes and times of ``st`` onto ``target``."""
    os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)
    if symlink:
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    os.chmod(target, stat.S_IMODE(st.st_mode))
    if src_fd is not None:
        try:
            for attr in os.listxattr(src_fd):
                try:
                    os.setxattr(target, attr, os.getxattr(src_fd, attr))
                except OSError:
                    pass  # e.g. security.* the host refuses: the data matters more
        except OSError:
            pass
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def chown_tree(path: str, uid: int, gid: int, recursive: bool) -> None:
    """chown ``path`` (and, if ``recursive``, everything under it, not following links)."""
    os.chown(path, uid, gid, follow_symlinks=False)
    if not recursive:
        return
    for top, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(top, n), uid, gid, follow_symlinks=False)
