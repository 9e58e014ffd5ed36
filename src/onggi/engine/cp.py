"""``cp``: files between a container and the host, either way, or as a tar stream on
standard input / output (``-``), with docker's rules for what lands where.

Every path inside the container is opened through :func:`onggi.sys.securejoin.open_in_root`
(``RESOLVE_IN_ROOT``), and the copy itself is a tar stream from the source (walked by
descriptors, :mod:`onggi.image.tarwrite`) into :func:`onggi.image.apply.apply_layer` at the
destination directory (opened the same way): a symlink in the container, whatever it
points at, resolves inside the container, and an archive entry that climbs with ``..`` is
refused. A stopped container's filesystem is mounted for the time of the copy (under its
lock), as ``export`` does. A path under one of the container's directory binds (a volume,
a ``-v`` host directory) is resolved in that directory instead, the way the container sees
it; a read-only one is not written.

Destination rules (docker's): SRC a file -> DST an existing directory gets ``DST/name``,
else DST is the file (its directory must exist; ``DST/`` must be a directory). SRC a
directory -> an existing directory DST gets ``DST/name`` (``SRC/.``: its contents), a
missing DST becomes the copy; a directory onto a file is refused. The last component of
SRC is not followed when it is a symlink unless ``follow`` (``-L``) or SRC ends in ``/``.
Owners: ``archive`` (podman's default) gives files copied in the container user's
uid:gid and files copied out the caller's; without it the source's owners are kept (as
they always are in a tar written to standard output).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
import threading
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from .paths import Paths
from .state import Record, StateDB

__all__ = ["Location", "parse_location", "copy"]


@dataclass(frozen=True)
class Location:
    container: str | None   # None: the host (or standard input/output when path is "-")
    path: str


def parse_location(arg: str) -> Location:
    """``CONTAINER:PATH``, a host path, or ``-``. A host path that holds a ``:`` must
    start with ``/`` or ``.`` (or have a ``/`` before the ``:``)."""
    if not arg:
        raise InvalidArgument("cp: empty path")
    name, sep, path = arg.partition(":")
    if sep and name and "/" not in name and not arg.startswith("."):
        if not path:
            raise InvalidArgument(f"cp: {arg!r}: no path after the container name")
        return Location(name, path)
    return Location(None, arg)


@dataclass
class _Root:
    """Where paths of one side are opened: the container's rootfs (and the host
    directories bound into it: volumes, ``-v`` binds), or the host."""

    fd: int | None  # an O_PATH fd of the container's rootfs; None: the host
    binds: tuple[tuple[str, str, bool], ...] = ()  # (destination, host source, read-only)
    writing: bool = False

    def open(self, path: str, flags: int) -> int:
        if self.fd is None:
            return os.open(path, flags | os.O_CLOEXEC)
        from ..sys.securejoin import open_in_root

        clean = posixpath.normpath("/" + path.lstrip("/"))
        for dest, source, ro in self.binds:  # longest destination first
            if clean == dest or clean.startswith(dest + "/"):
                if ro and self.writing:
                    raise FailedPrecondition(f"cp: {dest} is mounted read-only in the container")
                top = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    return open_in_root(top, clean[len(dest):] or ".", flags)
                finally:
                    os.close(top)
        return open_in_root(self.fd, path, flags)


def _binds(rec: Record) -> tuple[tuple[str, str, bool], ...]:
    """The container's directory bind mounts (volumes, ``-v`` host dirs), longest
    destination first; its own /dev, /proc and /sys are left to the rootfs. A path is
    matched by its name, so a symlink in the rootfs that points into a volume is
    resolved in the rootfs, not in the volume."""
    out = []
    for m in rec.config.get("mounts") or []:
        dest, source = m.get("destination") or "", m.get("source") or ""
        if (m.get("type") != "bind" or not dest.startswith("/") or not os.path.isdir(source)
                or dest.startswith(("/dev", "/proc", "/sys")) or posixpath.normpath(dest) == "/"):
            continue
        out.append((posixpath.normpath(dest), source, "ro" in (m.get("options") or [])))
    return tuple(sorted(out, key=lambda b: -len(b[0])))


def _owner(paths: Paths, rec: Record) -> tuple[int, int]:
    """The container user's uid and gid: as its process runs when it has started, else
    ``--user`` or the image's ``User`` looked up in its /etc/passwd (rootfs mounted)."""
    user = rec.config.get("user")
    if user:
        return int(user.get("uid", 0)), int(user.get("gid", 0))
    from .options import RunOptions
    from .prepare import image_config, rootfs_of
    from .specgen import resolve_user

    name = RunOptions.from_json(rec.options).user
    if not name:
        name = (image_config(paths, rec.image_id).get("config") or {}).get("User") or None
    resolved, _ = resolve_user(name, rootfs_of(paths, rec.id))
    return int(resolved["uid"]), int(resolved["gid"])


