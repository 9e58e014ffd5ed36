"""The ``auth:`` section of the server's YAML config, checked and turned into an authorizer.

No ``auth:`` section: everyone may do everything (meant for a loopback registry).

Basic auth, in the reference registry's own shape (its config.yml works unchanged)::

    auth:
      htpasswd:
        realm: my-registry          # the Basic challenge's realm (default onggi-registry)
        path: /etc/onggi/htpasswd   # bcrypt entries only: htpasswd -Bbc FILE USER PASSWORD

Token auth with the built-in token server (an onggi extension)::

    auth:
      token:
        realm: http://127.0.0.1:5000/token  # optional; default <scheme>://<Host>/token
        service: onggi-registry     # the tokens' audience (default onggi-registry)
        issuer: onggi               # the tokens' issuer (default onggi)
        expiration: 300             # access token lifetime in seconds (60 at least)
        refresh_expiration: 604800  # refresh (offline) token lifetime in seconds
        htpasswd: /etc/onggi/htpasswd  # accounts that may log in (optional: anonymous only)
        key: /etc/onggi/token.key   # HS256 secret, 32 bytes at least (optional; default
                                    # a random one made once in <root>/auth/token.key)

The token endpoint is served by the registry itself at the realm's path (``/token`` by
default; never under ``/v2/``). The reference registry's external token server options
(``rootcertbundle``, ``jwks``) are refused: onggi signs and checks its own tokens.

Access rules, for either mode (see :mod:`.rules`; first matching rule decides)::

    auth:
      htpasswd: {realm: r, path: /etc/onggi/htpasswd}
      access:
        - {account: alice, name: "alice/*", actions: [pull, push, delete]}
        - {account: "*", name: "*", actions: [pull]}         # any logged-in account
        - {account: "", name: "public/*", actions: [pull]}   # anonymous
        - {account: admin, type: registry, name: catalog, actions: ["*"]}

Without ``access``, any authenticated account may do everything (the reference registry's
behaviour) and anonymous callers nothing.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from ...errors import InvalidArgument
from . import Authorizer
from .basic import BasicAuthorizer
from .bearer import BearerAuthorizer
from .htpasswd import Htpasswd
from .rules import parse_rules
from .tokens import TokenIssuer, TokenVerifier, load_secret

__all__ = ["build"]

_TOP = {"htpasswd", "token", "access"}
_HTPASSWD = {"realm", "path"}
_TOKEN = {"realm", "service", "issuer", "expiration", "refresh_expiration", "htpasswd", "key"}
_EXTERNAL = {"rootcertbundle", "jwks", "autoredirect", "autoredirectpath", "signingalgorithms"}


def _mapping(value: Any, where: str, known: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: expected a mapping, got {type(value).__name__}")
    unknown = set(value) - known
    if unknown:
        raise InvalidArgument(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    return value


def _string(sec: dict[str, Any], key: str, where: str) -> str | None:
    value = sec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"{where}.{key}: expected a non-empty one-line string, got {value!r}")
    return value


def _seconds(sec: dict[str, Any], key: str, where: str, default: int, least: int) -> int:
    value = sec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidArgument(f"{where}.{key}: expected whole seconds, {least} at least, got {value!r}")
    return value


def _token_path(realm: str | None, where: str) -> str:
    if realm is None:
        return "/token"
    u = urlsplit(realm)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise InvalidArgument(f"{where}.realm: {realm!r} is not an absolute http(s) URL")
    path = u.path or "/"
    if path == "/v2" or path.startswith("/v2/"):
        raise InvalidArgument(f"{where}.realm: the token endpoint cannot live under /v2/ ({path})")
    return path


def build(cfg: dict[str, Any], root: str, base_url: str | None = None) -> Authorizer:
    """The authorizer for a non-empty ``auth:`` section; InvalidArgument names the bad key."""
    if not isinstance(cfg, dict):
        raise InvalidArgument(f"auth: expected a mapping, got {type(cfg).__name__}")
    if "token" in cfg and isinstance(cfg["token"], dict) and set(cfg["token"]) & _EXTERNAL:
        raise InvalidArgument(f"auth.token: {sorted(set(cfg['token']) & _EXTERNAL)} configure an "
                              "external token server, which onggi does not support; onggi runs "
                              f"its own (keys: {sorted(_TOKEN)})")
    unknown = set(cfg) - _TOP
    if unknown:
        raise InvalidArgument(f"auth: unsupported {sorted(unknown)} (supported: htpasswd, token, access)")
    rules = parse_rules(cfg.get("access"))
    if "htpasswd" in cfg and "token" in cfg:
        raise InvalidArgument("auth: choose htpasswd (Basic) or token (Bearer), not both")
    if "htpasswd" in cfg:
        sec = _mapping(cfg["htpasswd"], "auth.htpasswd", _HTPASSWD)
        path = _string(sec, "path", "auth.htpasswd")
        if path is None:
            raise InvalidArgument("auth.htpasswd.path: required (the htpasswd file)")
        realm = _string(sec, "realm", "auth.htpasswd") or "onggi-registry"
        return BasicAuthorizer(realm, Htpasswd(os.path.expanduser(path)), rules)
    if "token" in cfg:
        where = "auth.token"
        sec = _mapping(cfg["token"], where, _TOKEN)
        realm = _string(sec, "realm", where)
        service = _string(sec, "service", where) or "onggi-registry"
        issuer = _string(sec, "issuer", where) or "onggi"
        hp_path = _string(sec, "htpasswd", where)
        hp = Htpasswd(os.path.expanduser(hp_path)) if hp_path else None
        if hp is None and rules.rules is None:
            raise InvalidArgument(f"{where}: without htpasswd accounts, 'auth.access' rules for the "
                                  "anonymous account (\"\") are needed, or nothing is granted")
        secret = load_secret(_string(sec, "key", where), root)
        expiration = _seconds(sec, "expiration", where, 300, 60)
        refresh = _seconds(sec, "refresh_expiration", where, 7 * 86400, 60)
        return BearerAuthorizer(
            realm=realm, path=_token_path(realm, where), service=service, issuer=issuer,
            issuer_obj=TokenIssuer(secret, issuer, service, expiration, refresh),
            verifier=TokenVerifier(secret, issuer, service), htpasswd=hp, rules=rules,
            base_url=base_url)
    raise InvalidArgument("auth: 'access' rules need htpasswd or token to say who the caller is")
