"""Platforms (os / architecture / variant) of images: the wire object of index entries and
image configs, the ``os[/arch[/variant]]`` strings users type, normalisation as containerd
does it, the host's platform, and choosing an index entry for a wanted platform.

Normal forms (what :func:`normalize` returns)::

    x86_64, x86-64, amd64 (v1)   -> amd64          (v2..v4 kept)
    i386, i486, i586, i686, x86  -> 386
    aarch64, arm64               -> arm64 v8       (8, v8.0 -> v8; 9, v9.0 -> v9)
    armhf / armel                -> arm v7 / arm v6
    arm, arm 7 / armv7l ...      -> arm v7 / arm vN
    macos -> darwin; ppc64el -> ppc64le; mips64el -> mips64le

Choosing (:func:`choose`) prefers an exact match, then compatible variants in falling
order (arm64 v8.2 takes v8.1 then v8; arm v7 takes v6 then v5; amd64 v3 takes v2 then the
baseline) and, only when asked with ``allow_32bit``, 32-bit builds on a 64-bit host.
"""

from __future__ import annotations

import os as _os
import sys
from typing import Protocol, Sequence, TypeVar

from ..errors import InvalidArgument, NotFound

__all__ = ["Platform", "parse", "merge_wire", "normalize", "normalize_arch", "normalize_os", "host",
           "compatible", "matches", "choose"]

KNOWN_OS = frozenset(("aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js",
                      "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"))
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
# arm64 variants in order; v9.x implements v8.(x+5)
_ARM64 = ("v8", "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9")
_ARM64_V9 = {"v9": "v8.5", "v9.1": "v8.6", "v9.2": "v8.7", "v9.3": "v8.8", "v9.4": "v8.9",
             "v9.5": "v8.9"}


class Platform:
    """A platform; ``os_features`` and ``features`` are tuples (the object is hashable).
    Parsed objects keep unknown wire fields in ``raw`` for :meth:`to_dict`."""

    __slots__ = ("os", "architecture", "variant", "os_version", "os_features", "features", "raw")

    def __init__(self, os: str, architecture: str, variant: str = "", os_version: str = "",
                 os_features: Sequence[str] = (), features: Sequence[str] = (),
                 raw: dict | None = None) -> None:
        self.os = os
        self.architecture = architecture
        self.variant = variant
        self.os_version = os_version
        self.os_features = tuple(os_features)
        self.features = tuple(features)
        self.raw = raw if raw is not None else {}

    def _key(self) -> tuple:
        return (self.os, self.architecture, self.variant, self.os_version, self.os_features,
                self.features)

    def __eq__(self, other: object) -> bool:
        return type(other) is Platform and self._key() == other._key()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Platform({str(self)!r})"

    def __str__(self) -> str:
        """``os[(os.version)]/arch[/variant]``, e.g. ``linux/arm64/v8``."""
        o = f"{self.os}({self.os_version})" if self.os_version else self.os
        return f"{o}/{self.architecture}/{self.variant}" if self.variant else f"{o}/{self.architecture}"

    @classmethod
    def parse(cls, d: object, path: str = "platform") -> "Platform":
        """The wire object (``architecture`` and ``os`` required)."""
        if not isinstance(d, dict):
            raise InvalidArgument(f"{path}: expected an object")
        vals: dict[str, object] = {}
        for key, required in (("os", True), ("architecture", True), ("variant", False),
                              ("os.version", False)):
            v = d.get(key)
            if v is None:
                if required:
                    raise InvalidArgument(f"{path}.{key}: is required")
                v = ""
            if not isinstance(v, str):
                raise InvalidArgument(f"{path}.{key}: expected a string")
            if required and not v:
                raise InvalidArgument(f"{path}.{key}: must not be empty")
            vals[key] = v
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("os.features", "features"):
            v = d.get(key)
            if v is None:
                v = []
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise InvalidArgument(f"{path}.{key}: expected a list of strings")
            lists[key] = tuple(v)
        return cls(str(vals["os"]), str(vals["architecture"]), str(vals["variant"]),
                   str(vals["os.version"]), lists["os.features"], lists["features"], raw=d)

    def to_dict(self) -> dict:
        """The wire object: unknown fields of a parsed object kept, empty ones left out."""
        known = {"architecture": self.architecture, "os": self.os, "os.version": self.os_version,
                 "os.features": list(self.os_features), "variant": self.variant,
                 "features": list(self.features)}
        return merge_wire(self.raw, known, ("architecture", "os"))


