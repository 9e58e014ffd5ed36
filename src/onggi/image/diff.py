"""A container layer's changes: its overlay upper directory read two ways.

* :func:`changes` lists what the layer did against the layers below it, as
  ``podman diff`` shows it: ``A`` added (not visible in the lower stack), ``C`` changed
  (there below too; a copied-up directory counts), ``D`` deleted (an overlay whiteout, or
  a lower entry hidden by an opaque directory).
* :func:`write_layer` writes the upper directory as an OCI layer changeset tar: overlay
  whiteouts (0:0 character devices) become ``.wh.NAME`` entries, an opaque directory
  (``trusted.overlay.opaque=y``, or ``user.overlay.opaque`` for rootless mounts) is
  followed by a ``.wh..wh..opq`` entry, and overlay's own xattrs are left out. Owners,
  modes, mtimes, hard links, devices and the other xattrs are kept.

The upper directory may belong to a running container, so both walk it by descriptors
(``O_NOFOLLOW`` at every step, as :mod:`.tarwrite` does): nothing is ever followed out of
it. Overlay features that store metadata elsewhere (``redirect_dir``, ``metacopy``) are
refused rather than misread.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Sequence

from ..errors import Unsupported
from .tarwrite import add_file, entries, tar_info, xattrs  # the walk helpers export shares
from .whiteout import OPAQUE, WHITEOUT_PREFIX

__all__ = ["Change", "changes", "write_layer", "is_whiteout", "is_opaque"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_REFUSED_XATTRS = ("trusted.overlay.redirect", "trusted.overlay.metacopy",
                   "user.overlay.redirect", "user.overlay.metacopy")


@dataclass(frozen=True, order=True)
class Change:
    path: str   # absolute, as seen in the container
    kind: str   # "A", "C" or "D"


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(target: int | str) -> bool:
    """Whether the directory (an open descriptor, or a path not followed) is opaque."""
    follow = isinstance(target, int)
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(target, name, follow_symlinks=follow) == b"y":
                return True
        except OSError:
            continue
    return False


def _check_features(target: int | str, where: str) -> None:
    follow = isinstance(target, int)
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError:
        return
    bad = [n for n in names if n in _REFUSED_XATTRS]
    if bad:
        raise Unsupported(f"{where}: overlay {bad[0]} is not supported (mount without "
                          f"redirect_dir/metacopy)")


# ---- changes ----------------------------------------------------------------------------

def _lower_lstat(lowers: Sequence[str], parts: list[str]) -> os.stat_result | None:
    """What the merged lower stack (``lowers`` top first) has at ``parts``, or None."""
    for layer in lowers:
        cur = layer
        for i, p in enumerate(parts):
            cur = os.path.join(cur, p)
            try:
                st = os.lstat(cur)
            except (FileNotFoundError, NotADirectoryError):
                break  # not in this layer: look below
            if is_whiteout(st):
                return None
            if i == len(parts) - 1:
                return st
            if not stat.S_ISDIR(st.st_mode):
                return None  # a non-directory here hides everything below it
            if is_opaque(cur):
                return _lower_lstat([cur], parts[i + 1:])  # this layer only, from here
    return None


def _lower_children(lowers: Sequence[str], parts: list[str]) -> set[str]:
    """The names visible in the merged lower stack's directory ``parts``."""
    names: set[str] = set()
    hidden: set[str] = set()
    for layer in lowers:
        d = os.path.join(layer, *parts)
        try:
            ents = os.listdir(d)
        except OSError:
            continue
        for n in ents:
            if n in names or n in hidden:
                continue
            if is_whiteout(os.lstat(os.path.join(d, n))):
                hidden.add(n)
            else:
                names.add(n)
        if is_opaque(d):
            break
    return {n for n in names if _lower_lstat(lowers, parts + [n]) is not None}


def changes(upper: str, lowers: Sequence[str]) -> list[Change]:
    """The changes of the upper directory ``upper`` over ``lowers`` (top first), sorted
    by path."""
    out: list[Change] = []
    top = os.open(upper, _DIR_FLAGS)
    try:
        _changes_dir(top, [], lowers, out)
    finally:
        os.close(top)
    return sorted(out)


