"""The local store's image operations behind podman's commands: pull (registry -> store,
layers unpacked), push, save, load, tag, remove, list and history. Each is one call of the
copy pipeline or of :class:`onggi.image.store.ImageStore`; the CLI only formats."""

from __future__ import annotations

import json
import time

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..oci import reference as R
from ..transports.copy import CopyOptions, Progress, copy
from .store import Image, ImageStore
from .store_transport import StoreDestination, StoreSource


def candidates(name: str, registries_conf: str | None = None) -> list[R.Reference]:
    """The fully qualified references a name may mean, in the order podman tries them:
    itself when it names a registry; else its alias or the unqualified-search registries
    of registries.conf; else ``docker.io``."""
    from ..distribution import registries_conf as RC

    ref = R.parse(name)
    if ref.qualified:
        return [ref]
    conf = RC.load([registries_conf] if registries_conf else None)
    try:
        res = conf.resolve_short_name(name)
    except FailedPrecondition:
        return [ref]  # nothing configured: Docker's default registry
    if res.needs_choice:
        names = ", ".join(str(c) for c in res.candidates)
        raise FailedPrecondition(f"short name {name!r} is ambiguous in enforcing mode ({names}): "
                                 f"use a fully qualified name")
    return list(res.candidates)


def pull(store: ImageStore, name: str, opts: object = None, progress: Progress | None = None,
         platform: object = None, all_images: bool = False, registries_conf: str | None = None) -> Image:
    """Pull ``name`` into the store under its full name and unpack its layers."""
    from ..transports.docker import DockerSource

    errors: list[str] = []
    for ref in candidates(name, registries_conf):
        if progress is not None:
            progress.message(f"Trying to pull {ref}...")
        try:
            src = DockerSource(str(ref), opts)  # type: ignore[arg-type]
        except NotFound as e:
            errors.append(str(e))
            continue
        with src, StoreDestination(store, str(ref)) as dst:
            copy(src, dst, CopyOptions(all_images=all_images, platform=platform, progress=progress))
            image = dst.image
        store.unpack(image.id)
        return image
    raise NotFound(f"pulling {name}: " + "; ".join(errors))


def push(store: ImageStore, name: str, destination: str | None, opts: object = None,
         progress: Progress | None = None, compress: str | None = None) -> str:
    """Push a stored image to ``docker://destination`` (default: its own name)."""
    from ..transports.docker import DockerDestination

    target = destination or name
    if target.startswith("docker://"):
        target = target[len("docker://"):]
    with StoreSource(store, name) as src, DockerDestination(target, opts) as dst:  # type: ignore[arg-type]
        return copy(src, dst, CopyOptions(progress=progress, compress=compress))


def save(store: ImageStore, name: str, output: str, fmt: str = "docker-archive",
         progress: Progress | None = None) -> str:
    """Write a stored image to an archive or directory (podman save's formats)."""
    from .. import transports as T

    tag = ""
    if fmt == "docker-archive" and not _is_id(store, name):
        tag = ":" + name
    elif fmt in ("oci-archive", "oci-dir"):
        tag = ":" + (R.parse(name).tag or "latest") if not _is_id(store, name) else ""
    transport = {"docker-archive": "docker-archive", "oci-archive": "oci-archive", "oci-dir": "oci",
                 "docker-dir": "dir"}.get(fmt)
    if transport is None:
        raise InvalidArgument(f"--format {fmt!r}: expected docker-archive, oci-archive, oci-dir or docker-dir")
    t, ref = T.parse(f"{transport}:{output}{'' if transport == 'dir' else tag}")
    with StoreSource(store, name) as src, t.destination(ref) as dst:
        return copy(src, dst, CopyOptions(progress=progress))


