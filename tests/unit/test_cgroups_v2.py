"""onggi.cgroups v2 against a fake unified tree (plain files in a tmp dir, no root).

The fake kernel: each cgroup directory is pre-created with the interface files the
kernel would show, ``cgroup.controllers`` of a child mirrors what its parent enabled,
and ``rmdir`` also drops the files.
"""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from onggi import cgroups
from onggi.cgroups import _fs, v2
from onggi.errors import FailedPrecondition, InvalidArgument, Unavailable, Unsupported
from onggi.oci.resources import Resources

ALL = "cpuset cpu io memory hugetlb pids rdma misc"

LEAF_FILES = {
    "cgroup.procs": "", "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n",
    "memory.max": "max", "memory.low": "0", "memory.swap.max": "max", "memory.current": "8192",
    "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
    "memory.stat": "anon 4096\nfile 2048\n", "memory.peak": "16384", "memory.swap.current": "0",
    "cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
    "cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 2\n"
                "throttled_usec 5\n",
    "cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1",
    "cpuset.mems.effective": "0", "pids.max": "max", "pids.current": "2",
    "io.weight": "default 100", "io.max": "", "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 "
                                                         "dbytes=0 dios=0\n",
    "hugetlb.2MB.max": "max", "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 4\n",
    "hugetlb.2MB.rsvd.current": "0", "rdma.max": "", "memory.high": "max", "cgroup.max.depth": "max",
}


class Fake:
    def __init__(self, tmp_path, controllers: str = ALL) -> None:
        self.root = str(tmp_path / "cgroup")
        os.makedirs(self.root)
        self.put(self.root, {"cgroup.controllers": controllers, "cgroup.subtree_control": "",
                             "cgroup.procs": ""})
        self.mountinfo = str(tmp_path / "mountinfo")
        with open(self.mountinfo, "w") as fh:
            fh.write(f"30 22 0:26 / {self.root} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")

    @staticmethod
    def put(d: str, files: dict[str, str]) -> None:
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as fh:
                fh.write(text)

    def mkcg(self, path: str, controllers: str = ALL) -> str:
        """Pre-create each level as the kernel would show it once made."""
        d = self.root
        for part in path.strip("/").split("/"):
            d = os.path.join(d, part)
            if not os.path.isdir(d):
                os.makedirs(d)
                self.put(d, dict(LEAF_FILES, **{"cgroup.controllers": controllers,
                                                "cgroup.subtree_control": ""}))
        return d

    def read(self, path: str, file: str) -> str:
        with open(self.root + path + "/" + file) as fh:
            return fh.read()

    def manager(self, path: str = "/c1") -> v2.V2Manager:
        m = cgroups.open_manager(path, "c1", root=self.root, mountinfo=self.mountinfo)
        assert isinstance(m, v2.V2Manager)
        return m


def _fake_rmdir(path: str) -> None:
    for e in os.scandir(path):
        if e.is_file():
            os.unlink(e.path)
    os.rmdir(path)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setattr(_fs, "rmdir", _fake_rmdir)
    f = Fake(tmp_path)
    yield f
    shutil.rmtree(f.root, ignore_errors=True)


def res(d: dict) -> Resources:
    return Resources.parse(d)


def test_conversions_match_runc():
    assert v2.shares_to_weight(2) == 1
    assert v2.shares_to_weight(1024) == 39
    assert v2.shares_to_weight(262144) == 10000
    assert v2.shares_to_weight(1) == 1 and v2.shares_to_weight(10**9) == 10000
    assert v2.blkio_to_io_weight(10) == 1 and v2.blkio_to_io_weight(1000) == 10000
    assert v2.blkio_to_io_weight(500) == 1 + (490 * 9999) // 990
    assert v2.swap_max(100, 300) == 200
    assert v2.swap_max(-1, 0) == -1
    assert v2.swap_max(100, -1) == -1
    assert v2.swap_max(100, 0) is None
    with pytest.raises(InvalidArgument, match="needs a memory limit"):
        v2.swap_max(0, 300)


def test_create_enables_controllers_top_down(fake):
    fake.mkcg("/pod/c1")
    m = fake.manager("/pod/c1")
    m.create()
    assert fake.read("", "cgroup.subtree_control") == " ".join("+" + c for c in ALL.split())
    assert fake.read("/pod", "cgroup.subtree_control") == " ".join("+" + c for c in ALL.split())
    assert fake.read("/pod/c1", "cgroup.subtree_control") == ""  # never in the leaf
    assert m.exists() and m.version == "v2" and not m.device_rules_supported


