"""``onggi run --rm IMG true`` against ``podman run --rm IMG true``: the same locally built
busybox image, interleaved runs, medians and the ratio (onggi / podman).

    python3 bench/engine_bench.py [-n 15] [--network none|bridge|both]

Each side runs on private roots in a temp dir (podman: vfs driver, cgroupfs, runc).
:class:`Sides` (the two set-ups) is shared with bench/engine_scale_bench.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from engine_support import IMAGE, ONGGI, PODMAN, build_busybox_rootfs  # noqa: E402


def timed(cmd: list[str], env: dict) -> float:
    """Seconds ``cmd`` took; exits with its stderr if it failed."""
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} -> {r.returncode}: {r.stderr.decode()[-500:]}")
    return dt


class Sides:
    """onggi and podman on private roots in one temp dir, the same busybox image loaded
    in both; ``onggi(...)``/``podman(...)`` build a command line, ``close()`` removes all."""

    def __init__(self) -> None:
        self.base = tempfile.mkdtemp(prefix="onggi-bench-")
        self.run_o = tempfile.mkdtemp(prefix="ob", dir="/run")
        self.run_p = tempfile.mkdtemp(prefix="pb", dir="/run")
        b = self.base
        self.env_o = dict(os.environ, ONGGI_ROOT=f"{b}/root", ONGGI_RUNROOT=self.run_o,
                          ONGGI_STORAGE=f"{b}/storage")
        self.env_o.pop("PYTHONDONTWRITEBYTECODE", None)  # would slow every onggi start
        with open(f"{b}/containers.conf", "w") as f:
            f.write("[containers]\ndefault_ulimits = []\n")  # this host cannot raise nofile
        self.env_p = dict(os.environ, TMPDIR=b, CONTAINERS_CONF=f"{b}/containers.conf")
        self._podman = [PODMAN, "--root", f"{b}/podman", "--runroot", self.run_p, "--storage-driver", "vfs",
                        "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc"]
        build_busybox_rootfs(f"{b}/rootfs")
        subprocess.run(["tar", "--numeric-owner", "-C", f"{b}/rootfs", "-cf", f"{b}/rootfs.tar", "."], check=True)
        subprocess.run(self.onggi("import", "-q", "-c", 'CMD ["sh"]', f"{b}/rootfs.tar", IMAGE), env=self.env_o,
                       check=True, capture_output=True)
        subprocess.run(self.onggi("save", "-o", f"{b}/bb.tar", IMAGE), env=self.env_o, check=True,
                       capture_output=True)
        subprocess.run(self.podman("load", "-q", "-i", f"{b}/bb.tar"), env=self.env_p, check=True,
                       capture_output=True)

    def onggi(self, *args: str) -> list[str]:
        return [ONGGI, *args]

    def podman(self, *args: str) -> list[str]:
        return [*self._podman, *args]

    def out(self, cmd: list[str], env: dict) -> str:
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} -> {r.returncode}: {r.stderr[-500:]}")
        return r.stdout

    def close(self) -> None:
        subprocess.run(self.onggi("rm", "-fa", "-t", "0"), env=self.env_o, capture_output=True)
        subprocess.run(self.podman("rm", "-fa", "-t", "0"), env=self.env_p, capture_output=True)
        subprocess.run(self.podman("system", "reset", "-f"), env=self.env_p, capture_output=True)
        for d in (self.run_o, self.run_p, self.base):
            subprocess.run(["umount", "-R", "-l", d], capture_output=True)
            shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=15)
    ap.add_argument("--network", default="none", choices=["none", "bridge", "both"])
    args = ap.parse_args()
    s = Sides()
    try:
        nets = ["none", "bridge"] if args.network == "both" else [args.network]
        for net in nets:
            o_cmd = s.onggi("run", "--rm", "--network", net, IMAGE, "true")
            p_cmd = s.podman("run", "--rm", "--network", net, IMAGE, "true")
            for _ in range(2):  # warm caches (bytecode, page cache) on both sides
                timed(o_cmd, s.env_o)
                timed(p_cmd, s.env_p)
            o, p = [], []
            for _ in range(args.n):  # interleaved, so load changes hit both sides alike
                o.append(timed(o_cmd, s.env_o))
                p.append(timed(p_cmd, s.env_p))
            mo, mp = statistics.median(o), statistics.median(p)
            print(f"run --rm true, --network {net}: onggi {mo * 1000:.0f} ms (min {min(o) * 1000:.0f}), "
                  f"podman {mp * 1000:.0f} ms (min {min(p) * 1000:.0f}), ratio {mo / mp:.2f} "
                  f"(n={args.n}, medians)", flush=True)
    finally:
        s.close()


if __name__ == "__main__":
    main()
