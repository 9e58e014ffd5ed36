#!/usr/bin/env python3
"""onggi's registry server next to Debian's docker-registry (distribution 2.8), same machine,
same data, loopback.

Both servers get the same reference-style config.yml (log level error, access log off,
deletes on, ``storage.cache.blobdescriptor: inmemory`` as in Debian's stock config, which
onggi ignores; ``--reference-cache none`` drops it; a storage root of their own in a
temporary directory) and listen on free
127.0.0.1 ports; onggi is ``onggi registry serve --config ... --addr ... --root ...`` plus
``--onggi-args`` (e.g. ``"--workers 2"``). Scenarios, each run interleaved (A B, then B A,
...) so that drift of the machine hits both alike; medians are printed:

  blob GET        one random blob (``--blob-mib``, default 512 MiB) pushed into both, then
                  ``curl -o /dev/null -w %{speed_download}``: MB/s, higher is better
  manifest GET    an OCI manifest (the blob above as its layer) fetched by
                  ``ab -k -c C -n N`` with C = 16 and 64: requests/s, higher is better;
                  failed and non-2xx responses are counted and printed. ab is one process
                  on the same cores as the server: on a 2-core machine it takes most of
                  one core, so both servers are measured with one core's worth of client
  push            ``skopeo copy oci:LAYOUT docker://...`` of an image of ``--push-layers``
                  random gzip layers (``--push-mib`` in all) built by this script: seconds,
                  lower is better. A second push to the same store would skip the blobs it
                  already has, so before each push BOTH registries are restarted on an empty
                  root and a new port (skopeo's blob-info cache is keyed by host:port, so it
                  knows nothing of the new one either); the restart is not timed

Every ratio is printed as onggi relative to the reference with >1 meaning onggi is better
(speed ratio: MB/s and requests/s onggi/reference, push time reference/onggi).
RSS: VmRSS of the server and all its descendants (onggi's worker processes), summed, from
/proc: idle (1 s after start and one /v2/ request) and peak (sampled every 50 ms during the
load phases). Summing RSS counts pages shared by forked workers more than once; the PSS sum
is printed next to it. Server CPU (user+sys of the process tree) per run is printed too.

Everything made (servers, stopped by PID; temporary directories) is removed at the end, also
after an error or Ctrl-C; skopeo's blob-info cache is removed if this script created it.

Usage: bench/registry_bench.py [--runs 5] [--blob-mib 512] [--requests 20000]
       [--push-mib 200] [--push-layers 5] [--onggi-args "--workers 2"]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

DEVNULL = subprocess.DEVNULL
MB = 1000 * 1000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
SKOPEO_CACHE = ("/var/lib/containers", "/var/lib/containers/cache",
                "/var/lib/containers/cache/blob-info-cache-v1.boltdb")  # the first missing one is removed
CLK_TCK = os.sysconf("SC_CLK_TCK")
ENV = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- processes


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _field_kib(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB, summed over the process tree."""
    pids = tree(pid)
    return (sum(_field_kib(f"/proc/{p}/status", "VmRSS:") for p in pids),
            sum(_field_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids))


def cpu_seconds(pid: int) -> float:
    """user+sys of the process tree (live processes; reaped children's time included)."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError):
            continue
    return total / CLK_TCK


class Server:
    """One registry process on a fresh root; stopped by PID (its process group after 10 s)."""

    def __init__(self, name: str, base: str, cmd: list[str], cache: str = "none") -> None:
        self.name, self.base, self.cmd, self.cache = name, base, cmd, cache
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.peak = (0, 0)

    def start(self) -> None:
        self.starts += 1
        d = os.path.join(self.base, f"{self.name}-{self.starts}")
        os.makedirs(d)
        self.dir, self.root = d, os.path.join(d, "data")
        self.host = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.host}"
        conf = os.path.join(d, "config.yml")
        with open(conf, "w") as f:
            cache = f"  cache:\n    blobdescriptor: {self.cache}\n" if self.cache != "none" else ""
            f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n{cache}  filesystem:\n    rootdirectory: {self.root}\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.host}\n  secret: registry-bench\n")
        args = [a.format(conf=conf, host=self.host, root=self.root) for a in self.cmd]
        self.logf = open(os.path.join(d, "log"), "wb")
        self.proc = subprocess.Popen(args, stdin=DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=ENV)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer on {self.host}: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self) -> str:
        with open(os.path.join(self.dir, "log"), errors="replace") as f:
            return f.read()[-1500:]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def memory(self) -> tuple[int, int]:
        return memory_kib(self.proc.pid) if self.proc else (0, 0)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc else 0.0


class Sampler:
    """Peak (RSS, PSS) of each server's process tree, sampled every 50 ms while active."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop_ev.wait(0.05):
            for s in self.servers:
                rss, pss = s.memory()
                s.peak = (max(s.peak[0], rss), max(s.peak[1], pss))

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_ev.set()
        self.thread.join()