def load(store: ImageStore, archive: str, progress: Progress | None = None) -> list[str]:
    """Store the images of a docker-archive or oci-archive file; returns their names."""
    from ..transports.archive import Unpacked
    from ..transports.dockerarchive import DockerArchiveSource
    from ..transports.ociarchive import OCIArchiveSource

    loaded: list[str] = []
    files = Unpacked(archive, lambda n: n in ("manifest.json", "index.json"), f"load {archive}")
    try:
        import os

        docker = os.path.exists(files.path("manifest.json"))
        doc = json.load(open(files.path("manifest.json" if docker else "index.json")))
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"load {archive}: neither a docker-archive nor an oci-archive: {e}") from None
    finally:
        files.close()
    if docker:
        for i, entry in enumerate(doc):
            tags = entry.get("RepoTags") or []
            with DockerArchiveSource(f"{archive}:@{i}") as src:
                names = [str(R.parse(t)) for t in tags]
                with StoreDestination(store, names[0] if names else "") as dst:
                    copy(src, dst, CopyOptions(progress=progress))
                    for n in names[1:]:
                        store.tag(dst.image.id, n)
                    loaded += names or [dst.image.id]
    else:
        for entry in doc.get("manifests") or []:
            ref_name = (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
            with OCIArchiveSource(f"{archive}:{ref_name}" if ref_name else archive) as src:
                name = normalise(ref_name) if "/" in ref_name else ""  # a bare tag names nothing
                with StoreDestination(store, name) as dst:
                    copy(src, dst, CopyOptions(progress=progress))
                    loaded.append(name or dst.image.id)
    return loaded


def _is_id(store: ImageStore, name: str) -> bool:
    return name not in store.names()


def normalise(name: str) -> str:
    """A name as the store keeps it (``busybox`` -> ``docker.io/library/busybox:latest``)."""
    return str(R.parse(name))


def resolve(store: ImageStore, name: str) -> Image:
    """An image by what a user typed: a stored name, an id or digest (or a unique id
    prefix), its normalised form, or, for a short name, the one stored name that ends in
    it (``busybox`` finds ``localhost/busybox:latest`` or ``quay.io/x/busybox:latest``),
    as podman looks up local images."""
    try:
        return store.get(name)
    except NotFound:
        pass
    try:
        full = normalise(name)
        return store.get(full)
    except (NotFound, InvalidArgument):
        pass
    try:
        short = R.parse(name)
    except InvalidArgument:
        raise NotFound(f"image {name!r}: not in the local store") from None
    if not short.qualified:
        tail = "/" + str(short).split("/", 1)[1].removeprefix("library/")
        hits = sorted({n for n in store.names() if n.endswith(tail)})
        if len(hits) == 1:
            return store.get(hits[0])
        if len(hits) > 1:
            from ..errors import Conflict

            raise Conflict(f"image {name!r} is ambiguous: {', '.join(hits)}")
    raise NotFound(f"image {name!r}: not in the local store")


def history(store: ImageStore, image: Image) -> list[dict]:
    """podman history's rows, newest first: created, created_by, size, comment, id."""
    from .store_refs import manifest_parts

    config, layers = manifest_parts(store.blobs, image.manifest)
    cfg = json.loads(store.blobs.read_bytes(config.digest))
    rows, li = [], 0
    for h in cfg.get("history") or []:
        empty = bool(h.get("empty_layer"))
        size = 0 if empty or li >= len(layers) else layers[li].size
        if not empty:
            li += 1
        rows.append({"id": image.id if not rows else "<missing>", "created": h.get("created", ""),
                     "createdBy": h.get("created_by", ""), "size": size, "comment": h.get("comment", "")})
    return list(reversed(rows))


def image_size(store: ImageStore, image: Image) -> int:
    from .store_refs import manifest_parts

    config, layers = manifest_parts(store.blobs, image.manifest)
    return config.size + sum(x.size for x in layers)


def parse_time(text: str) -> float | None:
    """An RFC 3339 time (nanoseconds allowed) as a Unix time; None when unreadable."""
    import datetime
    import re

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text or "")
    if not m:
        return None
    frac = (m.group(2) or ".0")[:7]
    tz = m.group(3) or "Z"
    stamp = m.group(1) + frac + ("+00:00" if tz == "Z" else tz)
    try:
        return datetime.datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def ago(ts: float) -> str:
    """podman's "2 hours ago" form."""
    d = max(0.0, time.time() - ts)
    for unit, secs in (("year", 31536000), ("month", 2592000), ("week", 604800), ("day", 86400),
                       ("hour", 3600), ("minute", 60)):
        if d >= secs:
            n = int(d // secs)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "Less than a minute ago" if d >= 1 else "Less than a second ago"
