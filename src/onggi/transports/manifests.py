"""What the transports and the copy pipeline need to know of a manifest or index: its
media type, the blobs it references and the images an index lists. The documents stay
raw bytes (their digest is their identity); :mod:`onggi.oci.image` validates them."""

from __future__ import annotations

import json

from ..errors import InvalidArgument, Unsupported
from ..oci import image as I
from ..oci import mediatypes as MT
from ..oci.image import Descriptor


def load(raw: bytes, what: str) -> dict:
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"{what}: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what}: expected a JSON object")
    return doc


def media_type_of(raw: bytes, what: str, declared: str | None = None) -> str:
    """The media type of a manifest or index (its ``mediaType``, else its shape);
    Docker schema 1 is refused as deprecated."""
    mt = I.detect(raw, declared, what)
    if mt in I.SCHEMA1:
        raise Unsupported(f"{what}: Docker image manifest schema 1 is deprecated and not supported")
    return mt


def is_index(media_type: str) -> bool:
    return media_type in MT.INDEXES


def parse_manifest(raw: bytes, media_type: str | None, what: str) -> I.Manifest:
    m = I.parse(raw, media_type, what)
    if not isinstance(m, I.Manifest):
        raise InvalidArgument(f"{what}: expected an image manifest, got an index")
    return m


def parse_index(raw: bytes, media_type: str | None, what: str) -> I.Index:
    m = I.parse(raw, media_type, what)
    if not isinstance(m, I.Index):
        raise InvalidArgument(f"{what}: expected an index, got an image manifest")
    return m


def blobs_of(raw: bytes, what: str, media_type: str | None = None) -> tuple[Descriptor, list[Descriptor]]:
    """(config, layers) of an image manifest."""
    m = parse_manifest(raw, media_type, what)
    return m.config, list(m.layers)


def instances_of(raw: bytes, what: str, media_type: str | None = None) -> list[Descriptor]:
    """The manifests an index lists, in order."""
    return list(parse_index(raw, media_type, what).manifests)
