"""Namespaces through the real onggi-runtime: joining existing ones by path (a named
network namespace, another container's ipc/uts/pid), a user namespace with id mappings,
a cgroup namespace and a time namespace with clock offsets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest


def _ns_inode(path: str) -> int:
    return os.stat(path).st_ino


def _wait_running(rt, cid: str) -> int:  # noqa: ANN001
    for _ in range(250):
        s = rt.state(cid)
        if s["status"] == "running":
            return s["pid"]
        time.sleep(0.02)
    raise AssertionError(f"{cid} is not running")


def _set_ns(config: dict, kind: str, path: str | None = None) -> None:
    nss = [n for n in config["linux"]["namespaces"] if n["type"] != kind]
    nss.append({"type": kind, "path": path} if path else {"type": kind})
    config["linux"]["namespaces"] = nss


@pytest.fixture
def netns():
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    name = f"onggi-test-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"ip netns add failed: {r.stderr.strip()}")
    yield name
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    assert not os.path.exists(f"/run/netns/{name}")


def test_join_network_namespace_by_path(runtime, make_bundle, netns):
    path = f"/run/netns/{netns}"
    b = make_bundle(["sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net"])
    _set_ns(b.config, "network", path)
    b.write()
    r = runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    lines = r.stdout.split()
    assert lines[0] == f"net:[{_ns_inode(path)}]", r.stdout
    assert lines[0] != f"net:[{_ns_inode('/proc/self/ns/net')}]"
    assert lines[1:] == ["lo"]  # a fresh netns holds only lo
    # exec joins the same one
    b2 = make_bundle(["sleep", "60"])
    _set_ns(b2.config, "network", path)
    b2.write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b2.path, cid, check=True)
    r = runtime("exec", cid, "readlink", "/proc/self/ns/net", check=True)
    assert r.stdout.strip() == f"net:[{_ns_inode(path)}]"


def test_join_another_containers_ipc_uts_pid(runtime, make_bundle):
    a = make_bundle(["sh", "-c", "sleep 600; true", "first-container-marker"])
    a.config["hostname"] = "jar-a"
    a.write()
    first = runtime.new_id("a")
    runtime("run", "-d", "--bundle", a.path, first, check=True)
    apid = _wait_running(runtime, first)

    b = make_bundle(["sh", "-c", "hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; "
                                 "readlink /proc/self/ns/pid; echo $$; ps -o pid,args"])
    b.config.pop("hostname", None)  # a joined uts namespace keeps its hostname
    for kind in ("ipc", "uts", "pid"):
        _set_ns(b.config, kind, f"/proc/{apid}/ns/{kind}")
    b.write()
    second = runtime.new_id("b")
    r = runtime("run", "--bundle", b.path, second, check=True)
    out = r.stdout.splitlines()
    assert out[0] == "jar-a"
    assert out[1] == os.readlink(f"/proc/{apid}/ns/ipc")
    assert out[2] == os.readlink(f"/proc/{apid}/ns/uts")
    assert out[3] == os.readlink(f"/proc/{apid}/ns/pid_for_children") == os.readlink(f"/proc/{apid}/ns/pid")
    assert int(out[4]) != 1  # not the init of a new pid namespace
    ps = "\n".join(out[5:])
    assert "first-container-marker" in ps, ps  # sees the first container's processes
    assert runtime.state(first)["status"] == "running"


def test_join_with_hostname_in_a_shared_uts_is_refused(runtime, make_bundle):
    """Setting a hostname in a uts namespace joined from another container would change
    that container's hostname: onggi refuses it (runc sets it anyway)."""
    a = make_bundle(["sleep", "600"])
    a.config["hostname"] = "jar-a"
    a.write()
    first = runtime.new_id("a")
    runtime("run", "-d", "--bundle", a.path, first, check=True)
    apid = _wait_running(runtime, first)
    b = make_bundle(["hostname"])
    b.config["hostname"] = "intruder"
    _set_ns(b.config, "uts", f"/proc/{apid}/ns/uts")
    b.write()
    r = runtime("run", "--bundle", b.path, runtime.new_id("b"))
    assert r.returncode == 1
    assert "hostname" in r.stderr and f"/proc/{apid}/ns/uts" in r.stderr, r.stderr
    assert runtime("exec", first, "hostname", check=True).stdout.strip() == "jar-a"