def _empty(v: object) -> bool:
    return v is None or v is False or v == "" or (isinstance(v, (list, dict, tuple)) and not v)


def merge_wire(raw: dict, known: dict[str, object], required: Sequence[str] = ()) -> dict:
    """The wire object of a model: ``raw``'s keys in their order (unknown ones as they
    were), known fields from ``known``; an empty known field is written only when
    required or present in ``raw`` (an explicit null stays null). Shared by the image
    models."""
    out: dict = {}
    for k, v in raw.items():
        if k not in known:
            out[k] = v
            continue
        nv = known[k]
        if nv is None:
            if v is None:
                out[k] = None  # null stays null; a removed field goes
        elif v is None and _empty(nv) and k not in required:
            out[k] = None
        else:
            out[k] = nv
    for k, nv in known.items():
        if k not in raw and nv is not None and (k in required or not _empty(nv)):
            out[k] = nv
    return out


def normalize_os(name: str) -> str:
    n = name.lower()
    return "darwin" if n == "macos" else n


def normalize_arch(arch: str, variant: str = "") -> tuple[str, str]:
    """(architecture, variant) in normal form."""
    a, v = arch.lower(), variant.lower()
    if a in ("i386", "i486", "i586", "i686", "x86", "386"):
        return "386", ""
    if a in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if v in ("", "v1", "1") else (v if v.startswith("v") else "v" + v)
    if a in ("aarch64", "arm64"):
        if v in ("", "8", "v8", "v8.0", "8.0"):
            return "arm64", "v8"
        if v in ("9", "9.0", "v9.0"):
            return "arm64", "v9"
        return "arm64", v if v.startswith("v") else "v" + v
    if a == "armhf":
        return "arm", "v7"
    if a == "armel":
        return "arm", "v6"
    if a.startswith("armv") and len(a) > 4 and a[4].isdigit():  # uname: armv7l, armv6l, armv5tel
        return "arm", "v" + a[4]
    if a == "arm":
        if v in ("", "7"):
            return "arm", "v7"
        return "arm", v if v.startswith("v") else "v" + v
    if a == "ppc64el":
        return "ppc64le", v
    if a == "mips64el":
        return "mips64le", v
    return a, v


def normalize(p: Platform) -> Platform:
    """``p`` in normal form (os.version and features kept)."""
    arch, var = normalize_arch(p.architecture, p.variant)
    return Platform(normalize_os(p.os), arch, var, p.os_version, p.os_features, p.features)


def _check_name(s: str, what: str, text: str) -> None:
    if not s or not _NAME_CHARS.issuperset(s):
        raise InvalidArgument(f"{what}: {text!r} is not a platform (os[/arch[/variant]], "
                              f"e.g. linux/arm64/v8)")


def parse(text: str, what: str = "platform") -> Platform:
    """A normalised platform from ``os[(os.version)][/arch[/variant]]``; a lone word is an
    os (with the host's architecture) when it names one, else an architecture on Linux."""
    parts = text.strip().split("/")
    if len(parts) > 3:
        raise InvalidArgument(f"{what}: {text!r} is not a platform (os[/arch[/variant]], "
                              f"e.g. linux/arm64/v8)")
    first, osver = parts[0], ""
    if first.endswith(")") and "(" in first:
        first, _, osver = first[:-1].partition("(")
    for s in [first] + parts[1:]:
        _check_name(s, what, text)
    if len(parts) == 1:
        h = host()
        if normalize_os(first) in KNOWN_OS:
            return Platform(normalize_os(first), h.architecture, h.variant, osver)
        if osver:
            raise InvalidArgument(f"{what}: {text!r}: {first!r} is not a known operating system")
        arch, var = normalize_arch(first)
        return Platform(h.os, arch, var)
    arch, var = normalize_arch(parts[1], parts[2] if len(parts) == 3 else "")
    return Platform(normalize_os(first), arch, var, osver)


