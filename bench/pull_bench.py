#!/usr/bin/env python3
"""onggi pull / copy next to podman, skopeo and umoci on a realistic Debian image.

The image (built once, then reused): a Debian 12 (bookworm) ``minbase`` rootfs made by
debootstrap from the Debian mirror configured for apt on this host (layer 1), and the diff
left by ``apt-get install --no-install-recommends python3 gcc`` run in a chroot of it
(layer 2), both cleaned the way image builds clean (``apt-get clean``, no apt lists): about
132 MB of gzip (49 + 83), 348 MB of tar, 9,070 paths (7,282 regular files). python3 alone
gives only about 66 MB; adding gfortran gives about 153 MB but 10,800 paths. It is
written as an OCI image layout by this script: Python's ``tarfile`` (numeric owners,
integer mtimes, hardlinks, device nodes, xattrs as SCHILY pax records, ``.wh.`` whiteouts
for what layer 2 removes), gzip through onggi's ``onggi.image.compression.open_writer``
(its default level), and plain JSON for the config, manifest and index. The layout is KEPT
ON PURPOSE in /var/tmp/onggi-bench-image/ so later runs skip the build (``--rebuild``
builds it again; a different ``--packages`` list rebuilds too). Building needs debootstrap
(``apt-get install -y debootstrap``) and the Debian mirror; without them the script stops.

Each run of the benchmark starts a docker-registry (distribution 2.8) on 127.0.0.1 at a
free port, pushes the image to it once with ``onggi image copy``, and times, interleaved
run by run (the tools' order alternates), each from an empty destination, stdio to
/dev/null:

  pull+unpack   onggi pull (a fresh ONGGI_STORAGE)
                podman pull (fresh --root/--runroot/--tmpdir, overlay driver; vfs if
                             overlay does not work here)
                skopeo copy docker:// -> oci: + umoci unpack (a fresh layout and bundle)
  copy to oci:  onggi image copy docker:// -> oci:   vs   skopeo copy docker:// -> oci:

Where the destinations live (``--fs``): ``loop`` (the default) is a fresh ext4 file system
(mkfs.ext4's defaults, so with a journal, as on most hosts) in a sparse file in the
temporary directory, loop-mounted for this benchmark; ``host`` is the temporary directory on
the host's own file system. This machine's root is ext4 WITHOUT a journal, and there ext4's
inode allocator skips inodes deleted in the last 60 s (300 s while their block is dirty),
reading each one's inode block on the way: after the previous run removed its ~9,000 files,
every file, directory and symlink creation slows down several times, for every tool alike
(onggi's apply of this image's two layers: about 1.3-1.7 s on a journaled ext4, 4.5-5.5 s on
the host's root; podman and umoci slow down by seconds too).
``--fs host`` shows that; ``loop`` measures the tools rather than that artefact.

Every tool gets the same minimal registries.conf, HOME, XDG_RUNTIME_DIR and (podman)
CONTAINERS_CONF (``default_ulimits = []``: this host cannot raise RLIMIT_NOFILE) in the
temporary directory. Printed per tool: median, p10 and p90 wall time, median CPU time
(user+sys, children included) and peak RSS (from wait4's rusage), the ratio of onggi's
median to the tool's, and onggi pull's peak RSS of every run. What each run made is removed
before the next (podman: rmi -a -f, then anything left mounted under its root is unmounted);
the registry is stopped by its PID and every temporary file removed at the end, also after
an error or Ctrl-C. Only the cached image in /var/tmp/onggi-bench-image/ stays (and skopeo's
blob-info cache, /var/lib/containers/cache/blob-info-cache-v1.boltdb, where it was there before:
skopeo updates it on every copy and has no flag to use another; one the benchmark created is
removed).

Needs root. Usage: bench/pull_bench.py [--runs 5] [--fs loop|host] [--rebuild] [--packages "python3 gcc"]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = "/var/tmp/onggi-bench-image"
TAG = "bench"
SUITE = "bookworm"
DEFAULT_PACKAGES = "python3 gcc"
DEVNULL = subprocess.DEVNULL
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

SKOPEO_CACHE = ("/var/lib/containers", "/var/lib/containers/cache",
                "/var/lib/containers/cache/blob-info-cache-v1.boltdb")  # the first missing one is removed
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- mounts


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
                mp = mp.replace(esc, ch)
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def unmount_all(path: str) -> None:
    for _ in range(3):  # a mount may be stacked over another one
        mps = mounts_under(path)
        if not mps:
            return
        for mp in mps:
            if subprocess.call(["umount", mp], stdout=DEVNULL, stderr=DEVNULL) != 0:
                subprocess.call(["umount", "-l", mp], stdout=DEVNULL, stderr=DEVNULL)
    if mounts_under(path):
        raise RuntimeError(f"cannot unmount everything under {path}: {mounts_under(path)}")


def remove_tree(path: str) -> None:
    if os.path.lexists(path):
        unmount_all(path)
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------- the image


def debian_mirror() -> str:
    """The Debian archive apt uses here (sources.list / sources.list.d, one-line or deb822)."""
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) + \
        sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in files:
        try:
            text = open(path).read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for stanza in text.split("\n\n"):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.strip().startswith("#") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
                if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
                    continue
                if SUITE in fields.get("suites", "").split():
                    return fields.get("uris", "").split()[0]
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if words[:1] != ["deb"]:
                    continue
                words = words[1:]
                if words and words[0].startswith("["):  # [options]
                    while words and not words[0].endswith("]"):
                        words.pop(0)
                    words = words[1:]
                if len(words) >= 2 and words[1] == SUITE:
                    return words[0]
    sys.exit(f"no Debian mirror for {SUITE} in /etc/apt/sources.list or /etc/apt/sources.list.d; "
             "the test image is built only from Debian's archive")


def snapshot(root: str) -> dict[str, tuple]:
    """Every path below ``root`` (relative) -> what changes when the file is touched."""
    out: dict[str, tuple] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel)) as it:
            for e in it:
                p = os.path.join(rel, e.name)
                st = e.stat(follow_symlinks=False)
                out[p] = (st.st_mode, st.st_ino, st.st_ctime_ns, st.st_mtime_ns, st.st_size, st.st_uid,
                          st.st_gid, st.st_rdev)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(p)
    return out


class _Sink:
    """Counts and hashes what passes, then hands it on (tarfile wants ``tell``)."""

    def __init__(self, dst: object) -> None:
        self.dst, self.n, self.h = dst, 0, hashlib.sha256()

    def write(self, b: bytes) -> int:
        self.h.update(b)
        self.n += len(b)
        self.dst.write(b)  # type: ignore[attr-defined]
        return len(b)

    def tell(self) -> int:
        return self.n


def _tarinfo(tf: tarfile.TarFile, root: str, rel: str) -> tarfile.TarInfo:
    full = os.path.join(root, rel)
    ti = tf.gettarinfo(full, rel)
    ti.mtime = int(ti.mtime)  # no float mtime pax record per entry
    ti.uname = ti.gname = ""
    try:
        for name in os.listxattr(full, follow_symlinks=False):
            v = os.getxattr(full, name, follow_symlinks=False)
            ti.pax_headers["SCHILY.xattr." + name] = v.decode("utf-8", "surrogateescape")
    except OSError:
        pass
    return ti


def write_layer(blobs: str, root: str, entries: list[str], whiteouts: list[str]) -> dict:
    """A gzip tar blob of ``entries`` (sorted, parents first) and ``whiteouts``."""
    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    try:
        from onggi.image.compression import open_writer
    finally:
        sys.path.pop(0)
    tmp = os.path.join(blobs, ".layer.tmp")
    with open(tmp, "wb") as raw:
        packed = _Sink(raw)
        gz = open_writer(packed, "gzip")
        plain = _Sink(gz)
        with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
            for rel in entries:
                ti = _tarinfo(tf, root, rel)
                if ti.isreg():
                    with open(os.path.join(root, rel), "rb") as f:
                        tf.addfile(ti, f)
                else:
                    tf.addfile(ti)
            for rel in whiteouts:
                d, b = os.path.split(rel)
                wh = tarfile.TarInfo(os.path.join(d, ".wh." + b))
                wh.mode, wh.mtime = 0o644, 0
                tf.addfile(wh)
        gz.close()
    digest = "sha256:" + packed.h.hexdigest()
    os.rename(tmp, os.path.join(blobs, digest.split(":")[1]))
    return {"digest": digest, "size": packed.n, "diff_id": "sha256:" + plain.h.hexdigest(),
            "tar_size": plain.n, "entries": len(entries) + len(whiteouts),
            "xattrs": sum(1 for r in entries if os.listxattr(os.path.join(root, r), follow_symlinks=False))}


def sorted_paths(paths: object) -> list[str]:
    """Parents before children, deterministic."""
    return sorted(paths, key=lambda p: p.split("/"))  # type: ignore[arg-type]


def run_logged(cmd: list[str], logf: str, what: str, env: dict | None = None) -> None:
    with open(logf, "ab") as lf:
        lf.write(f"\n$ {' '.join(cmd)}\n".encode())
        lf.flush()
        rc = subprocess.call(cmd, stdin=DEVNULL, stdout=lf, stderr=subprocess.STDOUT, env=env)
    if rc != 0:
        tail = open(logf, errors="replace").read().splitlines()[-15:]
        raise SystemExit(f"{what} failed (exit {rc}); the end of its log:\n  " + "\n  ".join(tail))


def build_image(packages: list[str]) -> dict:
    if not shutil.which("debootstrap"):
        sys.exit("debootstrap is not installed: apt-get install -y debootstrap")
    mirror = debian_mirror()
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    work = tempfile.mkdtemp(prefix="onggi-bench-build-", dir=os.path.dirname(CACHE))
    rootfs = os.path.join(work, "rootfs")
    logf = os.path.join(work, "build.log")
    layout = os.path.join(work, "layout")
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)
    chroot_env = {"PATH": CHROOT_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    try:
        log(f"building the test image: debootstrap --variant=minbase {SUITE} from {mirror} ...")
        t0 = time.monotonic()
        try:
            run_logged(["debootstrap", "--variant=minbase", SUITE, rootfs, mirror], logf,
                       f"debootstrap from {mirror}",
                       env={**os.environ, "PATH": CHROOT_PATH})
        except SystemExit as e:
            sys.exit(f"{e}\ncannot build the test image: debootstrap could not use the Debian mirror {mirror} "
                     "(is it reachable from here?)")
        run_logged(["chroot", rootfs, "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in chroot_env.items()],
                    "apt-get", "clean"], logf, "apt-get clean")
        for p in glob.glob(os.path.join(rootfs, "var/lib/apt/lists/*")):
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        before = snapshot(rootfs)
        log(f"  rootfs made in {time.monotonic() - t0:.0f} s; writing layer 1 ({len(before)} entries) ...")
        l1 = write_layer(blobs, rootfs, sorted_paths(before), [])

        log(f"  apt-get install --no-install-recommends {' '.join(packages)} in a chroot ...")
        proc = os.path.join(rootfs, "proc")
        subprocess.check_call(["mount", "-t", "proc", "proc", proc])
        try:
            chroot = ["chroot", rootfs, "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in chroot_env.items()]]
            run_logged([*chroot, "apt-get", "update", "-q"], logf, "apt-get update in the chroot")
            run_logged([*chroot, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], logf,
                       "apt-get install in the chroot")
            run_logged([*chroot, "apt-get", "clean"], logf, "apt-get clean")
        finally:
            unmount_all(proc)
        for p in glob.glob(os.path.join(rootfs, "var/lib/apt/lists/*")):
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        after = snapshot(rootfs)
        changed = [p for p, k in after.items() if before.get(p) != k]
        gone = [p for p in before if p not in after and (os.path.dirname(p) == "" or os.path.dirname(p) in after)]
        log(f"  writing layer 2 ({len(changed)} entries, {len(gone)} whiteouts) ...")
        l2 = write_layer(blobs, rootfs, sorted_paths(changed), sorted_paths(gone))

        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        config = {
            "created": now, "architecture": arch, "os": "linux",
            "config": {"Env": [f"PATH={CHROOT_PATH}"], "Cmd": ["/bin/bash"]},
            "rootfs": {"type": "layers", "diff_ids": [l1["diff_id"], l2["diff_id"]]},
            "history": [{"created": now, "created_by": f"debootstrap --variant=minbase {SUITE} {mirror}"},
                        {"created": now, "created_by": "apt-get install --no-install-recommends "
                                                        + " ".join(packages)}],
        }

        def put(doc: dict) -> dict:
            raw = json.dumps(doc, indent=2, sort_keys=True).encode()
            d = hashlib.sha256(raw).hexdigest()
            with open(os.path.join(blobs, d), "wb") as f:
                f.write(raw)
            return {"digest": "sha256:" + d, "size": len(raw)}

        cfg = put(config)
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                    "config": {"mediaType": MT_CONFIG, **cfg},
                    "layers": [{"mediaType": MT_LAYER_GZIP, "digest": l["digest"], "size": l["size"]}
                               for l in (l1, l2)]}
        man = put(manifest)
        index = {"schemaVersion": 2, "mediaType": MT_INDEX,
                 "manifests": [{"mediaType": MT_MANIFEST, **man,
                                "annotations": {"org.opencontainers.image.ref.name": TAG}}]}
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump(index, f, indent=2)
        with open(os.path.join(layout, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

        meta = {"packages": packages, "suite": SUITE, "mirror": mirror, "built": now,
                "rootfs_entries": len(after),
                "regular_files": sum(1 for k in after.values() if stat.S_ISREG(k[0])),
                "layers": [{k: l[k] for k in ("digest", "size", "tar_size", "entries", "xattrs")} for l in (l1, l2)]}
        with open(os.path.join(work, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
        shutil.rmtree(rootfs)
        os.unlink(logf)
        remove_tree(CACHE)
        os.rename(work, CACHE)
        log(f"  image built in {time.monotonic() - t0:.0f} s, kept in {CACHE}")
        return meta
    finally:
        remove_tree(work)


def cached_image(packages: list[str], rebuild: bool) -> dict:
    try:
        meta = json.load(open(os.path.join(CACHE, "meta.json")))
        ok = os.path.exists(os.path.join(CACHE, "layout", "index.json"))
    except (OSError, ValueError):
        meta, ok = {}, False
    if ok and not rebuild and meta.get("packages") == packages:
        return meta
    if ok and not rebuild:
        log(f"the cached image has {meta.get('packages')}, not {packages}: building it again")
    return build_image(packages)


# ---------------------------------------------------------------------------- registry


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, tmp: str) -> None:
        self.dir = os.path.join(tmp, "registry")
        os.makedirs(self.dir)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        conf = os.path.join(self.dir, "config.yml")
        with open(conf, "w") as f:
            f.write("version: 0.1\n"
                    "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.addr}\n")
        binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        self.logf = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen([binary, "serve", conf], stdin=DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited {self.proc.returncode}: "
                                   + open(os.path.join(self.dir, "log"), errors="replace").read()[-800:])
            try:
                with opener.open(f"http://{self.addr}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("docker-registry did not answer on " + self.addr)
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()


# ---------------------------------------------------------------------------- tools


def loop_fs(tmp: str, size: str = "16G") -> str:
    """A fresh ext4 (mkfs.ext4's defaults: with a journal) in a sparse file under ``tmp``,
    loop-mounted at ``tmp/fs`` (autoclear: unmounting frees the loop device)."""
    img, mnt = os.path.join(tmp, "fs.img"), os.path.join(tmp, "fs")
    os.makedirs(mnt)
    subprocess.check_call(["truncate", "-s", size, img])
    subprocess.check_call(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", img], stdout=DEVNULL)
    subprocess.check_call(["mount", "-o", "loop", img, mnt])
    work = os.path.join(mnt, "work")
    os.makedirs(work, mode=0o700)
    return work


class Timed:
    """Wall time, CPU time (user+sys of the command and its reaped children) and peak RSS."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.rss_kib = 0

    def add(self, other: "Timed") -> None:
        self.wall += other.wall
        self.cpu += other.cpu
        self.rss_kib = max(self.rss_kib, other.rss_kib)


def timed(cmd: list[str], env: dict) -> Timed:
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, env=env)
    try:
        _, status, ru = os.wait4(p.pid, 0)
    except BaseException:
        p.kill()
        p.wait()
        raise
    t = Timed()
    t.wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    t.cpu = ru.ru_utime + ru.ru_stime
    t.rss_kib = ru.ru_maxrss
    if p.returncode != 0:
        err = subprocess.run(cmd, stdin=DEVNULL, stdout=DEVNULL, stderr=subprocess.PIPE, env=env,
                             text=True).stderr.strip()
        raise RuntimeError(f"{' '.join(cmd)} -> {p.returncode}: {err[-1500:]}")
    return t


