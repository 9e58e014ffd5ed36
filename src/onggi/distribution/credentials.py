"""Registry credentials from containers-auth.json(5) files and Docker's config.json.

Files read, in order, until one has an entry (containers-auth.json(5)):

1. the explicit file (an argument, or ``$REGISTRY_AUTH_FILE``); when given it is the only
   file read or written;
2. the primary file ``${XDG_RUNTIME_DIR}/containers/auth.json`` (without
   ``XDG_RUNTIME_DIR``: ``/run/containers/<uid>/auth.json``), the one login writes;
3. ``${XDG_CONFIG_HOME:-$HOME/.config}/containers/auth.json``;
4. ``${DOCKER_CONFIG:-$HOME/.docker}/config.json`` and the legacy ``$HOME/.dockercfg``.

An entry is ``{"auths": {KEY: {"auth": base64("user:password"), "identitytoken": ...}}}``
(``.dockercfg`` has the ``KEY: {...}`` map at the top level). ``KEY`` is a registry host
(``quay.io``, ``127.0.0.1:5000``) or a namespace inside one (``quay.io/team/app``); the
most specific key wins, as in podman: ``quay.io/team/app``, then ``quay.io/team``, then
``quay.io``. Keys written by Docker as URLs (``https://index.docker.io/v1/``) are read as
their host, and the Docker Hub aliases as ``docker.io``.

Writing (for login/logout) changes only the ``auths`` entry concerned in one file, keeps
every other field, and replaces the file atomically (temporary file, fsync, rename) with
mode 0600 in a directory made 0700. Credential helpers (``credHelpers``, ``credsStore``)
are not run.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import InvalidArgument
from ..oci import reference as _ref
from ..oci.reference import Reference

__all__ = ["Credentials", "auth_file_paths", "primary_auth_file", "lookup_keys", "normalize_key",
           "get_credentials", "set_credentials", "remove_credentials", "resolver"]

_HUB = frozenset(("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"))


@dataclass(frozen=True)
class Credentials:
    """A username and password, or an identity (OAuth2 refresh) token; ``source`` is the
    file and key they came from. ``repr`` hides the secrets."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token)


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def primary_auth_file(env: Mapping[str, str] | None = None) -> str:
    """The file login writes: ``$REGISTRY_AUTH_FILE`` or the runtime-dir ``auth.json``."""
    e = _env(env)
    if e.get("REGISTRY_AUTH_FILE"):
        return e["REGISTRY_AUTH_FILE"]
    run = e.get("XDG_RUNTIME_DIR")
    if not run:
        return f"/run/containers/{os.getuid()}/auth.json"
    return os.path.join(run, "containers", "auth.json")


def auth_file_paths(auth_file: str | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The files searched, in order (existing or not)."""
    e = _env(env)
    explicit = auth_file or e.get("REGISTRY_AUTH_FILE")
    if explicit:
        return [explicit]
    home = _home(e)
    xdg = e.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    docker = e.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    return [primary_auth_file(e), os.path.join(xdg, "containers", "auth.json"),
            os.path.join(docker, "config.json"), os.path.join(home, ".dockercfg")]


def normalize_key(key: str) -> str:
    """A file's key as onggi compares it: URL keys reduced to their host, Docker Hub's
    aliases to ``docker.io``, no trailing ``/``."""
    k = key.strip()
    for scheme in ("https://", "http://"):
        if k.startswith(scheme):
            k = k[len(scheme):].split("/", 1)[0]
            break
    k = k.rstrip("/")
    host, slash, rest = k.partition("/")
    if host in _HUB:
        host = "docker.io"
    return host + slash + rest


def _check_key(key: str) -> str:
    """Validate a key given to set/remove: ``host`` or ``host/namespace[/repo]``."""
    if "://" in key:
        raise InvalidArgument(f"credentials key {key!r}: give a registry host or host/repository, not a URL")
    k = normalize_key(key)
    host, slash, path = k.partition("/")
    _ref.check_domain(host, f"credentials key {key!r}")
    if slash:
        name, tag, dg = _ref.split(k)
        if tag or dg:
            raise InvalidArgument(f"credentials key {key!r}: no tag or digest allowed")
        _ref.check_path(path, f"credentials key {key!r}")
    return k


def lookup_keys(target: str | Reference) -> list[str]:
    """The keys to look for, most specific first: ``h/a/b``, ``h/a``, ``h``."""
    if isinstance(target, Reference):
        s = target.name
    else:
        s = normalize_key(target)
        if "/" in s:
            s = _ref.split(s)[0]
    parts = s.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _load(path: str) -> dict | None:
    """The JSON object in ``path``, None if it does not exist."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InvalidArgument(f"{path}: cannot read credentials: {e.strerror}") from None
    if not data.strip():
        return {}
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"{path}: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: expected a JSON object")
    return doc


