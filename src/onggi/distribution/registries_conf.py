"""``registries.conf`` (containers-registries.conf(5), version 2, TOML): which registry
endpoints serve an image reference, which are insecure or blocked, and how short names
resolve.

Files and precedence (containers-registries.conf.d(5)): the main file is
``$CONTAINERS_REGISTRIES_CONF`` if set, else ``$XDG_CONFIG_HOME/containers/registries.conf``
(``$HOME/.config/...``) if it exists, else ``/etc/containers/registries.conf``. Then the
drop-ins ``*.conf`` of ``/etc/containers/registries.conf.d`` (skipped when the user's main
file was used) and of the user's ``registries.conf.d``, each directory in name order. A
later file overrides what it sets: ``unqualified-search-registries``, ``short-name-mode``
and ``credential-helpers`` are replaced, ``[[registry]]`` tables are replaced per prefix,
``[aliases]`` are merged per name (an empty value erases one). The deprecated version 1
tables (``[registries.search|insecure|block]``) are read from the main file only.

Choosing a ``[[registry]]`` for a reference (``docker.io/library/busybox:latest``): the
longest ``prefix`` that the reference starts with, followed by ``/``, ``:``, ``@`` or its
end; a ``*.example.com`` prefix matches any subdomain of the reference's host (and never
rewrites it). :meth:`RegistriesConf.lookup` then lists the endpoints to try for a pull:
the mirrors (filtered by ``mirror-by-digest-only`` / ``pull-from-mirror``) in order, the
primary ``location`` last; a push uses the primary only. A blocked registry raises
``PermissionDenied``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ..errors import FailedPrecondition, InvalidArgument, PermissionDenied
from ..oci import reference as _ref
from ..oci.reference import Reference

__all__ = ["Mirror", "Registry", "Endpoint", "ShortNameResolution", "RegistriesConf",
           "default_paths", "load", "parse_text", "SHORT_NAME_MODES", "PULL_FROM_MIRROR"]

SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")
PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"


@dataclass(frozen=True)
class Registry:
    """One ``[[registry]]`` table; ``location`` is ``""`` only under a wildcard prefix."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Mirror, ...] = ()
    source: str = ""

    @property
    def wildcard(self) -> bool:
        return self.prefix.startswith("*.")


@dataclass(frozen=True)
class Endpoint:
    """Where to read (or write) an image: the reference rewritten for this endpoint."""

    reference: Reference
    insecure: bool = False
    mirror: bool = False

    @property
    def host(self) -> str:
        return self.reference.domain


@dataclass(frozen=True)
class ShortNameResolution:
    """The references a short name may mean, in the order to try them. ``alias`` is the
    alias that decided (then there is one candidate); ``needs_choice`` is True in
    ``enforcing`` mode with several search registries, where the caller must let a user
    pick one (an interactive caller) instead of trying them in order."""

    candidates: tuple[Reference, ...]
    alias: str | None = None
    mode: str = "permissive"
    needs_choice: bool = False


