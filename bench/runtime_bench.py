#!/usr/bin/env python3
"""onggi-runtime next to runc (and, with --crun, crun) on the same busybox bundle.

Scenarios, each timed end to end from this process (time.perf_counter around the
runtime commands, stdio to /dev/null), interleaved run by run so that drift of the machine
hits every runtime alike (the order of the runtimes alternates too):

  run               ``run`` of a container whose process is ``true`` (run deletes it)
  lifecycle         ``create`` + ``start`` + ``kill KILL`` + ``delete --force`` of a
                    ``sleep`` container, as one sequence (each step is shown as well)
  exec              ``exec ID true`` into a running ``sleep`` container

Each runtime gets its own ``--root`` in a temporary directory and unique container ids;
everything made is removed at the end, also after an error or Ctrl-C.

Needs root. Usage: bench/runtime_bench.py [--runs 50] [--crun]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DEVNULL = subprocess.DEVNULL


def default_spec(args: list[str]) -> dict:
    """onggi's stock config.json (the same content as ``runc spec``), not a terminal."""
    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    try:
        from onggi.oci.defaults import default_spec as spec
    finally:
        sys.path.pop(0)
    c = spec()
    c["process"]["terminal"] = False
    c["process"]["args"] = args
    return c


def make_rootfs(path: str) -> None:
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        sys.exit("busybox is not installed (apt-get install busybox-static)")
    os.makedirs(os.path.join(path, "bin"))
    shutil.copy2(busybox, os.path.join(path, "bin", "busybox"))
    for app in ("sh", "true", "sleep"):
        os.symlink("busybox", os.path.join(path, "bin", app))
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


def make_bundle(base: str, name: str, args: list[str]) -> str:
    """A bundle whose rootfs is a real directory (runc refuses a symlinked rootfs)."""
    path = os.path.join(base, name)
    os.makedirs(path)
    make_rootfs(os.path.join(path, "rootfs"))
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(default_spec(args), f)
    return path


class Runtime:
    def __init__(self, name: str, binary: str, root: str) -> None:
        self.name = name
        self.binary = binary
        self.root = root
        self.ids: list[str] = []

    def new_id(self) -> str:
        cid = f"bench-{self.name}-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, check: bool = True) -> float:
        """Run one command; its wall time in ms."""
        t0 = time.perf_counter()
        rc = subprocess.call([self.binary, "--root", self.root, *args], stdin=DEVNULL, stdout=DEVNULL,
                             stderr=DEVNULL)
        ms = (time.perf_counter() - t0) * 1000
        if check and rc != 0:
            err = subprocess.run([self.binary, "--root", self.root, *args], stdin=DEVNULL, stdout=DEVNULL,
                                 stderr=subprocess.PIPE, text=True).stderr.strip()
            raise RuntimeError(f"{self.name}: {' '.join(args)} -> {rc}: {err}")
        return ms

    def cleanup(self) -> None:
        for cid in self.ids:
            if os.path.exists(os.path.join(self.root, cid)):
                self("delete", "--force", cid, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------- scenarios


def run_once(rt: Runtime, bundles: dict) -> dict[str, float]:
    return {"run": rt("run", "--bundle", bundles["true"], rt.new_id())}


def lifecycle_once(rt: Runtime, bundles: dict) -> dict[str, float]:
    cid = rt.new_id()
    t = {"create": rt("create", "--bundle", bundles["sleep"], cid)}
    t["start"] = rt("start", cid)
    t["kill"] = rt("kill", cid, "KILL")
    t["delete"] = rt("delete", "--force", cid)
    t["lifecycle"] = t["create"] + t["start"] + t["kill"] + t["delete"]
    return t


def exec_once(rt: Runtime, target: str) -> dict[str, float]:
    return {"exec": rt("exec", target, "true")}


# ---------------------------------------------------------------------------- report


def pct(xs: list[float], p: int) -> float:
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[p - 1]


def report(results: dict[str, dict[str, list[float]]], names: list[str], scenarios: list[str]) -> None:
    base = names[0]
    head = f"{'scenario':<11}"
    for n in names:
        head += f" | {n + ' median':>16} {'p10':>7} {'p90':>7}"
    for n in names[1:]:
        head += f" | {base + '/' + n:>12}"
    print(head)
    print("-" * len(head))
    for s in scenarios:
        line = f"{s:<11}"
        meds = {}
        for n in names:
            xs = results[n][s]
            meds[n] = statistics.median(xs)
            line += f" | {meds[n]:>13.1f} ms {pct(xs, 10):>7.1f} {pct(xs, 90):>7.1f}"
        for n in names[1:]:
            line += f" | {meds[base] / meds[n]:>12.2f}"
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="timed runs of each scenario per runtime (default 50)")
    ap.add_argument("--onggi", default=shutil.which("onggi-runtime") or "/usr/local/bin/onggi-runtime")
    ap.add_argument("--runc", default=shutil.which("runc") or "/usr/sbin/runc")
    ap.add_argument("--crun", action="store_true", help="add crun (skipped with a message where it fails)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (namespaces, mounts, cgroups)")
    for b in (a.onggi, a.runc):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} is not installed")

    tmp = tempfile.mkdtemp(prefix="onggi-bench-")
    runtimes = [Runtime("onggi", a.onggi, os.path.join(tmp, "root-onggi")),
                Runtime("runc", a.runc, os.path.join(tmp, "root-runc"))]
    targets: dict[str, str] = {}
    try:
        bundles = {"true": make_bundle(tmp, "bundle-true", ["true"]),
                   "sleep": make_bundle(tmp, "bundle-sleep", ["sleep", "3600"])}
        if a.crun:
            crun = Runtime("crun", shutil.which("crun") or "/usr/bin/crun", os.path.join(tmp, "root-crun"))
            try:
                crun("run", "--bundle", bundles["true"], crun.new_id())
                runtimes.append(crun)
            except (RuntimeError, OSError) as e:
                print(f"crun skipped: {e}", file=sys.stderr)
                crun.cleanup()
        names = [rt.name for rt in runtimes]
        for rt in runtimes:  # the exec target, and one untimed round to warm caches
            targets[rt.name] = rt.new_id()
            rt("run", "--detach", "--bundle", bundles["sleep"], targets[rt.name])
            run_once(rt, bundles)
            lifecycle_once(rt, bundles)
            exec_once(rt, targets[rt.name])

        scenarios = ["run", "lifecycle", "create", "start", "kill", "delete", "exec"]
        results: dict[str, dict[str, list[float]]] = {n: {s: [] for s in scenarios} for n in names}
        for i in range(a.runs):
            order = runtimes if i % 2 == 0 else runtimes[::-1]
            for step in (lambda rt: run_once(rt, bundles), lambda rt: lifecycle_once(rt, bundles),
                         lambda rt: exec_once(rt, targets[rt.name])):
                for rt in order:
                    for k, v in step(rt).items():
                        results[rt.name][k].append(v)
        print(f"{a.runs} runs each, interleaved; busybox bundle; times in ms "
              f"({', '.join(f'{rt.name}={rt.binary}' for rt in runtimes)})")
        report(results, names, scenarios)
    finally:
        for rt in runtimes:
            rt.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
