"""Bearer token auth on the registry side, with the built-in token server beside it.

Every request must carry ``Authorization: Bearer <token>``, a token from the token server
whose ``access`` covers what the request wants. Otherwise the answer is 401 UNAUTHORIZED
with ``Bearer realm=...,service=...,scope=...`` (the scope listing what was wanted), plus
``error="invalid_token"`` for a token that is malformed, badly signed, expired or for
another service or issuer, and ``error="insufficient_scope"`` for a good token that does
not cover the request. That is what the reference registry does: a known account lacking
an action gets no token for it, so it sees a 401, never a 403.

The realm is the configured URL; without one it is ``<scheme>://<host>/token`` (the token
endpoint's path), from the ``base_url`` the server passes with the request (its scheme
and ``Host``), else from the ``base_url`` given at start-up, else ``http://localhost:5000``
with a warning.
"""

from __future__ import annotations

import logging
from typing import Sequence

from aiohttp import web

from . import Access, AuthError
from .htpasswd import Htpasswd
from .rules import AccessRules
from .scopes import access_detail, bearer_challenge, split_authorization
from .tokens import InvalidToken, TokenIssuer, TokenVerifier

__all__ = ["BearerAuthorizer"]

log = logging.getLogger("onggi.registry.auth")

_FALLBACK_BASE = "http://localhost:5000"


class BearerAuthorizer:
    """Registry side (``authorize``) and token server (``routes``) in one object."""

    def __init__(self, *, realm: str | None, path: str, service: str, issuer: str,
                 issuer_obj: TokenIssuer, verifier: TokenVerifier, htpasswd: Htpasswd | None,
                 rules: AccessRules, base_url: str | None = None) -> None:
        self.realm = realm
        self.path = path
        self.service = service
        self.issuer = issuer
        self.tokens = issuer_obj
        self.verifier = verifier
        self.htpasswd = htpasswd
        self.rules = rules
        self.base_url = base_url
        self._warned = False

    def realm_for(self, base_url: str | None) -> str:
        if self.realm:
            return self.realm
        base = base_url or self.base_url
        if not base:
            if not self._warned:
                self._warned = True
                log.warning("auth.token.realm is not set and the server passed no base URL: "
                            "challenges name %s%s", _FALLBACK_BASE, self.path)
            base = _FALLBACK_BASE
        return base.rstrip("/") + self.path

    def _challenge(self, message: str, wanted: Sequence[Access], base_url: str | None,
                   error: str | None = None) -> AuthError:
        ch = bearer_challenge(self.realm_for(base_url), self.service, wanted, error)
        return AuthError(401, "UNAUTHORIZED", message, ch, access_detail(wanted))

    def authorize(self, authorization: str | None, wanted: Sequence[Access],
                  base_url: str | None = None) -> str | None:
        """The token's account (None for an anonymous token) or AuthError 401."""
        scheme, token = split_authorization(authorization)
        if scheme != "bearer" or not token:
            raise self._challenge("authentication required", wanted, base_url)
        try:
            v = self.verifier.verify(token)
        except InvalidToken as e:
            raise self._challenge(f"invalid token: {e}", wanted, base_url, "invalid_token") from None
        if not v.covers(wanted):
            raise self._challenge("the token does not grant the requested access", wanted,
                                  base_url, "insufficient_scope")
        return v.account or None

    def may_block(self, authorization: str | None) -> bool:
        """Never: checking a token is an HMAC at most (a dict look-up when seen before)."""
        return False

    def routes(self) -> list[web.RouteDef]:
        """The token endpoint: GET (the token spec) and POST (its OAuth2 variant)."""
        from .token_endpoint import TokenEndpoint

        ep = TokenEndpoint(self)
        return [web.get(self.path, ep.get, allow_head=False), web.post(self.path, ep.post)]
