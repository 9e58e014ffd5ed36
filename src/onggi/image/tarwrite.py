"""A directory tree as a tar stream, everything kept: owners, modes (setuid too), mtimes,
symlinks, hard links, device nodes, fifos and extended attributes (PAX
``SCHILY.xattr.*`` records, as GNU tar and the container tools write them).

The tree may belong to a running container, so it is walked by file descriptors:
every entry is opened relative to its parent directory's descriptor with
``O_NOFOLLOW``, and a directory swapped for a symlink between listing and opening is
refused by the kernel rather than followed to the host. Sockets are skipped (tar has no
type for them), as GNU tar does.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO, Iterator

__all__ = ["write_tree", "add_dir", "add_file", "entries", "tar_info", "xattrs", "FdReader"]

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class FdReader:
    """Reads a file descriptor for ``tarfile.addfile``, which reads exactly ``size``
    bytes: a file that shrank meanwhile is padded with zeros, one that grew is cut."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.left = fd, size

    def read(self, n: int = _CHUNK) -> bytes:
        n = min(n, self.left)
        if n <= 0:
            return b""
        data = os.read(self.fd, n) or bytes(n)
        self.left -= len(data)
        return data


def xattrs(target: int | str) -> dict[str, str]:
    """``target``: an open descriptor, or a path whose last component is not followed."""
    follow = isinstance(target, int)  # (a descriptor cannot be "followed"; Python refuses the flag)
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError:
        return {}
    out = {}
    for name in names:
        try:
            value = os.getxattr(target, name, follow_symlinks=follow)
        except OSError:
            continue
        # PAX records are text: tarfile encodes str values as UTF-8 with surrogateescape
        out[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    return out


def tar_info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    return info


def entries(dfd: int) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(dfd) as it:
        names = sorted(e.name for e in it)
    for name in names:
        try:
            yield name, os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed meanwhile (a running container)


def write_tree(root: str, out: BinaryIO) -> None:
    """Write the tree at ``root`` (its contents, named ``./...`` like ``tar -C root .``)
    to ``out`` as a PAX tar."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        top = os.open(root, _DIR_FLAGS)
        try:
            st = os.fstat(top)
            info = tar_info(".", st)
            info.type = tarfile.DIRTYPE
            info.pax_headers = xattrs(top)
            tf.addfile(info)
            add_dir(tf, top, ".", links)
        finally:
            os.close(top)


def add_dir(tf: tarfile.TarFile, dfd: int, prefix: str, links: dict[tuple[int, int], str]) -> None:
    for name, st in entries(dfd):
        arc = f"{prefix}/{name}"
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except (FileNotFoundError, NotADirectoryError, OSError):
                continue  # replaced meanwhile: never followed
            try:
                info = tar_info(arc, os.fstat(child))
                info.type = tarfile.DIRTYPE
                info.pax_headers = xattrs(child)
                tf.addfile(info)
                add_dir(tf, child, arc, links)
            finally:
                os.close(child)
        elif stat.S_ISREG(mode):
            add_file(tf, dfd, name, arc, st, links)
        elif stat.S_ISLNK(mode):
            info = tar_info(arc, st)
            info.type = tarfile.SYMTYPE
            try:
                info.linkname = os.readlink(name, dir_fd=dfd)
            except OSError:
                continue
            info.pax_headers = xattrs(f"/proc/self/fd/{dfd}/{name}")
            tf.addfile(info)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            info = tar_info(arc, st)
            info.type = (tarfile.CHRTYPE if stat.S_ISCHR(mode) else
                         tarfile.BLKTYPE if stat.S_ISBLK(mode) else tarfile.FIFOTYPE)
            if not stat.S_ISFIFO(mode):
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            info.pax_headers = xattrs(f"/proc/self/fd/{dfd}/{name}")
            tf.addfile(info)
        # sockets: skipped


def add_file(tf: tarfile.TarFile, dfd: int, name: str, arc: str, st: os.stat_result,
              links: dict[tuple[int, int], str]) -> None:
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and key in links:
        info = tar_info(arc, st)
        info.type = tarfile.LNKTYPE
        info.linkname = links[key]
        tf.addfile(info)
        return
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dfd)
    except OSError:
        return  # replaced by a symlink or removed meanwhile: never followed
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return
        os.set_blocking(fd, True)
        info = tar_info(arc, st)
        info.size = st.st_size
        info.pax_headers = xattrs(fd)
        tf.addfile(info, FdReader(fd, st.st_size))
        if st.st_nlink > 1:
            links[key] = arc
    finally:
        os.close(fd)