class Tools:
    def __init__(self, tmp: str, work: str, ref: str, onggi: str, trim: str | None = None) -> None:
        self.tmp, self.ref, self.onggi = tmp, ref, onggi
        self.work, self.trim = work, trim
        self.regconf = os.path.join(tmp, "registries.conf")
        self.policy = os.path.join(tmp, "policy.json")
        self.conf = os.path.join(tmp, "containers.conf")
        self.storconf = os.path.join(tmp, "storage.conf")
        self.driver = "overlay"
        home, xdg = os.path.join(tmp, "home"), os.path.join(tmp, "xdg")
        for d in (home, xdg, self.work):
            os.makedirs(d, mode=0o700, exist_ok=True)
        with open(self.regconf, "w") as f:
            f.write("unqualified-search-registries = []\n")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        with open(self.conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = []\n\n[engine]\nevents_logger = "none"\n'
                    'cgroup_manager = "cgroupfs"\n')
        self.write_storage_conf()
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(HOME=home, XDG_RUNTIME_DIR=xdg, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                   XDG_DATA_HOME=os.path.join(home, ".local", "share"), CONTAINERS_CONF=self.conf,
                   CONTAINERS_REGISTRIES_CONF=self.regconf, CONTAINERS_STORAGE_CONF=self.storconf)
        env.pop("REGISTRY_AUTH_FILE", None)
        self.env = env
        self.n = 0

    def clean(self, *paths: str) -> None:
        """Remove what a run made; on the loop file system give its blocks back to the
        sparse file (fstrim), and write back what is dirty so the next run starts quiet."""
        for p in paths:
            remove_tree(p)
        if self.trim:
            subprocess.call(["fstrim", self.trim], stdout=DEVNULL, stderr=DEVNULL)
        os.sync()

    def write_storage_conf(self) -> None:
        with open(self.storconf, "w") as f:
            f.write(f'[storage]\ndriver = "{self.driver}"\nrunroot = "{self.tmp}/unused-runroot"\n'
                    f'graphroot = "{self.tmp}/unused-graphroot"\n')

    def fresh(self, name: str) -> str:
        self.n += 1
        return os.path.join(self.work, f"{name}-{self.n}")

    # pull+unpack

    def onggi_pull(self) -> Timed:
        store = self.fresh("onggi-store")
        try:
            return timed([self.onggi, "pull", "--tls-verify=false", "--registries-conf", self.regconf, self.ref],
                         {**self.env, "ONGGI_STORAGE": store})
        finally:
            self.clean(store)

    def podman_cmd(self, base: str) -> list[str]:
        # podman refuses a runroot longer than 50 characters: it lives directly in tmp
        return ["podman", "--root", os.path.join(base, "root"), "--runroot", self.runroot(base),
                "--tmpdir", os.path.join(base, "tmp"), "--storage-driver", self.driver,
                "--cgroup-manager", "cgroupfs", "--events-backend", "none"]

    def runroot(self, base: str) -> str:
        return os.path.join(self.tmp, "r" + base.rsplit("-", 1)[1])

    def podman_pull(self) -> Timed:
        base = self.fresh("podman")
        try:
            return timed([*self.podman_cmd(base), "pull", "--tls-verify=false", "--signature-policy",
                          self.policy, self.ref], self.env)
        finally:
            if os.path.exists(base):
                subprocess.call([*self.podman_cmd(base), "rmi", "-a", "-f"], stdin=DEVNULL, stdout=DEVNULL,
                                stderr=DEVNULL, env=self.env)
            self.clean(base, self.runroot(base))

    def skopeo_copy_cmd(self, layout: str) -> list[str]:
        return ["skopeo", "--policy", self.policy, "--registries-conf", self.regconf, "copy",
                "--src-tls-verify=false", f"docker://{self.ref}", f"oci:{layout}:x"]

    def skopeo_umoci(self) -> Timed:
        layout, bundle = self.fresh("skopeo-layout"), self.fresh("umoci-bundle")
        try:
            t = timed(self.skopeo_copy_cmd(layout), self.env)
            t.add(timed(["umoci", "unpack", "--image", f"{layout}:x", bundle], self.env))
            return t
        finally:
            self.clean(layout, bundle)

    # copy to oci:

    def onggi_copy(self) -> Timed:
        layout = self.fresh("onggi-layout")
        try:
            return timed([self.onggi, "image", "copy", "--quiet", "--src-tls-verify=false", "--registries-conf",
                          self.regconf, f"docker://{self.ref}", f"oci:{layout}:x"], self.env)
        finally:
            self.clean(layout)

    def skopeo_copy(self) -> Timed:
        layout = self.fresh("skopeo-layout")
        try:
            return timed(self.skopeo_copy_cmd(layout), self.env)
        finally:
            self.clean(layout)