def _auths(doc: dict, path: str) -> dict:
    legacy = os.path.basename(path) == ".dockercfg"
    auths = doc if legacy else doc.get("auths", {})
    if not isinstance(auths, dict):
        raise InvalidArgument(f"{path}: auths: expected an object")
    return auths


def _decode(entry: object, path: str, key: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise InvalidArgument(f"{path}: auths[{key!r}]: expected an object")
    token = entry.get("identitytoken") or ""
    raw = entry.get("auth") or ""
    if not isinstance(raw, str) or not isinstance(token, str):
        raise InvalidArgument(f"{path}: auths[{key!r}]: auth and identitytoken must be strings")
    user = password = ""
    if raw:
        try:
            text = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument(f"{path}: auths[{key!r}].auth: not base64 of user:password") from None
        user, sep, password = text.partition(":")
        if not sep:
            raise InvalidArgument(f"{path}: auths[{key!r}].auth: no ':' between user and password")
    if not (user or token):
        return None  # an empty entry (Docker writes these when a helper holds the secret)
    return Credentials(user, password, token, f"{path} [{key}]")


def get_credentials(target: str | Reference, auth_file: str | None = None,
                    env: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials for a registry host, ``host/repo`` or reference (most specific
    key first, files in the documented order), or None."""
    keys = lookup_keys(target)
    for path in auth_file_paths(auth_file, env):
        doc = _load(path)
        if not doc:
            continue
        auths = _auths(doc, path)
        found: dict[str, tuple[str, object]] = {}
        for k, v in auths.items():
            found.setdefault(normalize_key(k), (k, v))
        for key in keys:
            if key in found:
                creds = _decode(found[key][1], path, found[key][0])
                if creds is not None:
                    return creds
    return None


def resolver(host: str, auth_file: str | None = None,
             env: Mapping[str, str] | None = None) -> Callable[[str], Credentials | None]:
    """``repo -> credentials`` for one registry, for :class:`RegistryClient` (namespaced
    keys make credentials depend on the repository)."""

    def lookup(repo: str) -> Credentials | None:
        return get_credentials(f"{host}/{repo}" if repo else host, auth_file, env)

    return lookup


def _write_atomic(path: str, doc: dict) -> None:
    from ..files import atomic_write

    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    atomic_write(path, (json.dumps(doc, indent="\t") + "\n").encode(), mode=0o600)


def _writable(auth_file: str | None, env: Mapping[str, str] | None) -> str:
    return auth_file or primary_auth_file(env)


def set_credentials(key: str, username: str, password: str = "", identity_token: str = "",
                    auth_file: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Store credentials for ``key`` (host or host/namespace) in the explicit or primary
    file, replacing any entry that normalises to the same key; returns the file."""
    k = _check_key(key)
    if ":" in username:
        raise InvalidArgument(f"credentials for {k}: a username cannot contain ':'")
    if not (username or identity_token):
        raise InvalidArgument(f"credentials for {k}: a username or an identity token is required")
    path = _writable(auth_file, env)
    doc = _load(path) or {}
    auths = doc.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise InvalidArgument(f"{path}: auths: expected an object")
    for old in [x for x in auths if normalize_key(x) == k]:
        del auths[old]
    entry: dict[str, str] = {}
    if username:
        entry["auth"] = base64.b64encode(f"{username}:{password}".encode()).decode()
    if identity_token:
        entry["identitytoken"] = identity_token
    auths[k] = entry
    _write_atomic(path, doc)
    return path


def remove_credentials(key: str | None, auth_file: str | None = None,
                       env: Mapping[str, str] | None = None) -> bool:
    """Remove the entry for ``key`` (None: every entry) from the explicit or primary
    file; False when there was nothing to remove."""
    path = _writable(auth_file, env)
    doc = _load(path)
    if not doc or not isinstance(doc.get("auths"), dict) or not doc["auths"]:
        return False
    auths = doc["auths"]
    if key is None:
        gone = list(auths)
    else:
        k = _check_key(key)
        gone = [x for x in auths if normalize_key(x) == k]
    if not gone:
        return False
    for x in gone:
        del auths[x]
    _write_atomic(path, doc)
    return True
