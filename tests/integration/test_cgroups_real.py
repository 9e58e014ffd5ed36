"""onggi.cgroups against the host's real cgroups (root only).

Each test makes its own uniquely named cgroup, runs a child that charges memory after
joining it, and removes every process and cgroup it made, even when it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from onggi import cgroups
from onggi.errors import InvalidArgument, OnggiError, Unsupported
from onggi.oci.resources import Resources

ROOT = "/sys/fs/cgroup"


def _version() -> str | None:
    try:
        return cgroups.detect(ROOT)
    except OnggiError:
        return None


VERSION = _version()

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups"),
    pytest.mark.skipif(VERSION is None, reason=f"no cgroup filesystem mounted at {ROOT}"),
]

# The child joins the cgroup first (the parent writes its pid), then on "go" charges
# 16 MiB there and answers every later line with "pong" until stdin closes.
CHILD = r"""
import sys
sys.stdin.readline()
b = b"x" * (16 << 20)
print("ok", flush=True)
for line in sys.stdin:
    print("pong", flush=True)
"""


class Child:
    def __init__(self) -> None:
        self.p = subprocess.Popen([sys.executable, "-I", "-S", "-c", CHILD], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def say(self, line: str) -> str:
        assert self.p.stdin and self.p.stdout
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)
        for f in (self.p.stdin, self.p.stdout):
            if f:
                f.close()


@pytest.fixture
def cg():
    """A fresh manager for /onggi-test-<random>; afterwards nothing of it may remain."""
    made: list[tuple[cgroups.Manager, list[Child]]] = []

    def make(path: str | None = None) -> tuple[cgroups.Manager, list[Child]]:
        m = cgroups.open_manager(path or f"/onggi-test-{uuid.uuid4().hex[:12]}", "unused")
        kids: list[Child] = []
        made.append((m, kids))
        return m, kids

    yield make
    leaks = []
    for m, kids in made:
        for k in kids:
            k.stop()
        try:
            if m.state() == "frozen":
                m.thaw()
        except OnggiError:
            pass
        m.destroy()
        leaks += [d for d in m.paths.values() if os.path.exists(d)]
    assert leaks == [], f"cgroups left behind: {leaks}"


def _read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as fh:
        return fh.read().strip()


def _memdir(m: cgroups.Manager) -> str:
    return m.paths["memory" if m.version == "v1" else ""]


def test_lifecycle(cg):
    m, kids = cg()
    r = Resources.parse({"memory": {"limit": 64 << 20}, "pids": {"limit": 10},
                         "cpu": {"shares": 512}})
    m.create(r)
    assert m.exists()
    m.apply(r)
    if m.version == "v1":
        assert _read(m.paths["memory"], "memory.limit_in_bytes") == str(64 << 20)
        assert _read(m.paths["pids"], "pids.max") == "10"
        assert _read(m.paths["cpu"], "cpu.shares") == "512"
        assert _read(m.paths["cpuset"], "cpuset.cpus") != ""  # copied from the parent
    else:
        d = m.paths[""]
        assert _read(d, "memory.max") == str(64 << 20)
        assert _read(d, "pids.max") == "10"
        assert _read(d, "cpu.weight") == str(cgroups.v2.shares_to_weight(512))

    child = Child()
    kids.append(child)
    m.add_pid(child.pid)
    assert child.say("go") == "ok"  # 16 MiB charged inside the cgroup
    assert m.pids() == [child.pid]
    with open(f"/proc/{child.pid}/cgroup") as fh:
        own = fh.read()
    assert os.path.basename(_memdir(m)) in own

    m.freeze()
    assert m.state() == "frozen"
    if m.version == "v1":
        assert _read(m.paths["freezer"], "freezer.state") == "FROZEN"
    m.thaw()
    assert m.state() == "thawed"
    assert child.say("ping") == "pong"

    st = m.stats()
    assert st["memory"]["usage"]["usage"] > 0
    assert st["memory"]["usage"]["limit"] == 64 << 20
    assert st["pids"] == {"current": 1, "limit": 10}
    assert m.oom_kill_count() == 0

    again = cgroups.from_paths(m.version, m.paths)  # as `onggi-runtime delete` would
    assert again.pids() == [child.pid]
    child.stop()
    again.destroy()
    assert not m.exists()
    again.destroy()  # idempotent


def test_impossible_memory_limit_is_invalid_argument(cg):
    m, kids = cg()
    m.create()
    child = Child()
    kids.append(child)
    m.add_pid(child.pid)
    assert child.say("go") == "ok"
    with pytest.raises(InvalidArgument) as ei:
        m.apply(Resources.parse({"memory": {"limit": 4096}}))
    msg = str(ei.value)
    assert msg.startswith("linux.resources.memory.limit: cannot write 4096 to ")
    assert os.path.join(_memdir(m), "memory.max" if m.version == "v2" else "memory.limit_in_bytes") in msg
    child.stop()
    m.destroy()
    assert not m.exists()


@pytest.mark.parametrize("spec,field", [
    ({"cpu": {"cpus": "4095"}}, "linux.resources.cpu.cpus"),
    ({"cpu": {"period": 100, "quota": 50}}, "linux.resources.cpu."),
    ({"cpu": {"shares": 1}}, "linux.resources.cpu.shares"),
])
def test_kernel_refusals_are_invalid_argument(cg, spec, field):
    m, _ = cg()
    m.create()
    if m.version == "v2" and "shares" in spec["cpu"]:
        pytest.skip("v2 converts shares to a weight; nothing is clamped")
    with pytest.raises(InvalidArgument, match=field.replace(".", r"\.")):
        m.apply(Resources.parse(spec))
    m.destroy()
    assert not m.exists()


def test_devices_v1(cg):
    m, _ = cg()
    if m.version != "v1":
        with pytest.raises(Unsupported, match="eBPF"):
            m.apply(Resources.parse({"devices": [{"allow": False, "access": "rwm"}]}))
        return
    m.create()
    m.apply(Resources.parse({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rw"},
    ]}))
    assert _read(m.paths["devices"], "devices.list").splitlines() == ["c 1:3 rwm", "c 5:1 rw"]


def test_nested_path_and_parent_cleanup(cg):
    top = f"/onggi-test-{uuid.uuid4().hex[:12]}"
    parent, _ = cg(top)
    m, kids = cg(top + "/inner/c1")
    m.create()
    if m.version == "v1":  # both new levels got cpus/mems, or the add_pid below fails
        assert _read(os.path.dirname(m.paths["cpuset"]), "cpuset.mems") != ""
    child = Child()
    kids.append(child)
    m.add_pid(child.pid)
    assert m.pids() == [child.pid]
    assert parent.pids() == [child.pid]  # recursive
    child.stop()
    m.destroy()
    assert not m.exists() and parent.exists()  # parents stay, as with runc
    parent.destroy()  # removes inner/ too
    assert not parent.exists()
