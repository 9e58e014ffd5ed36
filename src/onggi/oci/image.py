"""Image manifests and indexes: OCI image spec v1.1 and Docker image manifest v2 schema 2
(with its manifest list), parsed and validated into read-only models.

Every validation error is ``InvalidArgument`` naming the field's path, prefixed by what was
read when the caller says (``docker.io/library/alpine:3: manifest.layers[2].digest: ...``).
A Docker v2 schema 1 manifest is recognised by :func:`detect` and refused by
:func:`parse` (``Unsupported``: deprecated).

Models keep the parsed object in ``raw``; :meth:`Wire.to_dict` writes unknown fields back
in their order, so re-serialising loses nothing. Copied blobs are never re-serialised (their
bytes are their digest): :func:`serialize` is for new objects, as compact JSON (``","`` and
``":"`` separators, non-ASCII escaped), keys in the spec's field order and not sorted.
"""

from __future__ import annotations

import binascii
import hashlib
from typing import Sequence, TypeVar

from ..errors import InvalidArgument, Unsupported
from . import digest as _digest
from . import jsonio
from . import mediatypes as mt
from .model import Model
from .platform import Platform, choose, merge_wire

__all__ = ["Wire", "Descriptor", "Manifest", "Index", "detect", "parse", "serialize", "describe", "SCHEMA1"]

SCHEMA1 = frozenset((mt.DOCKER_MANIFEST_V1, mt.DOCKER_MANIFEST_V1_SIGNED))
_KNOWN = mt.INDEXES | mt.MANIFESTS | SCHEMA1
_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&^_.+-")
_INT64 = 2**63 - 1
W = TypeVar("W", bound="Wire")


# ---- field readers: (parent object, key, parent path) -> value -----------------------

def bad(path: str, msg: str) -> InvalidArgument:
    return InvalidArgument(f"{path}: {msg}")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def obj(v: object, path: str) -> dict:
    if not isinstance(v, dict):
        raise bad(path, "expected an object")
    return v


def get(d: dict, key: str, path: str, kind: type | tuple, what: str, required: bool = False) -> object:
    """``d[key]`` of type ``kind`` (None when absent or null and not required)."""
    v = d.get(key)
    if v is None:
        if required:
            raise bad(join(path, key), "is required")
        return None
    if isinstance(v, bool) and kind is not bool:
        raise bad(join(path, key), f"expected {what}")
    if not isinstance(v, kind):
        raise bad(join(path, key), f"expected {what}")
    return v


def string(d: dict, key: str, path: str, required: bool = False) -> str | None:
    return get(d, key, path, str, "a string", required)  # type: ignore[return-value]


def integer(d: dict, key: str, path: str, required: bool = False, lo: int = 0,
            hi: int = _INT64) -> int | None:
    v = get(d, key, path, (int, float), "an integer", required)
    if v is None:
        return None
    if isinstance(v, float):
        if not v.is_integer():
            raise bad(join(path, key), "expected an integer")
        v = int(v)
    if not lo <= v <= hi:  # type: ignore[operator]
        raise bad(join(path, key), f"{v} is out of range [{lo}, {hi}]")
    return v  # type: ignore[return-value]


def boolean(d: dict, key: str, path: str) -> bool | None:
    return get(d, key, path, bool, "true or false")  # type: ignore[return-value]


def strings(d: dict, key: str, path: str, required: bool = False) -> list[str] | None:
    v = get(d, key, path, list, "a list of strings", required)
    if v is not None and not all(isinstance(x, str) for x in v):  # type: ignore[union-attr]
        raise bad(join(path, key), "expected a list of strings")
    return v  # type: ignore[return-value]


def str_map(d: dict, key: str, path: str) -> dict[str, str] | None:
    v = get(d, key, path, dict, "an object of strings")
    if v is not None and not all(isinstance(x, str) for x in v.values()):  # type: ignore[union-attr]
        raise bad(join(path, key), "expected an object of strings")
    return v  # type: ignore[return-value]


def items(d: dict, key: str, path: str, required: bool = False) -> list[tuple[dict, str]] | None:
    """The objects of a list field, each with its path (``manifest.layers[2]``)."""
    v = get(d, key, path, list, "a list", required)
    if v is None:
        return None
    p = join(path, key)
    return [(obj(x, f"{p}[{i}]"), f"{p}[{i}]") for i, x in enumerate(v)]  # type: ignore[arg-type]


