"""Who may do what on the registry server: the interface the HTTP layer calls.

The server asks one question per request: may the caller, identified by the request's
``Authorization`` header, have these accesses (``repository:NAME:pull,push``,
``registry:catalog:*``)? An :class:`Authorizer` answers with the account name (``None``
for an anonymous caller) or raises :class:`AuthError`, which carries the HTTP status,
the distribution-spec error code and the ``WWW-Authenticate`` challenge to send.

``from_config`` builds the authorizer from the ``auth:`` section of the server's YAML
config; with no such section every request is allowed (anonymous, loopback default).
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
    def authorize(self, authorization: str | None, wanted: Sequence[Access]) -> str | None:
        """Return the caller's account (None: anonymous) or raise AuthError."""


class AllowAll:
    """No auth configured: everyone may do everything (the loopback default)."""

    def authorize(self, authorization: str | None, wanted: Sequence[Access]) -> str | None:
        return None


def from_config(cfg: dict[str, Any] | None, root: str) -> Authorizer:
    """The authorizer for the config's ``auth:`` section (``root``: the storage root,
    where generated keys may be kept). No section: :class:`AllowAll`."""
    if not cfg:
        return AllowAll()
    from .config import build  # htpasswd / token authorizers

    return build(cfg, root)
