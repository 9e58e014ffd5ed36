"""``docker-archive:PATH[:NAME:TAG|:@N]`` — the ``docker save`` format: a tar with
``manifest.json`` (a list of images: ``Config``, ``RepoTags``, ``Layers``), each config
as ``<hex>.json`` and each layer as an uncompressed tar named by its diff ID
(``<hex>.tar``). The pre-1.10 layout (``<id>/layer.tar``, ``json``, ``VERSION`` and
``repositories``) is read through ``manifest.json`` and not written: every Docker since
1.10 and podman load from ``manifest.json`` alone.

Reading presents each image as a Docker schema 2 manifest made from those files (digests
computed while the archive is unpacked). Writing takes Docker schema 2 images only (the
copy pipeline converts OCI ones), decompresses every layer into ``<diffid>.tar`` and
checks it against the config's ``rootfs.diff_ids``; ``docker load`` and ``podman load``
read the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from typing import BinaryIO

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..oci import mediatypes as MT
from ..oci.digest import Verifier, of_bytes
from .archive import Unpacked, write_tar
from .base import Descriptor, ImageDestination, ImageSource, Transport

DOCKER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
_CHUNK = 1 << 20


def split_ref(ref: str) -> tuple[str, str]:
    """``PATH[:NAME:TAG]`` or ``PATH:@N`` -> (path, "NAME:TAG" | "@N" | "")."""
    path, _, rest = ref.partition(":")
    if not path:
        raise InvalidArgument(f"docker-archive:{ref}: a path is required (docker-archive:PATH[:NAME:TAG])")
    if rest and not rest.startswith("@") and ":" not in rest.rsplit("/", 1)[-1]:
        rest += ":latest"
    return os.path.abspath(path), rest


def _normalise(tag: str) -> str:
    """``busybox:1`` -> ``docker.io/library/busybox:1`` (RepoTags are written fully)."""
    name = tag
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + (name if "/" in name else "library/" + name)
    return name


class DockerArchiveSource(ImageSource):
    def __init__(self, ref: str) -> None:
        path, want = split_ref(ref)
        self.reference = f"docker-archive:{ref}"
        self._files = Unpacked(path, lambda n: True, self.reference)
        try:
            self._load(want)
        except BaseException:
            self._files.close()
            raise

    def _load(self, want: str) -> None:
        try:
            with open(self._files.path("manifest.json"), "rb") as f:
                entries = json.loads(f.read())
        except FileNotFoundError:
            raise InvalidArgument(f"{self.reference}: no manifest.json (not a docker save archive)") from None
        except ValueError as e:
            raise InvalidArgument(f"{self.reference}: manifest.json: {e}") from None
        if not isinstance(entries, list) or not entries:
            raise InvalidArgument(f"{self.reference}: manifest.json lists no images")
        if want.startswith("@"):
            try:
                entry = entries[int(want[1:])]
            except (ValueError, IndexError):
                raise NotFound(f"{self.reference}: no image {want} (the archive has {len(entries)})") from None
        elif want:
            full = _normalise(want)
            found = [e for e in entries if full in [_normalise(t) for t in e.get("RepoTags") or []]]
            if not found:
                raise NotFound(f"{self.reference}: no image tagged {want}")
            entry = found[0]
        elif len(entries) == 1:
            entry = entries[0]
        else:
            raise InvalidArgument(f"{self.reference}: the archive holds {len(entries)} images: name one "
                                  f"(docker-archive:PATH:NAME:TAG or :@N)")
        self.tags = list(entry.get("RepoTags") or [])
        self._paths: dict[str, str] = {}
        config = self._describe(entry.get("Config", ""), MT.DOCKER_CONFIG)
        layers = []
        for name in entry.get("Layers") or []:
            layers.append(self._describe(name, DOCKER_TAR))
        from ..oci.image import Manifest, serialize

        self._manifest = serialize(Manifest.new(config, layers, docker=True))

    def _describe(self, name: str, media_type: str) -> Descriptor:
        path = self._files.path(name)
        if not name or not os.path.isfile(path):
            raise InvalidArgument(f"{self.reference}: manifest.json names {name!r}, which the archive lacks")
        h = hashlib.sha256()
        with open(path, "rb") as f:
            magic = f.read(4)
            f.seek(0)
            while b := f.read(_CHUNK):
                h.update(b)
            size = f.tell()
        if media_type == DOCKER_TAR and magic[:2] == b"\x1f\x8b":
            media_type = MT.DOCKER_LAYER_GZIP
        digest = f"sha256:{h.hexdigest()}"
        self._paths[digest] = path
        return Descriptor.new(media_type, digest, size)

    def get_manifest(self, instance: str | None = None) -> tuple[bytes, str]:
        if instance is not None and instance != of_bytes(self._manifest):
            raise NotFound(f"{self.reference}: no manifest {instance}")
        return self._manifest, MT.DOCKER_MANIFEST

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        path = self._paths.get(desc.digest)
        if path is None:
            raise NotFound(f"{self.reference}: no blob {desc.digest}")
        return open(path, "rb")

    def close(self) -> None:
        self._files.close()


class DockerArchiveDestination(ImageDestination):
    verifies_blobs = True
    compress_uncompressed = None  # kept as they are

    def __init__(self, ref: str) -> None:
        self.path, tag = split_ref(ref)
        if tag.startswith("@"):
            raise InvalidArgument(f"docker-archive:{ref}: @N selects an image to read; name a tag to write")
        self.reference = f"docker-archive:{ref}"
        self.tags = [_normalise(tag)] if tag else []
        if not os.path.isdir(os.path.dirname(self.path)):
            raise InvalidArgument(f"{self.reference}: directory {os.path.dirname(self.path)} does not exist")
        self._dir = tempfile.mkdtemp(prefix="onggi-docker-archive-")
        self._layers: dict[str, str] = {}  # compressed digest -> diffid hex
        self._config: bytes | None = None
        self._manifest: bytes | None = None

    def supported_manifest_types(self) -> tuple[str, ...]:
        return (MT.DOCKER_MANIFEST,)

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        if desc.media_type in MT.CONFIGS:
            v = Verifier(desc.digest, desc.size, f"{self.reference}: config {desc.digest}")
            data = stream.read()
            v.update(data)
            v.finish()
            self._config = data
            with open(os.path.join(self._dir, desc.digest.partition(":")[2] + ".json"), "wb") as f:
                f.write(data)
            return
        from ..image import compression as C

        compression = MT.LAYERS.get(desc.media_type)
        if compression is None:
            raise InvalidArgument(f"{self.reference}: cannot store a blob of type {desc.media_type!r}")
        v = Verifier(desc.digest, desc.size, f"{self.reference}: layer {desc.digest}")

        class _Checked:
            def read(self, n: int = _CHUNK) -> bytes:
                b = stream.read(n)
                if b:
                    v.update(b)
                return b

        tmp = os.path.join(self._dir, f".layer-{desc.digest.partition(':')[2]}")
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            plain = C.open_reader(_Checked(), compression)
            while b := plain.read(_CHUNK):
                h.update(b)
                out.write(b)
        while stream.read(_CHUNK):
            pass
        v.finish()
        os.rename(tmp, os.path.join(self._dir, h.hexdigest() + ".tar"))
        self._layers[desc.digest] = h.hexdigest()

    def put_manifest(self, raw: bytes, media_type: str, instance: str | None = None) -> None:
        if instance is None:
            self._manifest = raw

    def commit(self) -> None:
        if self._manifest is None or self._config is None:
            raise InvalidArgument(f"{self.reference}: commit without a manifest and config")
        doc = json.loads(self._manifest)
        config = json.loads(self._config)
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = [self._layers[d["digest"]] for d in doc.get("layers") or []]
        if [f"sha256:{h}" for h in layers] != diff_ids:
            raise FailedPrecondition(f"{self.reference}: the layers' uncompressed digests do not match "
                                     f"the config's rootfs.diff_ids")
        config_name = doc["config"]["digest"].partition(":")[2] + ".json"
        entry = {"Config": config_name, "RepoTags": self.tags, "Layers": [h + ".tar" for h in layers]}
        with open(os.path.join(self._dir, "manifest.json"), "w") as f:
            json.dump([entry], f, separators=(",", ":"))
        names = [config_name] + sorted(set(entry["Layers"])) + ["manifest.json"]
        write_tar(self.path, self._dir, names)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


class DockerArchiveTransport(Transport):
    name = "docker-archive"

    def validate(self, ref: str) -> None:
        split_ref(ref)

    def source(self, ref: str, ctx: object = None) -> DockerArchiveSource:
        return DockerArchiveSource(ref)

    def destination(self, ref: str, ctx: object = None) -> DockerArchiveDestination:
        return DockerArchiveDestination(ref)