def media_type(d: dict, key: str, path: str, required: bool = False) -> str | None:
    """A media type as RFC 6838 names them (``type/subtype``, restricted characters)."""
    v = string(d, key, path, required)
    if v is not None and not valid_media_type(v):
        raise bad(join(path, key), f"{v!r} is not a media type (RFC 6838 type/subtype)")
    return v


def valid_media_type(v: str) -> bool:
    top, sep, sub = v.partition("/")  # RFC 6838 section 4.2: restricted-name "/" restricted-name
    return bool(sep) and all(0 < len(p) <= 127 and p[0].isalnum() and _TOKEN.issuperset(p)
                             for p in (top, sub))


# ---- models --------------------------------------------------------------------------

class Wire(Model):
    """Base of the image models: ``FIELDS`` maps attributes to wire keys; ``raw`` holds
    the parsed object (``{}`` for new ones). Equal when their wire objects are equal."""

    __slots__ = ()
    FIELDS: tuple[tuple[str, str], ...] = ()  # (attribute, wire key)
    PATH = "object"  # the root of field paths in errors about a new object
    REQUIRED: tuple[str, ...] = ()  # wire keys written even when empty

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)
        if kw.get("raw") is None:
            object.__setattr__(self, "raw", {})

    def to_dict(self) -> dict:
        """The wire object (nested values shared with the model: copy before changing)."""
        known = {key: _wire(getattr(self, attr)) for attr, key in self.FIELDS}
        return merge_wire(self.raw, known, self.REQUIRED)  # type: ignore[attr-defined]

    def replace(self: W, **changes: object) -> W:
        """A copy with some attributes changed (unknown wire fields kept)."""
        kw = {n: getattr(self, n) for n in self.__slots__}
        kw.update(changes)
        return type(self)(**kw)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]


def _wire(v: object) -> object:
    if isinstance(v, (list, tuple)):
        return [_wire(x) for x in v]
    return v.to_dict() if isinstance(v, (Wire, Platform)) else v


class Descriptor(Wire):
    """A content descriptor; ``data`` is the base64 text, :meth:`payload` its bytes."""

    __slots__ = ("media_type", "digest", "size", "urls", "annotations", "data", "platform",
                 "artifact_type", "raw")
    FIELDS = (("media_type", "mediaType"), ("digest", "digest"), ("size", "size"),
              ("urls", "urls"), ("annotations", "annotations"), ("data", "data"),
              ("platform", "platform"), ("artifact_type", "artifactType"))
    REQUIRED = ("mediaType", "digest", "size")
    PATH = "descriptor"

    @classmethod
    def parse(cls, d: object, path: str = "descriptor") -> "Descriptor":
        d = obj(d, path)
        dg = _digest.parse(get(d, "digest", path, str, "a digest string", True), join(path, "digest"))
        size = integer(d, "size", path, required=True)
        urls = strings(d, "urls", path)
        for i, u in enumerate(urls or ()):
            scheme, sep, rest = u.partition(":")  # RFC 3986: scheme ":" hier-part
            if not (sep and rest and scheme[:1].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)):
                raise bad(f"{path}.urls[{i}]", f"{u!r} is not a URL")
        data = string(d, "data", path)
        if data is not None:
            _check_data(data, dg, size, join(path, "data"))  # type: ignore[arg-type]
        pd = d.get("platform")
        return cls(media_type=media_type(d, "mediaType", path, required=True), digest=dg,
                   size=size, urls=urls, annotations=str_map(d, "annotations", path), data=data,
                   platform=None if pd is None else Platform.parse(pd, join(path, "platform")),
                   artifact_type=media_type(d, "artifactType", path), raw=d)

    @classmethod
    def new(cls, media_type: str, digest: str, size: int, **kw: object) -> "Descriptor":
        return cls(media_type=media_type, digest=_digest.parse(digest), size=size, **kw)

    def payload(self) -> bytes | None:
        """The embedded content (checked against digest and size at parse), if any."""
        return None if self.data is None else binascii.a2b_base64(self.data, strict_mode=True)


def _check_data(data: str, dg: _digest.Digest, size: int, path: str) -> None:
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as e:
        raise bad(path, f"not base64 (RFC 4648): {e}") from None
    if len(raw) != size:
        raise bad(path, f"holds {len(raw)} bytes, but the descriptor's size is {size}")
    got = f"{dg.algorithm}:{hashlib.new(dg.algorithm, raw).hexdigest()}"
    if got != dg:
        raise bad(path, f"its content has digest {got}, not the descriptor's {dg}")


def describe(blob: bytes, media_type: str, algorithm: str = "sha256", **kw: object) -> Descriptor:
    """The descriptor of new content ``blob`` (any other fields in ``kw``)."""
    return Descriptor(media_type=media_type, digest=_digest.of_bytes(blob, algorithm),
                      size=len(blob), **kw)


