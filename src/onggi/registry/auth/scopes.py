"""Scopes, challenges and ``Authorization`` headers: the text forms of the token spec.

A scope is ``TYPE[(CLASS)]:NAME:ACTION[,ACTION...]``. NAME may itself hold colons (a
``host:port/repo`` name), so the type ends at the first colon and the actions start after
the last one. Challenges quote their parameters the way the reference registry does
(backslash before ``"`` and ``\\``); several scopes go in one space-separated ``scope``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Iterable, Sequence

from ...errors import InvalidArgument
from . import Access

__all__ = ["parse_scope", "parse_scopes", "merge", "scope_param", "basic_challenge",
           "bearer_challenge", "access_detail", "split_authorization", "decode_basic"]

_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_ACTION_CHARS = _TYPE_CHARS | {"*"}


def parse_scope(text: str) -> Access:
    """One scope as an :class:`Access`; InvalidArgument names the scope and the part that
    is wrong. A resource class (``repository(plugin)``) is dropped: it grants nothing
    beyond the type."""
    first, last = text.find(":"), text.rfind(":")
    if first < 0 or first == last:
        raise InvalidArgument(f"scope {text!r}: expected TYPE:NAME:ACTIONS")
    rtype, name, actions = text[:first], text[first + 1:last], text[last + 1:]
    if "(" in rtype:
        if not rtype.endswith(")") or rtype.index("(") == 0:
            raise InvalidArgument(f"scope {text!r}: malformed resource class in {rtype!r}")
        rtype = rtype[:rtype.index("(")]
    if not rtype or not set(rtype) <= _TYPE_CHARS:
        raise InvalidArgument(f"scope {text!r}: bad resource type {rtype!r}")
    if not name or any(c.isspace() or c in '",' for c in name):
        raise InvalidArgument(f"scope {text!r}: bad resource name {name!r}")
    acts = frozenset(a for a in actions.split(",") if a)
    if not acts or any(not set(a) <= _ACTION_CHARS for a in acts):
        raise InvalidArgument(f"scope {text!r}: bad actions {actions!r}")
    return Access(rtype, name, acts)


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """Every scope of the given query values (each may hold several, space-separated),
    merged per resource."""
    return merge(parse_scope(s) for v in values for s in v.split())


def merge(accesses: Iterable[Access]) -> list[Access]:
    """One Access per (type, name), actions united, in first-seen order."""
    acc: dict[tuple[str, str], set[str]] = {}
    for a in accesses:
        acc.setdefault((a.type, a.name), set()).update(a.actions)
    return [Access(t, n, frozenset(s)) for (t, n), s in acc.items()]


def scope_param(wanted: Sequence[Access]) -> str:
    return " ".join(a.scope() for a in merge(wanted) if a.actions)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def basic_challenge(realm: str) -> str:
    return f"Basic realm={_quote(realm)}"


def bearer_challenge(realm: str, service: str, wanted: Sequence[Access] = (),
                     error: str | None = None) -> str:
    """``Bearer realm=...,service=...[,scope=...][,error=...]``."""
    out = f"Bearer realm={_quote(realm)},service={_quote(service)}"
    scope = scope_param(wanted)
    if scope:
        out += f",scope={_quote(scope)}"
    if error:
        out += f",error={_quote(error)}"
    return out


def access_detail(wanted: Sequence[Access]) -> list[dict[str, str]]:
    """The error ``detail`` the reference registry sends: one record per action."""
    return [{"Type": a.type, "Name": a.name, "Action": act}
            for a in merge(wanted) for act in sorted(a.actions)]


def split_authorization(header: str | None) -> tuple[str, str]:
    """``("basic"|"bearer"|..., credentials)``; ``("", "")`` for no header."""
    if not header:
        return "", ""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), rest.strip()


def decode_basic(credentials: str) -> tuple[str, str]:
    """``(user, password)`` of a Basic header's base64 part; InvalidArgument when it is
    not base64 of ``user:password``."""
    try:
        raw = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidArgument("Basic credentials are not base64 of UTF-8 text") from None
    user, sep, password = raw.partition(":")
    if not sep:
        raise InvalidArgument("Basic credentials lack the ':' between user and password")
    return user, password