@dataclass(frozen=True)
class RegistriesConf:
    unqualified_search_registries: tuple[str, ...] = ()
    short_name_mode: str = "permissive"
    registries: tuple[Registry, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    credential_helpers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def find(self, ref: Reference | str) -> Registry | None:
        """The ``[[registry]]`` table whose prefix matches ``ref`` longest (exact prefixes
        win a tie with a wildcard), or None."""
        s = str(ref)
        host = s.split("/", 1)[0]
        best: tuple[int, int, Registry] | None = None
        for reg in self.registries:
            n = _match(s, host, reg.prefix)
            if n and (best is None or (n, not reg.wildcard) > best[:2]):
                best = (n, not reg.wildcard, reg)
        return None if best is None else best[2]

    def lookup(self, ref: Reference, push: bool = False) -> list[Endpoint]:
        """The endpoints to try for ``ref``, in order: mirrors (for a pull) then the
        primary location. ``PermissionDenied`` when the matching registry is blocked."""
        reg = self.find(ref)
        if reg is None:
            return [Endpoint(ref)]
        if reg.blocked:
            raise PermissionDenied(f"{ref}: registry {reg.prefix!r} is blocked in {reg.source or 'registries.conf'}")
        out: list[Endpoint] = []
        if not push:
            by_digest = ref.digest is not None
            for m in reg.mirrors:
                if not by_digest and (reg.mirror_by_digest_only or m.pull_from_mirror == "digest-only"):
                    continue
                if by_digest and m.pull_from_mirror == "tag-only":
                    continue
                out.append(Endpoint(_rewrite(ref, reg, m.location), m.insecure, True))
        out.append(Endpoint(_rewrite(ref, reg, reg.location), reg.insecure, False))
        return out

    def insecure(self, host: str) -> bool:
        """Whether plain HTTP and unverified TLS are allowed for ``host``: a registry table
        for the whole host (or a wildcard over it), or any table or mirror whose location
        is on that host, says ``insecure = true``."""
        reg = self.find(host)
        if reg is not None and reg.insecure:
            return True
        for r in self.registries:
            if r.insecure and r.location.split("/", 1)[0] == host:
                return True
            if any(m.insecure and m.location.split("/", 1)[0] == host for m in r.mirrors):
                return True
        return False

    def resolve_short_name(self, name: str) -> ShortNameResolution:
        """The candidates for ``name``: itself when it names a domain; its alias; else one
        per unqualified-search registry. ``FailedPrecondition`` when nothing is
        configured to resolve it."""
        ref = _ref.parse(name)
        if ref.qualified:
            return ShortNameResolution((ref,), None, self.short_name_mode)
        short, tag, digest = _ref.split(name)
        tail = (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        target = self.aliases.get(short)
        if target:
            return ShortNameResolution((_ref.parse(target + tail),), short, self.short_name_mode)
        if not self.unqualified_search_registries:
            where = ", ".join(self.sources) or "registries.conf"
            raise FailedPrecondition(f"short name {name!r} did not resolve to an alias and no "
                                     f"unqualified-search registries are defined in {where}")
        cands = tuple(_ref.parse(f"{reg}/{name}") for reg in self.unqualified_search_registries)
        choice = self.short_name_mode == "enforcing" and len(cands) > 1
        return ShortNameResolution(cands, None, self.short_name_mode, choice)


# ---- matching and rewriting ------------------------------------------------------------

def _match(ref: str, host: str, prefix: str) -> int:
    """Length of ``ref`` that ``prefix`` covers (0: no match)."""
    if prefix.startswith("*."):
        bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return len(host) if bare.endswith(prefix[1:]) else 0
    if ref == prefix:
        return len(prefix)
    if ref.startswith(prefix) and ref[len(prefix)] in "/:@":
        return len(prefix)
    return 0


def _rewrite(ref: Reference, reg: Registry, location: str) -> Reference:
    s = str(ref)
    if reg.wildcard:
        if not location:
            return ref
        new = location + s[len(ref.domain):]
    else:
        new = location + s[len(reg.prefix):]
    try:
        out = _ref.parse(new, default_tag=None)
    except InvalidArgument as e:
        raise InvalidArgument(f"{ref}: rewriting prefix {reg.prefix!r} to {location!r} "
                              f"({reg.source}) gives an invalid reference: {e}") from None
    return Reference(out.domain, out.path, out.tag, out.digest, True)


# ---- parsing ------------------------------------------------------------------------------

def _get(tbl: dict, key: str, kind: type, what: str, default: object) -> object:
    v = tbl.get(key, default)
    if v is not default and not isinstance(v, kind):
        raise InvalidArgument(f"{what}: {key}: expected a {kind.__name__}, got {type(v).__name__}")
    return v


def _strs(tbl: dict, key: str, what: str) -> tuple[str, ...] | None:
    v = _get(tbl, key, list, what, None)
    if v is None:
        return None
    if not all(isinstance(x, str) for x in v):  # type: ignore[union-attr]
        raise InvalidArgument(f"{what}: {key}: expected an array of strings")
    return tuple(v)  # type: ignore[arg-type]


def _check_location(loc: str, what: str, wildcard_ok: bool = False) -> str:
    """``host[:port][/path][:tag|@digest]`` (or ``*.host`` where allowed)."""
    if wildcard_ok and loc.startswith("*."):
        if "/" in loc or "*" in loc[2:]:
            raise InvalidArgument(f"{what}: wildcard prefix {loc!r} must be *.host only")
        _ref.check_domain(loc[2:], what)
        return loc
    if not loc:
        raise InvalidArgument(f"{what}: empty location")
    host, slash, _ = loc.partition("/")
    _ref.check_domain(host, what)
    if slash:
        name, _tag, _dg = _ref.split(loc)
        _ref.check_path(name.partition("/")[2], what)
    return loc


def _registry(tbl: object, source: str, index: int) -> Registry:
    what = f"{source}: [[registry]] {index}"
    if not isinstance(tbl, dict):
        raise InvalidArgument(f"{what}: expected a table")
    loc = _get(tbl, "location", str, what, "")
    prefix = _get(tbl, "prefix", str, what, "") or loc
    if not prefix:
        raise InvalidArgument(f"{what}: either prefix or location is required")
    what = f"{what} (prefix {prefix!r})"
    _check_location(prefix, what, wildcard_ok=True)  # type: ignore[arg-type]
    if prefix.startswith("*.") and loc:  # type: ignore[union-attr]
        raise InvalidArgument(f"{what}: a wildcard prefix cannot have a location")
    if loc:
        _check_location(loc, what)  # type: ignore[arg-type]
    elif not prefix.startswith("*."):  # type: ignore[union-attr]
        loc = prefix
    by_digest = _get(tbl, "mirror-by-digest-only", bool, what, False)
    mirrors = []
    for i, m in enumerate(_get(tbl, "mirror", list, what, [])):  # type: ignore[arg-type]
        mw = f"{what}: mirror[{i}]"
        if not isinstance(m, dict):
            raise InvalidArgument(f"{mw}: expected a table")
        mloc = _check_location(_get(m, "location", str, mw, "") or "", mw)  # type: ignore[arg-type]
        pfm = _get(m, "pull-from-mirror", str, mw, "") or "all"
        if pfm not in PULL_FROM_MIRROR:
            raise InvalidArgument(f"{mw}: pull-from-mirror {pfm!r} is not one of {', '.join(PULL_FROM_MIRROR)}")
        if by_digest and pfm != "all":
            raise InvalidArgument(f"{mw}: pull-from-mirror cannot be set together with the "
                                  f"registry's mirror-by-digest-only")
        mirrors.append(Mirror(mloc, bool(_get(m, "insecure", bool, mw, False)), pfm))  # type: ignore[arg-type]
    return Registry(prefix, loc, bool(_get(tbl, "insecure", bool, what, False)),  # type: ignore[arg-type]
                    bool(_get(tbl, "blocked", bool, what, False)), bool(by_digest), tuple(mirrors),
                    source)


def _aliases(tbl: object, what: str) -> dict[str, str]:
    if not isinstance(tbl, dict):
        raise InvalidArgument(f"{what}: [aliases]: expected a table")
    out = {}
    for name, value in tbl.items():
        aw = f"{what}: alias {name!r}"
        if not isinstance(value, str):
            raise InvalidArgument(f"{aw}: expected a string")
        n, tag, dg = _ref.split(name)
        if _ref.parse(name).qualified or tag or dg or n != name:
            raise InvalidArgument(f"{aw}: an alias must be a short name without tag or digest")
        if value:
            r = _ref.parse(value, default_tag=None)
            if not r.qualified or r.tag or r.digest:
                raise InvalidArgument(f"{aw}: {value!r} must be a fully-qualified name without tag or digest")
        out[name] = value
    return out


def parse_text(text: str, source: str = "<registries.conf>", dropin: bool = False) -> dict:
    """One file's settings (only the keys it sets) as ``{"search": ..., "mode": ...,
    "registries": [...], "aliases": {...}, "helpers": ...}``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{source}: not valid TOML: {e}") from None
    out: dict = {}
    v1 = doc.get("registries")
    if v1 is not None:
        if dropin:
            raise InvalidArgument(f"{source}: drop-in files must use the version 2 format")
        if any(k in doc for k in ("registry", "unqualified-search-registries")):
            raise InvalidArgument(f"{source}: mixes the version 1 [registries.*] tables with version 2 keys")
        return _v1(v1, source)
    search = _strs(doc, "unqualified-search-registries", source)
    if search is not None:
        for s in search:
            if "/" in s:
                raise InvalidArgument(f"{source}: unqualified-search-registries: {s!r} must be host[:port]")
            _ref.check_domain(s, f"{source}: unqualified-search-registries")
        out["search"] = search
    mode = _get(doc, "short-name-mode", str, source, None)
    if mode is not None:
        if mode and mode not in SHORT_NAME_MODES:
            raise InvalidArgument(f"{source}: short-name-mode {mode!r} is not one of {', '.join(SHORT_NAME_MODES)}")
        out["mode"] = mode or "permissive"
    helpers = _strs(doc, "credential-helpers", source)
    if helpers is not None:
        out["helpers"] = helpers
    regs = [_registry(t, source, i) for i, t in
            enumerate(_get(doc, "registry", list, source, []))]  # type: ignore[arg-type]
    seen: set[str] = set()
    for r in regs:
        if r.prefix in seen:
            raise InvalidArgument(f"{source}: [[registry]] prefix {r.prefix!r} is defined more than once")
        seen.add(r.prefix)
    out["registries"] = regs
    if "aliases" in doc:
        out["aliases"] = _aliases(doc["aliases"], source)
    return out


def _v1(v1: object, source: str) -> dict:
    if not isinstance(v1, dict):
        raise InvalidArgument(f"{source}: [registries]: expected a table")
    lists = {}
    for kind in ("search", "insecure", "block"):
        t = v1.get(kind, {})
        if not isinstance(t, dict):
            raise InvalidArgument(f"{source}: [registries.{kind}]: expected a table")
        lists[kind] = _strs(t, "registries", f"{source}: [registries.{kind}]") or ()
    regs: dict[str, Registry] = {}
    for host in (*lists["insecure"], *lists["block"]):
        _check_location(host, f"{source}: [registries]")
        old = regs.get(host, Registry(host, host, source=source))
        regs[host] = Registry(host, host, old.insecure or host in lists["insecure"],
                              old.blocked or host in lists["block"], source=source)
    return {"search": lists["search"], "registries": list(regs.values())}


# ---- loading ------------------------------------------------------------------------------

def default_paths(env: Mapping[str, str] | None = None, etc: str = "/etc/containers") -> list[str]:
    """The files that exist, in the order they are applied (see the module note)."""
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    user_dir = os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "containers")
    user_main = os.path.join(user_dir, "registries.conf")
    main = env.get("CONTAINERS_REGISTRIES_CONF")
    use_user = main is None and os.path.isfile(user_main)
    if main is None:
        main = user_main if use_user else os.path.join(etc, "registries.conf")
    out = [main] if os.path.isfile(main) else []
    dirs = [os.path.join(user_dir, "registries.conf.d")]
    if not use_user:
        dirs.insert(0, os.path.join(etc, "registries.conf.d"))
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        out += [os.path.join(d, n) for n in names
                if n.endswith(".conf") and os.path.isfile(os.path.join(d, n))]
    return out


def load(paths: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> RegistriesConf:
    """Read and merge ``paths`` (default: :func:`default_paths`); the first is the main
    file, the rest drop-ins. No files: an empty configuration."""
    files = default_paths(env) if paths is None else list(paths)
    search: tuple[str, ...] = ()
    mode, helpers = "permissive", ()
    regs: dict[str, Registry] = {}
    aliases: dict[str, str] = {}
    for i, path in enumerate(files):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise InvalidArgument(f"{path}: cannot read registries configuration: {e.strerror}") from None
        part = parse_text(text, path, dropin=i > 0)
        search = part.get("search", search)
        mode = part.get("mode", mode)
        helpers = part.get("helpers", helpers)
        for r in part.get("registries", ()):
            regs[r.prefix] = r
        for k, v in part.get("aliases", {}).items():
            if v:
                aliases[k] = v
            else:
                aliases.pop(k, None)
    return RegistriesConf(search, mode, tuple(regs.values()), aliases, helpers, tuple(files))
