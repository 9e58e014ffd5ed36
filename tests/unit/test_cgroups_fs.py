"""onggi.cgroups: detection, mountinfo parsing, path rules, error mapping, import cost."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from onggi import cgroups
from onggi.cgroups import _fs
from onggi.errors import (FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
                          Unsupported)

HYBRID = """\
22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / {root} rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / {root}/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / {root}/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / {root}/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / {root}/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd,release_agent=/x
41 31 0:38 / {root}/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 31 0:40 / /elsewhere/cgroup rw - cgroup cgroup rw,pids
"""

UNIFIED = """\
22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:26 / {root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""


def _mountinfo(tmp_path, text: str, root: str) -> str:
    p = tmp_path / "mountinfo"
    p.write_text(text.format(root=root))
    return str(p)


def test_detect_hybrid_is_v1(tmp_path):
    root = str(tmp_path / "cg")
    mi = _mountinfo(tmp_path, HYBRID, root)
    assert cgroups.detect(root, mountinfo=mi) == "v1"


def test_detect_unified_is_v2(tmp_path):
    root = str(tmp_path / "cg")
    mi = _mountinfo(tmp_path, UNIFIED, root)
    assert cgroups.detect(root, mountinfo=mi) == "v2"


def test_detect_nothing_mounted(tmp_path):
    mi = _mountinfo(tmp_path, "22 1 0:21 / /sys rw - sysfs sysfs rw\n", "")
    with pytest.raises(Unsupported, match="no cgroup filesystem"):
        cgroups.detect(str(tmp_path), mountinfo=mi)


def test_detect_this_host():
    if not os.path.exists("/proc/self/mountinfo"):
        pytest.skip("no /proc/self/mountinfo")
    try:
        assert cgroups.detect() in ("v1", "v2")
    except Unsupported:
        pytest.skip("no cgroup filesystem mounted at /sys/fs/cgroup")


def test_mounts_parsed_with_controllers_and_escapes(tmp_path):
    root = str(tmp_path / "cg")
    text = HYBRID + "60 31 0:41 / {root}/with\\040space rw - cgroup cgroup rw,net_cls,net_prio\n"
    mounts = _fs.cgroup_mounts(_mountinfo(tmp_path, text, root), root)
    got = {m.point[len(root):]: m.controllers for m in mounts}
    assert got == {
        "/cpu,cpuacct": ["cpu", "cpuacct"],
        "/cpuset": ["cpuset"],
        "/memory": ["memory"],
        "/systemd": ["name=systemd"],
        "/unified": [],
        "/with space": ["net_cls", "net_prio"],
    }


def test_open_manager_v1_paths(tmp_path):
    root = str(tmp_path / "cg")
    mi = _mountinfo(tmp_path, HYBRID, root)
    m = cgroups.open_manager("/pod/c1", "c1", root=root, mountinfo=mi)
    assert isinstance(m, cgroups.V1Manager) and m.version == "v1"
    assert m.paths == {
        "cpu": f"{root}/cpu,cpuacct/pod/c1",
        "cpuacct": f"{root}/cpu,cpuacct/pod/c1",
        "cpuset": f"{root}/cpuset/pod/c1",
        "memory": f"{root}/memory/pod/c1",
        "name=systemd": f"{root}/systemd/pod/c1",
        "": f"{root}/unified/pod/c1",
    }
    assert m.mounts_for_container() == [
        ("cpu,cpuacct", f"{root}/cpu,cpuacct/pod/c1"),
        ("cpuset", f"{root}/cpuset/pod/c1"),
        ("memory", f"{root}/memory/pod/c1"),
        ("systemd", f"{root}/systemd/pod/c1"),
    ]


def test_open_manager_v1_strips_mount_root(tmp_path):
    root = str(tmp_path / "cg")
    text = "35 31 0:32 /docker/abc {root}/memory rw - cgroup cgroup rw,memory\n"
    mi = _mountinfo(tmp_path, text, root)
    m = cgroups.open_manager("/docker/abc/c1", "c1", root=root, mountinfo=mi)
    assert m.paths == {"memory": f"{root}/memory/c1"}


def test_open_manager_v2_and_default_path(tmp_path):
    root = str(tmp_path / "cg")
    mi = _mountinfo(tmp_path, UNIFIED, root)
    m = cgroups.open_manager(None, "abc", root=root, mountinfo=mi)
    assert isinstance(m, cgroups.V2Manager)
    assert m.paths == {"": f"{root}/abc"}
    assert m.mounts_for_container() == [("", f"{root}/abc")]
    assert cgroups.open_manager("rel/x", "abc", root=root, mountinfo=mi).paths == {"": f"{root}/rel/x"}


def test_open_manager_systemd_refused(tmp_path):
    with pytest.raises(Unsupported, match="--systemd-cgroup: the systemd cgroup driver"):
        cgroups.open_manager("system.slice:onggi:abc", "abc", systemd=True)


@pytest.mark.parametrize("path", ["/../etc", "a/../../b", "/", "", None])
def test_cgroup_path_rules(path):
    if path in ("", None):
        assert _fs.cgroup_path(path, "cid") == "/cid"
        with pytest.raises(InvalidArgument):
            _fs.cgroup_path(path, "a/b")
        return
    with pytest.raises(InvalidArgument, match="linux.cgroupsPath"):
        _fs.cgroup_path(path, "cid")


def test_cgroup_path_normalises():
    assert _fs.cgroup_path("//a/./b/", "x") == "/a/b"


def test_from_paths_round_trip(tmp_path):
    root = str(tmp_path / "cg")
    m = cgroups.open_manager("/c", "c", root=root, mountinfo=_mountinfo(tmp_path, HYBRID, root))
    m2 = cgroups.from_paths(m.version, m.paths)
    assert type(m2) is type(m) and m2.paths == m.paths
    v2 = cgroups.from_paths("v2", {"": f"{root}/c"}, root=root)
    assert v2.paths == {"": f"{root}/c"}
    with pytest.raises(InvalidArgument):
        cgroups.from_paths("v3", {})
    with pytest.raises(InvalidArgument):
        cgroups.from_paths("v2", {"memory": "/x"})


@pytest.mark.parametrize("code,cls", [
    (errno.EINVAL, InvalidArgument), (errno.EBUSY, InvalidArgument),
    (errno.ENOENT, Unsupported), (errno.EOPNOTSUPP, Unsupported), (_fs.ENOTSUPP, Unsupported),
    (errno.EACCES, PermissionDenied), (errno.EPERM, PermissionDenied),
    (errno.EIO, FailedPrecondition),
])
def test_error_mapping(code, cls):
    e = _fs.error(OSError(code, os.strerror(code)), "cannot write 1 to /x/f", "linux.resources.a")
    assert isinstance(e, cls)
    assert str(e).startswith("linux.resources.a: cannot write 1 to /x/f: ")


def test_write_missing_file_names_field_and_file(tmp_path):
    p = str(tmp_path / "memory.limit_in_bytes")
    with pytest.raises(Unsupported) as ei:
        _fs.write(p, 1024, "linux.resources.memory.limit")
    assert str(ei.value) == (f"linux.resources.memory.limit: cannot write 1024 to {p}: "
                             "No such file or directory")
    with pytest.raises(NotFound, match="memory.limit_in_bytes does not exist"):
        _fs.read(p)


def test_write_truncates_and_read_strips(tmp_path):
    p = tmp_path / "pids.max"
    p.write_text("max\n")
    _fs.write(str(p), 5)
    assert _fs.read(str(p)) == "5"


def test_small_parsers():
    assert _fs.range_list("0-3,8, 10-11") == [0, 1, 2, 3, 8, 10, 11]
    assert _fs.range_list("") == []
    assert _fs.keyed("user 5\nsystem 7\n\nbad x") == {"user": 5, "system": 7, "bad": 0}
    assert _fs.to_int("max", 99) == 99 and _fs.to_int("12") == 12
    assert _fs.rdma_lines({"mlx5_1": {"hcaHandles": 3, "hcaObjects": 100}, "x": {}}, "f") == [
        "mlx5_1 hca_handle=3 hca_object=100"]
    with pytest.raises(InvalidArgument, match=r"f\.d\.hcaHandles"):
        _fs.rdma_lines({"d": {"hcaHandles": -1}}, "f")


def test_import_cost_stays_minimal():
    """The package may import only os, errno and onggi's own modules (hot path)."""
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(cgroups.__file__))))
    code = (f"import sys; sys.path.insert(0, {src!r}); import os, errno; "
            "before = set(sys.modules); "
            "import onggi.cgroups as c; "
            "import onggi.cgroups.v1, onggi.cgroups.v2, onggi.cgroups.stats; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-B", "-I", "-S", "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    extra = [m for m in out if not m.startswith("onggi") and m != "__future__"]
    assert extra == [], f"onggi.cgroups pulled in {extra}"
