"""onggi-runtime next to runc on the same bundles: the ``state`` document, exit codes, the
view from inside the container, and ``list``/``ps`` output.

Each runtime has its own ``--root`` (fixtures ``runtime`` and ``runc``) and its own container
ids; the outputs are compared after the ids are replaced by ``ID``. Where the two differ on
purpose the test asserts that exact difference and says why.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.interop

# the fields runc 1.1 prints for ``state`` and in ``list --format json`` rows, with types
STATE_TYPES = {"ociVersion": str, "id": str, "pid": int, "status": str, "bundle": str,
               "rootfs": str, "created": str, "owner": str}


def run_both(runtime, runc, bundle, *extra: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:  # noqa: ANN001
    """``run`` the bundle under each runtime (foreground, stdin /dev/null); stdout and
    stderr have the container id replaced by ``ID``."""
    out = []
    for rt in (runtime, runc):
        cid = rt.new_id("parity")
        r = rt("run", *extra, "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
        r.stdout = r.stdout.replace(cid, "ID")
        r.stderr = r.stderr.replace(cid, "ID")
        out.append(r)
    return out[0], out[1]


def inside(runtime, runc, make_bundle, script: str, edit=None):  # noqa: ANN001, ANN201
    """stdout of ``sh -c script`` under onggi and under runc (both must exit 0)."""
    b = make_bundle(["sh", "-c", script])
    if edit is not None:
        edit(b.config)
        b.write()
    o, r = run_both(runtime, runc, b)
    assert r.returncode == 0, f"runc: {r.stderr}"
    assert o.returncode == 0, f"onggi-runtime: {o.stderr}"
    return o.stdout, r.stdout


def wait_status(rt, cid: str, want: str, timeout: float = 10) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        s = rt.state(cid)
        if s["status"] == want or time.monotonic() > deadline:
            return s
        time.sleep(0.02)


def assert_state_shape(s: dict, o: dict, phase: str) -> None:
    """``s`` (runc) and ``o`` (onggi): same keys, same value types, same status."""
    assert set(o) == set(s), f"{phase}: onggi keys {sorted(o)} != runc keys {sorted(s)}"
    for k, v in s.items():
        assert type(o[k]) is type(v), f"{phase}: {k}: onggi {o[k]!r} vs runc {v!r}"
    for k, t in STATE_TYPES.items():
        assert isinstance(o[k], t), f"{phase}: {k}={o[k]!r}"
    assert o["status"] == s["status"] == phase


# ---------------------------------------------------------------------------- state


@pytest.mark.parametrize("annotations", [None, {"org.example.jar": "onggi"}], ids=["plain", "annotated"])
def test_state_document_in_each_phase(runtime, runc, make_bundle, annotations):
    b = make_bundle(["sleep", "60"])
    if annotations:
        b.config["annotations"] = annotations
        b.write()
    ids = {}
    for rt in (runtime, runc):
        ids[rt] = rt.new_id("state")
        rt("create", "--bundle", b.path, ids[rt], check=True, stdin=subprocess.DEVNULL)
    states = {rt: rt.state(ids[rt]) for rt in ids}
    assert_state_shape(states[runc], states[runtime], "created")
    for rt in ids:
        assert states[rt]["pid"] > 0 and states[rt]["bundle"] == b.path
        assert states[rt]["rootfs"] == b.path + "/rootfs"
        if annotations:
            assert states[rt]["annotations"] == annotations
    for rt in ids:
        rt("start", ids[rt], check=True)
    states = {rt: rt.state(ids[rt]) for rt in ids}
    assert_state_shape(states[runc], states[runtime], "running")
    for rt in ids:
        rt("kill", ids[rt], "KILL", check=True)
    states = {rt: wait_status(rt, ids[rt], "stopped") for rt in ids}
    assert_state_shape(states[runc], states[runtime], "stopped")
    assert states[runtime]["pid"] == states[runc]["pid"] == 0
    for rt in ids:
        rt("delete", ids[rt], check=True)


# ---------------------------------------------------------------------------- exit codes


def test_exit_code_of_run(runtime, runc, make_bundle):
    o, r = run_both(runtime, runc, make_bundle(["sh", "-c", "exit 3"]))
    assert o.returncode == r.returncode == 3


def test_exit_code_of_a_killed_container(runtime, runc, make_bundle):
    b = make_bundle(["sleep", "60"])
    codes = []
    for rt in (runtime, runc):
        cid = rt.new_id("killed")
        p = subprocess.Popen([rt.binary, "--root", rt.root, "run", "--bundle", b.path, cid],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                r = rt("state", cid)
                if r.returncode == 0 and json.loads(r.stdout)["status"] == "running":
                    break
                time.sleep(0.02)
            rt("kill", cid, "KILL", check=True)
            codes.append(p.wait(timeout=10))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [128 + signal.SIGKILL, 128 + signal.SIGKILL]


@pytest.mark.parametrize("cmd", [["state"], ["delete"], ["kill"], ["kill", "--all"], ["start"], ["pause"],
                                 ["resume"], ["ps"], ["events", "--stats"]])
def test_unknown_id_is_exit_1(runtime, runc, cmd):
    for rt in (runtime, runc):
        r = rt(*cmd, "onggi-test-no-such-container")
        assert r.returncode == 1, f"{rt.binary} {' '.join(cmd)} -> {r.returncode}: {r.stderr}"
        assert r.stderr.strip()


def test_forced_delete_of_unknown_id_is_exit_0(runtime, runc):
    # runc: a forced delete of a container that is not there has nothing left to do
    for rt in (runtime, runc):
        assert rt("delete", "--force", "onggi-test-no-such-container").returncode == 0


def test_exec_failures_are_exit_255(runtime, runc, make_bundle):
    # runc exec exits 255 when exec itself fails (no such container, no such program), so
    # that a caller can tell a failed exec from a process that ran and exited 1.
    b = make_bundle(["sleep", "60"])
    for rt in (runtime, runc):
        r = rt("exec", "onggi-test-no-such-container", "true", stdin=subprocess.DEVNULL)
        assert r.returncode == 255, f"{rt.binary} exec of an unknown id -> {r.returncode}: {r.stderr}"
        cid = rt.new_id("exec255")
        rt("run", "-d", "--bundle", b.path, cid, check=True, stdin=subprocess.DEVNULL)
        r = rt("exec", cid, "/no/such/program", stdin=subprocess.DEVNULL)
        assert r.returncode == 255, f"{rt.binary} exec of a missing program -> {r.returncode}: {r.stderr}"
        assert "/no/such/program" in r.stderr
        assert rt("exec", cid, "sh", "-c", "exit 1", stdin=subprocess.DEVNULL).returncode == 1
        rt("delete", "--force", cid, check=True)


def test_duplicate_id_start_of_running_kill_of_stopped(runtime, runc, make_bundle):
    b = make_bundle(["sleep", "60"])
    for rt in (runtime, runc):
        cid = rt.new_id("dup")
        rt("create", "--bundle", b.path, cid, check=True, stdin=subprocess.DEVNULL)
        r = rt("create", "--bundle", b.path, cid, stdin=subprocess.DEVNULL)
        assert r.returncode == 1, f"{rt.binary}: duplicate create -> {r.returncode}"
        assert rt.state(cid)["status"] == "created"  # the first one is untouched
        rt("start", cid, check=True)
        r = rt("start", cid)
        assert r.returncode == 1, f"{rt.binary}: start of a running container -> {r.returncode}"
        r = rt("delete", cid)
        assert r.returncode == 1, f"{rt.binary}: delete of a running container -> {r.returncode}"
        rt("kill", cid, "KILL", check=True)
        assert wait_status(rt, cid, "stopped")["status"] == "stopped"
        r = rt("kill", cid, "KILL")
        assert r.returncode == 1, f"{rt.binary}: kill of a stopped container -> {r.returncode}"
        r = rt("start", cid)
        assert r.returncode == 1, f"{rt.binary}: start of a stopped container -> {r.returncode}"
        rt("delete", cid, check=True)


def test_exec_exit_code(runtime, runc, make_bundle):
    b = make_bundle(["sleep", "60"])
    for rt in (runtime, runc):
        cid = rt.new_id("exec")
        rt("run", "-d", "--bundle", b.path, cid, check=True, stdin=subprocess.DEVNULL)
        assert rt("exec", cid, "sh", "-c", "exit 4", stdin=subprocess.DEVNULL).returncode == 4
        rt("delete", "--force", cid, check=True)


# ---------------------------------------------------------------------------- the view from inside


_MOUNT_OPTS = {"ro", "rw", "nosuid", "nodev", "noexec"}


def mount_view(mountinfo: str) -> dict[str, tuple[str, frozenset[str], tuple[str, ...]]]:
    """mountinfo reduced to mount point -> (fs type, per-mount ro/rw/nosuid/nodev/noexec,
    propagation tags without their peer-group numbers)."""
    view = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        sep = fields.index("-")
        point, opts, optional = fields[4], fields[5].split(","), fields[6:sep]
        fstype = fields[sep + 1]
        prop = tuple(sorted(re.sub(r"[:\d]+$", "", f) for f in optional))
        assert point not in view, f"two mounts on {point}"
        view[point] = (fstype, frozenset(set(opts) & _MOUNT_OPTS), prop)
    return view


def test_mountinfo(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "cat /proc/self/mountinfo")
    ov, rv = mount_view(o), mount_view(r)
    assert set(ov) == set(rv)
    readonly = set(make_bundle(["true"]).config["linux"]["readonlyPaths"])
    for point in sorted(rv):
        if point in readonly:
            # linux.readonlyPaths: runc 1.1 remounts the bind read-only and keeps the
            # flags of the mount underneath (proc: none); onggi also sets
            # nosuid,nodev,noexec on these binds (a read-only view of /proc/sys and
            # friends never needs suid, devices or exec).
            assert ov[point][0] == rv[point][0] and ov[point][2] == rv[point][2]
            assert ov[point][1] == rv[point][1] | {"nosuid", "nodev", "noexec"}, point
        elif point == "/sys/fs/cgroup":
            # cgroup v1: the tmpfs that holds the per-controller binds. The spec's mount
            # asks for "ro"; onggi makes the tmpfs read-only after filling it, runc 1.1.5
            # leaves the tmpfs itself rw (only the controller binds under it are ro).
            assert ov[point][1] - {"ro"} == rv[point][1] - {"rw"}
            assert "ro" in ov[point][1] and "rw" in rv[point][1]
            assert ov[point][0] == rv[point][0] == "tmpfs"
        else:
            assert ov[point] == rv[point], point


def test_mount_propagation_options(runtime, runc, make_bundle, tmp_path):
    # what podman writes for /etc/hosts, /etc/hostname, /run/.containerenv and -v volumes:
    # a bind mount with a propagation option and no other flag
    (tmp_path / "hostdir").mkdir()
    (tmp_path / "hostfile").write_text("x\n")

    def edit(c: dict) -> None:
        c["mounts"] += [
            {"destination": "/mnt", "type": "bind", "source": str(tmp_path / "hostdir"), "options": ["rbind", "rprivate"]},
            {"destination": "/etc/hostfile", "type": "bind", "source": str(tmp_path / "hostfile"),
             "options": ["bind", "rprivate"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "rslave"]},
            {"destination": "/srv", "type": "bind", "source": str(tmp_path / "hostdir"), "options": ["rbind", "private"]},
        ]
        c["root"]["readonly"] = False
    o, r = inside(runtime, runc, make_bundle, "cat /etc/hostfile; cat /proc/self/mountinfo", edit)
    assert o.splitlines()[0] == r.splitlines()[0] == "x"
    ov, rv = mount_view(o.split("\n", 1)[1]), mount_view(r.split("\n", 1)[1])
    for point in ("/mnt", "/etc/hostfile", "/run", "/srv"):
        assert ov[point] == rv[point], point


def test_recursive_mount_options(runtime, runc, make_bundle):
    # /sys/fs/cgroup has a mount under it for every hierarchy: "rro" must reach them all
    def edit(c: dict) -> None:
        c["mounts"].append({"destination": "/mnt", "type": "bind", "source": "/sys/fs/cgroup",
                            "options": ["rbind", "rro", "rnosuid", "rnoexec", "rprivate"]})
    o, r = inside(runtime, runc, make_bundle, "cat /proc/self/mountinfo", edit)
    ov = {p: v for p, v in mount_view(o).items() if p.startswith("/mnt")}
    rv = {p: v for p, v in mount_view(r).items() if p.startswith("/mnt")}
    assert len(rv) > 1 and ov == rv
    assert all({"ro", "nosuid", "noexec"} <= v[1] for v in ov.values())


def test_rootfs_setup_error_is_reported(runtime, runc, make_bundle, tmp_path):
    def edit(c: dict) -> None:
        c["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(tmp_path / "missing"),
                            "options": ["rbind"]})
    b = make_bundle(["true"])
    edit(b.config)
    b.write()
    for _ in range(3):  # init's error races the runtime's next message to init
        o, r = run_both(runtime, runc, b)
        assert r.returncode == 1 and str(tmp_path / "missing") in r.stderr
        assert o.returncode == 1
        assert "Traceback" not in o.stderr, o.stderr
        assert str(tmp_path / "missing") in o.stderr, o.stderr


def test_capabilities(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "grep Cap /proc/self/status")
    assert o == r and len(o.splitlines()) == 5


def test_capabilities_of_a_non_root_user_with_ambient(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        caps = ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
        c["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted",
                                                           "inheritable", "ambient")}
    o, r = inside(runtime, runc, make_bundle, "grep Cap /proc/self/status; id", edit)
    assert o == r


def test_hostname_and_id(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["hostname"] = "jar"
    o, r = inside(runtime, runc, make_bundle, "hostname; id; pwd", edit)
    assert o == r == "jar\nuid=0(root) gid=0(root)\n/\n"  # no supplementary groups


def test_id_with_user_and_additional_gids(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20]}
        c["process"]["cwd"] = "/tmp"
    o, r = inside(runtime, runc, make_bundle, "id; grep -E '^(Uid|Gid|Groups)' /proc/self/status; pwd", edit)
    assert o == r


def test_cgroup_membership(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "cat /proc/self/cgroup")
    ol, rl = o.splitlines(), r.splitlines()
    assert len(ol) == len(rl)
    # "hierarchy-id:controllers:" agree line by line
    assert [x.rsplit(":", 1)[0] for x in ol] == [x.rsplit(":", 1)[0] for x in rl]
    # With no linux.cgroupsPath the runtime spec leaves the place to the runtime: runc
    # nests the container under its own cgroup in each hierarchy (so wherever the caller
    # sits in a non-root cgroup, e.g. memory here, runc's path has that prefix); onggi
    # puts it at /ID in every hierarchy.
    assert all(x.rsplit(":", 1)[1] == "/ID" for x in ol), o
    assert all(x.rsplit(":", 1)[1].endswith("/ID") for x in rl), r


def test_memory_limit(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
    o, r = inside(runtime, runc, make_bundle, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes", edit)
    assert o == r == "67108864\n"


def test_pids_limit(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["linux"]["resources"]["pids"] = {"limit": 10}
    o, r = inside(runtime, runc, make_bundle, "cat /sys/fs/cgroup/pids/pids.max", edit)
    assert o == r == "10\n"


def test_cpu_shares_and_quota(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["linux"]["resources"]["cpu"] = {"shares": 512, "quota": 50000, "period": 100000}
    o, r = inside(runtime, runc, make_bundle,
                  "cd /sys/fs/cgroup/cpu && cat cpu.shares cpu.cfs_quota_us cpu.cfs_period_us", edit)
    assert o == r == "512\n50000\n100000\n"


def _strip_ls_dates(out: str) -> str:
    # busybox ls -ln: "crw-rw-rw-  1 0  0  1,  3 Nov 28 04:48 null"
    return re.sub(r" [A-Z][a-z]{2} [ \d]\d +(\d\d:\d\d|\d{4}) ", " DATE ", out)


def test_dev(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "ls -lna /dev /dev/pts /dev/shm /dev/mqueue")
    o, r = _strip_ls_dates(o), _strip_ls_dates(r)
    assert o == r
    assert re.search(r"^crw-rw-rw- +1 0 +0 +1, +3 DATE null$", o, re.M)


def test_device_cgroup_default_rules(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "cat /sys/fs/cgroup/devices/devices.list")
    # the kernel lists the rules in the order they were written; compare them as sets
    assert "c 5:1 rwm" not in r.splitlines()  # runc stopped allowing the host console
    assert sorted(o.splitlines()) == sorted(r.splitlines())


def test_dev_with_linux_devices(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["linux"]["devices"] = [{"path": "/dev/loop-parity", "type": "b", "major": 7, "minor": 200,
                                  "fileMode": 0o640, "uid": 0, "gid": 6}]
        c["linux"]["resources"]["devices"].append({"allow": True, "type": "b", "major": 7,
                                                   "minor": 200, "access": "rw"})
    o, r = inside(runtime, runc, make_bundle, "ls -ln /dev/loop-parity; cat /sys/fs/cgroup/devices/devices.list",
                  edit)
    onode, *orules = o.splitlines()
    rnode, *rrules = r.splitlines()
    assert _strip_ls_dates(onode) == _strip_ls_dates(rnode)
    assert onode.startswith("brw-r-----")
    # only linux.resources.devices (plus the defaults) reach the device cgroup, not the
    # nodes of linux.devices
    assert "b 7:200 rw" in rrules
    assert sorted(orules) == sorted(rrules)


def test_ulimits(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256},
                                   {"type": "RLIMIT_NPROC", "hard": 300, "soft": 200},
                                   {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]
    o, r = inside(runtime, runc, make_bundle, "ulimit -a; ulimit -Hn", edit)
    assert o == r
    o, r = inside(runtime, runc, make_bundle, "ulimit -a")
    assert o == r


def test_no_new_privs_and_seccomp(runtime, runc, make_bundle):
    script = "grep -E '^(NoNewPrivs|Seccomp)' /proc/self/status"
    o, r = inside(runtime, runc, make_bundle, script)
    assert o == r and "NoNewPrivs:\t1" in o and "Seccomp:\t0" in o

    def edit(c: dict) -> None:
        c["process"]["noNewPrivileges"] = False
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                 "syscalls": [{"names": ["mknod", "mknodat"], "action": "SCMP_ACT_ERRNO"}]}
    o, r = inside(runtime, runc, make_bundle, script + "; mknod /tmp/x p 2>&1 | sed 's/.*: //'", edit)
    assert o == r and "NoNewPrivs:\t0" in o and "Seccomp:\t2" in o


def test_oom_score_adj(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "cat /proc/self/oom_score_adj")
    assert o == r  # inherited from the caller

    def edit(c: dict) -> None:
        c["process"]["oomScoreAdj"] = 321  # raising needs no privilege
    o, r = inside(runtime, runc, make_bundle, "cat /proc/self/oom_score_adj", edit)
    assert o == r == "321\n"


def test_umask(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "umask")
    assert o == r == "0022\n"

    def edit(c: dict) -> None:
        c["process"]["user"]["umask"] = 0o077
    o, r = inside(runtime, runc, make_bundle, "umask", edit)
    assert o == r == "0077\n"


def test_env(runtime, runc, make_bundle):
    def edit(c: dict) -> None:
        c["process"]["env"].append("GREETING=hello world")
    # runc sets HOME from the container's /etc/passwd when process.env has none
    o, r = inside(runtime, runc, make_bundle, "env | sort", edit)
    assert "HOME=/root" in r.splitlines()
    assert o == r


def test_env_of_exec(runtime, runc, make_bundle):
    b = make_bundle(["sleep", "60"])
    outs = []
    for rt in (runtime, runc):
        cid = rt.new_id("env")
        rt("run", "-d", "--bundle", b.path, cid, check=True, stdin=subprocess.DEVNULL)
        outs.append([rt("exec", *user, "--env", "X=1", cid, "sh", "-c", "env | sort; id; umask",
                        check=True, stdin=subprocess.DEVNULL).stdout
                     for user in ([], ["--user", "65534:65534"])])
        rt("delete", "--force", cid, check=True)
    assert outs[0] == outs[1]


def test_namespaces_are_new(runtime, runc, make_bundle):
    import os

    host = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("pid", "net", "ipc", "uts", "mnt", "cgroup", "user")}
    script = "for n in pid net ipc uts mnt cgroup user; do readlink /proc/self/ns/$n; done"
    o, r = inside(runtime, runc, make_bundle, script)
    for out in (o, r):
        got = dict(zip(host, out.split()))
        shared = {ns for ns in host if got[ns] == host[ns]}
        assert shared == {"cgroup", "user"}, out  # the default spec unshares pid/net/ipc/uts/mnt
    o, r = inside(runtime, runc, make_bundle, "ip -o link 2>/dev/null | cut -d: -f2; ps -o pid,comm")
    assert o == r


def test_loopback_is_up_in_a_new_network_namespace(runtime, runc, make_bundle):
    o, r = inside(runtime, runc, make_bundle, "ip -o link show lo")
    for out in (o, r):
        assert "LOOPBACK,UP" in out, out  # runc brings lo up in every new network namespace


# ---------------------------------------------------------------------------- list and ps


def test_list_json_rows(runtime, runc, make_bundle):
    b = make_bundle(["sleep", "60"])
    rows = {}
    for rt in (runtime, runc):
        cid = rt.new_id("list")
        rt("run", "-d", "--bundle", b.path, cid, check=True, stdin=subprocess.DEVNULL)
        rows[rt] = json.loads(rt("list", "--format", "json", check=True).stdout)
        assert [row["id"] for row in rows[rt]] == [cid]
        rt("delete", "--force", cid, check=True)
    o, r = rows[runtime][0], rows[runc][0]
    assert set(o) == set(r), f"onggi {sorted(o)} vs runc {sorted(r)}"
    for k, v in r.items():
        assert type(o[k]) is type(v), k
    assert o["status"] == r["status"] == "running"


def test_list_json_owner(runtime, runc, make_bundle):
    b = make_bundle(["sleep", "60"])
    owners = []
    for rt in (runtime, runc):
        cid = rt.new_id("owner")
        rt("create", "--bundle", b.path, cid, check=True, stdin=subprocess.DEVNULL)
        owners.append(json.loads(rt("list", "--format", "json", check=True).stdout)[0]["owner"])
        table = rt("list", check=True).stdout.splitlines()
        assert table[1].split()[-1] == "root"
        rt("delete", cid, check=True)
    # runc's list names the owner (the user owning the state dir), here root
    assert owners == ["root", "root"]


def test_list_json_when_empty(runtime, runc):
    o, r = runtime("list", "--format", "json", check=True), runc("list", "--format", "json", check=True)
    # runc (Go) marshals its nil slice as "null"; onggi does the same
    assert o.stdout == r.stdout == "null\n"
    assert runtime("list", "-q", check=True).stdout == runc("list", "-q", check=True).stdout == ""


def test_ps_json(runtime, runc, make_bundle):
    b = make_bundle(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    for rt in (runtime, runc):
        cid = rt.new_id("ps")
        rt("run", "-d", "--bundle", b.path, cid, check=True, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while True:
            pids = json.loads(rt("ps", "--format", "json", cid, check=True).stdout)
            if len(pids) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert isinstance(pids, list) and all(type(p) is int for p in pids)
        assert len(pids) == 3 and rt.state(cid)["pid"] in pids
        table = rt("ps", cid, check=True).stdout.splitlines()
        assert "PID" in table[0].split() and len(table) == 4
        rt("delete", "--force", cid, check=True)


def test_symlinked_rootfs(runtime, runc, make_bundle):
    # runc 1.1 checks that root.path is no symlink (its validator compares the path with
    # its EvalSymlinks) and refuses the bundle; onggi resolves root.path and runs it. The
    # runtime spec does not forbid a symlink there, so onggi's leniency breaks no engine.
    o, r = run_both(runtime, runc, make_bundle(["true"], copy_rootfs=False))
    assert r.returncode == 1 and "symlink" in r.stderr
    assert o.returncode == 0, o.stderr
