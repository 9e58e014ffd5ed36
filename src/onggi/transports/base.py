"""The transport abstraction: every place an image can live (a registry, an OCI layout
directory, an archive, a ``dir:``, the local store) is a :class:`Transport` that turns a
reference string into an :class:`ImageSource` to read from or an
:class:`ImageDestination` to write to. One copy pipeline (:mod:`onggi.transports.copy`)
moves images between any two of them.

The destination's call order, which every implementation may rely on::

    dst.supported_manifest_types()        # may be asked at any time
    dst.has_blob(desc) / dst.put_blob(stream, desc)   # config and layers, any order,
                                                      # possibly from several threads
    dst.put_manifest(raw, media_type, instance)       # each image manifest, after its blobs
    dst.put_manifest(raw, media_type, None)           # the top-level manifest or index, last
    dst.commit()                          # makes the image visible (tags, index.json, ...)
    dst.close()                           # always, also after an error (discards)

Blobs are streams of bytes. A source returns raw content; every blob is checked for
digest and size once on its way: by the destination when it says ``verifies_blobs``
(they all write through a :class:`onggi.oci.digest.Verifier`), else by the pipeline.
"""

from __future__ import annotations

from typing import BinaryIO

from ..errors import Unsupported
from ..oci import mediatypes as MT
from ..oci.image import Descriptor

__all__ = ["BytesReader", "Descriptor", "ImageSource", "ImageDestination", "Transport"]


def write_verified(stream: BinaryIO, desc: Descriptor, final: str, what: str) -> None:
    """Copy ``stream`` into a temporary file beside ``final``, checking digest and size,
    and rename it into place only when it matched (nothing half-written is visible).
    A stream that says ``verified`` (it raises before its end on a wrong digest or size,
    as a registry source does) is not hashed again; its length is still checked."""
    from ..files import replacing
    from ..oci.digest import Verifier

    v = None if getattr(stream, "verified", False) else Verifier(desc.digest, desc.size, what)
    seen = 0
    with replacing(final, durable=False) as out:
        while b := stream.read(1 << 20):
            if v is not None:
                v.update(b)
            seen += len(b)
            out.write(b)
        if v is not None:
            v.finish()
        elif seen != desc.size:
            from ..oci.digest import DigestMismatch

            raise DigestMismatch(f"{what}: {seen} bytes, but its descriptor declares {desc.size} "
                                 f"(digest {desc.digest})")


class BytesReader:
    """A minimal binary reader over bytes in memory (manifests, configs)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        b, self.pos = self.data[self.pos:end], min(end, len(self.data))
        return b

    def close(self) -> None:
        pass


class ImageSource:
    """Reads one image (or index) from where it lives."""

    reference: str = ""

    def get_manifest(self, instance: str | None = None) -> tuple[bytes, str]:
        """(raw bytes, media type) of the top-level manifest or index, or of the manifest
        with digest ``instance`` inside it. Raw bytes: never re-serialised."""
        raise NotImplementedError

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        """A stream of the blob's bytes, unverified (the pipeline verifies)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageDestination:
    """Writes one image (or index) to where it will live; nothing is visible before
    ``commit``."""

    reference: str = ""
    # whether put_blob may be called from several threads at once
    concurrent_blobs: bool = False
    # whether put_blob itself checks digest and size (the pipeline then does not hash
    # the stream a second time)
    verifies_blobs: bool = False
    # what the destination wants for layers left uncompressed by the source: "gzip"
    # (compress them, as registries and OCI layouts get from skopeo) or None (keep)
    compress_uncompressed: str | None = "gzip"

    def supported_manifest_types(self) -> tuple[str, ...]:
        """Media types this destination stores, preferred first."""
        return (MT.OCI_MANIFEST, MT.OCI_INDEX, MT.DOCKER_MANIFEST, MT.DOCKER_MANIFEST_LIST)

    def has_blob(self, desc: Descriptor) -> bool:
        """True when the destination already holds the blob (the copy can skip it)."""
        return False

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        raise NotImplementedError

    def put_manifest(self, raw: bytes, media_type: str, instance: str | None = None) -> None:
        """Store a manifest; ``instance`` is its digest when it is one image of an index,
        None for the top-level document."""
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageDestination":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """A named kind of image location (``docker``, ``oci``, ``dir`` ...)."""

    name: str = ""

    def validate(self, ref: str) -> None:
        """Raise InvalidArgument for a reference this transport cannot parse."""

    def source(self, ref: str, ctx: object = None) -> ImageSource:
        raise Unsupported(f"{self.name}: cannot be read from")

    def destination(self, ref: str, ctx: object = None) -> ImageDestination:
        raise Unsupported(f"{self.name}: cannot be written to")
