"""``onggi run --rm IMG true`` against ``podman run --rm IMG true``: the same locally built
busybox image, interleaved runs, medians and the ratio (onggi / podman).

    python3 bench/engine_bench.py [-n 15] [--network none|bridge|both]

Each side runs on private roots in a temp dir (podman: vfs driver, cgroupfs, runc).
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


def _timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} -> {r.returncode}: {r.stderr.decode()[-500:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=15)
    ap.add_argument("--network", default="none", choices=["none", "bridge", "both"])
    args = ap.parse_args()
    from engine_support import IMAGE, ONGGI, PODMAN, build_busybox_rootfs

    base = tempfile.mkdtemp(prefix="onggi-bench-")
    run_o = tempfile.mkdtemp(prefix="ob", dir="/run")
    run_p = tempfile.mkdtemp(prefix="pb", dir="/run")
    env_o = dict(os.environ, ONGGI_ROOT=f"{base}/root", ONGGI_RUNROOT=run_o, ONGGI_STORAGE=f"{base}/storage")
    env_o.pop("PYTHONDONTWRITEBYTECODE", None)
    with open(f"{base}/containers.conf", "w") as f:
        f.write("[containers]\ndefault_ulimits = []\n")  # this host cannot raise nofile (MACHINE.md)
    env_p = dict(os.environ, TMPDIR=base, CONTAINERS_CONF=f"{base}/containers.conf")
    podman = [PODMAN, "--root", f"{base}/podman", "--runroot", run_p, "--storage-driver", "vfs",
              "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc"]
    try:
        build_busybox_rootfs(f"{base}/rootfs")
        subprocess.run(["tar", "--numeric-owner", "-C", f"{base}/rootfs", "-cf", f"{base}/rootfs.tar", "."], check=True)
        subprocess.run([ONGGI, "import", "-q", "-c", 'CMD ["sh"]', f"{base}/rootfs.tar", IMAGE], env=env_o,
                       check=True, capture_output=True)
        subprocess.run([ONGGI, "save", "-o", f"{base}/bb.tar", IMAGE], env=env_o, check=True, capture_output=True)
        subprocess.run(podman + ["load", "-q", "-i", f"{base}/bb.tar"], env=env_p, check=True, capture_output=True)
        nets = ["none", "bridge"] if args.network == "both" else [args.network]
        for net in nets:
            o_cmd = [ONGGI, "run", "--rm", "--network", net, IMAGE, "true"]
            p_cmd = podman + ["run", "--rm", "--network", net, IMAGE, "true"]
            for _ in range(2):  # warm caches (bytecode, page cache) on both sides
                _timed(o_cmd, env_o)
                _timed(p_cmd, env_p)
            o, p = [], []
            for _ in range(args.n):
                o.append(_timed(o_cmd, env_o))
                p.append(_timed(p_cmd, env_p))
            mo, mp = statistics.median(o), statistics.median(p)
            print(f"run --rm true, --network {net}: onggi {mo * 1000:.0f} ms, podman {mp * 1000:.0f} ms, "
                  f"ratio {mo / mp:.2f} (n={args.n}, medians)")
    finally:
        subprocess.run([ONGGI, "rm", "-fa"], env=env_o, capture_output=True)
        subprocess.run(podman + ["rm", "-fa"], env=env_p, capture_output=True)
        subprocess.run(podman + ["system", "reset", "-f"], env=env_p, capture_output=True)
        for d in (run_o, run_p, base):
            subprocess.run(["umount", "-R", "-l", d], capture_output=True)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
