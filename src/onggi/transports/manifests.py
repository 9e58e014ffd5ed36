"""What the transports and the copy pipeline need to know of a manifest or index: its
media type, the blobs it references and the images an index lists. The documents stay
raw bytes (their digest is their identity); validation is :mod:`onggi.oci.image`'s."""

from __future__ import annotations

import json

from ..errors import InvalidArgument, Unsupported
from ..oci import mediatypes as MT
from .base import Descriptor


def load(raw: bytes, what: str) -> dict:
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"{what}: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what}: expected a JSON object")
    return doc


def media_type_of(raw: bytes, what: str) -> str:
    """The media type of a manifest or index from its own fields (``mediaType``, else
    its shape, as the image spec allows for OCI documents that omit it)."""
    doc = load(raw, what)
    mt = doc.get("mediaType")
    if mt in (MT.DOCKER_MANIFEST_V1, MT.DOCKER_MANIFEST_V1_SIGNED) or doc.get("schemaVersion") == 1:
        raise Unsupported(f"{what}: Docker image manifest schema 1 is deprecated and not supported")
    if isinstance(mt, str) and mt:
        if mt not in MT.INDEXES and mt not in MT.MANIFESTS:
            raise InvalidArgument(f"{what}: unknown manifest media type {mt!r}")
        return mt
    if "manifests" in doc:
        return MT.OCI_INDEX
    if "config" in doc and "layers" in doc:
        return MT.OCI_MANIFEST
    raise InvalidArgument(f"{what}: neither an image manifest nor an index (no mediaType, "
                          f"no config/layers, no manifests)")


def is_index(media_type: str) -> bool:
    return media_type in MT.INDEXES


def blobs_of(raw: bytes, what: str) -> tuple[Descriptor, list[Descriptor]]:
    """(config, layers) of an image manifest."""
    doc = load(raw, what)
    try:
        config = Descriptor.from_json(doc["config"])
        layers = [Descriptor.from_json(d) for d in doc.get("layers") or []]
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidArgument(f"{what}: malformed descriptor: {e}") from None
    return config, layers


def instances_of(raw: bytes, what: str) -> list[Descriptor]:
    """The manifests an index lists, in order."""
    doc = load(raw, what)
    try:
        return [Descriptor.from_json(d) for d in doc.get("manifests") or []]
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidArgument(f"{what}: malformed descriptor in manifests: {e}") from None