# ---------------------------------------------------------------------------- HTTP


def upload_blob(url: str, repo: str, path: str, digest: str, size: int) -> None:
    """POST an upload session, then PUT the whole file to it (the spec's monolithic upload)."""
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=300)
    try:
        conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        r = conn.getresponse()
        r.read()
        if r.status != 202:
            raise RuntimeError(f"{url}: POST upload -> {r.status}")
        loc = r.headers["Location"]
        loc = loc.split(host, 1)[1] if loc.startswith("http") else loc
        sep = "&" if "?" in loc else "?"
        with open(path, "rb") as f:
            conn.request("PUT", f"{loc}{sep}digest={digest}", body=f,
                         headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
            r = conn.getresponse()
            body = r.read()
        if r.status != 201:
            raise RuntimeError(f"{url}: PUT blob -> {r.status}: {body[:300]!r}")
    finally:
        conn.close()


def put_manifest(url: str, repo: str, tag: str, data: bytes) -> None:
    req = urllib.request.Request(f"{url}/v2/{repo}/manifests/{tag}", data=data, method="PUT",
                                 headers={"Content-Type": OCI_MANIFEST})
    with urllib.request.urlopen(req, timeout=30) as r:
        if r.status != 201:
            raise RuntimeError(f"{url}: PUT manifest -> {r.status}")


def blob_get(url: str, repo: str, digest: str, size: int) -> float:
    """MB/s of one GET by curl, body to /dev/null."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}",
                          f"{url}/v2/{repo}/blobs/{digest}"], capture_output=True, text=True, env=ENV).stdout
    code, got, speed = out.split()
    if code != "200" or int(got) != size:
        raise RuntimeError(f"{url}: blob GET -> {code}, {got} of {size} bytes")
    return float(speed) / MB


def ab(url: str, concurrency: int, requests: int) -> tuple[float, int, int, int]:
    """(requests/s, failed, non-2xx, keep-alive requests) of one ab run."""
    p = subprocess.run(["ab", "-q", "-k", "-c", str(concurrency), "-n", str(requests), "-H",
                        f"Accept: {OCI_MANIFEST}", url], capture_output=True, text=True, env=ENV)
    if p.returncode != 0:
        raise RuntimeError(f"ab {url} -> {p.returncode}: {p.stderr[-500:]}")

    def num(label: str) -> float:
        m = re.search(rf"^{label}:\s+([\d.]+)", p.stdout, re.M)
        return float(m.group(1)) if m else 0.0

    return num("Requests per second"), int(num("Failed requests")), int(num("Non-2xx responses")), \
        int(num("Keep-Alive requests"))


# ---------------------------------------------------------------------------- data


def random_file(path: str, size: int) -> tuple[str, int]:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return "sha256:" + h.hexdigest(), size


def write_blob(layout: str, data: bytes) -> dict:
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}


def build_layout(path: str, layers: int, total_mib: int) -> int:
    """An OCI layout (tag ``bench``) of ``layers`` gzip layers, each a tar of one random file;
    returns the bytes of blobs in it."""
    os.makedirs(os.path.join(path, "blobs", "sha256"))
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs, diff_ids = [], []
    per = total_mib * (1 << 20) // layers
    for i in range(layers):
        payload = os.urandom(per)
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as t:
            info = tarfile.TarInfo(f"layer{i}/data.bin")
            info.size, info.mtime, info.mode = per, 0, 0o644
            t.addfile(info, io.BytesIO(payload))
        raw = tar.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descs.append({"mediaType": OCI_LAYER_GZIP, **write_blob(path, gzip.compress(raw, 1, mtime=0))})
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = {"mediaType": OCI_CONFIG, **write_blob(path, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc, "layers": descs}
    mdesc = {"mediaType": OCI_MANIFEST, **write_blob(path, json.dumps(manifest).encode()),
             "annotations": {"org.opencontainers.image.ref.name": "bench"}}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    return sum(d["size"] for d in descs) + cdesc["size"]


def push(policy: str, layout: str, host: str, tag: str) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(["skopeo", "--policy", policy, "copy", "--quiet", "--dest-tls-verify=false",
                        f"oci:{layout}:bench", f"docker://{host}/bench/push:{tag}"],
                       stdin=DEVNULL, stdout=DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"skopeo copy to {host} -> {p.returncode}: {p.stderr[-1000:]}")
    return took


# ---------------------------------------------------------------------------- report


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def row(label: str, a: list[float], b: list[float], fmt: str, higher_better: bool) -> str:
    ma, mb = med(a), med(b)
    ratio = (ma / mb) if higher_better else (mb / ma)
    spread = f"{min(a):{fmt}}-{max(a):{fmt}} | {min(b):{fmt}}-{max(b):{fmt}}"
    return f"  {label:<28} {ma:>10{fmt}} {mb:>10{fmt}}   {ratio:>6.2f}   {spread}"


def header(names: tuple[str, str]) -> None:
    print(f"  {'':<28} {names[0]:>10} {names[1]:>10}   {'ratio':>6}   range ({names[0]} | {names[1]})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per scenario and server (default 5)")
    ap.add_argument("--blob-mib", type=int, default=512, help="size of the blob for blob GET (default 512)")
    ap.add_argument("--requests", type=int, default=20000, help="requests per ab run (default 20000)")
    ap.add_argument("--concurrency", default="16,64", help="ab concurrency levels (default 16,64)")
    ap.add_argument("--push-mib", type=int, default=200, help="size of the pushed image (default 200)")
    ap.add_argument("--push-layers", type=int, default=5, help="layers of the pushed image (default 5)")
    ap.add_argument("--onggi", default=shutil.which("onggi") or "/usr/local/bin/onggi", help="the onggi command")
    ap.add_argument("--onggi-args", default="", help="more flags for onggi registry serve (e.g. '--workers 2')")
    ap.add_argument("--reference", default=shutil.which("docker-registry") or "/usr/bin/docker-registry",
                    help="the reference registry binary")
    ap.add_argument("--reference-cache", choices=("inmemory", "none"), default="inmemory",
                    help="storage.cache.blobdescriptor of both configs (default inmemory, as Debian's "
                         "/etc/docker/registry/config.yml has it; onggi ignores the key)")
    a = ap.parse_args()
    levels = [int(c) for c in a.concurrency.split(",") if c]
    if a.runs < 1 or a.blob_mib < 1 or a.requests < 1 or a.push_layers < 1 or a.push_mib < a.push_layers:
        sys.exit("--runs, --blob-mib, --requests, --push-layers must be >= 1 and --push-mib >= --push-layers")
    for b in (a.onggi, a.reference, "curl", "ab", "skopeo"):
        if not shutil.which(b):
            sys.exit(f"{b} is not installed")

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    cache_paths = [p for p in SKOPEO_CACHE if not os.path.lexists(p)][:1]
    tmp = tempfile.mkdtemp(prefix="registry-bench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    onggi = Server("onggi", tmp, [a.onggi, "registry", "serve", "--config", "{conf}", "--addr", "{host}",
                                  "--root", "{root}", *shlex.split(a.onggi_args)], a.reference_cache)
    ref = Server("docker-registry", tmp, [a.reference, "serve", "{conf}"], a.reference_cache)
    pair = [onggi, ref]
    names = (onggi.name, ref.name)

    def order(i: int) -> list[Server]:
        return pair if i % 2 == 0 else pair[::-1]

    try:
        for s in pair:
            s.start()
        time.sleep(1)
        idle = {s.name: s.memory() for s in pair}
        log(f"making a {a.blob_mib} MiB random blob")
        blob = os.path.join(tmp, "blob")
        digest, size = random_file(blob, a.blob_mib << 20)
        cfg_path = os.path.join(tmp, "config.json")
        with open(cfg_path, "wb") as f:
            f.write(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                "diff_ids": [digest]}}).encode())
        with open(cfg_path, "rb") as f:
            cdig, csize = "sha256:" + hashlib.sha256(f.read()).hexdigest(), os.path.getsize(cfg_path)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": cdig, "size": csize},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                           "digest": digest, "size": size}]}).encode()
        for s in pair:
            upload_blob(s.url, "bench/blob", blob, digest, size)
            upload_blob(s.url, "bench/blob", cfg_path, cdig, csize)
            put_manifest(s.url, "bench/blob", "bench", manifest)

        blob_mbs: dict[str, list[float]] = {n: [] for n in names}
        blob_cpu: dict[str, list[float]] = {n: [] for n in names}
        rps: dict[int, dict[str, list[float]]] = {c: {n: [] for n in names} for c in levels}
        req_cpu: dict[int, dict[str, list[float]]] = {c: {n: [] for n in names} for c in levels}
        errors: dict[str, list[str]] = {n: [] for n in names}
        keepalive: dict[str, int] = {n: a.requests for n in names}
        with Sampler(pair):
            log("blob GET")
            for s in pair:
                blob_get(s.url, "bench/blob", digest, size)  # warm the page cache
            for i in range(a.runs):
                for s in order(i):
                    c0 = s.cpu()
                    blob_mbs[s.name].append(blob_get(s.url, "bench/blob", digest, size))
                    blob_cpu[s.name].append(s.cpu() - c0)
            for c in levels:
                log(f"manifest GET, {c} clients")
                for s in pair:
                    ab(f"{s.url}/v2/bench/blob/manifests/bench", c, min(a.requests, 2000))  # warm-up
                for i in range(a.runs):
                    for s in order(i):
                        c0 = s.cpu()
                        r, failed, non2xx, ka = ab(f"{s.url}/v2/bench/blob/manifests/bench", c, a.requests)
                        req_cpu[c][s.name].append((s.cpu() - c0) / a.requests * 1e6)
                        rps[c][s.name].append(r)
                        keepalive[s.name] = min(keepalive[s.name], ka)
                        if failed or non2xx:
                            errors[s.name].append(f"c={c} run {i + 1}: {failed} failed, {non2xx} non-2xx")
        loaded = {s.name: s.peak for s in pair}
        for s in pair:
            s.stop()
            s.peak = (0, 0)

        log(f"building a {a.push_layers}-layer image of {a.push_mib} MiB")
        layout = os.path.join(tmp, "layout")
        image_bytes = build_layout(layout, a.push_layers, a.push_mib)
        policy = os.path.join(tmp, "policy.json")
        with open(policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        push_s: dict[str, list[float]] = {n: [] for n in names}
        push_cpu: dict[str, list[float]] = {n: [] for n in names}
        for i in range(a.runs + 1):  # run 0 is untimed: checks both and warms the page cache
            for s in order(i):
                s.start()
                try:
                    with Sampler([s]):
                        c0 = s.cpu()
                        took = push(policy, layout, s.host, f"run{i}")
                        cpu = s.cpu() - c0
                finally:
                    s.stop()
                if i:
                    push_s[s.name].append(took)
                    push_cpu[s.name].append(cpu)
            log(f"push run {i}/{a.runs} done")
        push_peak = {s.name: s.peak for s in pair}

        print(f"onggi: {a.onggi} registry serve {a.onggi_args}".rstrip())
        print(f"reference: {a.reference} (distribution); both on 127.0.0.1, same config.yml; "
              f"{os.cpu_count()} CPUs shared with the clients; {a.runs} runs each, interleaved")
        print("\nmedians; ratio: onggi relative to the reference, >1 = onggi better")
        header(names)
        print(row(f"blob GET MB/s ({a.blob_mib} MiB)", blob_mbs[names[0]], blob_mbs[names[1]], ".0f", True))
        for c in levels:
            print(row(f"manifest GET req/s, c={c}", rps[c][names[0]], rps[c][names[1]], ".0f", True))
        print(row(f"push s ({a.push_layers} layers, {image_bytes / MB:.0f} MB)", push_s[names[0]],
                  push_s[names[1]], ".2f", False))
        print("\nserver CPU (user+sys of its process tree), medians; ratio >1 = onggi uses less")
        header(names)
        print(row("per blob GET, s", blob_cpu[names[0]], blob_cpu[names[1]], ".2f", False))
        for c in levels:
            print(row(f"per manifest GET, us, c={c}", req_cpu[c][names[0]], req_cpu[c][names[1]], ".0f", False))
        print(row("per push, s", push_cpu[names[0]], push_cpu[names[1]], ".2f", False))
        print("\nmemory, MiB (RSS summed over the process tree; PSS in brackets)")
        for n in names:
            print(f"  {n:<16} idle {idle[n][0] / 1024:6.1f} ({idle[n][1] / 1024:5.1f})   "
                  f"peak during GETs {loaded[n][0] / 1024:6.1f} ({loaded[n][1] / 1024:5.1f})   "
                  f"peak during push {push_peak[n][0] / 1024:6.1f} ({push_peak[n][1] / 1024:5.1f})")
        print("\nab: keep-alive requests per run (fewest seen): "
              + ", ".join(f"{n} {keepalive[n]}/{a.requests}" for n in names))
        for n in names:
            print(f"ab errors, {n}: " + ("; ".join(errors[n]) if errors[n] else "none"))
    finally:
        for s in pair:
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - clean up the other one all the same
                log(f"stopping {s.name}: {e}")
        shutil.rmtree(tmp, ignore_errors=True)
        for p in cache_paths:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; what the benchmark made is removed")
