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

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Callable

from ..errors import FailedPrecondition, InvalidArgument, Unsupported
from ..oci import image as I
from ..oci import mediatypes as MT
from ..oci.digest import Verifier, compute, of_bytes
from . import manifests as M
from .base import BytesReader, Descriptor, ImageDestination, ImageSource

_CHUNK = 1 << 20

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

    def seekable(self) -> bool:
        return False


class CountingReader:
    """Passes a stream through, reporting progress (for destinations that verify)."""

    def __init__(self, stream: BinaryIO, advance: Callable[[int], None] | None) -> None:
        self.stream = stream
        self.advance = advance
        self.verified = getattr(stream, "verified", False)
        if hasattr(stream, "open_at"):
            self.open_at = self._open_at

    def _open_at(self, offset: int) -> "CountingReader":
        """The source's stream from ``offset`` (a resumed ingest); the bytes skipped count
        as done."""
        if self.advance is not None:
            self.advance(offset)
        return CountingReader(self.stream.open_at(offset), self.advance)  # type: ignore[attr-defined]

    def read(self, n: int = _CHUNK) -> bytes:
        b = self.stream.read(n if n and n > 0 else _CHUNK)
        if b and self.advance is not None:
            self.advance(len(b))
        return b

    def close(self) -> None:
        self.stream.close()

    def seekable(self) -> bool:
        return False


def copy(src: ImageSource, dst: ImageDestination, opts: CopyOptions | None = None) -> str:
    """Copy the image (or index) and commit the destination; returns the digest of the
    top-level manifest as written."""
    opts = opts or CopyOptions()
    raw, mt = src.get_manifest()
    if M.is_index(mt):
        if opts.all_images:
            raw, mt = _copy_index(src, dst, raw, mt, opts)
        else:
            index = M.parse_index(raw, mt, f"{src.reference}: index")
            chosen = choose_instance(list(index.manifests), opts.platform, src.reference)
            raw, mt = src.get_manifest(chosen.digest)
            raw, mt = _copy_image(src, dst, raw, mt, None, opts)
    else:
        raw, mt = _copy_image(src, dst, raw, mt, None, opts)
    dst.put_manifest(raw, mt, None)
    dst.commit()
    return of_bytes(raw)


def choose_instance(instances: list[Descriptor], wanted: object, ref: str) -> Descriptor:
    """The image of an index for ``wanted`` (None: this host's platform)."""
    from ..oci import platform as P

    want = wanted if wanted is not None else P.host()
    return P.choose(instances, want, what=ref)  # type: ignore[arg-type]


def _target_type(mt: str, dst: ImageDestination) -> str:
    supported = dst.supported_manifest_types()
    if mt in supported:
        return mt
    alt = {MT.OCI_MANIFEST: MT.DOCKER_MANIFEST, MT.DOCKER_MANIFEST: MT.OCI_MANIFEST,
           MT.OCI_INDEX: MT.DOCKER_MANIFEST_LIST, MT.DOCKER_MANIFEST_LIST: MT.OCI_INDEX}.get(mt)
    if alt in supported:
        return alt  # type: ignore[return-value]
    raise Unsupported(f"{dst.reference}: cannot store a {mt} (it takes {', '.join(supported)})")


def _copy_index(src: ImageSource, dst: ImageDestination, raw: bytes, mt: str,
                opts: CopyOptions) -> tuple[bytes, str]:
    what = f"{src.reference}: index"
    index = M.parse_index(raw, mt, what)
    target = _target_type(mt, dst)
    children = []
    for desc in index.manifests:
        iraw, imt = src.get_manifest(desc.digest)
        if M.is_index(imt):
            raise Unsupported(f"{what}: nested index {desc.digest} is not supported")
        new_raw, new_mt = _copy_image(src, dst, iraw, imt, desc.digest, opts)
        new_digest = of_bytes(new_raw)
        dst.put_manifest(new_raw, new_mt, new_digest)
        children.append(Descriptor.new(new_mt, new_digest, len(new_raw)))
    unchanged = all(c.digest == d.digest and c.media_type == d.media_type
                    for c, d in zip(children, index.manifests))
    if unchanged and target == mt:
        return raw, mt
    if opts.preserve_digests:
        raise FailedPrecondition(f"{what}: copying would change the index digest, but "
                                 f"--preserve-digests was given")
    from ..oci.imageconfig import convert_index

    new = convert_index(index, children, target == MT.DOCKER_MANIFEST_LIST, what)
    return I.serialize(new), target


