"""``dir:PATH`` — skopeo's directory transport: a directory holding ``manifest.json``
(the top-level manifest or index), each other manifest of an index as
``<hex>.manifest.json``, every blob in a file named by its sha256 hex digest, and a
``version`` file (``Directory Transport Version: 1.1``).

Writing replaces an earlier ``dir:`` image in PATH (recognised by its ``version`` file)
and refuses any other non-empty directory, as skopeo does. Blobs are written to a
temporary name and renamed into place once verified; ``manifest.json`` and ``version``
are written last, at ``commit``.
"""

from __future__ import annotations

import os
import shutil
from typing import BinaryIO

from ..files import atomic_write
from ..errors import AlreadyExists, InvalidArgument, NotFound, Unsupported
from ..oci.digest import of_bytes, parse
from .base import Descriptor, ImageDestination, ImageSource, Transport, write_verified

VERSION = "Directory Transport Version: 1.1\n"


def _blob_name(digest: str, what: str) -> str:
    d = parse(digest, what)
    if d.algorithm != "sha256":
        raise Unsupported(f"dir: {what} {digest}: the dir transport names blobs by sha256 only")
    return d.hex


class DirSource(ImageSource):
    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.reference = f"dir:{self.path}"
        if not os.path.isfile(os.path.join(self.path, "manifest.json")):
            raise NotFound(f"{self.reference}: no manifest.json (not a dir: image)")

    def get_manifest(self, instance: str | None = None) -> tuple[bytes, str]:
        name = "manifest.json" if instance is None else f"{_blob_name(instance, 'manifest')}.manifest.json"
        try:
            with open(os.path.join(self.path, name), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise NotFound(f"{self.reference}: no manifest {instance or ''} ({name})".replace("  ", " ")) from None
        if instance is not None and of_bytes(raw, parse(instance).algorithm) != instance:
            raise InvalidArgument(f"{self.reference}: {name} does not match its digest {instance}")
        from .manifests import media_type_of

        return raw, media_type_of(raw, f"{self.reference} {name}")

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        try:
            return open(os.path.join(self.path, _blob_name(desc.digest, "blob")), "rb")
        except FileNotFoundError:
            raise NotFound(f"{self.reference}: blob {desc.digest} is missing") from None


class DirDestination(ImageDestination):
    concurrent_blobs = True
    verifies_blobs = True
    compress_uncompressed = None  # kept as they are

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.reference = f"dir:{self.path}"
        self._manifest: bytes | None = None
        self._instances: dict[str, bytes] = {}
        if os.path.isdir(self.path) and os.listdir(self.path):
            if not os.path.isfile(os.path.join(self.path, "version")):
                raise AlreadyExists(f"{self.reference}: a non-empty directory that is not a dir: image; "
                                    f"refusing to overwrite it")
            for name in os.listdir(self.path):  # an earlier dir: image: replace it
                p = os.path.join(self.path, name)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
        os.makedirs(self.path, exist_ok=True)

    def has_blob(self, desc: Descriptor) -> bool:
        p = os.path.join(self.path, _blob_name(desc.digest, "blob"))
        try:
            return os.stat(p).st_size == desc.size
        except FileNotFoundError:
            return False

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        final = os.path.join(self.path, _blob_name(desc.digest, "blob"))
        write_verified(stream, desc, final, f"{self.reference}: blob {desc.digest}")

    def put_manifest(self, raw: bytes, media_type: str, instance: str | None = None) -> None:
        if instance is None:
            self._manifest = raw
        else:
            self._instances[instance] = raw

    def commit(self) -> None:
        if self._manifest is None:
            raise InvalidArgument(f"{self.reference}: commit without a manifest")
        for digest, raw in self._instances.items():
            atomic_write(os.path.join(self.path, f"{_blob_name(digest, 'manifest')}.manifest.json"), raw)
        atomic_write(os.path.join(self.path, "manifest.json"), self._manifest)
        atomic_write(os.path.join(self.path, "version"), VERSION.encode())


class DirTransport(Transport):
    name = "dir"

    def validate(self, ref: str) -> None:
        if not ref:
            raise InvalidArgument("dir: a path is required (dir:PATH)")

    def source(self, ref: str, ctx: object = None) -> DirSource:
        self.validate(ref)
        return DirSource(ref)

    def destination(self, ref: str, ctx: object = None) -> DirDestination:
        self.validate(ref)
        return DirDestination(ref)