# ---------------------------------------------------------------------------- report


def pct(xs: list[float], p: int) -> float:
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[p - 1]


def report(scenario: str, results: dict[str, list[Timed]], base: str) -> None:
    print(f"\n{scenario}")
    head = (f"  {'tool':<16} | {'median s':>8} {'p10':>7} {'p90':>7} | {'CPU s':>6} | {'peak RSS':>9} | "
            f"{base + '/tool':>11}")
    print(head)
    print("  " + "-" * (len(head) - 2))
    base_med = statistics.median(t.wall for t in results[base])
    for name, ts in results.items():
        walls = [t.wall for t in ts]
        med = statistics.median(walls)
        cpu = statistics.median(t.cpu for t in ts)
        rss = statistics.median(t.rss_kib for t in ts) / 1024
        print(f"  {name:<16} | {med:>8.2f} {pct(walls, 10):>7.2f} {pct(walls, 90):>7.2f} | {cpu:>6.2f} | "
              f"{rss:>6.0f} MiB | {base_med / med:>11.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog=f"The test image is cached (kept on purpose) in {CACHE}; everything else is removed at the end.")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each scenario per tool (default 5)")
    ap.add_argument("--rebuild", action="store_true", help=f"build the test image again (cached in {CACHE})")
    ap.add_argument("--packages", default=DEFAULT_PACKAGES,
                    help=f"packages installed in layer 2 (default {DEFAULT_PACKAGES!r})")
    ap.add_argument("--fs", choices=("loop", "host"), default="loop",
                    help="where the destinations are made: a fresh loop-mounted ext4 with a journal (default), "
                         "or the host's temporary directory (on this machine: ext4 without a journal; see the "
                         "script's docstring)")
    ap.add_argument("--only", choices=("pull", "copy"),
                    help="run one scenario alone (default: both; pull+unpack first in each round)")
    ap.add_argument("--onggi", default=shutil.which("onggi") or "/usr/local/bin/onggi", help="the onggi command")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (debootstrap, chroot, podman's store, umoci unpack)")
    needed = [a.onggi, "podman", "skopeo", "umoci", "docker-registry"]
    if a.fs == "loop":
        needed += ["mkfs.ext4", "fstrim"]
    for b in needed:
        if not shutil.which(b):
            sys.exit(f"{b} is not installed")

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminated)  # clean up on kill as on Ctrl-C
    meta = cached_image(a.packages.split(), a.rebuild)
    layout = os.path.join(CACHE, "layout")

    # skopeo (c/image) records blobs in root's shared cache, with no flag to move it: what the
    # benchmark creates there is removed at the end; an existing cache is left as it is
    cache_paths = [p for p in SKOPEO_CACHE if not os.path.lexists(p)][:1]
    tmp = tempfile.mkdtemp(prefix="opb-", dir="/tmp")  # short: podman's runroot limit
    registry = None
    try:
        registry = Registry(tmp)
        ref = f"{registry.addr}/bench/debian-python:{TAG}"
        work, trim = os.path.join(tmp, "work"), None
        if a.fs == "loop":
            work = loop_fs(tmp)
            trim = os.path.dirname(work)
        tools = Tools(tmp, work, ref, a.onggi, trim)
        timed([a.onggi, "image", "copy", "--quiet", "--dest-tls-verify=false", "--registries-conf", tools.regconf,
               f"oci:{layout}:{TAG}", f"docker://{ref}"], tools.env)

        # one untimed round: checks every command, warms the page cache and the registry
        try:
            tools.podman_pull()
        except RuntimeError as e:
            tools.driver = "vfs"
            tools.write_storage_conf()
            tools.podman_pull()
            log(f"podman with the overlay driver failed ({e}); vfs works: podman uses vfs")
        pull_tools = {"onggi": tools.onggi_pull, f"podman ({tools.driver})": tools.podman_pull,
                      "skopeo+umoci": tools.skopeo_umoci}
        copy_tools = {"onggi": tools.onggi_copy, "skopeo": tools.skopeo_copy}
        groups = [(pull_tools, "pull"), (copy_tools, "copy")]
        groups = [(g, n) for g, n in groups if a.only in (None, n)]
        for g, _ in groups:
            for f in g.values():
                f()

        pulls: dict[str, list[Timed]] = {n: [] for n in pull_tools}
        copies: dict[str, list[Timed]] = {n: [] for n in copy_tools}
        for i in range(a.runs):
            for group, res in [(g, pulls if n == "pull" else copies) for g, n in groups]:
                names = list(group)
                if i % 2:
                    names.reverse()
                for n in names:
                    res[n].append(group[n]())
            log(f"  run {i + 1}/{a.runs} done")

        layers = meta["layers"]
        mb = 1000 * 1000
        print(f"image: Debian {meta['suite']} minbase + {' '.join(meta['packages'])}, {len(layers)} layers, "
              f"{sum(l['size'] for l in layers) / mb:.1f} MB compressed (gzip), "
              f"{sum(l['tar_size'] for l in layers) / mb:.1f} MB of tar; "
              f"{meta['rootfs_entries']} paths in the rootfs ({meta['regular_files']} regular files)")
        for n, l in enumerate(layers, 1):
            print(f"  layer {n}: {l['size'] / mb:.1f} MB gzip, {l['tar_size'] / mb:.1f} MB tar, "
                  f"{l['entries']} entries  {l['digest'][:19]}")
        where = "a fresh loop-mounted ext4 (journal)" if a.fs == "loop" else f"the host's {tempfile.gettempdir()}"
        print(f"{a.runs} runs each, interleaved, each from an empty destination on {where}; registry "
              f"docker-registry on {registry.addr}; onggi={a.onggi}; CPU = user+sys; peak RSS from wait4 "
              f"(for skopeo+umoci the larger of the two)")
        if a.only in (None, "pull"):
            report("pull+unpack", pulls, "onggi")
        if a.only in (None, "copy"):
            report("copy to oci:", copies, "onggi")
        if a.only in (None, "pull"):
            print("\nonggi pull peak RSS per run: "
                  + ", ".join(f"{t.rss_kib / 1024:.0f}" for t in pulls["onggi"]) + " MiB")
    finally:
        if registry is not None:
            registry.stop()
        remove_tree(tmp)
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
