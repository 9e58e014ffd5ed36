"""The built-in token server's HTTP handlers (aiohttp).

``GET <path>?service=S&scope=A&scope=B[&account=U][&offline_token=true]``, optionally with
Basic credentials (none: the anonymous account), answers ``{"token", "access_token",
"expires_in", "issued_at"}`` (plus ``refresh_token`` when an authenticated caller asked
``offline_token=true``), as the Docker token spec describes. Each requested scope is cut
down to what the access rules give the caller; a scope granted nothing is left out of
the token, which is no error.

``POST <path>`` takes the OAuth2 form of the same request: ``grant_type=password``
(``username``, ``password``) or ``grant_type=refresh_token`` (``refresh_token``), with
``service``, ``client_id``, space-separated ``scope`` and ``access_type=offline`` for a
refresh token; it answers ``access_token``, ``scope``, ``expires_in``, ``issued_at``.

Bad credentials: 401 with ``WWW-Authenticate: Basic realm="<service>"``; a malformed
scope, another service, or an unknown grant type: 400 naming what was wrong.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ...errors import InvalidArgument
from . import Access
from .scopes import basic_challenge, decode_basic, parse_scopes, split_authorization
from .tokens import InvalidToken

if TYPE_CHECKING:
    from .bearer import BearerAuthorizer

__all__ = ["TokenEndpoint"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _Refused(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _rfc3339(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class TokenEndpoint:
    def __init__(self, auth: "BearerAuthorizer") -> None:
        self.auth = auth

    # ---- shared steps ----------------------------------------------------------------

    async def _login(self, user: str, password: str) -> str:
        hp = self.auth.htpasswd
        if hp is None:
            raise _Refused(401, "invalid_grant", "this registry has no accounts; ask anonymously")
        if not hp.cached(user, password):
            ok = await asyncio.to_thread(hp.verify, user, password)  # bcrypt: off the loop
            if not ok:
                raise _Refused(401, "invalid_grant", "wrong user name or password")
        return user

    def _check_service(self, service: str | None) -> None:
        if service and service != self.auth.service:
            raise _Refused(400, "invalid_request", f"service {service!r} is not this registry's "
                           f"({self.auth.service!r})")

    def _scopes(self, values: list[str]) -> list[Access]:
        try:
            return parse_scopes(values)
        except InvalidArgument as e:
            raise _Refused(400, "invalid_scope", str(e)) from None

    def _grant(self, account: str | None, wanted: list[Access]) -> list[Access]:
        granted = (self.auth.rules.grant(account, a) for a in wanted)
        return [g for g in granted if g.actions]

    def _answer(self, account: str | None, wanted: list[Access], refresh: bool,
                oauth: bool = False) -> web.Response:
        granted = self._grant(account, wanted)
        tok = self.auth.tokens.issue(account or "", granted)
        doc: dict[str, Any] = {"token": tok.token, "access_token": tok.token,
                               "expires_in": tok.expires_in, "issued_at": _rfc3339(tok.issued_at)}
        if oauth:  # the OAuth2 answer also says what was granted
            doc["scope"] = " ".join(g.scope() for g in granted)
        if refresh and account:
            doc["refresh_token"] = self.auth.tokens.refresh_token(account)
        return web.json_response(doc, headers=_NO_STORE)

    def _refusal(self, r: _Refused) -> web.Response:
        code = {401: "UNAUTHORIZED", 403: "DENIED"}.get(r.status, "INVALID_REQUEST")
        doc = {"errors": [{"code": code, "message": r.message}],
               "error": r.error, "error_description": r.message}
        headers = dict(_NO_STORE)
        if r.status == 401:
            headers["WWW-Authenticate"] = basic_challenge(self.auth.service)
        return web.Response(status=r.status, body=json.dumps(doc).encode(),
                            content_type="application/json", headers=headers)

    # ---- GET: the token spec -----------------------------------------------------------

    async def get(self, request: web.Request) -> web.Response:
        try:
            q = request.query
            self._check_service(q.get("service"))
            wanted = self._scopes(q.getall("scope", []))
            account: str | None = None
            scheme, creds = split_authorization(request.headers.get("Authorization"))
            if scheme:
                if scheme != "basic":
                    raise _Refused(401, "invalid_request", f"the token server takes Basic "
                                   f"credentials, not {scheme.capitalize()}")
                try:
                    user, password = decode_basic(creds)
                except InvalidArgument as e:
                    raise _Refused(401, "invalid_request", str(e)) from None
                if user or password:
                    account = await self._login(user, password)
            asked = q.get("account")
            if asked and account is not None and asked != account:
                raise _Refused(400, "invalid_request", f"account {asked!r} does not match the "
                               f"credentials' user {account!r}")
            offline = q.get("offline_token", "").lower() == "true"
            return self._answer(account, wanted, offline)
        except _Refused as r:
            return self._refusal(r)

    # ---- POST: the OAuth2 form -----------------------------------------------------------

    async def post(self, request: web.Request) -> web.Response:
        try:
            if request.content_type != "application/x-www-form-urlencoded":
                raise _Refused(400, "invalid_request", "expected an application/x-www-form-"
                               f"urlencoded form, got {request.content_type!r}")
            form = await request.post()

            def field(key: str) -> str:
                value = form.get(key)
                return value if isinstance(value, str) else ""

            self._check_service(field("service"))
            wanted = self._scopes([field("scope")])
            grant = field("grant_type")
            if grant == "password":
                if not field("username"):
                    raise _Refused(400, "invalid_request", "grant_type password needs a username")
                account = await self._login(field("username"), field("password"))
                offline = field("access_type") == "offline"
            elif grant == "refresh_token":
                account = self._from_refresh(field("refresh_token"))
                offline = False
            else:
                raise _Refused(400, "unsupported_grant_type", f"grant_type {grant!r} is not "
                               "supported (use password or refresh_token)")
            return self._answer(account, wanted, offline, oauth=True)
        except _Refused as r:
            return self._refusal(r)

    def _from_refresh(self, token: str) -> str:
        if not token:
            raise _Refused(400, "invalid_request", "grant_type refresh_token needs a refresh_token")
        try:
            account = self.auth.tokens.check_refresh(token)
        except InvalidToken as e:
            raise _Refused(401, "invalid_grant", f"invalid refresh token: {e}") from None
        hp = self.auth.htpasswd
        if hp is None or account not in hp:
            raise _Refused(401, "invalid_grant", f"account {account!r} no longer exists")
        return account
