"""HTTP Basic auth against an htpasswd file, with the access rules on top.

- No credentials (or Basic with an empty user and password, which some clients send when
  they have none): anonymous. The ``/v2/`` ping then answers 401 with the challenge so that
  clients learn the scheme; other requests go on if the rules grant anonymous the access.
- Wrong or malformed credentials: 401 UNAUTHORIZED with ``Basic realm="..."``.
- A known account asking for what the rules do not give it: 403 DENIED.

A header that verified once is remembered by a keyed digest of its text, together with the
htpasswd file's generation, so the next request with it costs a digest and a dict look-up;
re-reading the file forgets them all (the htpasswd's own memory still saves bcrypt).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Sequence

from ...errors import InvalidArgument
from . import Access, AuthError
from .htpasswd import Htpasswd
from .rules import AccessRules
from .scopes import access_detail, basic_challenge, decode_basic, split_authorization

__all__ = ["BasicAuthorizer"]


class BasicAuthorizer:
    def __init__(self, realm: str, htpasswd: Htpasswd, rules: AccessRules) -> None:
        self.realm = realm
        self.htpasswd = htpasswd
        self.rules = rules
        self.challenge = basic_challenge(realm)
        self._key = secrets.token_bytes(32)
        self._known: dict[bytes, tuple[str, int]] = {}

    def _unauthorized(self, message: str, wanted: Sequence[Access]) -> AuthError:
        return AuthError(401, "UNAUTHORIZED", message, self.challenge, access_detail(wanted))

    def _memo_key(self, authorization: str) -> bytes:
        return hashlib.blake2b(authorization.encode(), key=self._key, digest_size=32).digest()

    def may_block(self, authorization: str | None) -> bool:
        """Whether :meth:`authorize` may run bcrypt (tens of ms) for this header: only for
        Basic credentials not verified since the htpasswd file was last read."""
        if not authorization:
            return False
        hit = self._known.get(self._memo_key(authorization))
        return hit is None or hit[1] != self.htpasswd.generation

    def account(self, authorization: str | None, wanted: Sequence[Access] = ()) -> str | None:
        """The authenticated account (None: anonymous); AuthError 401 on bad credentials."""
        if not authorization:
            return None
        self.htpasswd.refresh()
        digest = self._memo_key(authorization)
        hit = self._known.get(digest)
        if hit is not None and hit[1] == self.htpasswd.generation:
            return hit[0]
        scheme, creds = split_authorization(authorization)
        if not scheme:
            return None
        if scheme != "basic":
            raise self._unauthorized(f"{scheme.capitalize()} credentials are not accepted here; "
                                     "use Basic", wanted)
        try:
            user, password = decode_basic(creds)
        except InvalidArgument as e:
            raise self._unauthorized(str(e), wanted) from None
        if not user and not password:
            return None
        if not self.htpasswd.verify(user, password):
            raise self._unauthorized("authentication required: wrong user name or password",
                                     wanted)
        if len(self._known) >= 4096:
            self._known.clear()
        self._known[digest] = (user, self.htpasswd.generation)
        return user

    def authorize(self, authorization: str | None, wanted: Sequence[Access],
                  base_url: str | None = None) -> str | None:
        account = self.account(authorization, wanted)
        if account is None:
            if not wanted or not self.rules.permits(None, wanted):
                raise self._unauthorized("authentication required", wanted)
            return None
        if not self.rules.permits(account, wanted):
            denied = [a for a in wanted if self.rules.grant(account, a).actions != a.actions]
            raise AuthError(403, "DENIED", f"requested access to the resource is denied: "
                            f"{' '.join(a.scope() for a in denied)}", None, access_detail(denied))
        return account
