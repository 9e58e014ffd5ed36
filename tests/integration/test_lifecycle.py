"""The runc lifecycle through the real onggi-runtime command: create, start, state, run,
kill, delete, list, exec, ps, pause, resume, update, events."""

from __future__ import annotations

import json
import os
import time

import pytest


def wait_status(rt, cid: str, want: str, timeout: float = 5) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        s = rt.state(cid)
        if s["status"] == want or time.monotonic() > deadline:
            return s
        time.sleep(0.02)


def test_create_start_state_kill_delete(runtime, make_bundle, tmp_path):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    pidfile = tmp_path / "pid"
    runtime("create", "--bundle", b.path, "--pid-file", str(pidfile), cid, check=True)
    s = runtime.state(cid)
    assert s["status"] == "created"
    assert s["id"] == cid and s["bundle"] == b.path
    assert int(pidfile.read_text()) == s["pid"] > 0
    assert set(s) >= {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}
    runtime("start", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    r = runtime("start", cid)
    assert r.returncode == 1 and "running" in r.stderr
    runtime("kill", cid, "KILL", check=True)  # sleep as pid 1 ignores TERM (no handler)
    s = wait_status(runtime, cid, "stopped")
    assert s["status"] == "stopped" and s["pid"] == 0
    runtime("delete", cid, check=True)
    r = runtime("state", cid)
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_run_exit_code_and_view_from_inside(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "hostname; id -u; id -g; grep CapEff /proc/self/status; pwd; "
                                 "ulimit -n; touch /x 2>&1 || echo readonly; exit 42"])
    b.config["hostname"] = "jar"
    b.config["process"]["user"] = {"uid": 1000, "gid": 1001}
    b.config["process"]["cwd"] = "/tmp"
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
    b.write()
    r = runtime("run", "--bundle", b.path, runtime.new_id())
    assert r.returncode == 42, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "jar"
    assert lines[1:3] == ["1000", "1001"]
    assert lines[3].split()[1] == "0000000000000000"  # a non-root user keeps no effective caps
    assert lines[4] == "/tmp"
    assert lines[5] == "256"
    assert "readonly" in lines[-1]


def test_run_root_capabilities_match_the_spec(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "grep -E 'Cap(Eff|Bnd|Prm)' /proc/self/status; grep NoNewPrivs /proc/self/status"])
    r = runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    caps = dict(line.split(":\t") for line in r.stdout.splitlines())
    # CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10)
    want = f"{(1 << 29) | (1 << 5) | (1 << 10):016x}"
    assert caps["CapEff"] == caps["CapBnd"] == caps["CapPrm"] == want
    assert caps["NoNewPrivs"] == "1"


def test_masked_and_readonly_paths(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "for f in /proc/kcore /proc/keys /proc/timer_list; do "
                                 "[ -e $f ] && wc -c < $f; done; ls /sys/firmware | wc -l; "
                                 "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro-sys"])
    r = runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    out = r.stdout.split()
    assert out[-1] == "ro-sys" and set(out[:-1]) == {"0"} and len(out) >= 3


def test_only_stdio_fds_reach_the_container(runtime, make_bundle, tmp_path):
    b = make_bundle(["sh", "-c", "ls /proc/self/fd"])
    host = os.open(str(tmp_path), os.O_RDONLY)
    try:
        r = runtime("run", "--bundle", b.path, runtime.new_id(), pass_fds=(host,), check=True)
    finally:
        os.close(host)
    # ls itself holds one fd open to read the directory
    assert sorted(r.stdout.split()) == ["0", "1", "2", "3"]


def test_preserve_fds(runtime, make_bundle, tmp_path):
    (tmp_path / "msg").write_text("passed through\n")
    b = make_bundle(["sh", "-c", "cat <&3"])
    fd = os.open(str(tmp_path / "msg"), os.O_RDONLY)
    try:
        os.dup2(fd, 3) if fd != 3 else None
        r = runtime("run", "--preserve-fds", "1", "--bundle", b.path, runtime.new_id(), pass_fds=(3,), check=True)
    finally:
        os.close(fd)
    assert r.stdout == "passed through\n"


