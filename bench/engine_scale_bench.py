"""Many containers: onggi against podman (runc, vfs, cgroupfs, private roots), same image.

    python3 bench/engine_scale_bench.py [--containers 100] [--count 1000]
                                        [--network none] [--seq-network bridge]

1. ``run -d IMG sleep 1000`` N times on each side: time to start them all, then each
   container's monitor (onggi's, podman's conmon) measured from /proc smaps_rollup:
   RSS, PSS, USS (private) per monitor and summed, and the host's MemAvailable drop.
2. ``stop -a -t 0`` then ``rm -a``: time on each side.
3. ``onggi run --rm IMG true`` COUNT times in a row: median latency of each hundred
   (first against last), then a leak check: mounts, cgroups, netns files, veths, iptables
   rules, processes and state rows left.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engine_bench import IMAGE, Sides, timed  # noqa: E402
from engine_support import leaks_under  # noqa: E402


def mem_avail_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def smaps(pid: int) -> dict[str, int]:
    """Rss, Pss and Uss (private clean + dirty) of ``pid`` in kB."""
    got: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                got[parts[0][:-1]] = int(parts[1])
    return {"rss": got.get("Rss", 0), "pss": got.get("Pss", 0),
            "uss": got.get("Private_Clean", 0) + got.get("Private_Dirty", 0)}


def monitors(s: Sides, side: str) -> list[int]:
    """The monitor pid of each running container of one side (State.ConmonPid)."""
    cmd, env = (s.onggi, s.env_o) if side == "onggi" else (s.podman, s.env_p)
    ids = s.out(cmd("ps", "-q", "--no-trunc"), env).split()
    if not ids:
        return []
    out = s.out(cmd("inspect", "--format", "{{.State.ConmonPid}}", *ids), env)
    return [int(x) for x in out.split() if x.strip() and int(x) > 0]


def many(s: Sides, side: str, n: int, net: str) -> None:
    cmd, env = (s.onggi, s.env_o) if side == "onggi" else (s.podman, s.env_p)
    before = mem_avail_kb()
    t = time.perf_counter()
    for i in range(n):
        timed(cmd("run", "-d", "--network", net, "--name", f"s{i}", IMAGE, "sleep", "1000"), env)
    start_s = time.perf_counter() - t
    time.sleep(1)
    pids = monitors(s, side)
    mem = [smaps(p) for p in pids]
    used_mb = (before - mem_avail_kb()) / 1024
    tot = {k: sum(m[k] for m in mem) / 1024 for k in ("rss", "pss", "uss")}
    med = {k: statistics.median(m[k] for m in mem) / 1024 for k in ("rss", "pss", "uss")} if mem else {}
    print(f"{side}: {n} x run -d sleep: {start_s:.1f} s ({start_s / n * 1000:.0f} ms each); "
          f"{len(pids)} monitors", flush=True)
    if mem:
        print(f"  per monitor (median): RSS {med['rss']:.1f} MB, PSS {med['pss']:.1f} MB, "
              f"USS {med['uss']:.1f} MB; all monitors: RSS {tot['rss']:.0f} MB, PSS {tot['pss']:.0f} MB, "
              f"USS {tot['uss']:.0f} MB; MemAvailable drop {used_mb:.0f} MB", flush=True)
    t = time.perf_counter()
    timed(cmd("stop", "-a", "-t", "0"), env)
    stop_s = time.perf_counter() - t
    t = time.perf_counter()
    timed(cmd("rm", "-a"), env)
    rm_s = time.perf_counter() - t
    print(f"  stop -a -t 0: {stop_s:.1f} s, rm -a: {rm_s:.1f} s", flush=True)


def host_counts() -> dict[str, int]:
    """Veths and iptables rules on the host (shared with anything else running)."""
    veth = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout
    ipt = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    rules = sum(1 for line in ipt.splitlines() if line.startswith("-A"))
    return {"veths": len(veth.splitlines()), "iptables rules": rules}


def sequential(s: Sides, count: int, net: str) -> None:
    host0 = host_counts()
    lat = [timed(s.onggi("run", "--rm", "--network", net, IMAGE, "true"), s.env_o) for _ in range(count)]
    step = min(100, count)
    meds = [statistics.median(lat[i:i + step]) * 1000 for i in range(0, count - step + 1, step)]
    print(f"onggi: {count} x run --rm --network {net} true: median per {step}: "
          + ", ".join(f"{m:.0f}" for m in meds) + f" ms (first {meds[0]:.0f}, last {meds[-1]:.0f})", flush=True)
    time.sleep(0.5)
    host1 = host_counts()
    db = os.path.join(s.env_o["ONGGI_ROOT"], "state.db")
    with sqlite3.connect(db) as c:
        rows = c.execute("select count(*) from containers").fetchone()[0]
    roots = [s.env_o["ONGGI_ROOT"], s.env_o["ONGGI_RUNROOT"], s.env_o["ONGGI_STORAGE"]]
    left = leaks_under(roots, set(), s.env_o["ONGGI_ROOT"])
    cgs = []
    for d, subdirs, _ in os.walk("/sys/fs/cgroup"):
        if os.path.basename(d) in ("onggi", "machine.slice"):
            cgs += [os.path.join(d, x) for x in subdirs if len(x) == 64]
    print(f"  left afterwards: state rows {rows}; mounts/processes/netns files {left or 'none'}; "
          f"container cgroups {cgs or 'none'}; veths {host0['veths']} -> {host1['veths']}; "
          f"iptables rules {host0['iptables rules']} -> {host1['iptables rules']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=100, help="containers running at once (0: skip)")
    ap.add_argument("--count", type=int, default=1000, help="sequential run --rm (0: skip)")
    ap.add_argument("--network", default="none", help="network of the N sleeping containers")
    ap.add_argument("--seq-network", default="bridge", help="network of the sequential runs")
    ap.add_argument("--no-podman", action="store_true", help="onggi only")
    args = ap.parse_args()
    s = Sides()
    try:
        if args.containers:
            many(s, "onggi", args.containers, args.network)
            if not args.no_podman:
                many(s, "podman", args.containers, args.network)
        if args.count:
            sequential(s, args.count, args.seq_network)
    finally:
        s.close()


if __name__ == "__main__":
    main()
