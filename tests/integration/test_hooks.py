"""OCI hooks through the real onggi-runtime: all six kinds run in order with the state on
stdin (the right status for each), their own args and env; a failing or hanging gating
hook fails ``create`` cleanly; a failing poststart or poststop hook only warns.

Each hook is a tiny shell script that appends ``KIND STATUS PID | ARGS | $HOOKVAR`` to a
log. The scripts and the log live in one host directory that is also bind-mounted into
the container at the same path: startContainer hooks run inside the container (and
createContainer ones in its mount namespace), so the same paths work everywhere."""

from __future__ import annotations

import os
import shutil
import random
import subprocess
import time
import uuid

import pytest

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
SCRIPT = r"""#!/bin/sh
state=$(cat)
status=$(echo "$state" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')
pid=$(echo "$state" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
id=$(echo "$state" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
echo "{kind} ${{status:-none}} ${{pid:-none}} ${{id}} | $* | ${{HOOKVAR:-unset}} ${{LEAKVAR:-unset}}" >> {log}
exit {code}
"""


@pytest.fixture
def hookdir(tmp_path):  # noqa: ANN001, ANN201
    d = tmp_path / "hooks"
    d.mkdir()
    os.chmod(d, 0o755)
    return d


def _script(d, kind: str, code: int = 0, body: str | None = None) -> str:  # noqa: ANN001
    path = d / f"{kind}.sh"
    path.write_text(body if body is not None else SCRIPT.format(kind=kind, log=d / "log", code=code))
    path.chmod(0o755)
    return str(path)