def test_detached_exec_ps_pause_resume_update_events(runtime, make_bundle):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    r = runtime("exec", "--env", "GREETING=hi", "--cwd", "/tmp", cid, "sh", "-c", "echo $GREETING; pwd; exit 3")
    assert r.returncode == 3 and r.stdout.split() == ["hi", "/tmp"]
    r = runtime("exec", "--user", "65534:65534", cid, "id", "-u")
    assert r.stdout.strip() == "65534"
    r = runtime("exec", cid, "/no/such/program")
    assert r.returncode != 0 and "/no/such/program" in r.stderr
    pids = json.loads(runtime("ps", "--format", "json", cid, check=True).stdout)
    assert runtime.state(cid)["pid"] in pids
    runtime("pause", cid, check=True)
    assert runtime.state(cid)["status"] == "paused"
    r = runtime("exec", cid, "true")
    assert r.returncode == 255 and "paused" in r.stderr
    runtime("resume", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    runtime("update", "--memory", "64M", "--pids-limit", "20", cid, check=True)
    with open(f"/sys/fs/cgroup/memory/{cid}/memory.limit_in_bytes") as f:
        assert int(f.read()) == 64 * 1024 * 1024
    with open(f"/sys/fs/cgroup/pids/{cid}/pids.max") as f:
        assert f.read().strip() == "20"
    ev = json.loads(runtime("events", "--stats", cid, check=True).stdout)
    assert ev["type"] == "stats" and ev["id"] == cid
    assert ev["data"]["memory"]["usage"]["usage"] > 0
    assert ev["data"]["pids"]["current"] >= 1
    runtime("kill", "--all", cid, "KILL", check=True)
    assert wait_status(runtime, cid, "stopped")["status"] == "stopped"
    runtime("delete", cid, check=True)


def test_list_table_and_json(runtime, make_bundle):
    b = make_bundle(["sleep", "60"])
    ids = [runtime.new_id() for _ in range(2)]
    for cid in ids:
        runtime("create", "--bundle", b.path, cid, check=True)
    table = runtime("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert sorted(line.split()[0] for line in table[1:]) == sorted(ids)
    rows = json.loads(runtime("list", "--format", "json", check=True).stdout)
    assert {r["id"] for r in rows} == set(ids) and {r["status"] for r in rows} == {"created"}
    assert runtime("list", "-q", check=True).stdout.split() == sorted(ids)
    for cid in ids:
        runtime("delete", cid, check=True)  # a created container can be deleted


def test_delete_running_needs_force(runtime, make_bundle):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    pid = runtime.state(cid)["pid"]
    r = runtime("delete", cid)
    assert r.returncode == 1 and "not stopped" in r.stderr
    runtime("delete", "--force", cid, check=True)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.mark.parametrize("sig", ["KILL", "SIGUSR1", "15", "usr2"])
def test_kill_signal_forms(runtime, make_bundle, sig):
    b = make_bundle(["sh", "-c", "trap 'exit 7' USR1 USR2 TERM; while :; do sleep 0.1; done"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    runtime("kill", cid, sig, check=True)
    assert wait_status(runtime, cid, "stopped")["status"] == "stopped"


def test_kill_bad_signal(runtime, make_bundle):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    r = runtime("kill", cid, "SIGNOPE")
    assert r.returncode == 1 and "SIGNOPE" in r.stderr
    assert runtime.state(cid)["status"] == "running"


def test_run_forwards_signals_and_reports_them(runtime, make_bundle):
    import signal
    import subprocess

    b = make_bundle(["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"])
    cid = runtime.new_id()
    p = subprocess.Popen([runtime.binary, "--root", runtime.root, "run", "--bundle", b.path, cid])
    for _ in range(200):
        if os.path.exists(os.path.join(runtime.root, cid, "state.json")) and runtime.state(cid)["status"] == "running":
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 7  # the container's trap ran: TERM was forwarded
