"""Repository names, tags and manifest references, validated by the spec's grammar
before any of them becomes part of a path on disk (so ``..`` and ``/`` tricks cannot
reach outside the store: a valid name is only ``[a-z0-9._-]`` components)."""

from __future__ import annotations

import re

from ..oci import digest as D
from .errors import RegistryError

__all__ = ["NAME_MAX", "valid_name", "check_name", "valid_tag", "check_tag", "is_digest"]

NAME_MAX = 255  # the reference's limit on a repository name (the spec: 255 with the host)
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


def valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX and _NAME.fullmatch(name) is not None


def check_name(name: str) -> str:
    """``name`` if it is a valid repository name, else NAME_INVALID naming it."""
    if not valid_name(name):
        why = f"longer than {NAME_MAX} characters" if len(name) > NAME_MAX else \
            "not matching [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*"
        raise RegistryError("NAME_INVALID", f"invalid repository name {name[:300]!r}: {why}",
                            detail={"name": name[:300]})
    return name


def valid_tag(tag: str) -> bool:
    return _TAG.fullmatch(tag) is not None


def check_tag(tag: str, code: str = "MANIFEST_INVALID") -> str:
    if not valid_tag(tag):
        raise RegistryError(code, f"invalid tag {tag[:200]!r}: a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}",
                            detail={"tag": tag[:200]})
    return tag


def is_digest(reference: str) -> bool:
    """A reference with a ``:`` is a digest (a tag cannot hold one)."""
    return ":" in reference


def check_digest(value: str, code: str = "DIGEST_INVALID") -> D.Digest:
    """The parsed digest, or ``code`` (DIGEST_INVALID by default) saying why not."""
    try:
        return D.parse(value)
    except Exception as e:  # InvalidArgument with the reason
        raise RegistryError(code, str(e), detail={"digest": value[:200]}) from None
