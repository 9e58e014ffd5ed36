"""Reading archives of images safely: a tar is unpacked into a private temporary
directory, taking only regular files whose names the format allows (no links, devices,
absolute names or ``..``), so that an untrusted archive cannot write anywhere else. The
transports then read that directory (``oci-archive:`` as an ``oci:`` layout,
``docker-archive:`` through its ``manifest.json``).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from typing import Callable

from ..errors import InvalidArgument, NotFound

_CHUNK = 1 << 20


class Unpacked:
    """A temporary directory holding an archive's files; removed by ``close``."""

    def __init__(self, archive: str, allowed: Callable[[str], bool], what: str) -> None:
        self.archive = os.path.abspath(archive)
        self.what = what
        self.dir = tempfile.mkdtemp(prefix="onggi-archive-")
        try:
            self._unpack(allowed)
        except BaseException:
            self.close()
            raise

    def _unpack(self, allowed: Callable[[str], bool]) -> None:
        try:
            tf = tarfile.open(self.archive, mode="r|*")
        except FileNotFoundError:
            raise NotFound(f"{self.what}: {self.archive}: no such file") from None
        except tarfile.TarError as e:
            raise InvalidArgument(f"{self.what}: {self.archive} is not a tar archive: {e}") from None
        with tf:
            try:
                for m in tf:
                    name = clean_name(m.name)
                    if m.isdir() or not name:
                        continue
                    if not m.isfile():
                        if m.issym() or m.islnk():
                            self._link(m, name, allowed)
                        continue  # devices, fifos: never part of an image archive
                    if not allowed(name):
                        continue
                    self._write(tf, m, name)
            except tarfile.TarError as e:
                raise InvalidArgument(f"{self.what}: {self.archive}: corrupt archive: {e}") from None

    def _target(self, name: str) -> str:
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def _write(self, tf: tarfile.TarFile, m: tarfile.TarInfo, name: str) -> None:
        src = tf.extractfile(m)
        if src is None:
            return
        path = self._target(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)

    def _link(self, m: tarfile.TarInfo, name: str, allowed: Callable[[str], bool]) -> None:
        """docker save writes ``<id>/layer.tar`` as a symlink to a file of the archive:
        keep such links as copies of files already read, never as links."""
        if not allowed(name):
            return
        base = os.path.dirname(name) if m.issym() else ""
        target = clean_name(os.path.normpath(os.path.join(base, m.linkname)))
        src = os.path.join(self.dir, target) if target else ""
        if not target or not os.path.isfile(src) or os.path.islink(src):
            return  # pointing outside the archive, or at something not (yet) read
        shutil.copyfile(src, self._target(name), follow_symlinks=False)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, clean_name(name))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def clean_name(name: str) -> str:
    """An archive member name made relative and free of ``.``/``..``; "" when it would
    leave the archive's root."""
    parts = []
    for p in name.replace("\\", "/").split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                return ""
            parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def write_tar(archive: str, root: str, names: list[str]) -> None:
    """Write ``names`` (files under ``root``) into a new tar at ``archive``, atomically
    (temporary file + rename), with neutral owners and times like skopeo's."""
    from ..files import replacing

    with replacing(archive, durable=False) as out, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in names:
            path = os.path.join(root, name)
            info = tf.gettarinfo(path, arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o444 if info.isfile() else 0o755
            if info.isfile():
                with open(path, "rb") as f:
                    tf.addfile(info, f)
            else:
                tf.addfile(info)