def _version(d: dict, path: str, what: str) -> int:
    v = integer(d, "schemaVersion", path, required=True)
    if v == 1:
        raise Unsupported(f"{path}: a Docker image manifest v2 schema 1 is deprecated and not "
                          f"supported (re-push the image as schema 2 or OCI)")
    if v != 2:
        raise bad(join(path, "schemaVersion"), f"{v} is not 2 (the only {what} version)")
    return v  # type: ignore[return-value]


def _subject(d: dict, path: str) -> Descriptor | None:
    s = get(d, "subject", path, dict, "an object")
    return None if s is None else Descriptor.parse(s, join(path, "subject"))  # type: ignore[arg-type]


class _Document(Wire):
    """What manifests and indexes share: schemaVersion, the flavour, the ambiguity check."""

    __slots__ = ()
    OCI_KIND = DOCKER_KIND = NAME = DOCKER_NAME = ""
    NOT_HERE: tuple[str, ...] = ()  # fields of the other document kinds

    @property
    def kind(self) -> str:
        """The document's media type (the OCI one where it does not say)."""
        return self.media_type or self.OCI_KIND  # type: ignore[attr-defined]

    @property
    def docker(self) -> bool:
        return self.kind == self.DOCKER_KIND

    @classmethod
    def _head(cls, d: object, path: str, kind: str | None) -> tuple[dict, int, str | None]:
        d = obj(d, path)
        sv = _version(d, path, cls.PATH)
        mtype = media_type(d, "mediaType", path)
        if (mtype or kind or cls.OCI_KIND) not in (cls.OCI_KIND, cls.DOCKER_KIND):
            raise bad(join(path, "mediaType"), f"{mtype or kind!r} is not an {cls.NAME} type")
        if mtype is None and kind == cls.DOCKER_KIND:
            raise bad(join(path, "mediaType"), f"is required in a {cls.DOCKER_NAME}")
        for k in cls.NOT_HERE:
            if k in d:
                raise bad(join(path, k), f"has no place in an {cls.NAME} (ambiguous document)")
        return d, sv, mtype


class Manifest(_Document):
    """An image manifest, OCI (``mediaType`` may be absent) or Docker v2 schema 2."""

    __slots__ = ("schema_version", "media_type", "config", "layers", "subject", "annotations",
                 "artifact_type", "raw")
    FIELDS = (("schema_version", "schemaVersion"), ("media_type", "mediaType"),
              ("artifact_type", "artifactType"), ("config", "config"), ("layers", "layers"),
              ("subject", "subject"), ("annotations", "annotations"))
    REQUIRED = ("schemaVersion", "config", "layers")
    PATH, OCI_KIND, DOCKER_KIND = "manifest", mt.OCI_MANIFEST, mt.DOCKER_MANIFEST
    NAME, DOCKER_NAME = "image manifest", "Docker v2 schema 2 manifest"
    NOT_HERE = ("manifests", "fsLayers")

    @classmethod
    def parse(cls, d: object, path: str = "manifest", kind: str | None = None) -> "Manifest":
        """``kind``: the media type the caller determined (a Content-Type) when the
        document has no ``mediaType`` field."""
        d, sv, mtype = cls._head(d, path, kind)
        config = Descriptor.parse(get(d, "config", path, dict, "an object", True), join(path, "config"))
        layers = [Descriptor.parse(x, p) for x, p in items(d, "layers", path, True)]  # type: ignore[union-attr]
        atype = media_type(d, "artifactType", path)
        if config.media_type == mt.OCI_EMPTY and atype is None:
            raise bad(join(path, "artifactType"), f"is required when config.mediaType is {mt.OCI_EMPTY}")
        return cls(schema_version=sv, media_type=mtype, config=config, layers=layers,
                   subject=_subject(d, path), annotations=str_map(d, "annotations", path),
                   artifact_type=atype, raw=d)

    @classmethod
    def new(cls, config: Descriptor, layers: Sequence[Descriptor], docker: bool = False,
            **kw: object) -> "Manifest":
        return cls(schema_version=2, media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
                   config=config, layers=list(layers), **kw)