def test_create_skips_enabled_and_tolerates_refusal(fake, monkeypatch):
    fake.put(fake.root, {"cgroup.subtree_control": "cpu memory"})
    fake.mkcg("/c1")
    writes: list[str] = []

    def w(path, value, field=None):
        writes.append(str(value))
        if "+cpuset" in str(value):  # the batch and the single +cpuset are refused
            raise InvalidArgument("refused")

    monkeypatch.setattr(_fs, "write", w)
    fake.manager().create()
    assert writes[0] == "+cpuset +io +hugetlb +pids +rdma +misc"
    assert writes[1:] == ["+cpuset", "+io", "+hugetlb", "+pids", "+rdma", "+misc"]


def test_create_real_mkdir_without_prepopulation(fake):
    m = fake.manager("/a/b")
    m.create()
    assert os.path.isdir(os.path.join(fake.root, "a", "b"))
    assert fake.read("", "cgroup.subtree_control").startswith("+cpuset")
    with pytest.raises(Unsupported, match=r"needs the pids controller.*cgroup.controllers: none"):
        m.apply(res({"pids": {"limit": 1}}))


def test_apply_writes_every_field(fake):
    fake.mkcg("/c1")
    m = fake.manager()
    m.apply(res({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10, "idle": 1,
                "cpus": "0", "mems": "0"},
        "pids": {"limit": 10},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 22}],
        "rdma": {"mlx5_1": {"hcaHandles": 3}},
        "unified": {"memory.high": "50000000"},
    }))
    r = fake.read
    assert r("/c1", "memory.max") == str(64 << 20)
    assert r("/c1", "memory.swap.max") == str(32 << 20)
    assert r("/c1", "memory.low") == str(32 << 20)
    assert r("/c1", "cpu.weight") == "39"
    assert r("/c1", "cpu.max") == "50000 100000"
    assert r("/c1", "cpu.max.burst") == "10"
    assert r("/c1", "cpu.idle") == "1"
    assert r("/c1", "cpuset.cpus") == "0"
    assert r("/c1", "pids.max") == "10"
    assert r("/c1", "io.weight") == str(v2.blkio_to_io_weight(500))
    assert r("/c1", "io.max") == "8:0 rbps=100"
    assert r("/c1", "hugetlb.2MB.max") == str(1 << 22)
    assert r("/c1", "rdma.max") == "mlx5_1 hca_handle=3"
    assert r("/c1", "memory.high") == "50000000"


def test_unlimited_values_are_max(fake):
    fake.mkcg("/c1")
    fake.put(fake.root + "/c1", {"memory.max": "1", "memory.swap.max": "1", "pids.max": "1"})
    fake.manager().apply(res({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}}))
    assert fake.read("/c1", "memory.max") == "max"
    assert fake.read("/c1", "memory.swap.max") == "max"
    assert fake.read("/c1", "pids.max") == "max"
    assert fake.read("/c1", "cpu.max") == "max"


def test_period_only_keeps_quota(fake):
    d = fake.mkcg("/c1")
    fake.put(d, {"cpu.max": "20000 100000"})
    fake.manager().apply(res({"cpu": {"period": 50000}}))
    assert fake.read("/c1", "cpu.max") == "20000 50000"


def test_bfq_weight_used_raw(fake):
    d = fake.mkcg("/c1")
    fake.put(d, {"io.bfq.weight": "default 100"})
    fake.manager().apply(res({"blockIO": {"weight": 300}}))
    assert fake.read("/c1", "io.bfq.weight") == "300"


