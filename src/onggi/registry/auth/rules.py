"""Access rules: which account may do which actions on which resources.

Each rule names accounts, a resource type, a name pattern and actions. For a given account
and resource the FIRST rule whose account and name match decides the actions (later
rules are not looked at, so an early rule with ``actions: []`` denies). No matching rule:
no actions.

- ``account``: a user name, ``"*"`` (any authenticated account, not anonymous), ``""``
  (the anonymous caller), or a list of those.
- ``name``: a pattern where ``*`` matches any run of characters, ``/`` included, and ``?``
  one character; ``${account}`` stands for the caller's account name.
- ``type``: ``repository`` (default) or ``registry`` (``name: catalog`` for /v2/_catalog).
- ``actions``: a list of ``pull``, ``push``, ``delete`` or ``*`` (every action, including
  the catalog's ``*``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ...errors import InvalidArgument
from . import Access

__all__ = ["AccessRule", "AccessRules", "parse_rules", "granted_actions"]

_KNOWN_ACTIONS = frozenset({"pull", "push", "delete", "*"})
_KNOWN_TYPES = frozenset({"repository", "registry"})
_ACCOUNT = "${account}"


def _pattern(name: str, account: str) -> re.Pattern[str]:
    parts = name.split(_ACCOUNT)
    out = []
    for part in parts:
        out.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in part))
    return re.compile(re.escape(account).join(out) + r"\Z", re.S)


@dataclass(frozen=True)
class AccessRule:
    accounts: frozenset[str]
    name: str
    actions: frozenset[str]
    type: str = "repository"

    def matches(self, account: str | None, rtype: str, name: str) -> bool:
        if rtype != self.type:
            return False
        if account is None:
            if "" not in self.accounts:
                return False
        elif account not in self.accounts and "*" not in self.accounts:
            return False
        return _pattern(self.name, account or "").match(name) is not None


def granted_actions(allowed: frozenset[str], wanted: frozenset[str]) -> frozenset[str]:
    """The part of ``wanted`` that ``allowed`` covers (``*`` in allowed covers all)."""
    return wanted if "*" in allowed else wanted & allowed


class AccessRules:
    """The ordered rules; ``None`` rules mean "any authenticated account may do anything,
    anonymous nothing" (the reference registry's htpasswd behaviour)."""

    def __init__(self, rules: Sequence[AccessRule] | None) -> None:
        self.rules = None if rules is None else tuple(rules)
        self._memo: dict[tuple[str | None, str, str], frozenset[str]] = {}

    def allowed(self, account: str | None, rtype: str, name: str) -> frozenset[str]:
        """The actions ``account`` (None: anonymous) may take on the resource."""
        if self.rules is None:
            return frozenset({"*"}) if account is not None else frozenset()
        key = (account, rtype, name)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        acts: frozenset[str] = frozenset()
        for rule in self.rules:
            if rule.matches(account, rtype, name):
                acts = rule.actions
                break
        if len(self._memo) >= 8192:
            self._memo.clear()
        self._memo[key] = acts
        return acts

    def grant(self, account: str | None, access: Access) -> Access:
        """``access`` cut down to what the rules allow (possibly no actions)."""
        return Access(access.type, access.name,
                      granted_actions(self.allowed(account, access.type, access.name), access.actions))

    def permits(self, account: str | None, wanted: Sequence[Access]) -> bool:
        for a in wanted:
            allowed = self.allowed(account, a.type, a.name)
            if "*" not in allowed and not a.actions <= allowed:
                return False
        return True

    def grants_anonymous(self) -> bool:
        return self.rules is not None and any("" in r.accounts and r.actions for r in self.rules)


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidArgument(f"{where}: expected a string or a list of strings, got {value!r}")


def parse_rules(value: Any, where: str = "auth.access") -> AccessRules:
    """The rules of the config's ``access`` list (absent: None, see :class:`AccessRules`)."""
    if value is None:
        return AccessRules(None)
    if not isinstance(value, list):
        raise InvalidArgument(f"{where}: expected a list of rules, got {type(value).__name__}")
    rules = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{at}: expected a mapping with account, name, actions")
        unknown = set(item) - {"account", "name", "actions", "type"}
        if unknown:
            raise InvalidArgument(f"{at}: unknown keys {sorted(unknown)}")
        if "account" not in item:
            raise InvalidArgument(f"{at}: 'account' is required (\"\" anonymous, \"*\" any user)")
        accounts = frozenset(_strings(item["account"], f"{at}.account"))
        name = item.get("name", "*")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{at}.name: expected a non-empty pattern, got {name!r}")
        rtype = item.get("type", "repository")
        if rtype not in _KNOWN_TYPES:
            raise InvalidArgument(f"{at}.type: {rtype!r} is not one of {sorted(_KNOWN_TYPES)}")
        actions = frozenset(_strings(item.get("actions", []), f"{at}.actions"))
        bad = actions - _KNOWN_ACTIONS
        if bad:
            raise InvalidArgument(f"{at}.actions: unknown {sorted(bad)}; use pull, push, delete or *")
        rules.append(AccessRule(accounts, name, actions, rtype))
    return AccessRules(rules)
