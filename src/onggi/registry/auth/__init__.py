"""Who may do what on the registry server: the interface the HTTP layer calls.

The server asks one question per request: may the caller, identified by the request's
``Authorization`` header, have these accesses (``repository:NAME:pull,push``,
``registry:catalog:*``)? An :class:`Authorizer` answers with the account name (``None``
for an anonymous caller) or raises :class:`AuthError`, which carries the HTTP status,
the distribution-spec error code and the ``WWW-Authenticate`` challenge to send.

``from_config`` builds the authorizer from the ``auth:`` section of the server's YAML
config (documented in :mod:`.config`); with no such section every request is allowed
(anonymous, loopback default). An authorizer that serves endpoints of its own (the token
server) also has ``routes()``, the aiohttp RouteDefs to add to the app.

Every authorizer here also has ``may_block(authorization) -> bool``: False when
``authorize`` will answer in microseconds (no credentials, a token, Basic credentials seen
before), True when it may run bcrypt (tens of ms) and is better called in a thread.

The server may pass ``base_url`` (``scheme://Host`` of the request) to ``authorize``: the
token mode names its endpoint from it when the config gives no ``realm``.

Modules: :mod:`.scopes` (scope, challenge and header text), :mod:`.htpasswd`,
:mod:`.rules` (access per account, repository and action), :mod:`.tokens` (JWTs),
:mod:`.basic` and :mod:`.bearer` (the two authorizers), :mod:`.token_endpoint` (the token
server's handlers) and :mod:`.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

__all__ = ["Access", "AuthError", "Authorizer", "AllowAll", "from_config"]

ACTIONS = ("pull", "push", "delete", "*")


@dataclass(frozen=True)
class Access:
    """One resource and the actions wanted on it, as in a token scope:
    ``Access("repository", "team/app", frozenset({"pull", "push"}))``."""

    type: str  # "repository" or "registry"
    name: str  # repository name, or "catalog"
    actions: frozenset[str] = field(default_factory=frozenset)

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


class AuthError(Exception):
    """The request may not go on. ``status`` is 401 (no or bad credentials; send
    ``challenge`` as WWW-Authenticate) or 403 (known caller, action not allowed);
    ``code`` is the spec's UNAUTHORIZED or DENIED."""

    def __init__(self, status: int, code: str, message: str, challenge: str | None = None,
                 detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.challenge = challenge
        self.detail = detail


class Authorizer(Protocol):
    def authorize(self, authorization: str | None, wanted: Sequence[Access],
                  base_url: str | None = None) -> str | None:
        """Return the caller's account (None: anonymous) or raise AuthError."""


class AllowAll:
    """No auth configured: everyone may do everything (the loopback default)."""

    def authorize(self, authorization: str | None, wanted: Sequence[Access],
                  base_url: str | None = None) -> str | None:
        return None

    def may_block(self, authorization: str | None) -> bool:
        return False


def from_config(cfg: dict[str, Any] | None, root: str, base_url: str | None = None) -> Authorizer:
    """The authorizer for the config's ``auth:`` section (``root``: the storage root,
    where generated keys may be kept; ``base_url``: the server's own ``scheme://host:port``,
    the token realm's fallback). No section: :class:`AllowAll`. InvalidArgument (or
    NotFound for a missing htpasswd file) names what is wrong in the section."""
    if not cfg:
        return AllowAll()
    from .config import build  # htpasswd / token authorizers

    return build(cfg, root, base_url)
