"""Shared fixtures: a busybox rootfs, OCI bundles made from onggi's default spec, and a
``runtime`` driver that runs the real ``onggi-runtime`` command under a private
``--root`` and removes every container it made (and checks nothing leaked)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import uuid

import pytest
from support import need_root, onggi_runtime

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A rootfs holding busybox-static and a link for each of its applets."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    apps = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for app in apps:
        if app != "busybox" and not (root / "bin" / app).exists():
            os.symlink("busybox", root / "bin" / app)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        (root / d).mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
    return str(root)


def default_config(args: list[str]) -> dict:
    from onggi.oci.defaults import default_spec

    c = default_spec()
    c["process"]["terminal"] = False
    c["process"]["args"] = args
    return c


class Bundle:
    def __init__(self, path: str, config: dict) -> None:
        self.path = path
        self.config = config
        self.write()

    def write(self) -> None:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)


@pytest.fixture
def make_bundle(tmp_path, busybox_rootfs):  # noqa: ANN001, ANN201
    """make_bundle(args, copy_rootfs=False) -> Bundle; edit .config then .write()."""
    counter = [0]

    def make(args: list[str], copy_rootfs: bool = False) -> Bundle:
        counter[0] += 1
        path = tmp_path / f"bundle{counter[0]}"
        path.mkdir()
        if copy_rootfs:
            shutil.copytree(busybox_rootfs, path / "rootfs", symlinks=True)
        else:
            os.symlink(busybox_rootfs, path / "rootfs")
        return Bundle(str(path), default_config(args))

    return make


# where a leaked mount of a test would be: its bundles, rootfs copies and state roots
_TEST_MOUNT_PREFIXES = ("/tmp/", "/var/tmp/", "/run/")


def mount_points_of_tests() -> list[str]:
    """The host's mount points where tests make things (sorted, with repeats): mounts
    elsewhere, made meanwhile by the host itself, do not make a test fail."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return sorted(p for p in points if p.startswith(_TEST_MOUNT_PREFIXES))


class Runtime:
    """Runs ``onggi-runtime --root ROOT ...``; remembers ids to clean up."""

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root
        self.ids: list[str] = []

    def new_id(self, prefix: str = "t") -> str:
        cid = f"onggi-test-{prefix}-{uuid.uuid4().hex[:8]}"
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, check: bool = False, timeout: float = 60, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
        # Files, not pipes: a created or detached container keeps the runtime's stdio
        # open (as with runc), so reading a pipe to its end would wait for the container.
        import tempfile

        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([self.binary, "--root", self.root, *args], timeout=timeout,
                               stdout=kw.pop("stdout", out), stderr=kw.pop("stderr", err), **kw)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        if check and r.returncode != 0:
            raise AssertionError(f"onggi-runtime {' '.join(args)} -> {r.returncode}\n{r.stderr}")
        return r

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid, check=True).stdout)

    def cleanup(self) -> list[str]:
        leaks = []
        for cid in self.ids:
            self("delete", "--force", cid)
            if os.path.exists(os.path.join(self.root, cid)):
                leaks.append(f"state dir of {cid}")
            for ctl in os.listdir("/sys/fs/cgroup"):
                d = os.path.join("/sys/fs/cgroup", ctl, cid)
                if os.path.isdir(d):
                    leaks.append(f"cgroup {d}")
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
        return leaks


@pytest.fixture
def runtime(tmp_path):  # noqa: ANN001, ANN201
    need_root()
    binary = onggi_runtime()
    if binary is None:
        pytest.skip("onggi-runtime is not installed (run tools/install.sh)")
    root = tmp_path / "state"
    mounts_before = mount_points_of_tests()
    rt = Runtime(binary, str(root))
    yield rt
    leaks = rt.cleanup()
    assert not leaks, f"leaked: {leaks}"
    after = mount_points_of_tests()
    assert after == mounts_before, f"host mounts changed: {sorted(set(after) ^ set(mounts_before))}"


def runc_config(config: dict) -> dict:
    return copy.deepcopy(config)


# podman with the cgroupfs manager makes /libpod_parent (its containers' and pods' parent)
# in every hierarchy and never removes it; so that the suite leaves none, the ones that
# were not there before the session are removed at its end once empty
_PEER_CGROUP_PARENTS = ("libpod_parent",)


def _cgroup_parents() -> set[str]:
    base = "/sys/fs/cgroup"
    try:
        tops = [base] + [os.path.join(base, d) for d in os.listdir(base)]
    except OSError:
        return set()
    return {os.path.join(t, p) for t in tops for p in _PEER_CGROUP_PARENTS if os.path.isdir(os.path.join(t, p))}


def _rmdir_empty_tree(top: str) -> None:
    for d, subdirs, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
        try:
            os.rmdir(d)  # a cgroup with processes or children stays (EBUSY)
        except OSError:
            pass


@pytest.fixture(scope="session", autouse=True)
def _peer_cgroup_parents():  # noqa: ANN202
    before = _cgroup_parents()
    yield
    for d in _cgroup_parents() - before:
        _rmdir_empty_tree(d)
