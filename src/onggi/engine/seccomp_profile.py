"""Seccomp profiles in the docker/podman file format -> the runtime spec's ``linux.seccomp``.

The file format (containers/common's ``seccomp.json``, moby's ``default.json``) differs
from the spec's in three ways, resolved here for one container on this host:

- ``archMap`` lists an architecture with its sub-architectures; only the entry of the
  host's native architecture is kept (``architectures`` of older files is taken as is);
- a rule may carry ``includes`` / ``excludes`` conditions: ``caps`` (the container's
  bounding set must hold all of them / none of them), ``arches`` (Go names: amd64, arm64
  ...), ``minKernel`` (the host's kernel is at least / below that version); rules whose
  conditions fail are dropped;
- ``name`` (one syscall) is the old spelling of ``names``; ``comment``, ``errno`` (a name
  beside the number in ``errnoRet``) and the conditions are not part of the spec.

A profile already in the spec's format passes through unchanged apart from dropping
unknown keys. Errors (bad JSON, a rule without names) are InvalidArgument naming the file.
"""

from __future__ import annotations

import json
import os
import platform
from typing import Any, Iterable

from ..errors import InvalidArgument, NotFound

__all__ = ["DEFAULT_PROFILE_PATHS", "default_profile_path", "load", "convert", "go_arch",
           "native_scmp_arch", "kernel_version"]

# podman looks in /etc/containers first, then the packaged default
DEFAULT_PROFILE_PATHS = ("/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json")
_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64", "mips64el": "mips64le"}
_SCMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
              "386": "SCMP_ARCH_X86", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
              "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64",
              "mips64le": "SCMP_ARCH_MIPSEL64"}
_TOP_KEYS = ("defaultErrnoRet", "flags", "listenerPath", "listenerMetadata")


def go_arch(machine: str | None = None) -> str:
    m = machine or platform.machine()
    return _GO_ARCH.get(m, m)


def native_scmp_arch(machine: str | None = None) -> str:
    a = go_arch(machine)
    return _SCMP_ARCH.get(a, "SCMP_ARCH_" + a.upper())


def kernel_version(release: str | None = None) -> tuple[int, ...]:
    """``6.1.0-18-amd64`` -> (6, 1, 0)."""
    rel = release or platform.release()
    nums = []
    for part in rel.split("-", 1)[0].split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        nums.append(int(digits))
    return tuple(nums)


def default_profile_path() -> str | None:
    return next((p for p in DEFAULT_PROFILE_PATHS if os.path.exists(p)), None)


def load(path: str) -> dict[str, Any]:
    """Read a profile file (``--security-opt seccomp=PATH``)."""
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise NotFound(f"opening seccomp profile failed: {path}: no such file or directory") from None
    except OSError as e:
        raise InvalidArgument(f"opening seccomp profile failed: {path}: {e.strerror}") from None
    except ValueError as e:
        raise InvalidArgument(f"seccomp profile {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"seccomp profile {path}: the top level is not a JSON object")
    return data


def _conditions_hold(cond: Any, caps: set[str], arch: str, kernel: tuple[int, ...], include: bool,
                     where: str) -> bool:
    """Whether a rule survives its ``includes`` (include=True) or ``excludes`` block."""
    if not cond:
        return True
    if not isinstance(cond, dict):
        raise InvalidArgument(f"{where}: must be an object")
    want_caps = cond.get("caps") or []
    arches = cond.get("arches") or []
    min_kernel = cond.get("minKernel") or ""
    if include:
        if want_caps and not all(c in caps for c in want_caps):
            return False
        if arches and arch not in arches:
            return False
        if min_kernel and kernel < kernel_version(min_kernel):
            return False
        return True
    if want_caps and any(c in caps for c in want_caps):
        return False
    if arches and arch in arches:
        return False
    if min_kernel and kernel >= kernel_version(min_kernel):
        return False
    return True


def convert(profile: dict[str, Any], caps: Iterable[str], *, source: str = "seccomp profile",
            machine: str | None = None, release: str | None = None) -> dict[str, Any]:
    """The ``linux.seccomp`` for a container whose bounding set is ``caps``, on a host of
    ``machine`` (platform.machine()) running kernel ``release`` (platform.release())."""
    capset = set(caps)
    arch = go_arch(machine)
    kernel = kernel_version(release)
    action = profile.get("defaultAction")
    if not action:
        raise InvalidArgument(f"{source}: defaultAction is required")
    out: dict[str, Any] = {"defaultAction": action}
    arch_map = profile.get("archMap") or []
    if arch_map and profile.get("architectures"):
        raise InvalidArgument(f"{source}: both 'architectures' and 'archMap' are given")
    if arch_map:
        native = native_scmp_arch(machine)
        archs: list[str] = []
        for entry in arch_map:
            if entry.get("architecture") == native:
                archs += [entry["architecture"]] + list(entry.get("subArchitectures") or [])
        out["architectures"] = archs
    elif profile.get("architectures"):
        out["architectures"] = list(profile["architectures"])
    for k in _TOP_KEYS:
        if profile.get(k) not in (None, "", []):
            out[k] = profile[k]
    rules = []
    for i, rule in enumerate(profile.get("syscalls") or []):
        where = f"{source}: syscalls[{i}]"
        if not isinstance(rule, dict):
            raise InvalidArgument(f"{where}: must be an object")
        names = rule.get("names") or []
        if rule.get("name"):
            if names:
                raise InvalidArgument(f"{where}: use either 'name' or 'names', not both")
            names = [rule["name"]]
        if not names:
            raise InvalidArgument(f"{where}: no syscall names")
        if not rule.get("action"):
            raise InvalidArgument(f"{where}: action is required")
        if not (_conditions_hold(rule.get("includes"), capset, arch, kernel, True, f"{where}.includes")
                and _conditions_hold(rule.get("excludes"), capset, arch, kernel, False, f"{where}.excludes")):
            continue
        r: dict[str, Any] = {"names": list(names), "action": rule["action"]}
        args = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                for a in rule.get("args") or []]
        if args:
            r["args"] = args
        if rule.get("errnoRet") is not None:
            r["errnoRet"] = rule["errnoRet"]
        rules.append(r)
    out["syscalls"] = rules
    return out