def _with_hooks(b, d, codes: dict[str, int] | None = None, kinds=KINDS) -> None:  # noqa: ANN001
    codes = codes or {}
    b.config["hooks"] = {k: [{"path": _script(d, k, codes.get(k, 0)),
                              "args": [f"{k}.sh", "arg1", "two words"],
                              "env": ["HOOKVAR=hv-" + k, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}]
                         for k in kinds}
    b.config["mounts"].append({"destination": str(d), "type": "bind", "source": str(d),
                               "options": ["rbind", "rw"]})
    b.write()


def _log(d) -> list[list[str]]:  # noqa: ANN001
    p = d / "log"
    if not p.exists():
        return []
    return [line.split(" | ") for line in p.read_text().splitlines()]


def _pgrep(pattern: str) -> str:
    if shutil.which("pgrep") is None:
        pytest.skip("pgrep (procps) is not installed")
    return subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout


def _cgroups(cid: str) -> list[str]:
    return [c for c in os.listdir("/sys/fs/cgroup") if os.path.isdir(f"/sys/fs/cgroup/{c}/{cid}")]


def test_all_six_hooks_in_order_with_state_args_and_env(runtime, make_bundle, hookdir):
    b = make_bundle(["sleep", "60"])
    _with_hooks(b, hookdir)
    cid = runtime.new_id()
    env = dict(os.environ, LEAKVAR="from-the-caller")
    runtime("create", "--bundle", b.path, cid, check=True, env=env)
    pid = runtime.state(cid)["pid"]
    log = _log(hookdir)
    assert [e[0].split()[0] for e in log] == ["prestart", "createRuntime", "createContainer"], log
    for head, args, env_seen in log:
        kind, status, seen_pid, seen_id = head.split()
        assert status == "creating", head
        assert seen_id == cid
        # the runtime's hooks see the host pid; createContainer runs in the container's
        # pid namespace and may see itself as 1 (as with runc)
        assert int(seen_pid) == pid or (kind == "createContainer" and seen_pid == "1"), head
        assert args == "arg1 two words", args  # args[0] is the hook's argv[0]
        assert env_seen == f"hv-{kind} unset", env_seen  # only the hook's env, not ours

    runtime("start", cid, check=True)
    log = _log(hookdir)
    assert [e[0].split()[0] for e in log[3:]] == ["startContainer", "poststart"], log
    start_head, poststart_head = log[3][0].split(), log[4][0].split()
    assert start_head[1] == "created", start_head  # runc: startContainer sees "created"
    assert int(start_head[2]) in (pid, 1)
    assert poststart_head[1] == "running" and int(poststart_head[2]) == pid, poststart_head
    assert log[3][1:] == ["arg1 two words", "hv-startContainer unset"]
    assert log[4][1:] == ["arg1 two words", "hv-poststart unset"]
    assert runtime.state(cid)["status"] == "running"

    runtime("kill", cid, "KILL", check=True)
    for _ in range(250):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert len(_log(hookdir)) == 5  # nothing runs at kill
    runtime("delete", cid, check=True)
    log = _log(hookdir)
    assert len(log) == 6 and log[5][0].split()[:2] == ["poststop", "stopped"], log
    assert log[5][0].split()[2] in ("none", "0"), log[5]
    assert log[5][1:] == ["arg1 two words", "hv-poststop unset"]


def test_hooks_of_run(runtime, make_bundle, hookdir):
    b = make_bundle(["true"])
    _with_hooks(b, hookdir)
    runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    assert [e[0].split()[0] for e in _log(hookdir)] == list(KINDS)


def test_poststart_waits_for_a_slow_startcontainer_hook(runtime, make_bundle, hookdir):
    """Spec: startContainer runs before the user's program is executed, poststart after
    it and before ``start`` returns; so a slow startContainer hook delays poststart."""
    b = make_bundle(["sh", "-c", f"echo program >> {hookdir}/log; sleep 60"])
    _with_hooks(b, hookdir, kinds=("startContainer", "poststart"))
    slow = SCRIPT.format(kind="startContainer", log=hookdir / "log", code=0).replace("state=$(cat)",
                                                                                     "state=$(cat); sleep 0.5")
    _script(hookdir, "startContainer", body=slow)
    cid = runtime.new_id()
    runtime("create", "--bundle", b.path, cid, check=True)
    runtime("start", cid, check=True)
    for _ in range(100):
        if len(_log(hookdir)) >= 3:
            break
        time.sleep(0.02)
    order = [e[0].split()[0] for e in _log(hookdir)]
    # (the program's own echo may come before or after poststart: both run after the exec)
    assert order[0] == "startContainer" and sorted(order) == ["poststart", "program", "startContainer"], order


def test_hook_without_args_gets_its_path_as_argv0(runtime, make_bundle, hookdir):
    b = make_bundle(["true"])
    path = _script(hookdir, "noargs", body=f"#!/bin/sh\necho \"$0|$#\" >> {hookdir}/log\n")
    b.config["hooks"] = {"prestart": [{"path": path}]}
    b.write()
    runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    assert (hookdir / "log").read_text() == f"{path}|0\n"


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_gating_hook_fails_create_and_leaves_nothing(runtime, make_bundle, hookdir, kind):
    marker = f"onggi-hook-{uuid.uuid4().hex[:10]}"
    b = make_bundle(["sh", "-c", "sleep 600; true", marker])
    _with_hooks(b, hookdir, {kind: 3}, kinds=("prestart", "createRuntime", "createContainer", "poststop"))
    cid = runtime.new_id()
    r = runtime("create", "--bundle", b.path, cid)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert kind in r.stderr and f"{kind}.sh" in r.stderr, r.stderr
    assert "3" in r.stderr  # the exit status
    ran = [e[0].split()[0] for e in _log(hookdir)]
    assert ran[-1] == kind and "poststop" not in ran[:-1], ran
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert _cgroups(cid) == []
    assert _pgrep(marker) == ""


def test_startcontainer_hook_failure_stops_the_container(runtime, make_bundle, hookdir):
    marker = f"onggi-hook-{uuid.uuid4().hex[:10]}"
    b = make_bundle(["sh", "-c", "echo USER PROGRAM RAN; sleep 600; true", marker])
    _with_hooks(b, hookdir, {"startContainer": 4}, kinds=("startContainer",))
    cid = runtime.new_id()
    runtime("create", "--bundle", b.path, cid, check=True)
    r = runtime("start", cid)
    # the user's program must not run; the container ends up stopped
    for _ in range(250):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert runtime.state(cid)["status"] == "stopped"
    assert "USER PROGRAM RAN" not in r.stdout
    assert _pgrep(marker) == ""


def test_hook_timeout(runtime, make_bundle, hookdir):
    secs = random.randint(300, 399)
    marker = f"onggi-hook-{uuid.uuid4().hex[:10]}"
    b = make_bundle(["sh", "-c", "sleep 600; true", marker])
    # the sleep is the hook's child, not the hook itself: it must go as well
    path = _script(hookdir, "slow", body=f"#!/bin/sh\ncat > /dev/null\nsleep {secs}\necho woke >> {hookdir}/log\n")
    b.config["hooks"] = {"prestart": [{"path": path, "timeout": 1}]}
    b.write()
    cid = runtime.new_id()
    t0 = time.monotonic()
    r = runtime("create", "--bundle", b.path, cid, timeout=30)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert "prestart" in r.stderr and "slow.sh" in r.stderr and "timed out" in r.stderr, r.stderr
    assert 0.9 <= took < 3, took
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert _cgroups(cid) == []
    assert _pgrep(marker) == ""
    assert _pgrep(f"sleep {secs}") == "", "the hook's child outlived the timeout"


@pytest.mark.parametrize("kind", ["poststart", "poststop"])
def test_failing_poststart_or_poststop_only_warns(runtime, make_bundle, hookdir, kind):
    b = make_bundle(["sleep", "60"])
    _with_hooks(b, hookdir, {kind: 5}, kinds=(kind,))
    cid = runtime.new_id()
    runtime("create", "--bundle", b.path, cid, check=True)
    r = runtime("start", cid)
    assert r.returncode == 0, r.stderr
    if kind == "poststart":
        assert "warning" in r.stderr.lower() and "poststart" in r.stderr, r.stderr
    assert runtime.state(cid)["status"] == "running"
    r = runtime("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    if kind == "poststop":
        assert "warning" in r.stderr.lower() and "poststop" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert [e[0].split()[0] for e in _log(hookdir)] == [kind]


def test_missing_hook_binary(runtime, make_bundle, hookdir):
    b = make_bundle(["true"])
    b.config["hooks"] = {"createRuntime": [{"path": str(hookdir / "nope.sh")}]}
    b.write()
    cid = runtime.new_id()
    r = runtime("create", "--bundle", b.path, cid)
    assert r.returncode == 1 and "createRuntime" in r.stderr and "nope.sh" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_big_state_reaches_the_hook_and_a_deaf_hook_still_times_out(runtime, make_bundle, hookdir):
    """A state bigger than a pipe (large annotations): a hook that reads it gets all of
    it; one that never reads stdin must still be stopped by its timeout."""
    b = make_bundle(["true"])
    b.config["annotations"] = {f"org.onggi.test.{i}": "x" * 1000 for i in range(200)}
    reader = _script(hookdir, "reader", body=f"#!/bin/sh\nwc -c > {hookdir}/size\n")
    b.config["hooks"] = {"prestart": [{"path": reader, "timeout": 10}]}
    b.write()
    runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    assert int((hookdir / "size").read_text()) > 200_000

    deaf = _script(hookdir, "deaf", body="#!/bin/sh\nsleep 30\n")
    b.config["hooks"] = {"prestart": [{"path": deaf, "timeout": 1}]}
    b.write()
    cid = runtime.new_id()
    t0 = time.monotonic()
    r = runtime("create", "--bundle", b.path, cid, timeout=30)
    took = time.monotonic() - t0
    assert r.returncode == 1 and "timed out" in r.stderr, r.stderr
    assert took < 3, took
    assert not os.path.exists(os.path.join(runtime.root, cid))
