"""``stats``: what running containers use (CPU, memory, network, block I/O, pids), from
their cgroups and network namespaces, in podman's columns and JSON keys."""

from __future__ import annotations

import time
from typing import Any

from .paths import Paths
from .state import RUNNING, Record, StateDB

__all__ = ["sample", "HEADER", "row"]

HEADER = ["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET IO", "BLOCK IO", "PIDS", "CPU TIME",
          "AVG CPU %"]


def human(n: float) -> str:
    """Sizes as podman prints them (decimal units, 4 significant digits): 1.307MB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.4g}{unit}"
        n /= 1000
    return f"{n}B"


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemTotal:"):
                return int(ln.split()[1]) * 1024
    return 0


def _net_io(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for ln in f.read().splitlines()[2:]:
                name, _, rest = ln.partition(":")
                if name.strip() == "lo":
                    continue
                v = rest.split()
                rx, tx = rx + int(v[0]), tx + int(v[8])
    except (OSError, IndexError, ValueError):
        pass
    return rx, tx


def _one(paths: Paths, rec: Record) -> dict[str, Any]:
    from .top import cgroup_of

    s = cgroup_of(paths, rec).stats()
    mem = s["memory"]
    raw = mem.get("raw") or {}
    usage = max(mem["usage"]["usage"] - raw.get("total_inactive_file", raw.get("inactive_file", 0)), 0)
    limit = mem["usage"]["limit"]
    host = _host_memory()
    if not limit or limit >= host:
        limit = host
    blk_r = blk_w = 0
    for e in s.get("blkio", {}).get("ioServiceBytesRecursive") or []:
        if e.get("op", "").lower() == "read":
            blk_r += e["value"]
        elif e.get("op", "").lower() == "write":
            blk_w += e["value"]
    rx, tx = _net_io(rec.pid)
    return {"cpu_ns": s["cpu"]["usage"]["total"], "mem": usage, "limit": limit, "rx": rx, "tx": tx,
            "blk_r": blk_r, "blk_w": blk_w, "pids": s["pids"]["current"], "t": time.monotonic()}


def sample(paths: Paths, db: StateDB, refs: list[str], interval: float = 0.5) -> list[dict[str, Any]]:
    """One reading per running container (all of them when ``refs`` is empty); CPU % is
    measured over ``interval`` seconds, AVG CPU % since the container started."""
    from .lifecycle import lookup

    recs = [lookup(paths, db, r) for r in refs] if refs else [r for r in db.all() if r.state == RUNNING]
    recs = [r for r in recs if r.state == RUNNING]
    first = {r.id: _one(paths, r) for r in recs}
    if recs and interval > 0:
        time.sleep(interval)
    out = []
    for r in recs:
        a, b = first[r.id], _one(paths, r)
        dt = max(b["t"] - a["t"], 1e-9)
        up = max(time.time() - r.started, 1e-9)
        out.append({
            "id": r.id[:12], "name": r.name,
            "cpu_percent": f"{100 * (b['cpu_ns'] - a['cpu_ns']) / 1e9 / dt:.2f}%",
            "avg_cpu": f"{100 * b['cpu_ns'] / 1e9 / up:.2f}%",
            "cpu_time": _go_duration(b["cpu_ns"] / 1e9),
            "mem_usage": f"{human(b['mem'])} / {human(b['limit'])}",
            "mem_percent": f"{100 * b['mem'] / b['limit']:.2f}%" if b["limit"] else "0.00%",
            "net_io": f"{human(b['rx'])} / {human(b['tx'])}",
            "block_io": f"{human(b['blk_r'])} / {human(b['blk_w'])}",
            "pids": str(b["pids"]),
        })
    return out


def row(s: dict[str, Any]) -> list[str]:
    return [s["id"], s["name"], s["cpu_percent"], s["mem_usage"], s["mem_percent"], s["net_io"],
            s["block_io"], s["pids"], s["cpu_time"], s["avg_cpu"]]


def _go_duration(seconds: float) -> str:
    from .top import _duration

    return _duration(seconds)
