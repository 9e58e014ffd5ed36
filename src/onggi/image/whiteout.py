"""Whiteouts of the OCI layer format, applied two ways.

``.wh.NAME`` removes NAME of the lower layers; ``.wh..wh..opq`` in a directory hides all
that the lower layers put in it. Both touch lower-layer content only: an entry this same
layer made (recorded in :attr:`LayerFS.seen`, with its ancestors) survives a whiteout met
later in the archive, and the opaque marker works the same wherever it stands among its
siblings (the spec applies it "first, regardless of the ordering").

* ``"apply"`` mode (flattening into one tree, as ``umoci unpack`` does): the victims are
  deleted. A victim that is a directory of this layer is kept, and only what the lower
  layers put in it (recursively) goes.
* ``"overlay"`` mode (each layer unpacked on its own, for an overlay mount, as the
  containers-storage overlay driver stores layers): ``.wh.NAME`` becomes overlayfs's
  whiteout (a 0:0 char device, allowed unprivileged since Linux 5.8) and the opaque marker
  sets ``trusted.overlay.opaque=y`` (``user.overlay.opaque`` rootless, for ``userxattr``
  mounts) on its directory.

The directory holding a whiteout is resolved like every other path (inside the root), and
removal never follows a symlink, so a whiteout cannot delete anything outside ``dest``.
Markers that would name the directory itself or its parent (``.wh.``, ``.wh..``,
``.wh...``) are refused; aufs metadata (``.wh..wh.plnk`` ...) is skipped and recorded.
"""

from __future__ import annotations

import os
import stat

from ..sys.securejoin import proc_fd_path
from .apply_ops import BadLayer, LayerFS

__all__ = ["WHITEOUT_PREFIX", "OPAQUE", "MODES", "apply_whiteout"]

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
MODES = ("apply", "overlay")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def apply_whiteout(fs: LayerFS, parts: list[str], name: str, mode: str) -> bool:
    """Apply the whiteout entry at ``parts`` (its last part starts with ``.wh.``); False
    if it was skipped (aufs metadata)."""
    base, dirparts = parts[-1], parts[:-1]
    if base == OPAQUE:
        if mode == "overlay":
            _overlay_opaque(fs, dirparts)
        else:
            _opaque(fs, dirparts)
        return True
    if base.startswith(WHITEOUT_PREFIX * 2):
        fs.skip(name, "aufs whiteout metadata, not part of the OCI format")
        return False
    victim = base[len(WHITEOUT_PREFIX):]
    if victim in ("", ".", ".."):
        raise BadLayer(f"{fs.what}: entry {name!r}: a whiteout must name an entry of its "
                       f"directory, not {victim or 'nothing'!r}")
    if mode == "overlay":
        _overlay_whiteout(fs, dirparts, victim)
    else:
        _whiteout(fs, dirparts, victim)
    return True


def _whiteout(fs: LayerFS, dirparts: list[str], victim: str) -> None:
    try:
        parent = fs.dir_fd(dirparts, create=False)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing below to hide
    _remove_lower(fs, parent, victim, "/".join(dirparts + [victim]))


def _opaque(fs: LayerFS, dirparts: list[str]) -> None:
    try:
        dfd = fs.dir_fd(dirparts, create=False)
    except (FileNotFoundError, NotADirectoryError):
        return
    prefix = "/".join(dirparts)
    fd = os.open(".", _DIR_FLAGS, dir_fd=dfd)
    try:
        for child in os.listdir(fd):
            _remove_lower(fs, fd, child, f"{prefix}/{child}" if prefix else child)
    finally:
        os.close(fd)


def _remove_lower(fs: LayerFS, parent: int, base: str, path: str) -> None:
    """Remove what the lower layers have at ``path``, keeping this layer's entries."""
    if path not in fs.seen:
        fs.remove(parent, base)
        return
    try:
        st = os.stat(base, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        return  # this layer's own file: a whiteout does not hide it
    fd = os.open(base, _DIR_FLAGS, dir_fd=parent)
    try:
        for child in os.listdir(fd):
            _remove_lower(fs, fd, child, f"{path}/{child}")
    finally:
        os.close(fd)


def _overlay_whiteout(fs: LayerFS, dirparts: list[str], victim: str) -> None:
    parent = fs.dir_fd(dirparts)
    if "/".join(dirparts + [victim]) in fs.seen:
        return  # made by this layer: stays visible
    fs.remove(parent, victim)
    os.mknod(victim, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=parent)


def _overlay_opaque(fs: LayerFS, dirparts: list[str]) -> None:
    dfd = fs.dir_fd(dirparts)
    os.setxattr(proc_fd_path(dfd), fs.owner.opaque_xattr, b"y")
