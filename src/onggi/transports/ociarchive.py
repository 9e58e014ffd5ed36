"""``oci-archive:PATH[:NAME]`` — an OCI image layout in a tar file. Reading unpacks the
layout's files into a temporary directory (see :mod:`.archive`); writing builds a layout
in a temporary directory and tars it at ``commit``."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from ..errors import InvalidArgument
from .archive import Unpacked, write_tar
from .base import Descriptor, ImageDestination, ImageSource, Transport
from .ocilayout import OCIDestination, OCISource

_LAYOUT_NAMES = re.compile(r"^(oci-layout|index\.json|blobs/[a-z0-9]+/[a-f0-9]+)$")


def split_ref(ref: str) -> tuple[str, str]:
    path, _, name = ref.partition(":")
    if not path:
        raise InvalidArgument(f"oci-archive:{ref}: a path is required (oci-archive:PATH[:NAME])")
    return os.path.abspath(path), name


class OCIArchiveSource(ImageSource):
    def __init__(self, ref: str) -> None:
        path, name = split_ref(ref)
        self.reference = f"oci-archive:{ref}"
        self._files = Unpacked(path, lambda n: bool(_LAYOUT_NAMES.match(n)), self.reference)
        try:
            self._inner = OCISource(f"{self._files.dir}:{name}" if name else self._files.dir)
        except BaseException:
            self._files.close()
            raise
        self._inner.reference = self.reference

    def get_manifest(self, instance: str | None = None) -> tuple[bytes, str]:
        return self._inner.get_manifest(instance)

    def get_blob(self, desc: Descriptor):  # noqa: ANN201
        return self._inner.get_blob(desc)

    def close(self) -> None:
        self._files.close()


class OCIArchiveDestination(ImageDestination):
    concurrent_blobs = True
    verifies_blobs = True

    def __init__(self, ref: str) -> None:
        self.path, name = split_ref(ref)
        self.reference = f"oci-archive:{ref}"
        if not os.path.isdir(os.path.dirname(self.path)):
            raise InvalidArgument(f"{self.reference}: directory {os.path.dirname(self.path)} does not exist")
        self._dir = tempfile.mkdtemp(prefix="onggi-oci-archive-")
        self._inner = OCIDestination(f"{self._dir}:{name}" if name else self._dir)
        self._inner.reference = self.reference

    def supported_manifest_types(self) -> tuple[str, ...]:
        return self._inner.supported_manifest_types()

    def has_blob(self, desc: Descriptor) -> bool:
        return self._inner.has_blob(desc)

    def put_blob(self, stream, desc: Descriptor) -> None:  # noqa: ANN001
        self._inner.put_blob(stream, desc)

    def put_manifest(self, raw: bytes, media_type: str, instance: str | None = None) -> None:
        self._inner.put_manifest(raw, media_type, instance)

    def commit(self) -> None:
        self._inner.commit()
        names = ["oci-layout", "index.json"]
        blobs = os.path.join(self._dir, "blobs")
        for alg in sorted(os.listdir(blobs)):
            names += [f"blobs/{alg}/{h}" for h in sorted(os.listdir(os.path.join(blobs, alg)))
                      if not h.startswith(".")]
        write_tar(self.path, self._dir, names)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


class OCIArchiveTransport(Transport):
    name = "oci-archive"

    def validate(self, ref: str) -> None:
        split_ref(ref)

    def source(self, ref: str, ctx: object = None) -> OCIArchiveSource:
        return OCIArchiveSource(ref)

    def destination(self, ref: str, ctx: object = None) -> OCIArchiveDestination:
        return OCIArchiveDestination(ref)
