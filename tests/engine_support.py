"""Helpers for the engine's tests (``onggi run/ps/...``): each test gets its own engine
roots, a locally built busybox image in its own store, a ``run_onggi`` that runs the real
``onggi`` command with that environment, and an end-of-test leak check.

Use from a test module::

    from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

    def test_x(engine):
        r = engine.run_onggi("run", "--rm", "--network", "none", engine.image, "true")
        assert r.returncode == 0

The image is built once per session (busybox-static plus a link per applet, /etc/passwd,
/etc/group, ``CMD ["sh"]``), saved as a docker-archive (``busybox_archive``) and loaded into
each test's store, so every test sees the same image id (and podman can load the same
archive: see :class:`Podman`).

At the end of a test the fixture removes every container (``onggi rm -fa``), then fails the
test if anything is left: a mount under its roots, a process whose cwd or root is under them
or that runs with its ONGGI_ROOT (a monitor), a cgroup named after one of its containers, a
network namespace file. What leaked is cleaned up before the failure is reported.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"
PODMAN = shutil.which("podman") or "/usr/bin/podman"
IMAGE = "localhost/busybox:latest"
CGROUP_PARENT = "onggi"

__all__ = ["Engine", "Podman", "busybox_archive", "engine", "leaks_under", "IMAGE"]


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, mounts, cgroups)")


def build_busybox_rootfs(dest: str) -> None:
    """A small rootfs in ``dest``: /bin/busybox and its applet links, /etc files."""
    os.makedirs(os.path.join(dest, "bin"))
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    apps = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for app in apps:
        link = os.path.join(dest, "bin", app)
        if app != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root", "home/app"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\nwheel:x:10:app\napp:x:1000:\nnobody:x:65534:\n")


@pytest.fixture(scope="session")
def busybox_archive(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A docker-archive of ``localhost/busybox:latest`` made by onggi (built once)."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    if not os.path.exists(ONGGI):
        pytest.skip("the onggi command is not installed (run tools/install.sh)")
    base = tmp_path_factory.mktemp("busybox-image")
    rootfs = str(base / "rootfs")
    build_busybox_rootfs(rootfs)
    tar = str(base / "rootfs.tar")
    subprocess.run(["tar", "--numeric-owner", "-C", rootfs, "-cf", tar, "."], check=True)
    env = dict(os.environ, ONGGI_STORAGE=str(base / "storage"))
    for args in (["import", "-c", 'CMD ["sh"]', tar, IMAGE],
                 ["save", "-o", str(base / "busybox.tar"), IMAGE]):
        r = subprocess.run([ONGGI, *args], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"onggi {' '.join(args)} -> {r.returncode}: {r.stderr}")
    shutil.rmtree(str(base / "storage"), ignore_errors=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    return str(base / "busybox.tar")


class Engine:
    """One test's engine: its roots, environment and ``run_onggi``."""

    def __init__(self, base: str, archive: str | None) -> None:
        self.base = base
        self.root = os.path.join(base, "root")
        self.storage = os.path.join(base, "storage")
        # short: unix socket paths and netns names have length limits
        self.run = tempfile.mkdtemp(prefix="og", dir="/run")
        self.env = dict(os.environ, ONGGI_ROOT=self.root, ONGGI_RUNROOT=self.run,
                        ONGGI_STORAGE=self.storage)
        self.image = IMAGE
        self.seen_ids: set[str] = set()
        if archive is not None:
            self.run_onggi("load", "-q", "-i", archive, check=True)

    def run_onggi(self, *args: str, check: bool = False, timeout: float = 60,
                  input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``onggi ARGS`` with this test's roots; output through files (a detached
        container's monitor must not keep a pipe of ours open)."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([ONGGI, *args], env={**self.env, **(env or {})}, timeout=timeout,
                               stdout=out, stderr=err, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL, text=True)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        self._note_ids()
        if check and r.returncode != 0:
            raise AssertionError(f"onggi {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def popen(self, *args: str, **kw) -> subprocess.Popen:  # noqa: ANN003
        """``onggi ARGS`` in the background (the caller waits for it)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen([ONGGI, *args], env=self.env, **kw)

    def inspect(self, name: str) -> dict:
        return json.loads(self.run_onggi("container", "inspect", name, check=True).stdout)[0]

    def wait_for(self, predicate, timeout: float = 10, what: str = "condition") -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def _note_ids(self) -> None:
        try:
            self.seen_ids.update(os.listdir(os.path.join(self.root, "containers")))
        except FileNotFoundError:
            pass

    # ---- teardown ---------------------------------------------------------------------
    def close(self) -> list[str]:
        """Remove every container, then report (and clean) what is left."""
        self._note_ids()
        try:
            self.run_onggi("rm", "-fa", "-v", timeout=120)
        except (subprocess.TimeoutExpired, OSError):
            pass
        leaks = leaks_under([self.root, self.run, self.storage], self.seen_ids, self.root)
        shutil.rmtree(self.run, ignore_errors=True)
        return leaks


def _mount_points(prefixes: list[str]) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if any(p == x or p.startswith(x + "/") for x in prefixes)]


def _under(path: str, prefixes: list[str]) -> bool:
    path = path.removesuffix(" (deleted)")
    return any(path == x or path.startswith(x + "/") for x in prefixes)


def _processes(prefixes: list[str], root_env: str) -> list[int]:
    me = os.getpid()
    marker = f"ONGGI_ROOT={root_env}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        try:
            if any(_under(os.readlink(f"/proc/{pid}/{w}"), prefixes) for w in ("cwd", "root")):
                found.append(pid)
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    found.append(pid)
        except OSError:
            continue
    return found


def _cgroups(ids: set[str]) -> list[str]:
    out = []
    base = "/sys/fs/cgroup"
    for top in [base] + [os.path.join(base, d) for d in os.listdir(base)]:
        parent = os.path.join(top, CGROUP_PARENT)
        if not os.path.isdir(parent):
            continue
        for cid in ids:
            if os.path.isdir(os.path.join(parent, cid)):
                out.append(os.path.join(parent, cid))
        if not any(e.is_dir() for e in os.scandir(parent)):
            out.append(parent)  # the engine removes its parent with its last container
    return out


def leaks_under(prefixes: list[str], ids: set[str], root_env: str) -> list[str]:
    """What is left of a test's engine (and clean it up): mounts, processes, cgroups,
    netns files. Returns a description of each leak."""
    prefixes = [os.path.realpath(p) for p in prefixes]
    leaks = []
    pids = _processes(prefixes, root_env)
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmd = "?"
        leaks.append(f"process {pid} ({cmd})")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if pids:
        time.sleep(0.2)
    for p in sorted(_mount_points(prefixes), key=len, reverse=True):
        leaks.append(f"mount {p}")
        subprocess.run(["umount", "-l", p], capture_output=True)
    for cg in _cgroups(ids):
        leaks.append(f"cgroup {cg}")
        try:
            os.rmdir(cg)
        except OSError:
            pass
    for p in prefixes:
        netns = os.path.join(p, "netns")
        if os.path.isdir(netns) and os.listdir(netns):
            leaks.append(f"netns files {os.listdir(netns)} in {netns}")
    return leaks


@pytest.fixture
def engine(busybox_archive: str, tmp_path) -> Iterator[Engine]:  # noqa: ANN001
    """An :class:`Engine` with the busybox image loaded; fails the test on a leak."""
    need_root()
    e = Engine(str(tmp_path / "e"), busybox_archive)
    try:
        yield e
    finally:
        leaks = e.close()
    assert not leaks, f"the test leaked: {leaks}"


class Podman:
    """podman on private roots (vfs driver, runc: crun refuses hybrid cgroups, runroot
    under 50 characters) and its own libpod tmpdir (under the shared /run/libpod, other
    podmans' events and pod "refreshes" leak into this one), with the same busybox image
    loaded; ``close`` removes its containers and its roots."""

    def __init__(self, base: str, archive: str) -> None:
        if not os.path.exists(PODMAN):
            pytest.skip("podman is not installed (apt-get install podman)")
        self.root = os.path.join(base, "podman-root")
        self.runroot = tempfile.mkdtemp(prefix="pm", dir="/run")
        self.tmpdir = os.path.join(base, "podman-tmp")
        os.makedirs(self.tmpdir)
        conf = os.path.join(base, "containers.conf")
        with open(conf, "w") as f:  # this host cannot raise RLIMIT_NOFILE (see MACHINE.md)
            f.write("[containers]\ndefault_ulimits = []\n")
        self.env = dict(os.environ, TMPDIR=self.tmpdir, CONTAINERS_CONF=conf)
        self.image = IMAGE
        r = self("load", "-q", "-i", archive)
        if r.returncode != 0:
            pytest.skip(f"podman cannot load the busybox archive here: {r.stderr.strip()}")

    def __call__(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        cmd = [PODMAN, "--root", self.root, "--runroot", self.runroot, "--tmpdir", self.runroot + "/libpod",
               "--storage-driver", "vfs",
               "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc", *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(cmd, env=self.env, timeout=timeout, stdout=out, stderr=err, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL, text=True)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, p.returncode, out.read(), err.read())

    def close(self) -> None:
        self("pod", "rm", "-fa", "-t", "0")
        self("rm", "-fa", "-t", "0")
        self("system", "reset", "-f")
        for p in _mount_points([os.path.realpath(self.root), os.path.realpath(self.runroot)]):
            subprocess.run(["umount", "-l", p], capture_output=True)
        shutil.rmtree(self.runroot, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def podman(busybox_archive: str, tmp_path) -> Iterator[Podman]:  # noqa: ANN001
    """A :class:`Podman` for one test, closed (everything it made removed) afterwards."""
    p = Podman(str(tmp_path / "pm"), busybox_archive)
    try:
        yield p
    finally:
        p.close()
