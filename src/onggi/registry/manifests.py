"""Checking a pushed manifest before it is stored: JSON, schema version, media type
(the ``Content-Type`` and the body's ``mediaType`` must agree), well-formed descriptors.
The result lists what the manifest points at so storage can check it all exists.

Accepted: OCI image manifest and index, Docker schema 2 manifest and manifest list. The
media type is kept exactly as pushed and served back as the ``Content-Type``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..oci import mediatypes as MT
from .errors import RegistryError
from .names import check_digest

__all__ = ["MAX_MANIFEST", "ACCEPTED", "Parsed", "parse"]

MAX_MANIFEST = 4 << 20  # the reference registry's limit on a manifest body
ACCEPTED = frozenset((MT.OCI_MANIFEST, MT.OCI_INDEX, MT.DOCKER_MANIFEST, MT.DOCKER_MANIFEST_LIST))
_SCHEMA1 = frozenset((MT.DOCKER_MANIFEST_V1, MT.DOCKER_MANIFEST_V1_SIGNED, "application/json"))


@dataclass(frozen=True)
class Parsed:
    """What storage needs from a valid manifest."""

    media_type: str
    blobs: tuple[tuple[str, bool], ...] = ()  # (digest, foreign: has urls, may be absent)
    manifests: tuple[str, ...] = ()  # children of an index
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def references(self) -> list[str]:
        return [d for d, _ in self.blobs] + list(self.manifests)


def _invalid(message: str, detail: Any = None) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", message, detail=detail)


def _descriptor(value: Any, where: str) -> tuple[str, bool]:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: expected a descriptor object", {"field": where})
    mt, size = value.get("mediaType"), value.get("size")
    if not isinstance(mt, str) or not mt:
        raise _invalid(f"{where}.mediaType: expected a non-empty string", {"field": where})
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size: expected a non-negative integer", {"field": where})
    d = check_digest(value.get("digest"), "MANIFEST_INVALID") if isinstance(value.get("digest"), str) \
        else None
    if d is None:
        raise _invalid(f"{where}.digest: expected a digest string", {"field": where})
    return str(d), bool(value.get("urls"))


def _media_type(doc: dict[str, Any], content_type: str | None) -> str:
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("mediaType: expected a string")
    ct = (content_type or "").split(";", 1)[0].strip()
    if ct in ACCEPTED:
        if body_type and body_type != ct:
            raise _invalid(f"the body's mediaType {body_type!r} differs from Content-Type {ct!r}",
                           {"mediaType": body_type, "contentType": ct})
        return ct
    if ct and ct not in _SCHEMA1 and ct not in ("application/octet-stream", ""):
        raise _invalid(f"unsupported manifest media type {ct!r} (accepted: {', '.join(sorted(ACCEPTED))})",
                       {"contentType": ct})
    if body_type:
        if body_type not in ACCEPTED:
            raise _invalid(f"unsupported manifest media type {body_type!r}", {"mediaType": body_type})
        return body_type
    if "manifests" in doc:
        return MT.OCI_INDEX
    if "config" in doc or "layers" in doc:
        return MT.OCI_MANIFEST
    raise _invalid("cannot tell the manifest's media type: no Content-Type and no mediaType")


def parse(data: bytes, content_type: str | None) -> Parsed:
    """Validate ``data`` as a manifest of ``content_type``; MANIFEST_INVALID saying why."""
    if len(data) > MAX_MANIFEST:
        raise RegistryError("MANIFEST_INVALID", f"manifest of {len(data)} bytes exceeds the "
                            f"{MAX_MANIFEST} byte limit", status=413)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise _invalid(f"manifest is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest is not a JSON object")
    if doc.get("schemaVersion") != 2:
        raise _invalid(f"schemaVersion {doc.get('schemaVersion')!r} is not supported (only 2; "
                       "Docker schema 1 is deprecated)", {"schemaVersion": doc.get("schemaVersion")})
    mt = _media_type(doc, content_type)
    at = doc.get("artifactType")
    if at is not None and not isinstance(at, str):
        raise _invalid("artifactType: expected a string")
    ann = doc.get("annotations") or {}
    if not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values()):
        raise _invalid("annotations: expected an object of strings")
    subject = None
    if doc.get("subject") is not None:
        subject = _descriptor(doc["subject"], "subject")[0]
    if mt in (MT.OCI_INDEX, MT.DOCKER_MANIFEST_LIST):
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise _invalid("manifests: expected a list of descriptors")
        kids = tuple(_descriptor(c, f"manifests[{i}]")[0] for i, c in enumerate(children))
        return Parsed(mt, (), kids, subject, at, ann)
    config, layers = doc.get("config"), doc.get("layers", [])
    if config is None:
        raise _invalid("config: missing (an image manifest needs a config descriptor)")
    if not isinstance(layers, list):
        raise _invalid("layers: expected a list of descriptors")
    blobs = [_descriptor(config, "config")]
    blobs += [_descriptor(x, f"layers[{i}]") for i, x in enumerate(layers)]
    if at is None:  # the referrers API reports an image's config type as its artifactType
        at = config.get("mediaType")
    return Parsed(mt, tuple(blobs), (), subject, at, ann)


def references(data: bytes) -> list[str]:
    """Every digest a stored manifest points at (config, layers, children) and its
    subject last, or [] when it cannot be read (GC keeps going)."""
    try:
        doc = json.loads(data)
        out: list[str] = []
        for key in ("config",):
            if isinstance(doc.get(key), dict):
                out.append(doc[key].get("digest"))
        for key in ("layers", "manifests"):
            for d in doc.get(key) or []:
                if isinstance(d, dict):
                    out.append(d.get("digest"))
        return [d for d in out if isinstance(d, str)]
    except (ValueError, AttributeError, TypeError):
        return []


def subject_of(data: bytes) -> str | None:
    try:
        s = json.loads(data).get("subject")
        return s.get("digest") if isinstance(s, dict) else None
    except (ValueError, AttributeError):
        return None