@pytest.mark.parametrize("spec,match", [
    ({"memory": {"kernel": 1 << 20}}, r"memory.kernel: kernel memory limits do not exist"),
    ({"memory": {"swappiness": 0}}, r"memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, r"disableOOMKiller"),
    ({"cpu": {"realtimeRuntime": 5}}, r"realtime"),
    ({"blockIO": {"leafWeight": 10}}, r"leafWeight"),
    ({"network": {"classID": 1}}, r"net_cls"),
    ({"devices": [{"allow": False, "access": "rwm"}]}, r"devices: device rules on cgroup v2 need an eBPF"),
])
def test_v2_refuses_what_it_cannot_do(fake, spec, match):
    fake.mkcg("/c1")
    with pytest.raises(Unsupported, match=match):
        fake.manager().apply(res(spec))
    with pytest.raises(Unsupported, match=match):
        fake.manager("/c2").create(res(spec))
    assert not os.path.exists(os.path.join(fake.root, "c2"))  # refused before mkdir


def test_empty_device_list_is_fine(fake):
    fake.mkcg("/c1")
    fake.manager().apply(res({"devices": []}))


def test_controller_not_enabled(fake):
    fake.mkcg("/c1", controllers="cpu memory")
    m = fake.manager()
    with pytest.raises(Unsupported, match=r"linux.resources.pids.limit: needs the pids controller"):
        m.apply(res({"pids": {"limit": 5}, "memory": {"limit": 1 << 20}}))
    assert fake.read("/c1", "memory.max") == "max"  # nothing written
    with pytest.raises(Unsupported, match=r"unified.io.max: needs the io controller"):
        m.apply(res({"unified": {"io.max": "8:0 rbps=1"}}))
    m.apply(res({"unified": {"cgroup.max.depth": "3"}}))  # core files need no controller


def test_unified_rejects_paths():
    r = Resources.empty()
    object.__setattr__(r, "unified", {"../memory.max": "1"})
    with pytest.raises(InvalidArgument, match="not a cgroup v2 file name"):
        v2.needed_controllers(r)


def test_kernel_refusal_names_field_and_file(fake, monkeypatch):
    fake.mkcg("/c1")

    def w(path, value, field=None):
        raise _fs.error(OSError(errno.EBUSY, os.strerror(errno.EBUSY)),
                        f"cannot write {value} to {path}", field)

    monkeypatch.setattr(_fs, "write", w)
    with pytest.raises(InvalidArgument) as ei:
        fake.manager().apply(res({"memory": {"limit": 4096}}))
    assert str(ei.value) == (f"linux.resources.memory.limit: cannot write 4096 to "
                             f"{fake.root}/c1/memory.max: Device or resource busy")


def test_add_pid_pids_oom(fake):
    d = fake.mkcg("/c1")
    m = fake.manager()
    m.add_pid(99)
    assert fake.read("/c1", "cgroup.procs") == "99"
    os.makedirs(d + "/inner")
    fake.put(d + "/inner", {"cgroup.procs": "5\n"})
    assert m.pids() == [5, 99]
    assert m.oom_kill_count() == 1


def test_freeze_thaw(fake, monkeypatch):
    d = fake.mkcg("/c1")
    m = fake.manager()
    fake.put(d, {"cgroup.events": "populated 1\nfrozen 1\n"})
    m.freeze()
    assert fake.read("/c1", "cgroup.freeze") == "1" and m.state() == "frozen"
    m.thaw()
    assert fake.read("/c1", "cgroup.freeze") == "0" and m.state() == "thawed"


def test_freeze_timeout(fake, monkeypatch):
    fake.mkcg("/c1")
    monkeypatch.setattr(v2, "FREEZE_TIMEOUT", 0.03)
    with pytest.raises(Unavailable, match="does not say frozen"):
        fake.manager().freeze()
    assert fake.read("/c1", "cgroup.freeze") == "0"


def test_freeze_unsupported_kernel(fake):
    d = fake.mkcg("/c1")
    os.unlink(d + "/cgroup.freeze")
    m = fake.manager()
    assert m.state() == "thawed"
    with pytest.raises(Unsupported, match="cgroup.freeze"):
        m.freeze()


def test_stats_shape(fake):
    fake.mkcg("/c1")
    s = fake.manager().stats()
    assert s["cpu"]["usage"]["total"] == 10_000 and s["cpu"]["usage"]["user"] == 6000
    assert s["cpu"]["throttling"] == {"periods": 3, "throttledPeriods": 2, "throttledTime": 5000}
    u64 = (1 << 64) - 1
    assert s["memory"]["usage"] == {"limit": u64, "usage": 8192, "max": 16384, "failcnt": 2}
    assert s["memory"]["swap"]["usage"] == 8192 and s["memory"]["swap"]["limit"] == u64
    assert s["memory"]["cache"] == 2048 and s["memory"]["raw"]["anon"] == 4096
    assert s["pids"] == {"current": 2, "limit": 0}
    assert {"major": 8, "minor": 0, "op": "Read", "value": 10} in s["blkio"]["ioServiceBytesRecursive"]
    assert {"major": 8, "minor": 0, "op": "Write", "value": 2} in s["blkio"]["ioServicedRecursive"]
    assert s["hugetlb"] == {"2MB": {"usage": 0, "max": 0, "failcnt": 4}}
    assert s["cpuset"] == {"cpus": [0, 1], "mems": [0]}


def test_destroy(fake, monkeypatch):
    fake.mkcg("/pod/c1/inner")
    m = fake.manager("/pod/c1")
    m.destroy()
    assert not os.path.exists(fake.root + "/pod/c1") and os.path.isdir(fake.root + "/pod")
    m.destroy()
    fake.mkcg("/pod/c1")

    def busy(path):
        raise OSError(errno.EBUSY, "busy")

    monkeypatch.setattr(_fs, "rmdir", busy)
    monkeypatch.setattr("onggi.cgroups._base._RMDIR_TRIES", 2)
    with pytest.raises(FailedPrecondition, match="pod/c1: it still has processes"):
        m.destroy()


def test_reopen_from_paths(fake):
    fake.mkcg("/c1")
    m = fake.manager()
    m2 = cgroups.from_paths("v2", m.paths, root=fake.root)
    m2.apply(res({"pids": {"limit": 4}}))
    assert fake.read("/c1", "pids.max") == "4"