@contextlib.contextmanager
def _mounted(paths: Paths, cid: str) -> Iterator[int]:
    """An O_PATH fd of the container's rootfs, mounted for the time of the block when
    the container is not running."""
    from .cleanup import lock, unmount_rootfs
    from .prepare import mount_rootfs, rootfs_of

    target = rootfs_of(paths, cid)
    if os.path.ismount(target):
        fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)
        return
    with lock(paths, cid):
        mount_rootfs(paths, cid)
        try:
            fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                yield fd
            finally:
                os.close(fd)
        finally:
            unmount_rootfs(paths, cid)


def copy(paths: Paths, db: StateDB, src: str, dst: str, *, archive: bool = True, follow: bool = False,
         overwrite: bool = False, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Copy ``src`` to ``dst`` (each ``CONTAINER:PATH``, a host path or ``-``)."""
    from .lifecycle import lookup

    s, d = parse_location(src), parse_location(dst)
    if s.container and d.container:
        raise InvalidArgument("cp: copying between containers is not supported: copy to the host first")
    if not s.container and not d.container:
        raise InvalidArgument("cp: one of SRC and DST must be CONTAINER:PATH")
    if s.container is None and s.path == "-" and stdin is None:
        raise InvalidArgument("cp: no standard input to read the archive from")
    rec = lookup(paths, db, s.container or d.container or "")
    with _mounted(paths, rec.id) as root_fd:
        owner = None
        if archive:
            owner = _owner(paths, rec) if d.container else (os.getuid(), os.getgid())
        binds = _binds(rec)
        src_root = _Root(root_fd, binds) if s.container else _Root(None)
        dst_root = _Root(root_fd, binds, writing=True) if d.container else _Root(None)
        if d.container is None and d.path == "-":
            assert stdout is not None
            plan = _source(src_root, s.path, follow)
            _write_tar(plan, stdout, None, src_root)  # a stream keeps the container's owners
            return
        if s.container is None and s.path == "-":
            assert stdin is not None
            dest_fd = _dest_dir(dst_root, d.path, must_exist=True)
            try:
                _pump(lambda out: _retar(stdin, out, owner), dest_fd, d.path)
            finally:
                os.close(dest_fd)
            return
        plan = _source(src_root, s.path, follow)
        dest_fd, top = _destination(dst_root, d.path, plan, overwrite)
        plan.top = top
        try:
            _pump(lambda out: _write_tar(plan, out, owner, src_root), dest_fd, d.path)
        finally:
            os.close(dest_fd)


# ---- the source ---------------------------------------------------------------------------

@dataclass
class _Source:
    path: str
    st: os.stat_result
    follow: bool
    contents: bool     # SRC/. : a directory's contents, not the directory
    top: str           # the name of the copy at the destination ("" with contents)


def _source(root: _Root, path: str, follow: bool) -> _Source:
    trailing = path.endswith("/") or path.endswith("/.") or path in (".", "/")
    follow = follow or trailing
    try:
        fd = root.open(path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))
    except FileNotFoundError:
        raise NotFound(f"cp: {path!r}: no such file or directory") from None
    except NotADirectoryError:
        raise InvalidArgument(f"cp: {path!r}: not a directory") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    contents = path.endswith("/.") or path in (".", "/")
    if contents and not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"cp: {path!r}: not a directory")
    name = os.path.basename(path.rstrip("/")) or "/"
    if name in (".", "/"):
        name = ""
    return _Source(path, st, follow, contents or (stat.S_ISDIR(st.st_mode) and not name), name)


def _isdir(root: _Root, path: str) -> bool | None:
    """Whether ``path`` (followed) is a directory; None when it does not exist."""
    try:
        fd = root.open(path, os.O_PATH)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise InvalidArgument(f"cp: {path!r}: a component of the path is not a directory") from None
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _dest_dir(root: _Root, path: str, must_exist: bool = False) -> int:
    try:
        return root.open(path, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        raise NotFound(f"cp: destination directory {path!r} does not exist") from None
    except NotADirectoryError:
        raise InvalidArgument(f"cp: destination {path!r} is not a directory") from None


def _destination(root: _Root, path: str, src: _Source, overwrite: bool) -> tuple[int, str]:
    """(an O_PATH fd of the directory to extract into, the copy's name in it)."""
    src_dir = stat.S_ISDIR(src.st.st_mode)
    kind = _isdir(root, path)
    if kind is True:
        top = "" if src.contents else src.top
        if top and not overwrite:
            there = _isdir(root, os.path.join(path, top))
            if there is not None and there != src_dir:
                raise FailedPrecondition(f"cp: cannot overwrite {'non-directory' if src_dir else 'directory'} "
                                         f"{os.path.join(path, top)!r} with "
                                         f"{'directory' if src_dir else 'non-directory'} {src.path!r}")
        return _dest_dir(root, path), top
    if kind is False:
        if src_dir:
            raise InvalidArgument(f"cp: cannot copy directory {src.path!r} to file {path!r}")
        if path.endswith("/"):
            raise InvalidArgument(f"cp: destination {path!r} is not a directory")
    elif path.endswith("/") and not src_dir:
        raise NotFound(f"cp: destination directory {path!r} does not exist")
    parent, name = os.path.split(path.rstrip("/"))
    if not name or name in (".", ".."):
        raise InvalidArgument(f"cp: bad destination {path!r}")
    return _dest_dir(root, parent or ("/" if path.startswith("/") else ".")), name


# ---- tar streams ----------------------------------------------------------------------------

class _Owned:
    """A tar file whose entries get ``owner`` (uid, gid) when it is set."""

    def __init__(self, tf: tarfile.TarFile, owner: tuple[int, int] | None) -> None:
        self.tf, self.owner = tf, owner

    def addfile(self, info: tarfile.TarInfo, fileobj: object = None) -> None:
        if self.owner is not None:
            info.uid, info.gid = self.owner
        self.tf.addfile(info, fileobj)  # type: ignore[arg-type]


def _write_tar(src: _Source, out: BinaryIO, owner: tuple[int, int] | None, root: _Root) -> None:
    from ..image.tarwrite import add_dir, FdReader, tar_info, xattrs

    links: dict[tuple[int, int], str] = {}
    flags = 0 if src.follow else os.O_NOFOLLOW
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as raw:
        tf = _Owned(raw, owner)
        mode = src.st.st_mode
        if stat.S_ISDIR(mode):
            fd = root.open(src.path, os.O_RDONLY | os.O_DIRECTORY | flags)
            try:
                if src.contents or not src.top:
                    add_dir(tf, fd, ".", links)  # type: ignore[arg-type]
                    return
                info = tar_info(src.top, os.fstat(fd))
                info.type, info.pax_headers = tarfile.DIRTYPE, xattrs(fd)
                tf.addfile(info)
                add_dir(tf, fd, src.top, links)  # type: ignore[arg-type]
            finally:
                os.close(fd)
        elif stat.S_ISREG(mode):
            fd = root.open(src.path, os.O_RDONLY | flags)
            try:
                st = os.fstat(fd)
                info = tar_info(src.top, st)
                info.size, info.pax_headers = st.st_size, xattrs(fd)
                tf.addfile(info, FdReader(fd, st.st_size))
            finally:
                os.close(fd)
        else:
            fd = root.open(src.path, os.O_PATH | os.O_NOFOLLOW)
            try:
                info = tar_info(src.top, os.fstat(fd))
                if stat.S_ISLNK(mode):
                    info.type, info.linkname = tarfile.SYMTYPE, os.readlink("", dir_fd=fd)
                elif stat.S_ISFIFO(mode):
                    info.type = tarfile.FIFOTYPE
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                    info.devmajor, info.devminor = os.major(src.st.st_rdev), os.minor(src.st.st_rdev)
                else:
                    raise InvalidArgument(f"cp: {src.path!r}: cannot copy a socket")
                tf.addfile(info)
            finally:
                os.close(fd)


def _retar(stdin: BinaryIO, out: BinaryIO, owner: tuple[int, int] | None) -> None:
    """Copy the archive on ``stdin`` (any compression tar reads) to ``out``, refusing
    names that climb out of the destination and giving entries ``owner``."""
    from ..image.apply import clean_name

    try:
        src = tarfile.open(fileobj=stdin, mode="r|*")
    except tarfile.TarError as e:
        raise InvalidArgument(f"cp: standard input is not a tar archive: {e}") from None
    with src, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for m in src:
            for what, name in (("entry", m.name), ("link target", m.linkname if m.islnk() else "")):
                if name and clean_name(name) is None:
                    raise InvalidArgument(f"cp: archive {what} {name!r} climbs out of the destination")
            if owner is not None:
                m.uid, m.gid = owner
            tf.addfile(m, src.extractfile(m) if m.isreg() else None)


def _pump(produce, dest_fd: int, where: str) -> None:  # noqa: ANN001
    """Run ``produce(out)`` on a thread, writing a tar into a pipe that is applied at the
    directory ``dest_fd``."""
    from ..image.apply import apply_layer

    rfd, wfd = os.pipe()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with open(wfd, "wb", buffering=1 << 20) as out:
                produce(out)
        except BrokenPipeError:
            pass  # the apply stopped: its error is the one to report
        except BaseException as e:  # noqa: BLE001  (re-raised on the caller's thread)
            errors.append(e)

    t = threading.Thread(target=run, name="cp-source", daemon=True)
    t.start()
    inp = open(rfd, "rb", buffering=1 << 20)
    try:
        apply_layer(inp, f"/proc/self/fd/{dest_fd}", compression="none", diff_id=False,
                    readahead=False, what=f"cp to {where}")
        while inp.read(1 << 16):  # the archive's end padding: let the writer finish
            pass
    except BaseException:
        inp.close()  # a writer blocked on the pipe gets EPIPE
        t.join()
        if errors:
            raise errors[0] from None
        raise
    finally:
        inp.close()
    t.join()
    if errors:
        raise errors[0]
