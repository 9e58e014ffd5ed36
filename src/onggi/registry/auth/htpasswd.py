"""An htpasswd file of bcrypt entries (``htpasswd -B``), checked with a memory cache.

Only bcrypt (``$2a$``, ``$2b$``, ``$2y$``) is accepted, as by the reference registry. A
line of any other format (``$apr1$`` MD5, ``{SHA}``, crypt, plain text) or without a
``user:hash`` shape is refused on its own, with a warning naming the file, line and user;
the rest of the file still loads. Blank lines and ``#`` comments are skipped; when a user
appears twice the first line wins. A file with no usable entry at all is an error.

The file is re-read when its mtime, size or inode change (looked at most once a second).
bcrypt is slow on purpose, so each success is remembered under a keyed BLAKE2 digest of
user and password (never the password itself), together with the hash it matched: a later
request with the same credentials costs one digest, and changing or removing the user's
line in the file invalidates the memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict

import bcrypt

from ...errors import InvalidArgument, NotFound

__all__ = ["Htpasswd", "parse_htpasswd"]

log = logging.getLogger("onggi.registry.auth")

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def _format_of(h: str) -> str:
    if h.startswith("$apr1$"):
        return "Apache MD5 ($apr1$)"
    if h.startswith("{SHA}"):
        return "SHA-1 ({SHA})"
    if h.startswith("$") and h.count("$") >= 3:
        return f"crypt scheme ${h.split('$')[1]}$"
    return "crypt or plain text"


def parse_htpasswd(text: str, origin: str = "htpasswd") -> dict[str, bytes]:
    """``{user: bcrypt hash}`` of an htpasswd file's text; refused lines are logged."""
    entries: dict[str, bytes] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, h = line.partition(":")
        if not sep or not user or not h:
            log.warning("%s line %d: not USER:HASH, ignored", origin, n)
            continue
        if not h.startswith(_BCRYPT_PREFIXES) or len(h) != 60:
            log.warning("%s line %d: user %r has a %s hash; only bcrypt (htpasswd -B) is "
                        "accepted, line ignored", origin, n, user, _format_of(h))
            continue
        if user in entries:
            log.warning("%s line %d: user %r listed again, the first line wins", origin, n, user)
            continue
        entries[user] = h.encode("ascii", "replace")
    return entries


class Htpasswd:
    """The accounts of one htpasswd file. :meth:`verify` is thread-safe."""

    def __init__(self, path: str, *, recheck: float = 1.0, cache_size: int = 4096) -> None:
        self.path = path
        self._recheck = recheck
        self._cache_size = cache_size
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._reloading = threading.Lock()
        self._cache: OrderedDict[bytes, tuple[str, bytes]] = OrderedDict()
        self._entries: dict[str, bytes] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._decoy_hash: bytes | None = None
        self.generation = 0  # bumped at each (re-)read: callers' own memories expire with it
        self._load(initial=True)

    def _load(self, initial: bool = False) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self._stamp:
                return
            with open(self.path, encoding="utf-8", errors="replace") as f:
                entries = parse_htpasswd(f.read(), self.path)
        except FileNotFoundError:
            if initial:
                raise NotFound(f"htpasswd file {self.path} does not exist "
                               "(make one with: htpasswd -Bbc FILE USER PASSWORD)") from None
            if self._stamp is not None:
                log.error("htpasswd file %s is gone: no account may log in", self.path)
                self._entries, self._stamp = {}, None
                self.generation += 1
            return
        except OSError as e:
            if initial:
                raise InvalidArgument(f"htpasswd file {self.path}: {e.strerror}") from None
            log.error("htpasswd file %s unreadable (%s): keeping the accounts read before",
                      self.path, e.strerror)
            return
        if initial and not entries:
            raise InvalidArgument(f"htpasswd file {self.path} has no bcrypt entry "
                                  "(make them with: htpasswd -B)")
        if not initial:
            log.info("htpasswd file %s re-read: %d accounts", self.path, len(entries))
        self._entries, self._stamp = entries, stamp
        self.generation += 1

    def refresh(self) -> None:
        """Re-read the file if it changed (looked at once per ``recheck`` seconds)."""
        now = time.monotonic()
        if now - self._checked >= self._recheck and self._reloading.acquire(blocking=False):
            try:
                self._checked = now
                self._load()
            finally:
                self._reloading.release()

    def __contains__(self, user: object) -> bool:
        self.refresh()
        return user in self._entries

    def users(self) -> list[str]:
        self.refresh()
        return sorted(self._entries)

    def _digest(self, user: str, password: str) -> bytes:
        raw = user.encode() + b"\0" + password.encode()
        return hashlib.blake2b(raw, key=self._key, digest_size=32).digest()

    def cached(self, user: str, password: str) -> bool:
        """Whether these credentials were verified before against the user's current
        hash (no bcrypt)."""
        self.refresh()
        key = self._digest(user, password)
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                return False
            if hit[0] == user and self._entries.get(user) == hit[1]:
                self._cache.move_to_end(key)
                return True
            del self._cache[key]
        return False

    def _decoy(self, password: str) -> None:
        """Spend a bcrypt's time on an unknown user, so that timing does not tell which
        users exist (the decoy hash takes the cost of an entry of the file)."""
        if not self._entries:
            return
        if self._decoy_hash is None or self._decoy_hash[:7] != next(iter(self._entries.values()))[:7]:
            self._decoy_hash = bcrypt.hashpw(b"decoy", next(iter(self._entries.values()))[:29])
        bcrypt.checkpw(password.encode(), self._decoy_hash)

    def verify(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s; bcrypt only on a cache miss."""
        if self.cached(user, password):
            return True
        h = self._entries.get(user)
        if h is None:
            self._decoy(password)
            return False
        try:
            ok = bcrypt.checkpw(password.encode(), h)
        except ValueError as e:  # a malformed hash that looked like bcrypt
            log.warning("htpasswd %s: user %r has an unusable hash: %s", self.path, user, e)
            return False
        if ok:
            with self._lock:
                self._cache[self._digest(user, password)] = (user, h)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return ok