class Index(_Document):
    """An OCI image index or a Docker manifest list."""

    __slots__ = ("schema_version", "media_type", "manifests", "subject", "annotations",
                 "artifact_type", "raw")
    FIELDS = (("schema_version", "schemaVersion"), ("media_type", "mediaType"),
              ("artifact_type", "artifactType"), ("manifests", "manifests"),
              ("subject", "subject"), ("annotations", "annotations"))
    REQUIRED = ("schemaVersion", "manifests")
    PATH, OCI_KIND, DOCKER_KIND = "index", mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST
    NAME, DOCKER_NAME = "index", "Docker manifest list"
    NOT_HERE = ("config", "layers", "fsLayers")

    @classmethod
    def parse(cls, d: object, path: str = "index", kind: str | None = None) -> "Index":
        d, sv, mtype = cls._head(d, path, kind)
        ms = [Descriptor.parse(x, p) for x, p in items(d, "manifests", path, True)]  # type: ignore[union-attr]
        return cls(schema_version=sv, media_type=mtype, manifests=ms, subject=_subject(d, path),
                   annotations=str_map(d, "annotations", path),
                   artifact_type=media_type(d, "artifactType", path), raw=d)

    @classmethod
    def new(cls, manifests: Sequence[Descriptor], docker: bool = False, **kw: object) -> "Index":
        return cls(schema_version=2, media_type=mt.DOCKER_MANIFEST_LIST if docker else mt.OCI_INDEX,
                   manifests=list(manifests), **kw)

    def select(self, want: Platform, what: str = "index", allow_32bit: bool = False) -> Descriptor:
        """The entry for ``want`` (see :func:`onggi.oci.platform.choose`)."""
        return choose(self.manifests, want, what, allow_32bit)


# ---- documents as bytes --------------------------------------------------------------

_GENERIC = frozenset(("", "application/json", "text/plain", "application/octet-stream",
                      "binary/octet-stream"))


def _declared(value: str | None) -> str:
    return (value or "").partition(";")[0].strip().lower()


def _load(raw: bytes | str, what: str) -> dict:
    doc = jsonio.loads(raw, what)
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def detect(raw: bytes | str, declared_media_type: str | None = None, what: str = "manifest",
           doc: dict | None = None) -> str:
    """The media type of a manifest document (one of ``mediatypes.INDEXES``,
    ``MANIFESTS`` or :data:`SCHEMA1`), from its ``mediaType`` field, the declared type (a
    Content-Type; generic ones such as application/json are ignored) and its shape."""
    d = _load(raw, what) if doc is None else doc
    declared = _declared(declared_media_type)
    field = d.get("mediaType")
    if field is not None and not isinstance(field, str):
        raise InvalidArgument(f"{what}: mediaType: expected a string")
    if field:
        if field not in _KNOWN:
            raise InvalidArgument(f"{what}: unknown manifest media type {field!r}")
        if declared in _KNOWN and declared != field:
            raise InvalidArgument(f"{what}: served as {declared!r} but its mediaType is {field!r}")
        return field
    if d.get("schemaVersion") == 1:
        return mt.DOCKER_MANIFEST_V1_SIGNED if "signatures" in d else mt.DOCKER_MANIFEST_V1
    if declared in _KNOWN:
        return declared
    if declared not in _GENERIC:
        raise InvalidArgument(f"{what}: unknown manifest media type {declared!r}")
    if "manifests" in d and "layers" not in d and "config" not in d:
        return mt.OCI_INDEX
    if "config" in d and "layers" in d and "manifests" not in d:
        return mt.OCI_MANIFEST
    raise InvalidArgument(f"{what}: neither an image manifest nor an index (no mediaType; "
                          f"expected config and layers, or manifests)")


def parse(raw: bytes | str, declared_media_type: str | None = None,
          what: str | None = None) -> Manifest | Index:
    """The manifest or index in ``raw``; a schema 1 manifest is ``Unsupported``. Field
    errors read ``{what}: manifest.layers[2].digest: ...``."""
    label = what or "manifest"
    d = _load(raw, label)
    kind = detect(raw, declared_media_type, label, doc=d)
    if kind in SCHEMA1:
        raise Unsupported(f"{label}: {kind} (Docker image manifest v2 schema 1) is deprecated and "
                          f"not supported; re-push the image as schema 2 or OCI")
    pre = f"{what}: " if what else ""
    if kind in mt.INDEXES:
        return Index.parse(d, pre + "index", kind)
    return Manifest.parse(d, pre + "manifest", kind)


def serialize(model: Wire, validate: bool = True) -> bytes:
    """Canonical bytes of a new object (see the module note); with ``validate`` the bytes
    are parsed back first so an invalid object is never written."""
    data = jsonio.dumps(model.to_dict()).encode()
    if validate:
        getattr(type(model), "parse")(jsonio.loads(data), model.PATH)
    return data
