"""Registry authentication: ``WWW-Authenticate`` challenges, Basic, and Bearer tokens
(the Docker token authentication spec and its OAuth2 refresh-token variant).

Flow, driven by :class:`onggi.distribution.session.Session`:

1. the ``/v2/`` ping (or any 401) tells the challenge: ``Basic realm=...`` or
   ``Bearer realm=...,service=...[,scope=...]``;
2. before each request :meth:`Authenticator.authorization` gives the header for the
   request's scopes (``repository:NAME:pull`` ...): Basic from the credentials, or a Bearer
   token from the cache, fetched from the realm when missing or expired: ``GET
   realm?service=S&scope=A&scope=B`` with Basic credentials (anonymous without), or, with
   an identity token, ``POST realm`` (``grant_type=refresh_token``, falling back to the
   GET when the server does not know the POST);
3. on a 401 :meth:`Authenticator.unauthorized` drops the cached token, takes the new
   challenge (and the scope it asks for) and says whether one retry is worth it.

Tokens are cached per (user, realm, service, scopes) until ``expires_in`` (at least 60 s,
as the spec says) minus a safety margin, measured from when the answer arrived. The
cache is thread-safe.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import httpx

from ..errors import InvalidArgument, PermissionDenied, Unavailable
from .credentials import Credentials

__all__ = ["Challenge", "parse_challenges", "Authenticator", "CLIENT_ID"]

CLIENT_ID = "onggi"
_MIN_EXPIRY = 60


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower-case: "basic", "bearer", ...
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.params.get("scope", "").split())


def _token(s: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(s) and s[j] not in ' \t,="':
        j += 1
    return s[i:j], j


def _skip(s: str, i: int, chars: str = " \t") -> int:
    while i < len(s) and s[i] in chars:
        i += 1
    return i


def _quoted(s: str, i: int) -> tuple[str, int]:
    out, i = [], i + 1
    while i < len(s) and s[i] != '"':
        if s[i] == "\\" and i + 1 < len(s):
            i += 1
        out.append(s[i])
        i += 1
    return "".join(out), i + 1


def parse_challenges(values: list[str] | str) -> list[Challenge]:
    """Every challenge in one or more ``WWW-Authenticate`` values (RFC 7235: schemes
    followed by comma-separated ``key=value`` or ``key="quoted"`` parameters)."""
    out: list[Challenge] = []
    for s in [values] if isinstance(values, str) else values:
        i = 0
        scheme: str | None = None
        params: dict[str, str] = {}
        while True:
            i = _skip(s, i, " \t,")
            if i >= len(s):
                break
            tok, j = _token(s, i)
            k = _skip(s, j)
            if tok and k < len(s) and s[k] == "=":
                k = _skip(s, k + 1)
                if k < len(s) and s[k] == '"':
                    val, i = _quoted(s, k)
                else:
                    val, i = _token(s, k)
                if scheme is not None:
                    params[tok.lower()] = val
                continue
            if not tok:  # stray character
                i = j + 1
                continue
            if scheme is not None:
                out.append(Challenge(scheme, params))
            scheme, params, i = tok.lower(), {}, j
        if scheme is not None:
            out.append(Challenge(scheme, params))
    return out


@dataclass
class _Token:
    value: str
    expires: float


CredentialSource = Callable[[str], "Credentials | None"]


class Authenticator:
    """Authorization headers for one registry. ``send`` sends a request to a token realm
    (with the session's retries, without registry auth); ``credentials`` maps a repository
    (``""`` for registry-wide scopes) to its credentials."""

    def __init__(self, host: str, credentials: CredentialSource,
                 send: Callable[[httpx.Request], httpx.Response],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self._creds = credentials
        self._send = send
        self._clock = clock
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple, _Token] = {}

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def set_challenges(self, challenges: list[Challenge]) -> None:
        """Keep the challenge onggi can answer, Bearer before Basic."""
        for want in ("bearer", "basic"):
            for c in challenges:
                if c.scheme == want:
                    with self._lock:
                        if c != self._challenge:
                            self._challenge = c
                    return

    def credentials_for(self, scopes: tuple[str, ...]) -> Credentials | None:
        """The credentials that apply to the first repository scope (registry-wide ones
        for other scopes)."""
        repo = ""
        for s in scopes:
            kind, _, rest = s.partition(":")
            if kind == "repository":
                repo = rest.rpartition(":")[0]
                break
        return self._creds(repo) or None

    def authorization(self, scopes: tuple[str, ...]) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes`` (None: none)."""
        ch = self._challenge
        if ch is None:
            return None
        creds = self.credentials_for(scopes)
        if ch.scheme == "basic":
            if not creds or not creds.username:
                return None
            raw = f"{creds.username}:{creds.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        key = (creds.username if creds else "", ch.realm, ch.service, tuple(sorted(set(scopes))))
        with self._lock:
            tok = self._tokens.get(key)
            if tok is None or tok.expires <= self._clock():
                tok = self._fetch(ch, key[3], creds)
                self._tokens[key] = tok
        return "Bearer " + tok.value

    def unauthorized(self, resp: httpx.Response, scopes: tuple[str, ...]) -> tuple[str, ...] | None:
        """After a 401: forget cached tokens, learn the new challenge; the scopes to retry
        with, or None when a retry cannot help."""
        challenges = parse_challenges(resp.headers.get_list("www-authenticate"))
        with self._lock:
            self._tokens.clear()
        if not challenges:
            return None
        self.set_challenges(challenges)
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            creds = self.credentials_for(scopes)
            sent = (resp.request.headers.get("authorization") or "").lower().startswith("basic")
            return scopes if creds and creds.username and not sent else None
        return tuple(dict.fromkeys(scopes + ch.scopes))

    # ---- the token request -------------------------------------------------------------

    def _fetch(self, ch: Challenge, scopes: tuple[str, ...], creds: Credentials | None) -> _Token:
        if not ch.realm:
            raise InvalidArgument(f"{self.host}: Bearer challenge without a realm")
        who = f"user {creds.username!r}" if creds and creds.username else (
            "an identity token" if creds else "no credentials (anonymous)")
        resp = None
        if creds and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": CLIENT_ID, "scope": " ".join(scopes)}
            if ch.service:
                form["service"] = ch.service
            resp = self._call(httpx.Request("POST", ch.realm, data=form), ch.realm)
            if resp.status_code in (404, 405):
                resp = None
        if resp is None:
            params = [("service", ch.service)] if ch.service else []
            params += [("scope", s) for s in scopes]
            headers = {}
            if creds and creds.username:
                raw = f"{creds.username}:{creds.password}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
            resp = self._call(httpx.Request("GET", ch.realm, params=params, headers=headers), ch.realm)
        if resp.status_code in (401, 403):
            raise PermissionDenied(f"{self.host}: the token server {ch.realm} refused a token for "
                                   f"{' '.join(scopes) or 'the registry'} with {who} (HTTP {resp.status_code})")
        if resp.status_code != 200:
            raise Unavailable(f"{self.host}: the token server {ch.realm} answered HTTP {resp.status_code}")
        try:
            doc = json.loads(resp.content)
        except ValueError:
            raise InvalidArgument(f"{self.host}: the token server {ch.realm} sent invalid JSON") from None
        value = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(value, str) or not value:
            raise InvalidArgument(f"{self.host}: the token server {ch.realm} sent no token")
        life = doc.get("expires_in")
        life = life if isinstance(life, (int, float)) and not isinstance(life, bool) and life >= _MIN_EXPIRY else _MIN_EXPIRY
        return _Token(value, self._clock() + life - min(30.0, life / 10))

    def _call(self, req: httpx.Request, realm: str) -> httpx.Response:
        try:
            return self._send(req)
        except httpx.HTTPError as e:
            raise Unavailable(f"{self.host}: cannot reach the token server {realm}: {e}") from None
