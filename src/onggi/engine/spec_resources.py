"""``--memory``, ``--cpus``, ``--cpu-shares``, ``--pids-limit`` and ``--ulimit`` -> the
``linux.resources`` and ``process.rlimits`` of config.json, as podman sets them:

- ``--memory 64m``: units b, k, m, g, t, p (powers of 1024; ``64mb``, ``1.5g`` too); ``0``
  means no limit; with swap accounting on the host the memory+swap limit is twice the
  memory limit (podman's default when ``--memory-swap`` is not given);
- ``--cpus 1.5``: quota 150000 per period 100000; ``0``: no limit;
- ``--pids-limit``: podman's default is 2048 (as root); ``0`` or ``-1``: no limit;
- ``--ulimit nofile=512:1024``: SOFT[:HARD] (HARD defaults to SOFT), ``-1`` or
  ``unlimited`` for no limit; names as podman's (nofile, nproc, core, ...).

Every bad value raises InvalidArgument naming the flag and the value.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import InvalidArgument
from .options import RunOptions

__all__ = ["apply_resources", "parse_size", "parse_ulimit", "ULIMITS", "DEFAULT_PIDS_LIMIT",
           "CPU_PERIOD"]

DEFAULT_PIDS_LIMIT = 2048
CPU_PERIOD = 100_000
UNLIMITED = 2**64 - 1
ULIMITS = {
    "as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp])?i?b?\Z", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str, flag: str) -> int:
    """``64m`` -> 67108864 (podman's RAM sizes: binary units, optional ``b``/``ib``)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid value for {flag}: invalid size: {text!r} "
                              f"(a number with an optional unit b, k, m, g, t or p)")
    unit = m.group(2).lower() if m.group(2) else None
    return int(float(m.group(1)) * _UNITS[unit])


def _limit(text: str, what: str, flag: str) -> int:
    t = text.strip()
    if t.lower() == "unlimited" or t == "-1":
        return UNLIMITED
    if not (t.isascii() and t.isdigit()):
        raise InvalidArgument(f"{flag}: {what} limit {text!r} is not a number, -1 or unlimited")
    n = int(t)
    if n > UNLIMITED:
        raise InvalidArgument(f"{flag}: {what} limit {text!r} is too large")
    return n


def parse_ulimit(text: str) -> dict[str, Any]:
    """``nofile=512:1024`` -> {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}."""
    flag = f"--ulimit {text}"
    name, eq, values = text.partition("=")
    if not eq or not values:
        raise InvalidArgument(f"{flag}: requires name=SOFT[:HARD]")
    key = name.strip().lower()
    key = key[len("rlimit_"):] if key.startswith("rlimit_") else key
    if key not in ULIMITS:
        raise InvalidArgument(f"{flag}: invalid ulimit type {name!r} (one of {', '.join(sorted(ULIMITS))})")
    soft_s, colon, hard_s = values.partition(":")
    soft = _limit(soft_s, "soft", flag)
    hard = _limit(hard_s, "hard", flag) if colon else soft
    if soft > hard:
        raise InvalidArgument(f"{flag}: ulimit soft limit must be less than or equal to hard limit: "
                              f"{soft} > {hard}")
    return {"type": ULIMITS[key], "hard": hard, "soft": soft}


def swap_accounting(cgroup_root: str = "/sys/fs/cgroup") -> bool:
    """Whether memory+swap limits can be set here (cgroup v1 memsw files, or v2 swap)."""
    if os.path.exists(os.path.join(cgroup_root, "memory", "memory.memsw.limit_in_bytes")):
        return True
    try:
        with open("/proc/self/cgroup") as f:
            own = next((ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")), None)
    except OSError:
        return False
    if own is None:
        return False
    for d in (own, os.path.dirname(own)):
        if os.path.exists(os.path.join(cgroup_root, d.lstrip("/"), "memory.swap.max")):
            return True
    return False


def apply_resources(spec: dict, opts: RunOptions) -> None:
    """Set ``linux.resources`` (memory, cpu, pids) and ``process.rlimits`` from ``opts``."""
    linux = spec.setdefault("linux", {})
    res: dict[str, Any] = linux.setdefault("resources", {})
    if opts.memory is not None and str(opts.memory).strip() not in ("", "0"):
        limit = parse_size(str(opts.memory), "--memory")
        if limit > 0:
            mem: dict[str, Any] = res.setdefault("memory", {})
            mem["limit"] = limit
            if swap_accounting():
                mem["swap"] = 2 * limit
    if opts.cpus is not None:
        try:
            cpus = float(opts.cpus)
        except (TypeError, ValueError):
            raise InvalidArgument(f"--cpus {opts.cpus!r}: not a number") from None
        if cpus < 0 or cpus != cpus or cpus == float("inf"):
            raise InvalidArgument(f"--cpus {opts.cpus!r}: must be a number of CPUs, 0 or more")
        if cpus > 0:
            quota = int(round(cpus * CPU_PERIOD))
            if quota < 1000:
                raise InvalidArgument(f"--cpus {opts.cpus!r}: the smallest is 0.01 (the kernel's "
                                      f"minimum quota is 1000 per period of {CPU_PERIOD})")
            cpu = res.setdefault("cpu", {})
            cpu["quota"] = quota
            cpu["period"] = CPU_PERIOD
    if opts.cpu_shares is not None:
        shares = _int(opts.cpu_shares, "--cpu-shares")
        if shares < 0:
            raise InvalidArgument(f"--cpu-shares {opts.cpu_shares!r}: must be 0 or more")
        if shares > 0:
            if shares < 2:
                raise InvalidArgument(f"--cpu-shares {shares}: the minimum is 2")
            res.setdefault("cpu", {})["shares"] = shares
    pids = DEFAULT_PIDS_LIMIT if opts.pids_limit is None and os.geteuid() == 0 else opts.pids_limit
    if pids is not None:
        n = _int(pids, "--pids-limit")
        if n < -1:
            raise InvalidArgument(f"--pids-limit {pids!r}: must be -1 (no limit), 0 (no limit) or more")
        if n > 0:
            res["pids"] = {"limit": n}
        else:
            res.pop("pids", None)
    if opts.ulimits:
        process = spec.setdefault("process", {})
        rlimits = {r["type"]: r for r in process.get("rlimits") or []}
        for u in opts.ulimits:
            r = parse_ulimit(u)
            rlimits[r["type"]] = r
        process["rlimits"] = list(rlimits.values())


def _int(value: object, flag: str) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{flag} {value!r}: not an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidArgument(f"{flag} {value!r}: not an integer") from None