def _copy_image(src: ImageSource, dst: ImageDestination, raw: bytes, mt: str, instance: str | None,
                opts: CopyOptions) -> tuple[bytes, str]:
    what = f"{src.reference}: manifest {instance or ''}".rstrip()
    m = M.parse_manifest(raw, mt, what)
    target = _target_type(mt, dst)
    to_oci = m.docker and target == MT.OCI_MANIFEST
    new_config = None
    if to_oci:  # skopeo rewrites the config with the OCI fields only: a new config blob
        from ..oci.imageconfig import to_oci as convert

        config_blob = _read_small(src, m.config, f"{src.reference}: config {m.config.digest}")
        _, new_config = convert(m, config_blob, what)
    layers = list(m.layers)
    def wanted(d: Descriptor) -> str | None:
        if opts.compress is not None:
            return opts.compress
        if MT.LAYERS.get(d.media_type) == "none" and dst.compress_uncompressed:
            return dst.compress_uncompressed
        return None

    jobs: list[tuple[Descriptor, str, str | None]] = [(d, f"layer {i + 1}/{len(layers)}", wanted(d))
                                                      for i, d in enumerate(layers)]
    if new_config is None:
        jobs.insert(0, (m.config, "config", None))
    results: dict[int, Descriptor] = {}

    def one(i: int) -> None:
        desc, label, compress = jobs[i]
        results[i] = _copy_blob(src, dst, desc, f"{src.reference}: {label} {desc.digest}", compress,
                                opts, docker=m.docker)

    workers = max(1, opts.parallel if dst.concurrent_blobs else 1)
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            for f in [pool.submit(one, i) for i in range(len(jobs))]:
                f.result()
    else:
        for i in range(len(jobs)):
            one(i)
    first = 0 if new_config is not None else 1
    new_layers = [results[first + i] for i in range(len(layers))]
    same = all(n.digest == o.digest and n.media_type == o.media_type for n, o in zip(new_layers, layers))
    if same and target == mt:
        return raw, mt
    if opts.preserve_digests:
        raise FailedPrecondition(f"{what}: copying would change the manifest digest (format or "
                                 f"compression), but --preserve-digests was given")
    out = m.replace(layers=new_layers) if not same else m
    if target == MT.DOCKER_MANIFEST and not m.docker:
        from ..oci.imageconfig import to_docker

        out = to_docker(out, what)
    elif to_oci:
        from ..oci.imageconfig import to_oci as convert

        out, cfg = convert(out, config_blob, what)
        cdesc = out.config
        if not dst.has_blob(cdesc):
            dst.put_blob(BytesReader(cfg), cdesc)
    return I.serialize(out), target


def _read_small(src: ImageSource, desc: Descriptor, what: str) -> bytes:
    stream = src.get_blob(desc)
    try:
        r = VerifyingReader(stream, desc, what)
        data = b"".join(iter(lambda: r.read(_CHUNK), b""))
    finally:
        stream.close()
    return data


def _copy_blob(src: ImageSource, dst: ImageDestination, desc: Descriptor, what: str,
               compress: str | None, opts: CopyOptions, docker: bool = False) -> Descriptor:
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
        if not recompress:
            reader = (CountingReader(stream, advance) if dst.verifies_blobs
                      else VerifyingReader(stream, desc, what, advance))
            dst.put_blob(reader, desc)  # type: ignore[arg-type]
            out = desc
        else:
            reader = VerifyingReader(stream, desc, what, advance)
            out = _recompress(reader, dst, desc, current, compress, what, docker)
    finally:
        stream.close()
    if prog:
        prog.blob_done(desc, False)
    return out


def _recompress(reader: VerifyingReader, dst: ImageDestination, desc: Descriptor, current: str,
                target: str, what: str, docker: bool) -> Descriptor:
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
            new = Descriptor.new(MT.layer_type(target, docker), digest, size, annotations=desc.annotations)
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
