"""References between stored objects (index -> manifests -> config + layers), read from the
stored JSON with the media type fields directly.

This parsing is deliberately minimal and local (it only needs digests, sizes and media
types, and tolerates fields it does not know); it is to be replaced by the models of
:mod:`onggi.oci.image` once they settle. Every blob read here is digest-checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..oci import mediatypes as mt
from ..oci.digest import Digest, parse
from .blobs import BlobStore
from .snapshots import chain_ids

__all__ = ["Ref", "Walk", "load_json", "kind_of", "children", "manifest_parts", "diff_ids",
           "walk", "image_chain"]

MAX_JSON = 32 << 20  # a manifest or a config larger than this is refused


@dataclass(frozen=True)
class Ref:
    """A descriptor found in a manifest or an index."""

    digest: Digest
    media_type: str
    size: int | None
    kind: str  # "manifest" (an index's child), "config" or "layer"


def load_json(store: BlobStore, digest: str, what: str) -> dict:
    """A stored JSON object (checked against its digest)."""
    if store.size(digest) > MAX_JSON:
        raise InvalidArgument(f"{what} {digest}: larger than {MAX_JSON} bytes")
    try:
        doc = json.loads(store.read_bytes(digest))
    except ValueError as e:
        raise InvalidArgument(f"{what} {digest}: not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what} {digest}: not a JSON object")
    return doc


def kind_of(doc: dict) -> str:
    """``index``, ``manifest`` or ``other``: the ``mediaType`` when it says, else the shape
    (an OCI manifest may leave ``mediaType`` out)."""
    media_type = doc.get("mediaType")
    if media_type in mt.INDEXES:
        return "index"
    if media_type in mt.MANIFESTS:
        return "manifest"
    if media_type is None:
        if isinstance(doc.get("manifests"), list):
            return "index"
        if isinstance(doc.get("config"), dict) and isinstance(doc.get("layers"), list):
            return "manifest"
    return "other"


def _ref(d: object, kind: str, where: str) -> Ref:
    if not isinstance(d, dict):
        raise InvalidArgument(f"{where}: expected a descriptor object")
    size = d.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise InvalidArgument(f"{where}.size: expected a non-negative integer")
    media_type = d.get("mediaType")
    return Ref(parse(d.get("digest"), f"{where}.digest"),
               media_type if isinstance(media_type, str) else "", size, kind)


def children(doc: dict, what: str) -> list[Ref]:
    """The descriptors an index (its manifests) or a manifest (config, then layers) names."""
    kind = kind_of(doc)
    if kind == "index":
        ms = doc.get("manifests") or []
        if not isinstance(ms, list):
            raise InvalidArgument(f"{what}: manifests: expected a list")
        return [_ref(m, "manifest", f"{what}: manifests[{i}]") for i, m in enumerate(ms)]
    if kind == "manifest":
        layers = doc.get("layers") or []
        if not isinstance(layers, list):
            raise InvalidArgument(f"{what}: layers: expected a list")
        return [_ref(doc.get("config"), "config", f"{what}: config")] + [
            _ref(x, "layer", f"{what}: layers[{i}]") for i, x in enumerate(layers)]
    return []


def manifest_parts(store: BlobStore, manifest: str) -> tuple[Ref, list[Ref]]:
    """(config, layers) of a stored image manifest."""
    doc = load_json(store, manifest, "manifest")
    if kind_of(doc) != "manifest":
        raise InvalidArgument(f"manifest {manifest}: not an image manifest "
                              f"(mediaType {doc.get('mediaType')!r})")
    refs = children(doc, f"manifest {manifest}")
    return refs[0], refs[1:]


def diff_ids(store: BlobStore, config: str) -> list[Digest]:
    """``rootfs.diff_ids`` of a stored image config."""
    doc = load_json(store, config, "config")
    rootfs = doc.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list):
        raise InvalidArgument(f"config {config}: rootfs.diff_ids: expected a list")
    return [parse(d, f"config {config}: rootfs.diff_ids[{i}]") for i, d in enumerate(ids)]


def image_chain(store: BlobStore, manifest: str) -> list[Digest]:
    """The chain IDs of an image's layers, bottom first (checks layer and diff ID counts)."""
    config, layers = manifest_parts(store, manifest)
    ids = diff_ids(store, config.digest)
    if len(ids) != len(layers):
        raise InvalidArgument(f"manifest {manifest}: {len(layers)} layers but its config "
                              f"lists {len(ids)} diff IDs")
    return chain_ids(ids)


@dataclass
class Walk:
    """What a walk from some roots reached."""

    blobs: set[Digest] = field(default_factory=set)      # present and referenced
    chains: set[Digest] = field(default_factory=set)     # snapshot chain IDs of the images
    missing: list[tuple[str, Ref]] = field(default_factory=list)  # required, absent
    optional: list[tuple[str, Ref]] = field(default_factory=list)  # index children absent
    errors: list[tuple[str, str]] = field(default_factory=list)    # (digest, problem)


def walk(store: BlobStore, roots: list[str], w: Walk | None = None) -> Walk:
    """Mark everything reachable from ``roots`` (manifest or index digests). An index's
    absent children are ``optional`` (a pull keeps only its platform); a manifest's absent
    config or layers are ``missing``. Unreadable objects are ``errors``, not raised."""
    w = w or Walk()
    todo = [parse(r) for r in roots]
    while todo:
        d = todo.pop()
        if d in w.blobs:
            continue
        if not store.exists(d):
            w.missing.append(("(root)", Ref(d, "", None, "manifest")))
            continue
        w.blobs.add(d)
        try:
            doc = load_json(store, d, "manifest")
            refs = children(doc, f"manifest {d}")
        except (InvalidArgument, FailedPrecondition, NotFound) as e:
            w.errors.append((d, str(e)))
            continue
        is_manifest = kind_of(doc) == "manifest"
        for r in refs:
            if r.kind == "manifest":
                (todo.append(r.digest) if store.exists(r.digest)
                 else w.optional.append((d, r)))
            elif store.exists(r.digest):
                w.blobs.add(r.digest)
            else:
                w.missing.append((d, r))
        if is_manifest and refs and store.exists(refs[0].digest):
            try:
                w.chains.update(image_chain(store, d))
            except (InvalidArgument, FailedPrecondition, NotFound) as e:
                w.errors.append((d, str(e)))
    return w
