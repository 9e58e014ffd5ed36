"""The one copy pipeline: ``copy(src, dst)`` moves an image or an index between any two
transports, verifying every blob (digest and size) on the way.

For an index: with ``all_images`` every image is copied and the index too; otherwise the
image for the wanted platform is chosen and copied alone (as skopeo does). For each image:
the config and layers are copied in parallel (those the destination already has are
skipped), layers are recompressed when ``compress`` asks for another format, the manifest
is converted when the destination cannot store its format (OCI <-> Docker schema 2), and
it is written after its blobs. Untouched manifests keep their exact bytes (and digest);
``preserve_digests`` refuses any change that would alter one.
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Callable

from ..errors import FailedPrecondition, InvalidArgument, Unsupported
from ..oci import mediatypes as MT
from ..oci.digest import Verifier, compute, of_bytes
from . import manifests as M
from .base import Descriptor, ImageDestination, ImageSource

_CHUNK = 1 << 20

# OCI <-> Docker schema 2: the media types that change with the format
_TO_DOCKER = {MT.OCI_MANIFEST: MT.DOCKER_MANIFEST, MT.OCI_INDEX: MT.DOCKER_MANIFEST_LIST,
              MT.OCI_CONFIG: MT.DOCKER_CONFIG, MT.OCI_LAYER_GZIP: MT.DOCKER_LAYER_GZIP,
              MT.OCI_LAYER_NONDIST_GZIP: MT.DOCKER_LAYER_FOREIGN_GZIP}
_TO_OCI = {v: k for k, v in _TO_DOCKER.items()}


class CopyOptions:
    __slots__ = ("all_images", "platform", "compress", "preserve_digests", "progress", "parallel")

    def __init__(self, all_images: bool = False, platform: object = None, compress: str | None = None,
                 preserve_digests: bool = False, progress: "Progress | None" = None, parallel: int = 6) -> None:
        self.all_images = all_images
        self.platform = platform  # an onggi.oci.platform.Platform, or None for this host's
        self.compress = compress  # "gzip", "zstd", "none" or None (keep)
        self.preserve_digests = preserve_digests
        self.progress = progress
        self.parallel = parallel


class Progress:
    """Callbacks of a copy (the CLI draws bars from them); every method may be called
    from several threads."""

    def blob_start(self, desc: Descriptor, what: str) -> None: ...
    def blob_advance(self, desc: Descriptor, nbytes: int) -> None: ...
    def blob_done(self, desc: Descriptor, skipped: bool) -> None: ...
    def message(self, text: str) -> None: ...


class VerifyingReader:
    """Reads a source stream, checking digest and size; raises at the end on a mismatch
    (and as soon as the stream runs past its declared size)."""

    def __init__(self, stream: BinaryIO, desc: Descriptor, what: str,
                 advance: Callable[[int], None] | None = None) -> None:
        self.stream = stream
        self.v = Verifier(desc.digest, desc.size, what)
        self.advance = advance
        self.done = False

    def read(self, n: int = _CHUNK) -> bytes:
        b = self.stream.read(n if n and n > 0 else _CHUNK)
        if b:
            self.v.update(b)
            if self.advance is not None:
                self.advance(len(b))
        elif not self.done:
            self.v.finish()
            self.done = True
        return b

    def close(self) -> None:
        self.stream.close()


def copy(src: ImageSource, dst: ImageDestination, opts: CopyOptions | None = None) -> str:
    """Copy the image (or index) and commit the destination; returns the digest of the
    top-level manifest as written."""
    opts = opts or CopyOptions()
    raw, mt = src.get_manifest()
    what = f"{src.reference}: manifest"
    if M.is_index(mt):
        if opts.all_images:
            raw, mt = _copy_index(src, dst, raw, mt, opts)
        else:
            chosen = _choose(M.instances_of(raw, what), opts.platform, src.reference)
            raw, mt = src.get_manifest(chosen.digest)
            raw, mt = _copy_image(src, dst, raw, mt, None, opts)
            dst.put_manifest(raw, mt, None)
            dst.commit()
            return of_bytes(raw)
    else:
        raw, mt = _copy_image(src, dst, raw, mt, None, opts)
    dst.put_manifest(raw, mt, None)
    dst.commit()
    return of_bytes(raw)


def _choose(instances: list[Descriptor], wanted: object, ref: str) -> Descriptor:
    from ..oci import platform as P

    want = wanted if wanted is not None else P.host()
    return P.choose(instances, want, what=ref)


def _copy_index(src: ImageSource, dst: ImageDestination, raw: bytes, mt: str,
                opts: CopyOptions) -> tuple[bytes, str]:
    what = f"{src.reference}: index"
    changed = {}
    for desc in M.instances_of(raw, what):
        iraw, imt = src.get_manifest(desc.digest)
        if M.is_index(imt):
            raise Unsupported(f"{what}: nested index {desc.digest} is not supported")
        new_raw, new_mt = _copy_image(src, dst, iraw, imt, desc.digest, opts)
        new_digest = of_bytes(new_raw)
        dst.put_manifest(new_raw, new_mt, new_digest)
        if new_raw != iraw:
            changed[desc.digest] = (new_digest, len(new_raw), new_mt)
    target = _target_type(mt, dst)
    if not changed and target == mt:
        return raw, mt
    if opts.preserve_digests:
        raise FailedPrecondition(f"{what}: copying would change the index digest, but "
                                 f"--preserve-digests was given")
    doc = M.load(raw, what)
    for entry in doc.get("manifests") or []:
        if entry.get("digest") in changed:
            entry["digest"], entry["size"], entry["mediaType"] = changed[entry["digest"]]
        elif target != mt:
            entry["mediaType"] = _map_type(entry.get("mediaType", ""), target)
    if target != mt:
        doc["mediaType"] = target
    return json.dumps(doc, separators=(",", ":")).encode(), target


def _target_type(mt: str, dst: ImageDestination) -> str:
    supported = dst.supported_manifest_types()
    if mt in supported:
        return mt
    alt = _TO_DOCKER.get(mt) or _TO_OCI.get(mt)
    if alt in supported:
        return alt
    raise Unsupported(f"{dst.reference}: cannot store a {mt} (it takes {', '.join(supported)})")


def _map_type(media_type: str, target_manifest_type: str) -> str:
    docker = target_manifest_type in (MT.DOCKER_MANIFEST, MT.DOCKER_MANIFEST_LIST)
    table = _TO_DOCKER if docker else _TO_OCI
    if docker and media_type == MT.OCI_LAYER_ZSTD:
        raise Unsupported("a zstd layer cannot be stored in a Docker schema 2 manifest "
                          "(use --dest-compress-format gzip, or an OCI destination)")
    if docker and media_type == MT.OCI_LAYER:
        return "application/vnd.docker.image.rootfs.diff.tar"
    if not docker and media_type == "application/vnd.docker.image.rootfs.diff.tar":
        return MT.OCI_LAYER
    return table.get(media_type, media_type)


def _copy_image(src: ImageSource, dst: ImageDestination, raw: bytes, mt: str, instance: str | None,
                opts: CopyOptions) -> tuple[bytes, str]:
    what = f"{src.reference}: manifest {instance or ''}".rstrip()
    config, layers = M.blobs_of(raw, what)
    target = _target_type(mt, dst)
    jobs = [(config, "config", None)] + [(d, f"layer {i + 1}/{len(layers)}", opts.compress)
                                         for i, d in enumerate(layers)]
    results: dict[int, Descriptor] = {}

    def one(i: int) -> None:
        desc, label, compress = jobs[i]
        results[i] = _copy_blob(src, dst, desc, f"{src.reference}: {label} {desc.digest}", compress, opts)

    workers = max(1, opts.parallel if dst.concurrent_blobs else 1)
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            for f in [pool.submit(one, i) for i in range(len(jobs))]:
                f.result()
    else:
        for i in range(len(jobs)):
            one(i)
    new_layers = [results[i + 1] for i in range(len(layers))]
    same = all(n.digest == o.digest and n.media_type == o.media_type for n, o in zip(new_layers, layers))
    if same and target == mt:
        return raw, mt
    if opts.preserve_digests:
        raise FailedPrecondition(f"{what}: copying would change the manifest digest (format or "
                                 f"compression), but --preserve-digests was given")
    doc = M.load(raw, what)
    doc["mediaType"] = target
    doc["config"]["mediaType"] = _map_type(config.media_type, target)
    doc["layers"] = [dict(old_json, digest=n.digest, size=n.size, mediaType=_map_type(n.media_type, target))
                     for old_json, n in zip(doc.get("layers") or [], new_layers)]
    return json.dumps(doc, separators=(",", ":")).encode(), target


def _copy_blob(src: ImageSource, dst: ImageDestination, desc: Descriptor, what: str,
               compress: str | None, opts: CopyOptions) -> Descriptor:
    prog = opts.progress
    current = MT.LAYERS.get(desc.media_type)
    recompress = compress is not None and current is not None and current != compress
    if not recompress and dst.has_blob(desc):
        if prog:
            prog.blob_done(desc, True)
        return desc
    if prog:
        prog.blob_start(desc, what)
    advance = (lambda n: prog.blob_advance(desc, n)) if prog else None
    stream = src.get_blob(desc)
    try:
        reader = VerifyingReader(stream, desc, what, advance)
        if not recompress:
            dst.put_blob(reader, desc)
            out = desc
        else:
            out = _recompress(reader, dst, desc, current, compress, what)
    finally:
        stream.close()
    if prog:
        prog.blob_done(desc, False)
    return out


def _recompress(reader: VerifyingReader, dst: ImageDestination, desc: Descriptor, current: str,
                target: str, what: str) -> Descriptor:
    """Decompress and compress again into a temporary file (the new digest must be known
    before the destination takes the blob), then hand that file to the destination."""
    from ..image import compression as C

    fd, tmp = tempfile.mkstemp(prefix="onggi-layer-")
    try:
        with os.fdopen(fd, "w+b") as f:
            plain = C.open_reader(reader, current)
            w = C.open_writer(f, target)
            while True:
                b = plain.read(_CHUNK)
                if not b:
                    break
                w.write(b)
            w.close()
            if not reader.done:
                while reader.read(_CHUNK):
                    pass  # trailing bytes after the compressed stream still count
            f.seek(0)
            digest, size = compute(f)
            f.seek(0)
            docker = desc.media_type.startswith("application/vnd.docker.")
            new = Descriptor(MT.layer_type(target, docker), digest, size, desc.annotations, desc.urls)
            if not dst.has_blob(new):
                dst.put_blob(f, new)
            return new
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"{what}: recompressing {current} -> {target} failed: {e}") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
