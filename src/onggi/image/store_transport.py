"""``onggi:NAME`` — the local image store (:class:`onggi.image.store.ImageStore`) as a
transport, so that the one copy pipeline pulls into it, pushes and saves out of it.

NAME is the image's name in the store (``docker.io/library/busybox:latest``), an image
id, a digest or a unique id prefix when reading. The store root is ``ONGGI_STORAGE``, else
``/var/lib/onggi/storage`` for root and ``$XDG_DATA_HOME/onggi/storage`` otherwise.

Writing keeps every blob under a lease until the image is committed, so a concurrent
``gc`` never removes what a pull is in the middle of storing.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from ..errors import InvalidArgument, NotFound
from ..oci import mediatypes as MT
from ..oci.digest import of_bytes
from ..transports.base import Descriptor, ImageDestination, ImageSource, Transport
from ..transports.manifests import media_type_of
from .store import ImageStore


def default_root() -> str:
    env = os.environ.get("ONGGI_STORAGE")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/onggi/storage"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "onggi", "storage")


def _apply_layer(stream, dest: str, *, compression: str = "auto", lowers: list[str] = ()) -> object:  # noqa: ANN001
    """Unpack one layer into its own snapshot directory; whiteouts stay overlayfs
    whiteouts, since the snapshots are stacked with overlayfs; ``lowers`` (the snapshots
    below, top first) serve hard links to files of lower layers."""
    from .apply import apply_layer  # only when a layer is unpacked

    return apply_layer(stream, dest, compression=compression, whiteouts="overlay", lowers=lowers)


def open_store(root: str | None = None) -> ImageStore:
    return ImageStore(root or default_root(), apply_layer=_apply_layer)


class StoreSource(ImageSource):
    def __init__(self, store: ImageStore, ref: str) -> None:
        self.store = store
        self.reference = f"onggi:{ref}"
        self.image = store.get(ref)
        names = store.names()
        self.top = names[ref][1] if ref in names else self.image.digests[0]

    def get_manifest(self, instance: str | None = None) -> tuple[bytes, str]:
        digest = instance or self.top
        try:
            raw = self.store.blobs.read_bytes(digest)
        except NotFound:
            raise NotFound(f"{self.reference}: manifest {digest} is not in the store") from None
        return raw, media_type_of(raw, f"{self.reference}: manifest {digest}")

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        return self.store.blobs.open(desc.digest, desc.size, verify=False)  # type: ignore[return-value]


class StoreDestination(ImageDestination):
    concurrent_blobs = True
    verifies_blobs = True
    compress_uncompressed = None  # kept as they are

    def __init__(self, store: ImageStore, ref: str) -> None:
        self.store = store
        self.name = ref
        self.reference = f"onggi:{ref}"
        self.lease = store.lease()
        self._top: bytes | None = None

    def has_blob(self, desc: Descriptor) -> bool:
        return self.store.blobs.claim(desc.digest, self.lease)

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        self.store.blobs.ingest(stream, desc.digest, desc.size, lease=self.lease)

    def put_manifest(self, raw: bytes, media_type: str, instance: str | None = None) -> None:
        self.store.blobs.put(raw, of_bytes(raw), lease=self.lease)
        if instance is None:
            self._top = raw

    def commit(self) -> None:
        if self._top is None:
            raise InvalidArgument(f"{self.reference}: commit without a manifest")
        digest = of_bytes(self._top)
        chosen = None
        if media_type_of(self._top, self.reference) in MT.INDEXES:
            from ..oci import image as I
            from ..transports.copy import choose_instance

            index = I.parse(self._top, None, self.reference)
            chosen = choose_instance(list(index.manifests), None, self.reference).digest
        self.image = self.store.commit_image(digest, [self.name] if self.name else [], manifest=chosen)

    def close(self) -> None:
        self.lease.close()


class StoreTransport(Transport):
    name = "onggi"

    def __init__(self, root: str | None = None) -> None:
        self.root = root

    def validate(self, ref: str) -> None:
        if not ref:
            raise InvalidArgument("onggi: an image name is required (onggi:NAME)")

    def source(self, ref: str, ctx: object = None) -> StoreSource:
        self.validate(ref)
        return StoreSource(open_store(self.root), ref)

    def destination(self, ref: str, ctx: object = None) -> StoreDestination:
        self.validate(ref)
        return StoreDestination(open_store(self.root), ref)
