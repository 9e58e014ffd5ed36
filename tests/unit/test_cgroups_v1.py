"""onggi.cgroups v1 against a fake cgroupfs tree (plain files in a tmp dir, no root).

The "kernel" of the fake: the files a real hierarchy would show are pre-created (writes
never create files), and ``rmdir`` is replaced by one that also drops those files.
"""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from onggi import cgroups
from onggi.cgroups import _base, _fs, v1
from onggi.errors import FailedPrecondition, InvalidArgument, Unavailable, Unsupported
from onggi.oci.resources import Resources

HIER = {
    "cpu,cpuacct": ["cpu", "cpuacct"], "cpuset": ["cpuset"], "memory": ["memory"],
    "devices": ["devices"], "freezer": ["freezer"], "blkio": ["blkio"], "pids": ["pids"],
    "hugetlb": ["hugetlb"], "net_cls,net_prio": ["net_cls", "net_prio"],
    "systemd": ["name=systemd"],
}

FILES = {
    "cpu,cpuacct": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000",
                    "cpu.cfs_burst_us": "0", "cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0",
                    "cpu.idle": "0", "cpu.stat": "nr_periods 4\nnr_throttled 1\nthrottled_time 99\n",
                    "cpuacct.usage": "5000", "cpuacct.usage_percpu": "2000 3000 ",
                    "cpuacct.usage_percpu_sys": "100 200", "cpuacct.usage_percpu_user": "1900 2800",
                    "cpuacct.stat": "user 2\nsystem 1\n"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {"memory.limit_in_bytes": "9223372036854771712",
               "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.soft_limit_in_bytes": "9223372036854771712", "memory.swappiness": "60",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
               "memory.kmem.limit_in_bytes": "", "memory.kmem.tcp.limit_in_bytes": "",
               "memory.usage_in_bytes": "4096", "memory.max_usage_in_bytes": "8192",
               "memory.failcnt": "0", "memory.stat": "cache 100\nrss 200\n"},
    "devices": {"devices.allow": "", "devices.deny": ""},
    "freezer": {"freezer.state": "THAWED", "freezer.self_freezing": "0"},
    "blkio": {"blkio.bfq.weight": "100", "blkio.bfq.weight_device": "",
              "blkio.throttle.read_bps_device": "", "blkio.throttle.write_iops_device": "",
              "blkio.throttle.io_service_bytes_recursive": "8:0 Read 10\n8:0 Write 20\nTotal 30\n"},
    "pids": {"pids.max": "max", "pids.current": "1"},
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": "", "hugetlb.2MB.usage_in_bytes": "0"},
    "net_cls,net_prio": {"net_cls.classid": "0", "net_prio.ifpriomap": ""},
    "systemd": {},
}