def host(machine: str | None = None, system: str | None = None) -> Platform:
    """This machine's platform (``machine`` as ``uname -m`` says, ``system`` as
    ``sys.platform``; both default to this host)."""
    if system is None:
        system = sys.platform
    if machine is None:
        machine = _os.uname().machine if hasattr(_os, "uname") else "amd64"
    osname = {"win32": "windows", "cygwin": "windows"}.get(system, system)
    if osname.startswith("linux"):
        osname = "linux"
    arch, var = normalize_arch(machine)
    return Platform(normalize_os(osname), arch, var)


def _arm64_key(v: str) -> int:
    v = _ARM64_V9.get(v, v)
    return _ARM64.index(v) if v in _ARM64 else -1


def compatible(want: Platform, allow_32bit: bool = False) -> list[tuple[str, str]]:
    """The (architecture, variant) pairs that run on ``want``, most preferred first."""
    w = normalize(want)
    arch, var = w.architecture, w.variant
    out = [(arch, var)]
    if arch == "arm64":
        k = _arm64_key(var)
        if k >= 0:
            pool = list(_ARM64) + (list(_ARM64_V9) if var.startswith("v9") else [])
            lower = sorted((x for x in pool if _arm64_key(x) <= k),
                           key=lambda x: (-_arm64_key(x), not x.startswith("v9")))
            out += [("arm64", x) for x in lower]
        if allow_32bit:
            out += [("arm", f"v{n}") for n in (8, 7, 6, 5)]
    elif arch == "arm" and len(var) == 2 and var[1].isdigit():
        out += [("arm", f"v{n}") for n in range(int(var[1]) - 1, 4, -1)]
    elif arch == "amd64":
        if len(var) == 2 and var[1].isdigit():
            out += [("amd64", f"v{n}") for n in range(int(var[1]) - 1, 1, -1)] + [("amd64", "")]
        if allow_32bit:
            out.append(("386", ""))
    seen: set[tuple[str, str]] = set()
    return [x for x in out if not (x in seen or seen.add(x))]  # type: ignore[func-returns-value]


def _rank(want: Platform, have: Platform, vector: list[tuple[str, str]]) -> tuple[int, int] | None:
    h = normalize(have)
    if h.os != normalize_os(want.os):
        return None
    try:
        pos = vector.index((h.architecture, h.variant))
    except ValueError:
        return None
    # an entry built for another os.version (Windows builds) ranks after a matching one
    osv = 0 if not want.os_version or h.os_version in ("", want.os_version) else 1
    return pos, osv


def matches(want: Platform, have: Platform, allow_32bit: bool = False) -> bool:
    """Whether an image built for ``have`` runs where ``want`` is wanted."""
    return _rank(want, have, compatible(want, allow_32bit)) is not None


class _HasPlatform(Protocol):
    @property
    def platform(self) -> Platform | None: ...


T = TypeVar("T", bound=_HasPlatform)


def choose(entries: Sequence[T], want: Platform, what: str = "index",
           allow_32bit: bool = False) -> T:
    """The entry (an index's manifest descriptor) that best fits ``want``: exact match
    first, then compatible variants; the earlier entry wins a tie. ``NotFound`` names
    the platforms on offer."""
    vector = compatible(want, allow_32bit)
    best: tuple[tuple[int, int], int] | None = None
    for i, e in enumerate(entries):
        if e.platform is None:
            continue
        r = _rank(want, e.platform, vector)
        if r is not None and (best is None or r < best[0]):
            best = (r, i)
    if best is not None:
        return entries[best[1]]
    have = [str(e.platform) for e in entries if e.platform is not None]
    offer = ", ".join(have) if have else "no platforms"
    raise NotFound(f"{what}: no manifest for platform {want}; it has: {offer}")
