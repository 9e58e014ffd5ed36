"""``events``: container statistics (``--stats``: once) and OOM notices, as runc's JSON
lines ``{"type": "stats"|"oom", "id": ..., "data": {...}}``."""

from __future__ import annotations

import time

from ..errors import FailedPrecondition, InvalidArgument
from ..oci import jsonio
from .cgroup import manager_for
from .state import Container


def parse_interval(text: str) -> float:
    """Go durations as runc takes them: ``5s``, ``500ms``, ``1m``, ``1m30s``."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, num, i, t = 0.0, "", 0, text.strip()
    if not t:
        raise InvalidArgument("--interval: empty duration")
    while i < len(t):
        ch = t[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = ""
        while i < len(t) and not (t[i].isdigit() or t[i] == "."):
            unit += t[i]
            i += 1
        if not num or unit not in units:
            raise InvalidArgument(f"--interval: invalid duration {text!r}")
        total += float(num) * units[unit]
        num = ""
    if num:
        raise InvalidArgument(f"--interval: missing unit in duration {text!r}")
    if total <= 0:
        raise InvalidArgument(f"--interval: duration must be greater than 0, got {text!r}")
    return total


def events(root: str, cid: str, interval: str, stats_only: bool, out) -> None:  # noqa: ANN001
    seconds = parse_interval(interval)
    c = Container.load(root, cid, lock=False)
    if c.status == "stopped":
        raise FailedPrecondition(f"container {cid} is not running")
    mgr = manager_for(c)
    if stats_only:
        out(jsonio.dumps({"type": "stats", "id": cid, "data": mgr.stats()}) + "\n")
        return
    ooms = mgr.oom_kill_count()
    while True:
        c.refresh()
        if c.status == "stopped":
            return
        n = mgr.oom_kill_count()
        if n > ooms:
            out(jsonio.dumps({"type": "oom", "id": cid}) + "\n")
            ooms = n
        out(jsonio.dumps({"type": "stats", "id": cid, "data": mgr.stats()}) + "\n")
        time.sleep(seconds)