class Fake:
    def __init__(self, tmp_path, hier: dict[str, list[str]] = HIER) -> None:
        self.root = str(tmp_path / "cgroup")
        lines = [f"1 0 0:1 / {self.root} rw - tmpfs tmpfs rw"]
        for i, (name, ctrls) in enumerate(hier.items()):
            point = os.path.join(self.root, name)
            os.makedirs(point)
            self.put(point, FILES[name])
            self.put(point, {"cgroup.procs": ""})
            opts = ",".join(["rw"] + ctrls)
            lines.append(f"{10 + i} 1 0:{10 + i} / {point} rw - cgroup cgroup {opts}")
        # the root cpuset has cpus/mems; new children start empty, as on a real kernel
        if "cpuset" in hier:
            self.put(os.path.join(self.root, "cpuset"), {"cpuset.cpus": "0-3", "cpuset.mems": "0"})
        self.mountinfo = str(tmp_path / "mountinfo")
        with open(self.mountinfo, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        self.hier = hier

    @staticmethod
    def put(d: str, files: dict[str, str]) -> None:
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as fh:
                fh.write(text)

    def mkcg(self, path: str) -> None:
        """What the kernel does on mkdir: directories that already show their files."""
        parts = path.strip("/").split("/")
        for name in self.hier:
            for i in range(1, len(parts) + 1):
                d = os.path.join(self.root, name, *parts[:i])
                if not os.path.isdir(d):
                    os.makedirs(d)
                    self.put(d, dict(FILES[name], **{"cgroup.procs": ""}))

    def read(self, name: str, path: str, file: str) -> str:
        with open(os.path.join(self.root, name) + path + "/" + file) as fh:
            return fh.read()

    def manager(self, path: str = "/c1") -> v1.V1Manager:
        m = cgroups.open_manager(path, "c1", root=self.root, mountinfo=self.mountinfo)
        assert isinstance(m, v1.V1Manager)
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


def test_create_makes_every_hierarchy_and_fills_cpuset(fake):
    fake.mkcg("/pod/c1")
    m = fake.manager("/pod/c1")
    m.create()
    for name in HIER:
        assert os.path.isdir(os.path.join(fake.root, name, "pod", "c1"))
    assert fake.read("cpuset", "/pod", "cpuset.cpus") == "0-3"
    assert fake.read("cpuset", "/pod/c1", "cpuset.cpus") == "0-3"
    assert fake.read("cpuset", "/pod/c1", "cpuset.mems") == "0"
    assert set(m.paths) == {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
                            "pids", "hugetlb", "net_cls", "net_prio", "name=systemd"}
    assert m.exists()


def test_apply_writes_every_field(fake):
    fake.mkcg("/c1")
    m = fake.manager()
    m.create()
    m.apply(res({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20, "swappiness": 10,
                   "kernel": 1 << 20, "kernelTCP": 1 << 19, "disableOOMKiller": True},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                "realtimeRuntime": 100, "realtimePeriod": 1000, "cpus": "1-2", "mems": "0", "idle": 1},
        "pids": {"limit": 10},
        "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 7}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    }))
    r = fake.read
    assert r("memory", "/c1", "memory.limit_in_bytes") == str(64 << 20)
    assert r("memory", "/c1", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert r("memory", "/c1", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert r("memory", "/c1", "memory.swappiness") == "10"
    assert r("memory", "/c1", "memory.kmem.limit_in_bytes") == str(1 << 20)
    assert r("memory", "/c1", "memory.kmem.tcp.limit_in_bytes") == str(1 << 19)
    assert r("memory", "/c1", "memory.oom_control") == "1"
    assert r("cpu,cpuacct", "/c1", "cpu.shares") == "512"
    assert r("cpu,cpuacct", "/c1", "cpu.cfs_quota_us") == "50000"
    assert r("cpu,cpuacct", "/c1", "cpu.cfs_period_us") == "100000"
    assert r("cpu,cpuacct", "/c1", "cpu.cfs_burst_us") == "1000"
    assert r("cpu,cpuacct", "/c1", "cpu.rt_runtime_us") == "100"
    assert r("cpu,cpuacct", "/c1", "cpu.rt_period_us") == "1000"
    assert r("cpu,cpuacct", "/c1", "cpu.idle") == "1"
    assert r("cpuset", "/c1", "cpuset.cpus") == "1-2"
    assert r("pids", "/c1", "pids.max") == "10"
    assert r("blkio", "/c1", "blkio.bfq.weight") == "300"
    assert r("blkio", "/c1", "blkio.bfq.weight_device") == "8:0 500"
    assert r("blkio", "/c1", "blkio.throttle.read_bps_device") == "8:0 1000"
    assert r("blkio", "/c1", "blkio.throttle.write_iops_device") == "8:16 7"
    assert r("hugetlb", "/c1", "hugetlb.2MB.limit_in_bytes") == str(4 << 21)
    assert r("net_cls,net_prio", "/c1", "net_cls.classid") == "1048577"
    assert r("net_cls,net_prio", "/c1", "net_prio.ifpriomap") == "eth0 5"


def test_unlimited_and_zero_values(fake):
    fake.mkcg("/c1")
    m = fake.manager()
    m.apply(res({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1, "shares": 0}}))
    assert fake.read("memory", "/c1", "memory.limit_in_bytes") == "-1"
    assert fake.read("memory", "/c1", "memory.memsw.limit_in_bytes") == "-1"  # follows memory
    assert fake.read("pids", "/c1", "pids.max") == "max"
    assert fake.read("cpu,cpuacct", "/c1", "cpu.cfs_quota_us") == "-1"
    assert fake.read("cpu,cpuacct", "/c1", "cpu.shares") == "1024"  # 0 = not set, as runc


class KernelMemory:
    """A fake writer enforcing the kernel's rule limit <= memsw at every step."""

    def __init__(self, limit: int, memsw: int) -> None:
        self.vals = {"memory.limit_in_bytes": limit, "memory.memsw.limit_in_bytes": memsw}
        self.order: list[str] = []

    def write(self, path: str, value, field=None) -> None:
        name = os.path.basename(path)
        if name in self.vals:
            new = dict(self.vals, **{name: int(value)})
            big = 1 << 62
            lim = new["memory.limit_in_bytes"] if new["memory.limit_in_bytes"] >= 0 else big
            sw = new["memory.memsw.limit_in_bytes"] if new["memory.memsw.limit_in_bytes"] >= 0 else big
            if lim > sw:
                raise _fs.error(OSError(errno.EINVAL, "Invalid argument"),
                                f"cannot write {value} to {path}", field)
            self.vals = new
            self.order.append(name)

    def read(self, path: str, field=None) -> str:
        return str(self.vals[os.path.basename(path)])


@pytest.mark.parametrize("before,after,first", [
    ((64, 128), (256, 512), "memory.memsw.limit_in_bytes"),  # raising: memsw first
    ((256, 512), (64, 128), "memory.limit_in_bytes"),        # lowering: limit first
    ((64, 128), (100, 110), "memory.memsw.limit_in_bytes"),
    ((64, 128), (32, -1), "memory.memsw.limit_in_bytes"),
])
def test_memory_and_swap_write_order(fake, monkeypatch, before, after, first):
    k = KernelMemory(*before)
    monkeypatch.setattr(_fs, "write", k.write)
    monkeypatch.setattr(_fs, "read", k.read)
    fake.manager().apply(res({"memory": {"limit": after[0], "swap": after[1]}}))
    assert k.order[0] == first
    assert k.vals == {"memory.limit_in_bytes": after[0], "memory.memsw.limit_in_bytes": after[1]}


def test_devices_deny_all_then_rules_in_order(fake, monkeypatch):
    writes: list[tuple[str, str]] = []
    monkeypatch.setattr(_fs, "write", lambda p, v, f=None: writes.append((os.path.basename(p), str(v))))
    fake.manager().apply(res({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 136, "access": "rw"},
        {"allow": False, "type": "b", "major": 8, "minor": 0, "access": "m"},
    ]}))
    assert writes == [("devices.deny", "a"), ("devices.deny", "a *:* rwm"),
                      ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 136:* rw"),
                      ("devices.deny", "b 8:0 m")]


def test_no_device_rules_no_device_writes(fake, monkeypatch):
    writes: list[str] = []
    monkeypatch.setattr(_fs, "write", lambda p, v, f=None: writes.append(p))
    fake.manager().apply(res({"pids": {"limit": 3}}))
    assert [os.path.basename(w) for w in writes] == ["pids.max"]


def test_cpu_shares_clamped_by_kernel_is_invalid(fake, monkeypatch):
    fake.mkcg("/c1")
    real_write = _fs.write

    def clamp(path, value, field=None):
        if path.endswith("cpu.shares"):
            value = min(max(int(value), 2), 262144)
        real_write(path, value, field)

    monkeypatch.setattr(_fs, "write", clamp)
    with pytest.raises(InvalidArgument, match=r"linux.resources.cpu.shares: 1 is out of range.*as 2"):
        fake.manager().apply(res({"cpu": {"shares": 1}}))


def test_shorter_period_retried_after_quota(fake, monkeypatch):
    calls: list[tuple[str, str]] = []
    state = {"quota": False}

    def w(path, value, field=None):
        name = os.path.basename(path)
        if name == "cpu.cfs_period_us" and not state["quota"]:
            raise _fs.error(OSError(errno.EINVAL, "Invalid argument"), f"cannot write {value}", field)
        if name == "cpu.cfs_quota_us":
            state["quota"] = True
        calls.append((name, str(value)))

    monkeypatch.setattr(_fs, "write", w)
    fake.manager().apply(res({"cpu": {"quota": 5000, "period": 10000}}))
    assert calls == [("cpu.cfs_quota_us", "5000"), ("cpu.cfs_period_us", "10000")]
    with pytest.raises(InvalidArgument, match="linux.resources.cpu.period"):
        state["quota"] = False
        fake.manager().apply(res({"cpu": {"period": 10000}}))


def test_missing_hierarchy_is_unsupported_before_any_write(tmp_path, monkeypatch):
    f = Fake(tmp_path, {k: v for k, v in HIER.items() if k not in ("hugetlb", "net_cls,net_prio")})
    f.mkcg("/c1")
    m = f.manager()
    with pytest.raises(Unsupported, match=r"linux.resources.network.classID: needs the net_cls"):
        m.apply(res({"pids": {"limit": 5}, "network": {"classID": 1}}))
    assert f.read("pids", "/c1", "pids.max") == "max"
    with pytest.raises(Unsupported, match=r"hugepageLimits: needs the hugetlb"):
        m.create(res({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}))
    with pytest.raises(Unsupported, match=r"unified: needs cgroup v2"):
        m.apply(res({"unified": {"memory.high": "1"}}))


def test_missing_file_names_field_and_file(fake):
    fake.mkcg("/c1")
    os.unlink(os.path.join(fake.root, "memory", "c1", "memory.memsw.limit_in_bytes"))
    with pytest.raises(Unsupported) as ei:
        fake.manager().apply(res({"memory": {"swap": 1 << 30}}))
    assert str(ei.value).startswith("linux.resources.memory.swap: cannot write 1073741824 to ")
    assert "memory.memsw.limit_in_bytes: No such file or directory" in str(ei.value)


def test_check_before_update(fake):
    fake.mkcg("/c1")
    with pytest.raises(InvalidArgument, match="below the current usage 4096"):
        fake.manager().apply(res({"memory": {"limit": 1024, "checkBeforeUpdate": True}}))


def test_add_pid_pids_and_oom(fake):
    fake.mkcg("/c1")
    m = fake.manager()
    m.add_pid(4242)
    for name in HIER:
        assert fake.read(name, "/c1", "cgroup.procs") == "4242"
    os.makedirs(os.path.join(fake.root, "pids", "c1", "sub"))
    Fake.put(os.path.join(fake.root, "pids", "c1", "sub"), {"cgroup.procs": "7\n8\n"})
    assert m.pids() == [7, 8, 4242]
    assert m.oom_kill_count() == 3


def test_freeze_thaw_state(fake, monkeypatch):
    fake.mkcg("/c1")
    m = fake.manager()
    m.freeze()  # a plain file reads back FROZEN at once
    assert fake.read("freezer", "/c1", "freezer.state") == "FROZEN"
    Fake.put(os.path.join(fake.root, "freezer", "c1"), {"freezer.self_freezing": "1"})
    assert m.state() == "frozen"
    m.thaw()
    Fake.put(os.path.join(fake.root, "freezer", "c1"), {"freezer.self_freezing": "0"})
    assert m.state() == "thawed"
    assert fake.read("freezer", "/c1", "freezer.state") == "THAWED"


def test_freeze_timeout_thaws_again(fake, monkeypatch):
    fake.mkcg("/c1")
    monkeypatch.setattr(v1, "FREEZE_TIMEOUT", 0.05)
    real_write = _fs.write
    monkeypatch.setattr(_fs, "write", lambda p, v, f=None: real_write(
        p, "FREEZING" if v == "FROZEN" else v, f))
    with pytest.raises(Unavailable, match="cannot freeze .*freezer.state: still FREEZING"):
        fake.manager().freeze()
    assert fake.read("freezer", "/c1", "freezer.state") == "THAWED"


def test_freezer_missing(tmp_path):
    f = Fake(tmp_path, {"memory": ["memory"]})
    with pytest.raises(Unsupported, match="freezer"):
        f.manager().freeze()


def test_destroy_removes_children_and_is_idempotent(fake):
    m = fake.manager("/pod/c1")
    m.create()
    os.makedirs(os.path.join(fake.root, "memory", "pod", "c1", "inner"))
    m.destroy()
    for name in HIER:
        assert not os.path.exists(os.path.join(fake.root, name, "pod", "c1"))
        assert os.path.isdir(os.path.join(fake.root, name, "pod"))  # parents stay, as runc
    assert not m.exists()
    m.destroy()


def test_destroy_retries_busy_then_reports(fake, monkeypatch):
    m = fake.manager()
    m.create()
    monkeypatch.setattr(_base, "_RMDIR_FIRST_DELAY", 0.0001)
    busy = {"n": 2}

    def flaky(path):
        if busy["n"] > 0:
            busy["n"] -= 1
            raise OSError(errno.EBUSY, "Device or resource busy")
        _fake_rmdir(path)

    monkeypatch.setattr(_fs, "rmdir", flaky)
    m.destroy()
    assert not m.exists()

    m.create()

    def always(path):
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(_fs, "rmdir", always)
    with pytest.raises(FailedPrecondition, match="still has processes"):
        m.destroy()
    monkeypatch.setattr(_fs, "rmdir", _fake_rmdir)
    m.destroy()


def test_stats_shape(fake):
    fake.mkcg("/c1")
    s = fake.manager().stats()
    hz = os.sysconf("SC_CLK_TCK")
    assert s["cpu"]["usage"] == {"total": 5000, "percpu": [2000, 3000], "percpu_kernel": [100, 200],
                                 "percpu_user": [1900, 2800], "user": 2 * 10**9 // hz,
                                 "kernel": 10**9 // hz}
    assert s["cpu"]["throttling"] == {"periods": 4, "throttledPeriods": 1, "throttledTime": 99}
    assert s["memory"]["usage"] == {"limit": 9223372036854771712, "usage": 4096, "max": 8192,
                                    "failcnt": 0}
    assert s["memory"]["cache"] == 100 and s["memory"]["raw"]["rss"] == 200
    assert s["pids"] == {"current": 1, "limit": 0}
    assert s["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 10},
        {"major": 8, "minor": 0, "op": "Write", "value": 20}]
    assert s["hugetlb"] == {"2MB": {"usage": 0, "max": 0, "failcnt": 0}}
    assert set(s) == {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb"}


def test_remove_if_empty_takes_only_an_empty_parent(fake) -> None:  # noqa: ANN001
    fake.mkcg("/onggi/c1")
    cgroups.remove_if_empty("/onggi", root=fake.root, mountinfo=fake.mountinfo)
    assert all(os.path.isdir(os.path.join(fake.root, n, "onggi", "c1")) for n in fake.hier)  # in use: kept
    for n in fake.hier:
        _fake_rmdir(os.path.join(fake.root, n, "onggi", "c1"))
    cgroups.remove_if_empty("/onggi", root=fake.root, mountinfo=fake.mountinfo)
    assert not any(os.path.exists(os.path.join(fake.root, n, "onggi")) for n in fake.hier)
    cgroups.remove_if_empty("/onggi", root=fake.root, mountinfo=fake.mountinfo)  # gone already: fine
