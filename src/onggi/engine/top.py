"""``top``: the processes of a running container, in the columns podman shows (its
format descriptors), read from /proc of the processes in the container's cgroup. PIDs
and users are as the container sees them (its pid namespace, its /etc/passwd)."""

from __future__ import annotations

import os

from ..errors import FailedPrecondition, InvalidArgument
from .paths import Paths
from .state import PAUSED, RUNNING, Record, StateDB

__all__ = ["top", "DESCRIPTORS"]

# descriptor -> header, as podman names them
DESCRIPTORS = {
    "user": "USER", "pid": "PID", "ppid": "PPID", "pcpu": "%CPU", "etime": "ELAPSED", "tty": "TTY",
    "time": "TIME", "args": "COMMAND", "comm": "COMMAND", "group": "GROUP", "nice": "NI",
    "vsz": "VSZ", "rss": "RSS", "state": "STATE", "hpid": "HPID", "huser": "HUSER",
}
DEFAULT = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")
_TICK = os.sysconf("SC_CLK_TCK")


def _duration(seconds: float) -> str:
    """Go's time.Duration text (podman prints ELAPSED and TIME with it): 1h2m3.5s."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms" if seconds else "0s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    text = f"{s:.6g}s" if s else ""
    if h:
        return f"{int(h)}h{int(m)}m{text or '0s'}"
    if m:
        return f"{int(m)}m{text or '0s'}"
    return text


def _names(rootfs: str, path: str) -> dict[int, str]:
    from .specgen import _read_db

    try:
        return {int(e[2]): e[0] for e in _read_db(rootfs, path) if len(e) >= 3 and e[2].isdigit()}
    except Exception:  # noqa: BLE001 - an unreadable file: numbers instead of names
        return {}


def _proc(pid: int) -> dict | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status") as f:
            status = dict(ln.split(":\t", 1) for ln in f.read().splitlines() if ":\t" in ln)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return {"comm": comm, "state": fields[0], "ppid": int(fields[1]), "tty_nr": int(fields[4]),
            "utime": int(fields[11]), "stime": int(fields[12]), "nice": int(fields[16]),
            "start": int(fields[19]), "vsz": int(fields[20]), "rss_pages": int(fields[21]),
            "nspid": int(status.get("NSpid", str(pid)).split()[-1]),
            "uid": int(status["Uid"].split()[0]), "gid": int(status["Gid"].split()[0]),
            "args": cmdline or f"[{comm}]"}


def _tty(nr: int) -> str:
    if not nr:
        return "?"
    major, minor = (nr >> 8) & 0xFFF, (nr & 0xFF) | ((nr >> 12) & 0xFFF00)
    return f"pts/{minor}" if 136 <= major <= 143 else "?"


def top(paths: Paths, db: StateDB, ref: str, descriptors: list[str] | None = None) -> list[list[str]]:
    """The header row and one row per process."""
    from .lifecycle import lookup
    from .prepare import rootfs_of

    want = list(descriptors or DEFAULT)
    bad = [d for d in want if d not in DESCRIPTORS]
    if bad:
        raise InvalidArgument(f"unsupported top descriptor(s) {', '.join(bad)} "
                              f"(supported: {', '.join(DESCRIPTORS)})")
    rec = lookup(paths, db, ref)
    if rec.state not in (RUNNING, PAUSED):
        raise FailedPrecondition(f"top can only be used on running containers (container {rec.name} "
                                 f"is {rec.state})")
    pids = sorted(cgroup_of(paths, rec).pids())
    procs = {p: info for p in pids if (info := _proc(p)) is not None}
    users = _names(rootfs_of(paths, rec.id), "/etc/passwd")
    groups = _names(rootfs_of(paths, rec.id), "/etc/group")
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    rows = [[DESCRIPTORS[d] for d in want]]
    for pid, p in procs.items():
        parent = procs.get(p["ppid"])
        elapsed = max(uptime - p["start"] / _TICK, 1e-9)
        cpu = (p["utime"] + p["stime"]) / _TICK
        values = {
            "user": users.get(p["uid"], str(p["uid"])), "pid": str(p["nspid"]),
            "ppid": str(parent["nspid"]) if parent else "0", "pcpu": f"{100 * cpu / elapsed:.3f}",
            "etime": _duration(elapsed), "tty": _tty(p["tty_nr"]), "time": _duration(cpu),
            "args": p["args"], "comm": p["comm"], "group": groups.get(p["gid"], str(p["gid"])),
            "nice": str(p["nice"]), "vsz": str(p["vsz"] // 1024),
            "rss": str(p["rss_pages"] * os.sysconf("SC_PAGE_SIZE") // 1024), "state": p["state"],
            "hpid": str(pid), "huser": str(p["uid"]),
        }
        rows.append([values[d] for d in want])
    return rows


def cgroup_of(paths: Paths, rec: Record):  # noqa: ANN201
    """The manager of the container's cgroup (the path its config.json names)."""
    import json

    from ..cgroups import open_manager

    try:
        with open(os.path.join(paths.container_dir(rec.id), "config.json")) as f:
            cg = json.load(f).get("linux", {}).get("cgroupsPath")
    except (OSError, ValueError):
        cg = None
    return open_manager(cg or f"/onggi/{rec.id}", rec.id)