def _changes_dir(dfd: int, parts: list[str], lowers: Sequence[str], out: list[Change]) -> None:
    present = set()
    for name, st in entries(dfd):
        sub = parts + [name]
        path = "/" + "/".join(sub)
        lower = _lower_lstat(lowers, sub)
        if is_whiteout(st):
            if lower is not None:
                out.append(Change(path, "D"))
            continue
        present.add(name)
        out.append(Change(path, "C" if lower is not None else "A"))
        if stat.S_ISDIR(st.st_mode):
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except OSError:
                continue
            try:
                _check_features(child, path)
                if lower is not None and is_opaque(child):
                    for gone in sorted(_lower_children(lowers, sub) - set(os.listdir(child))):
                        out.append(Change(f"{path}/{gone}", "D"))
                _changes_dir(child, sub, lowers if lower is not None and stat.S_ISDIR(lower.st_mode)
                             and not is_opaque(child) else [], out)
            finally:
                os.close(child)


# ---- the layer tar ----------------------------------------------------------------------

def _clean_xattrs(pax: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in pax.items()
            if not k.startswith(("SCHILY.xattr.trusted.overlay.", "SCHILY.xattr.user.overlay."))}


def _marker(arc: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arc)
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
    info.mtime = int(st.st_mtime)
    return info


def write_layer(upper: str, out: BinaryIO) -> None:
    """Write the upper directory ``upper`` to ``out`` as an uncompressed OCI layer tar
    (PAX, entries named ``path`` without a leading ``./``, as the container tools write
    layers). The root directory itself is not an entry."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        top = os.open(upper, _DIR_FLAGS)
        try:
            if is_opaque(top):
                tf.addfile(_marker(OPAQUE, os.fstat(top)))
            _layer_dir(tf, top, "", links)
        finally:
            os.close(top)


def _layer_dir(tf: tarfile.TarFile, dfd: int, prefix: str, links: dict[tuple[int, int], str]) -> None:
    for name, st in entries(dfd):
        arc = prefix + name
        mode = st.st_mode
        if is_whiteout(st):
            tf.addfile(_marker(prefix + WHITEOUT_PREFIX + name, st))
        elif stat.S_ISDIR(mode):
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except OSError:
                continue  # replaced meanwhile: never followed
            try:
                _check_features(child, "/" + arc)
                info = tar_info(arc, os.fstat(child))
                info.type = tarfile.DIRTYPE
                info.pax_headers = _clean_xattrs(xattrs(child))
                tf.addfile(info)
                if is_opaque(child):
                    tf.addfile(_marker(f"{arc}/{OPAQUE}", st))
                _layer_dir(tf, child, arc + "/", links)
            finally:
                os.close(child)
        elif stat.S_ISREG(mode):
            _check_features(f"/proc/self/fd/{dfd}/{name}", "/" + arc)
            add_file(_CleanTar(tf), dfd, name, arc, st, links)
        elif stat.S_ISLNK(mode):
            info = tar_info(arc, st)
            info.type = tarfile.SYMTYPE
            try:
                info.linkname = os.readlink(name, dir_fd=dfd)
            except OSError:
                continue
            info.pax_headers = _clean_xattrs(xattrs(f"/proc/self/fd/{dfd}/{name}"))
            tf.addfile(info)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            info = tar_info(arc, st)
            info.type = (tarfile.CHRTYPE if stat.S_ISCHR(mode) else
                         tarfile.BLKTYPE if stat.S_ISBLK(mode) else tarfile.FIFOTYPE)
            if not stat.S_ISFIFO(mode):
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            info.pax_headers = _clean_xattrs(xattrs(f"/proc/self/fd/{dfd}/{name}"))
            tf.addfile(info)


class _CleanTar:
    """A tar file whose ``addfile`` drops overlay's xattrs first."""

    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf

    def addfile(self, info: tarfile.TarInfo, fileobj: object = None) -> None:
        info.pax_headers = _clean_xattrs(dict(info.pax_headers))
        self.tf.addfile(info, fileobj)  # type: ignore[arg-type]
