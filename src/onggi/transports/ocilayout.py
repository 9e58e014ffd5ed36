"""``oci:PATH[:NAME]`` — an OCI image layout directory (image spec ``image-layout``):
``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``. NAME is the
``org.opencontainers.image.ref.name`` annotation of an entry of ``index.json``; without
NAME, reading needs exactly one entry and writing adds an unnamed one.

Writing keeps what the layout already holds (other images, shared blobs): blobs are
written to ``blobs/<alg>/.tmp-*`` and renamed into place once verified; ``index.json`` is
rewritten atomically at ``commit``, with an entry of the same NAME replaced, under an
``flock`` on the layout directory so that concurrent writers do not lose each other's
entries.
"""

from __future__ import annotations

import fcntl
import json
import os
from typing import BinaryIO

from ..files import atomic_write
from ..errors import InvalidArgument, NotFound
from ..oci import mediatypes as MT
from ..oci.digest import of_bytes, parse
from .base import BytesReader, Descriptor, ImageDestination, ImageSource, Transport, write_verified

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT = {"imageLayoutVersion": "1.0.0"}


def split_ref(ref: str) -> tuple[str, str]:
    """``PATH[:NAME]`` -> (absolute path, name or "")."""
    path, _, name = ref.partition(":")
    if not path:
        raise InvalidArgument(f"oci:{ref}: a layout path is required (oci:PATH[:NAME])")
    return os.path.abspath(path), name


def blob_path(layout: str, digest: str) -> str:
    d = parse(digest, "blob digest")
    return os.path.join(layout, "blobs", d.algorithm, d.hex)


def read_index(layout: str, what: str) -> dict:
    try:
        with open(os.path.join(layout, "index.json"), "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        raise NotFound(f"{what}: {layout} is not an OCI image layout (no index.json)") from None
    except ValueError as e:
        raise InvalidArgument(f"{what}: index.json is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests", []), list):
        raise InvalidArgument(f"{what}: index.json: manifests must be a list")
    return doc


class OCISource(ImageSource):
    def __init__(self, ref: str) -> None:
        self.path, self.name = split_ref(ref)
        self.reference = f"oci:{ref}"
        entries = read_index(self.path, self.reference).get("manifests") or []
        if self.name:
            matches = [e for e in entries if (e.get("annotations") or {}).get(REF_NAME) == self.name]
            if not matches:
                names = sorted({(e.get("annotations") or {}).get(REF_NAME, "") for e in entries} - {""})
                raise NotFound(f"{self.reference}: no image named {self.name!r} in the layout "
                               f"(it has: {', '.join(names) or 'no named images'})")
        else:
            matches = entries
            if len(matches) != 1:
                raise InvalidArgument(f"{self.reference}: the layout holds {len(matches)} images: "
                                      f"name one (oci:PATH:NAME)")
        self.top = Descriptor.parse(matches[-1], f"{self.reference}: index.json manifests entry")

    def get_manifest(self, instance: str | None = None) -> tuple[bytes, str]:
        desc = self.top if instance is None else None
        digest = self.top.digest if instance is None else instance
        try:
            with open(blob_path(self.path, digest), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise NotFound(f"{self.reference}: manifest {digest} is missing from blobs/") from None
        if of_bytes(raw, parse(digest).algorithm) != digest or (desc is not None and len(raw) != desc.size):
            raise InvalidArgument(f"{self.reference}: blob {digest} does not match its digest or size")
        from .manifests import media_type_of

        return raw, (desc.media_type if desc is not None and desc.media_type else
                     media_type_of(raw, f"{self.reference} manifest {digest}"))

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        try:
            return open(blob_path(self.path, desc.digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"{self.reference}: blob {desc.digest} is missing from blobs/") from None


class OCIDestination(ImageDestination):
    concurrent_blobs = True
    verifies_blobs = True

    def __init__(self, ref: str) -> None:
        self.path, self.name = split_ref(ref)
        self.reference = f"oci:{ref}"
        self._top: tuple[bytes, str] | None = None
        os.makedirs(self.path, exist_ok=True)
        layout_file = os.path.join(self.path, "oci-layout")
        if os.path.exists(layout_file):
            read_index(self.path, self.reference)  # an existing layout must be readable
        elif os.listdir(self.path):
            raise InvalidArgument(f"{self.reference}: {self.path} is a non-empty directory that is "
                                  f"not an OCI image layout")

    def supported_manifest_types(self) -> tuple[str, ...]:
        """An OCI layout holds OCI manifests and indexes (Docker ones are converted, as
        skopeo does)."""
        return (MT.OCI_MANIFEST, MT.OCI_INDEX)

    def has_blob(self, desc: Descriptor) -> bool:
        try:
            return os.stat(blob_path(self.path, desc.digest)).st_size == desc.size
        except FileNotFoundError:
            return False

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        final = blob_path(self.path, desc.digest)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        write_verified(stream, desc, final, f"{self.reference}: blob {desc.digest}")

    def put_manifest(self, raw: bytes, media_type: str, instance: str | None = None) -> None:
        digest = of_bytes(raw)
        self.put_blob(BytesReader(raw), Descriptor.new(media_type, digest, len(raw)))
        if instance is None:
            self._top = (raw, media_type)

    def commit(self) -> None:
        if self._top is None:
            raise InvalidArgument(f"{self.reference}: commit without a manifest")
        raw, media_type = self._top
        entry: dict = {"mediaType": media_type, "digest": of_bytes(raw), "size": len(raw)}
        if self.name:
            entry["annotations"] = {REF_NAME: self.name}
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            index = (read_index(self.path, self.reference)
                     if os.path.exists(os.path.join(self.path, "index.json"))
                     else {"schemaVersion": 2, "mediaType": MT.OCI_INDEX, "manifests": []})
            kept = [e for e in index.get("manifests") or []
                    if not self.name or (e.get("annotations") or {}).get(REF_NAME) != self.name]
            index["manifests"] = kept + [entry]
            atomic_write(os.path.join(self.path, "oci-layout"), json.dumps(LAYOUT).encode())
            atomic_write(os.path.join(self.path, "index.json"),
                   json.dumps(index, separators=(",", ":")).encode())
        finally:
            os.close(fd)


class OCITransport(Transport):
    name = "oci"

    def validate(self, ref: str) -> None:
        split_ref(ref)

    def source(self, ref: str, ctx: object = None) -> OCISource:
        return OCISource(ref)

    def destination(self, ref: str, ctx: object = None) -> OCIDestination:
        return OCIDestination(ref)