@pytest.fixture
def userns_bundle(busybox_rootfs):  # noqa: ANN001, ANN201
    """A bundle whose rootfs belongs to host uid/gid 100000 (container root), in a
    directory the mapped root can walk into (pytest's tmp dirs are root-only)."""
    top = tempfile.mkdtemp(prefix="onggi-userns-", dir="/tmp")
    os.chmod(top, 0o755)
    rootfs = os.path.join(top, "rootfs")
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    data = os.path.join(top, "data")
    os.mkdir(data)
    for d in (rootfs, data):
        for dirpath, dirnames, filenames in os.walk(d):
            for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
                os.lchown(n, 100000, 100000)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def test_user_namespace_with_mappings(runtime, userns_bundle):
    from onggi.oci.defaults import default_spec

    c = default_spec()
    c["process"]["terminal"] = False
    c["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; "
                                        "touch /data/made-inside; mkdir /data/dir-inside; "
                                        "stat -c '%u %g %n' /bin/busybox"]
    c["root"]["readonly"] = False
    _set_ns(c, "user")
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["mounts"].append({"destination": "/data", "type": "bind", "source": os.path.join(userns_bundle, "data"),
                        "options": ["rbind", "rw"]})
    # sysfs needs a network namespace owned by the user namespace: it has one (new)
    with open(os.path.join(userns_bundle, "config.json"), "w") as f:
        json.dump(c, f)
    cid = runtime.new_id()
    r = runtime("run", "--bundle", userns_bundle, cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2:4] == ["0", "0"]
    assert lines[4] == "0 0 /bin/busybox"  # host 100000 is root inside
    st = os.stat(os.path.join(userns_bundle, "data", "made-inside"))
    assert (st.st_uid, st.st_gid) == (100000, 100000)
    st = os.stat(os.path.join(userns_bundle, "data", "dir-inside"))
    assert (st.st_uid, st.st_gid) == (100000, 100000)


def test_user_namespace_exec(runtime, userns_bundle):
    from onggi.oci.defaults import default_spec

    c = default_spec()
    c["process"]["terminal"] = False
    c["process"]["args"] = ["sleep", "60"]
    _set_ns(c, "user")
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    with open(os.path.join(userns_bundle, "config.json"), "w") as f:
        json.dump(c, f)
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", userns_bundle, cid, check=True)
    pid = _wait_running(runtime, cid)
    assert open(f"/proc/{pid}/uid_map").read().split() == ["0", "100000", "65536"]
    r = runtime("exec", cid, "sh", "-c", "cat /proc/self/uid_map; id -u", check=True)
    assert r.stdout.split() == ["0", "100000", "65536", "0"]
    # the exec'd process runs as host uid 100000
    r = runtime("exec", "-d", "--pid-file", os.path.join(userns_bundle, "exec.pid"), cid, "sleep", "30", check=True)
    epid = int(open(os.path.join(userns_bundle, "exec.pid")).read())
    with open(f"/proc/{epid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert uids == ["100000"] * 4


def test_cgroup_namespace(runtime, make_bundle):
    b = make_bundle(["cat", "/proc/self/cgroup"])
    _set_ns(b.config, "cgroup")
    b.write()
    cid = runtime.new_id()
    r = runtime("run", "--bundle", b.path, cid, check=True)
    lines = [line for line in r.stdout.splitlines() if line]
    assert lines
    for line in lines:
        assert line.split(":", 2)[2] == "/", r.stdout
    # without one, the container sees its host cgroup path
    b2 = make_bundle(["cat", "/proc/self/cgroup"])
    b2.write()
    cid2 = runtime.new_id()
    r = runtime("run", "--bundle", b2.path, cid2, check=True)
    assert any(cid2 in line for line in r.stdout.splitlines()), r.stdout


def _host_uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def test_time_namespace_offsets(runtime, make_bundle):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("the kernel has no time namespaces")
    b = make_bundle(["sh", "-c", "cat /proc/uptime; cat /proc/self/timens_offsets"])
    _set_ns(b.config, "time")
    b.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400, "nanosecs": 0},
                                        "boottime": {"secs": 86400, "nanosecs": 0}}
    b.write()
    before = _host_uptime()
    r = runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    after = _host_uptime()
    lines = r.stdout.splitlines()
    inside = float(lines[0].split()[0])
    # /proc/uptime follows CLOCK_BOOTTIME: one day ahead of the host's
    assert before + 86400 - 1 <= inside <= after + 86400 + 1, (before, inside, after)
    offsets = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert offsets["monotonic"] == ["86400", "0"] and offsets["boottime"] == ["86400", "0"], offsets


def test_time_namespace_monotonic_only(runtime, make_bundle):
    """A monotonic offset alone moves CLOCK_MONOTONIC, not /proc/uptime (boottime)."""
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("the kernel has no time namespaces")
    b = make_bundle(["sh", "-c", "cat /proc/uptime; cat /proc/self/timens_offsets"])
    _set_ns(b.config, "time")
    b.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400, "nanosecs": 0}}
    b.write()
    before = _host_uptime()
    r = runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    after = _host_uptime()
    lines = r.stdout.splitlines()
    assert before - 1 <= float(lines[0].split()[0]) <= after + 1
    offsets = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert offsets["monotonic"] == ["86400", "0"] and offsets["boottime"] == ["0", "0"], offsets
