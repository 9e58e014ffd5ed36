"""Bearer tokens: JWTs signed with HS256 by the built-in token server, and checked by the
registry with a cache of verified tokens.

Claims: ``iss``, ``sub`` (the account, ``""`` for anonymous), ``aud`` (the service),
``exp``, ``nbf``, ``iat``, ``jti`` and ``access: [{type, name, actions}]``, as in the
reference registry's JWT profile. Refresh tokens (OAuth2 ``refresh_token`` grant) are JWTs
too, signed with a key derived from the secret for that purpose only, so one can never
pass for an access token.

The secret is a key file's content (32 bytes at least) or, with none configured, a random
one kept in ``<root>/auth/token.key`` (mode 0600), made once, atomically.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import jwt

from ...errors import InvalidArgument
from . import Access

__all__ = ["load_secret", "TokenIssuer", "TokenVerifier", "Verified", "InvalidToken",
           "IssuedToken"]

_ALG = "HS256"
_MIN_SECRET = 32


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired, or not for this registry."""


def load_secret(key_path: str | None, root: str) -> bytes:
    """The signing secret: the configured key file, or ``<root>/auth/token.key``, made
    with 32 random bytes (hex) when missing."""
    if key_path:
        try:
            with open(key_path, "rb") as f:
                secret = f.read().strip()
        except OSError as e:
            raise InvalidArgument(f"auth.token.key: cannot read {key_path}: {e.strerror}") from None
        if len(secret) < _MIN_SECRET:
            raise InvalidArgument(f"auth.token.key: {key_path} holds {len(secret)} bytes; an HS256 "
                                  f"secret needs {_MIN_SECRET} at least (e.g. openssl rand -hex 32)")
        return secret
    d = os.path.join(root, "auth")
    path = os.path.join(d, "token.key")
    os.makedirs(d, mode=0o700, exist_ok=True)
    try:
        with open(path, "rb") as f:
            secret = f.read().strip()
        if len(secret) >= _MIN_SECRET:
            return secret
        raise InvalidArgument(f"token key {path} is too short ({len(secret)} bytes): remove it "
                              "to have a new one made")
    except FileNotFoundError:
        pass
    tmp = os.path.join(d, f".tmp-token.key-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails when another process made it first: use theirs
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    with open(path, "rb") as f:
        return f.read().strip()


def _refresh_key(secret: bytes) -> bytes:
    return hashlib.sha256(b"onggi refresh token\0" + secret).digest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    issued_at: int
    expires_in: int
    access: tuple[Access, ...]


@dataclass(frozen=True)
class Verified:
    """A checked access token: its account and what it grants, per (type, name)."""

    account: str
    exp: float
    grants: dict[tuple[str, str], frozenset[str]]

    def covers(self, wanted: Sequence[Access]) -> bool:
        for a in wanted:
            have = self.grants.get((a.type, a.name))
            if have is None or ("*" not in have and not a.actions <= have):
                return False
        return True


class TokenIssuer:
    def __init__(self, secret: bytes, issuer: str, service: str, expiration: int,
                 refresh_expiration: int = 7 * 86400) -> None:
        self.secret, self.issuer, self.service = secret, issuer, service
        self.expiration, self.refresh_expiration = expiration, refresh_expiration

    def issue(self, account: str, access: Sequence[Access], now: float | None = None) -> IssuedToken:
        t = int(time.time() if now is None else now)
        claims = {"iss": self.issuer, "sub": account, "aud": self.service, "exp": t + self.expiration,
                  "nbf": t, "iat": t, "jti": secrets.token_urlsafe(16),
                  "access": [{"type": a.type, "name": a.name, "actions": sorted(a.actions)}
                             for a in access]}
        return IssuedToken(jwt.encode(claims, self.secret, algorithm=_ALG), t, self.expiration,
                           tuple(access))

    def refresh_token(self, account: str, now: float | None = None) -> str:
        t = int(time.time() if now is None else now)
        claims = {"iss": self.issuer, "sub": account, "aud": self.service, "iat": t, "nbf": t,
                  "exp": t + self.refresh_expiration, "jti": secrets.token_urlsafe(16)}
        return jwt.encode(claims, _refresh_key(self.secret), algorithm=_ALG)

    def check_refresh(self, token: str) -> str:
        """The account of a valid refresh token; InvalidToken otherwise."""
        claims = _decode(token, _refresh_key(self.secret), self.issuer, self.service)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("refresh token without an account")
        return sub


def _decode(token: str, key: bytes, issuer: str, service: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, key, algorithms=[_ALG], audience=service, issuer=issuer,
                          options={"require": ["iss", "sub", "aud", "exp", "nbf", "iat"]})
    except jwt.InvalidTokenError as e:
        raise InvalidToken(str(e) or type(e).__name__) from None


def _grants(claims: dict[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    access = claims.get("access", [])
    if not isinstance(access, list):
        raise InvalidToken("the access claim is not a list")
    out: dict[tuple[str, str], frozenset[str]] = {}
    for item in access:
        if not isinstance(item, dict):
            raise InvalidToken("an access entry is not an object")
        rtype, name, acts = item.get("type"), item.get("name"), item.get("actions", [])
        if not isinstance(rtype, str) or not isinstance(name, str) or not isinstance(acts, list) \
                or not all(isinstance(x, str) for x in acts):
            raise InvalidToken("an access entry lacks type, name or actions")
        key = (rtype, name)
        out[key] = out.get(key, frozenset()) | frozenset(acts)
    return out


class TokenVerifier:
    """Checks access tokens; remembers each verified one by its text until it expires.
    Thread-safe (the server may call it from worker threads)."""

    def __init__(self, secret: bytes, issuer: str, service: str, cache_size: int = 4096) -> None:
        self.secret, self.issuer, self.service = secret, issuer, service
        self._cache: dict[str, Verified] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, token: str) -> Verified:
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None:
            if now < hit.exp:
                return hit
            self._cache.pop(token, None)
            raise InvalidToken("the token has expired")
        claims = _decode(token, self.secret, self.issuer, self.service)
        sub = claims.get("sub")
        if not isinstance(sub, str):
            raise InvalidToken("the sub claim is not a string")
        v = Verified(sub, float(claims["exp"]), _grants(claims))
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._prune(now)
            self._cache[token] = v
        return v

    def _prune(self, now: float) -> None:
        for k in [k for k, v in self._cache.items() if v.exp <= now]:
            del self._cache[k]
        while len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]
