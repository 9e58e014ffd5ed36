"""Which endpoint of the spec a ``/v2/...`` path is, and what access it needs.

Repository names may contain ``/``, so the path is matched from its end (``.../manifests/
<ref>``, ``.../blobs/<digest>`` ...) and the name is validated separately, giving
NAME_INVALID instead of a bare 404 for a malformed one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .auth import Access

__all__ = ["Route", "match", "wanted"]

_PATTERNS = [
    ("manifest", re.compile(r"(?P<name>.+)/manifests/(?P<ref>[^/]+)")),
    ("upload", re.compile(r"(?P<name>.+)/blobs/uploads/(?P<ref>[^/]*)")),
    ("upload", re.compile(r"(?P<name>.+)/blobs/uploads()")),
    ("blob", re.compile(r"(?P<name>.+)/blobs/(?P<ref>[^/]+)")),
    ("tags", re.compile(r"(?P<name>.+)/tags/list()")),
    ("referrers", re.compile(r"(?P<name>.+)/referrers/(?P<ref>[^/]+)")),
]

# route kind -> methods it answers
METHODS = {
    "ping": ("GET", "HEAD"),
    "catalog": ("GET", "HEAD"),
    "manifest": ("GET", "HEAD", "PUT", "DELETE"),
    "blob": ("GET", "HEAD", "DELETE"),
    "upload": ("POST", "PATCH", "PUT", "GET", "DELETE"),
    "tags": ("GET", "HEAD"),
    "referrers": ("GET", "HEAD"),
}
WRITES = frozenset(("POST", "PATCH", "PUT", "DELETE"))


@dataclass(frozen=True)
class Route:
    kind: str  # ping, catalog, manifest, blob, upload, tags, referrers, or "" (no such endpoint)
    name: str = ""
    ref: str = ""  # tag/digest, digest, or upload uuid


def match(rest: str) -> Route:
    """``rest``: the path after ``/v2/``."""
    if rest == "":
        return Route("ping")
    if rest == "_catalog":
        return Route("catalog")
    for kind, pat in _PATTERNS:
        m = pat.fullmatch(rest)
        if m:
            return Route(kind, m.group(1), m.group(2))
    return Route("")


def wanted(route: Route, method: str, query: dict[str, str] | None = None) -> list[Access]:
    """The accesses a request needs (ping: none, but it is still authenticated)."""
    if route.kind == "ping" or not route.kind:
        return []
    if route.kind == "catalog":
        return [Access("registry", "catalog", frozenset({"*"}))]
    if route.kind == "upload":  # every step of an upload, its cancel included, is a push
        actions = frozenset({"pull", "push"})
    elif method in ("GET", "HEAD"):
        actions = frozenset({"pull"})
    elif method == "DELETE":
        actions = frozenset({"delete"})
    else:
        actions = frozenset({"pull", "push"})
    out = [Access("repository", route.name, actions)]
    src = (query or {}).get("from")
    if route.kind == "upload" and method == "POST" and (query or {}).get("mount") and src:
        if src != route.name:
            out.append(Access("repository", src, frozenset({"pull"})))
    return out
