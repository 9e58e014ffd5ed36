"""Apply one layer (an OCI "layer changeset" tar, compressed or not) onto a directory.

::

    stats = apply_layer(blob, rootfs, compression="gzip", what=f"layer {digest}")
    stats.files, stats.bytes, stats.skipped, stats.diff_id

``dest`` may already hold the lower layers (flattening, as ``umoci unpack`` does), or be
empty (one directory per layer; pass ``whiteouts="overlay"`` to keep whiteouts as overlayfs
expects them). Entries replace what is there as the image spec says: a directory entry over
a directory updates its attributes, anything else removes what was there first (a whole
directory included) and makes the entry anew, so a file hardlinked from a lower layer is
never written through.

Names, and what an untrusted archive can do with them (each refusal is a :class:`BadLayer`,
an ``InvalidArgument``, naming the layer and the entry; the apply stops there, leaving
``dest`` part-applied for the caller to discard, as the store does with its ``tmp-`` dirs):

* leading ``/`` and ``./`` are dropped and ``a/./b``, ``a//b``, ``a/x/../b`` cleaned
  lexically, as tar does; a name whose ``..`` would climb above the root (``../x``,
  ``a/../../x``, ``/../x``) is refused: only a hostile archive writes one;
* a symlink on the way to an entry (``link/passwd`` with ``link -> /etc``, or a chain of
  them, relative or absolute) is followed as if ``dest`` were ``/`` (openat2
  ``RESOLVE_IN_ROOT``): it lands inside ``dest`` (``dest/etc/passwd``), as it will inside the
  container, and never on the host; ``docker``'s chroot'ed untar and ``umoci``'s securejoin
  behave the same way;
* the entry itself is never followed: a file over a symlink replaces the symlink; a
  directory entry over a symlink to a directory replaces the symlink (no "dirlinks");
* a non-directory entry for the root itself (``.`` or ``/`` as a symlink: umoci's
  CVE-2021-29136) is refused; a directory entry for it sets the root's attributes;
* a path through a non-directory (``a`` is a file, then ``a/b``) is refused (ENOTDIR);
* hardlinks: the target name is cleaned and refused like an entry name, resolved inside
  ``dest``, must exist (this or a lower layer) and not be a directory; a symlink target is
  linked itself, never followed (``linkat`` without ``AT_SYMLINK_FOLLOW``);
* whiteouts: see :mod:`onggi.image.whiteout` (resolved inside ``dest`` like any name);
  entries under a ``.wh.``-named directory are skipped and recorded.

Security-relevant metadata: set-id and sticky bits are applied (after chown, which clears
them); ``security.capability`` and other ``security.*``, ``user.*`` and ``system.*`` xattrs
are applied, ``trusted.*`` and ``user.overlay.*`` never (see :func:`apply_ops.xattr_refusal`);
an xattr the file system or the kernel refuses (EPERM, ENOTSUP) is skipped and recorded.
Ownership and devices: :mod:`onggi.image.apply_owner` (root with an optional id map, or
rootless). Times: every entry gets the header's mtime (atime: pax ``atime``, else the
mtime), directories once their content is in; a lower directory the layer writes into
without an entry of its own keeps its times, as with ``umoci unpack``.

Speed: the tar is parsed by :mod:`onggi.image.tarstream` (not :mod:`tarfile`), file content
goes from its 1 MiB buffer to ``os.write``, and reading, decompressing and hashing run on a
second thread (:mod:`onggi.image.apply_stream`).
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

from ..errors import FailedPrecondition, InvalidArgument, NotFound, OnggiError, PermissionDenied
from .apply_ops import BadLayer, LayerFS
from .apply_owner import IdMap, choose
from .apply_stream import ReadAhead
from .compression import open_reader
from .tarstream import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, TarEntry, TarError, TarReader
from .whiteout import MODES, WHITEOUT_PREFIX, apply_whiteout

__all__ = ["apply_layer", "ApplyStats", "Skipped", "IdMap", "BadLayer", "TarError", "clean_name"]


class Skipped(NamedTuple):
    name: str  # the entry's name as written in the archive
    reason: str


@dataclass
class ApplyStats:
    """What one apply did. ``bytes`` counts file content written; ``whiteouts`` counts
    whiteout and opaque markers; ``diff_id`` is the sha256 of the uncompressed tar."""

    entries: int = 0
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0  # char, block and FIFO nodes made
    bytes: int = 0
    whiteouts: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    diff_id: str | None = None

    @property
    def links(self) -> int:
        return self.symlinks + self.hardlinks

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skipped(name, reason))


def clean_name(name: str) -> list[str] | None:
    """The components of an archive name relative to the root, or None if its ``..``
    climbs above the root. ``""``, ``"/"`` and ``"./"`` are the root: ``[]``."""
    parts: list[str] = []
    for p in name.split("/"):
        if p == "" or p == ".":
            continue
        if p == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(p)
    return parts


def apply_layer(stream: Any, dest: str, *, compression: str = "auto", id_map: IdMap | None = None,
                rootless: bool | None = None, whiteouts: str = "apply", what: str = "layer",
                diff_id: bool = True, readahead: bool = True, lowers: Sequence[str] = ()) -> ApplyStats:
    """Apply the layer read from ``stream`` (a binary file object, not closed) onto the
    existing directory ``dest``.

    ``compression``: ``"gzip"``, ``"zstd"``, ``"none"`` or ``"auto"`` (magic bytes).
    ``id_map``: container -> host ids for ownership (privileged apply only).
    ``rootless``: True for an unprivileged caller (ownership not applied, devices skipped);
    None decides by the effective uid. ``whiteouts``: ``"apply"`` (delete lower content)
    or ``"overlay"`` (write overlayfs whiteouts). ``what`` names the layer in errors.
    ``diff_id``: hash the uncompressed stream (read to its end) into ``stats.diff_id``.
    ``lowers``: with ``whiteouts="overlay"``, the directories of the layers below (top
    first): a hard link to a file of theirs copies that file up into ``dest`` first.
    ``readahead``: read, decompress and hash on a second thread (:mod:`.apply_stream`);
    either way ``stream`` is no longer read once this returns.

    Raises :class:`BadLayer` / :class:`TarError` (``InvalidArgument``) for a malformed or
    hostile archive, ``CompressionError`` for a bad compressed stream, ``PermissionDenied``
    when the kernel refuses, ``NotFound`` when ``dest`` does not exist."""
    if whiteouts not in MODES:
        raise InvalidArgument(f"{what}: whiteouts={whiteouts!r}: expected one of {', '.join(MODES)}")
    owner = choose(id_map, rootless, what)
    try:
        root = os.open(dest, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"{what}: destination directory {dest} does not exist") from None
    stats = ApplyStats()
    fs = LayerFS(root, owner, stats, what)
    fs.lowers = list(lowers)
    hasher = hashlib.sha256() if diff_id else None
    ahead: ReadAhead | None = None
    try:
        plain = open_reader(stream, compression, what=what)
        if readahead:
            plain = ahead = ReadAhead(plain, hasher=hasher)
        tar = TarReader(plain, hasher=None if ahead else hasher, what=what)
        while (e := tar.next()) is not None:
            stats.entries += 1
            fs.release()
            try:
                _apply_entry(fs, tar, e, whiteouts)
            except OnggiError:
                raise
            except OSError as err:
                raise _entry_error(what, e.name, err) from err
            except (ValueError, OverflowError) as err:  # a NUL in a name, a time or device out of range
                raise BadLayer(f"{what}: entry {e.name!r}: {err}") from None
        try:
            fs.finish()
        except OSError as err:
            raise FailedPrecondition(f"{what}: setting directory modes and times: {err}") from err
    finally:
        if ahead is not None:
            ahead.close()
        fs.close()
        os.close(root)
    if hasher is not None:
        stats.diff_id = "sha256:" + hasher.hexdigest()
    return stats


def _apply_entry(fs: LayerFS, tar: TarReader, e: TarEntry, whiteouts: str) -> None:
    name, stats = e.name, fs.stats
    parts = clean_name(name)
    if parts is None:
        raise BadLayer(f"{fs.what}: entry {name!r}: its '..' components lead outside the root")
    if not parts:
        if e.type != DIR:
            raise BadLayer(f"{fs.what}: entry {name!r}: a non-directory cannot replace the root")
        fs.directory(e, fs.root, "", name, "")
        stats.dirs += 1
        return
    base = parts[-1]
    if base.startswith(WHITEOUT_PREFIX):
        if apply_whiteout(fs, parts, name, whiteouts):
            stats.whiteouts += 1
        return
    for p in parts[:-1]:
        if p.startswith(WHITEOUT_PREFIX):
            fs.skip(name, f"inside {p!r}, a whiteout name, which is not a directory")
            return
    t = e.type
    if t not in _KNOWN:
        fs.skip(name, f"unsupported tar entry type {t!r}")
        return
    target: list[str] | None = None
    if t == HARDLINK:
        target = clean_name(e.linkname)
        if target is None:
            raise BadLayer(f"{fs.what}: entry {name!r}: hardlink target {e.linkname!r} is outside the root")
        if not target:
            raise BadLayer(f"{fs.what}: entry {name!r}: hardlink to the root directory")
    parent = fs.dir_fd(parts[:-1])
    path = "/".join(parts)
    if t == FILE:
        fs.file(e, tar, parent, base, name)
        stats.files += 1
    elif t == DIR:
        fs.directory(e, parent, base, name, path)
        stats.dirs += 1
    elif t == SYMLINK:
        fs.symlink(e, parent, base, name)
        stats.symlinks += 1
    elif t == HARDLINK:
        assert target is not None
        fs.hardlink(e, parent, base, name, target)
        stats.hardlinks += 1
    elif fs.special(e, parent, base, name):
        stats.devices += 1
    else:
        return
    fs.mark(path)


_KNOWN = frozenset((FILE, DIR, SYMLINK, HARDLINK, CHAR, BLOCK, FIFO))
_BAD_LAYER_ERRNOS = {
    errno.ENOTDIR: "a component of its path is not a directory",
    errno.ELOOP: "too many levels of symbolic links on its path",
    errno.ENAMETOOLONG: "name too long",
    errno.EISDIR: "is a directory",
    errno.EXDEV: "crosses a mount point",
    errno.EMLINK: "too many hardlinks",
}


def _entry_error(what: str, name: str, err: OSError) -> OnggiError:
    msg = f"{what}: entry {name!r}: "
    if err.errno in _BAD_LAYER_ERRNOS:
        return BadLayer(msg + _BAD_LAYER_ERRNOS[err.errno])
    if err.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(msg + (err.strerror or str(err)))
    if err.errno == errno.ENOENT:
        return BadLayer(msg + "a path it needs does not exist (a dangling symlink on the way?)")
    return FailedPrecondition(msg + (err.strerror or str(err)))

