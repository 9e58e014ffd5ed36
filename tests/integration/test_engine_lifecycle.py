"""``onggi run/create/start/stop/kill/rm/wait/restart/pause`` on real containers (root)."""

from __future__ import annotations

import json
import os
import signal
import time

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def test_run_output_and_exit_codes(engine) -> None:  # noqa: ANN001
    r = engine.run_onggi("run", "--rm", *NONE, engine.image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert engine.run_onggi("run", "--rm", *NONE, engine.image, "true").returncode == 0
    r = engine.run_onggi("run", "--rm", *NONE, engine.image, "nosuchprogram")
    assert r.returncode == 127, r.stderr
    assert "nosuchprogram" in r.stderr and "not found" in r.stderr
    r = engine.run_onggi("run", "--rm", *NONE, "--entrypoint", "/etc/passwd", engine.image)
    assert r.returncode == 126, r.stderr
    assert "permission denied" in r.stderr
    r = engine.run_onggi("run", "--rm", *NONE, "localhost/nosuchimage:latest", "true", "--pull", "never")
    assert r.returncode == 125
    # --rm removed every one of them, even those that failed to start
    assert engine.run_onggi("ps", "-aq").stdout == ""


def test_run_killed_by_signal_is_128_plus(engine) -> None:  # noqa: ANN001
    p = engine.popen("run", "--rm", *NONE, "--name", "victim", engine.image, "sleep", "1000", stdout=-1, stderr=-1)
    engine.wait_for(lambda: engine.run_onggi("ps", "-q").stdout != "", what="the container")
    engine.run_onggi("kill", "victim", check=True)
    assert p.wait(timeout=30) == 137


def test_detached_ps_logs_stop_rm(engine) -> None:  # noqa: ANN001
    r = engine.run_onggi("run", "-d", *NONE, "--name", "web", engine.image, "sh", "-c",
                         "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done", check=True)
    cid = r.stdout.strip()
    assert len(cid) == 64
    engine.wait_for(lambda: "started" in engine.run_onggi("logs", "web").stdout, what="the first log line")
    ps = engine.run_onggi("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}", check=True).stdout
    assert ps.startswith(f"{cid[:12]} web Up ")
    table = engine.run_onggi("ps", check=True).stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert table[1].startswith(cid[:12]) and table[1].endswith("web")
    doc = engine.inspect("web")
    assert doc["Id"] == cid and doc["Name"] == "web"
    assert doc["State"]["Status"] == "running" and doc["State"]["Running"] is True and doc["State"]["Pid"] > 0
    # rm of a running container needs -f
    r = engine.run_onggi("rm", "web")
    assert r.returncode == 125 and "cannot remove container" in r.stderr
    assert engine.run_onggi("stop", "web", check=True).stdout == "web\n"
    doc = engine.inspect("web")
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 0
    assert engine.run_onggi("logs", "web", check=True).stdout == "started\nbye\n"
    r = engine.run_onggi("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.Name}}", "web", check=True)
    assert r.stdout == "exited 0 web\n"
    assert engine.run_onggi("rm", "web", check=True).stdout == "web\n"
    r = engine.run_onggi("inspect", "web")
    assert r.returncode == 125


def test_name_conflict_says_so_like_podman(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "dup", engine.image, "true", check=True)
    r = engine.run_onggi("create", *NONE, "--name", "dup", engine.image, "true")
    assert r.returncode == 125
    assert 'the container name "dup" is already in use by' in r.stderr


def test_create_start_wait_and_logs_options(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "c", engine.image, "sh", "-c",
                     "echo one; echo two; echo three; exit 7", check=True)
    assert engine.inspect("c")["State"]["Status"] == "created"
    assert engine.run_onggi("start", "c", check=True).stdout == "c\n"
    assert engine.run_onggi("wait", "c", check=True).stdout == "7\n"
    assert engine.run_onggi("logs", "--tail", "2", "c").stdout == "two\nthree\n"
    stamped = engine.run_onggi("logs", "-t", "c").stdout.splitlines()
    assert len(stamped) == 3 and stamped[0].endswith(" one") and stamped[0][4] == "-"
    assert engine.run_onggi("logs", "--since", "1h", "c").stdout == "one\ntwo\nthree\n"
    assert engine.run_onggi("logs", "--until", "2000-01-01T00:00:00Z", "c").stdout == ""
    # start again: a second run of the same container appends to its log
    engine.run_onggi("start", "c", check=True)
    assert engine.run_onggi("wait", "c", check=True).stdout == "7\n"
    assert engine.run_onggi("logs", "c").stdout.count("one") == 2


def test_kill_with_signal_and_restart(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "k", engine.image, "sh", "-c",
                     "trap 'exit 42' USR1; while true; do sleep 0.1; done", check=True)
    assert engine.run_onggi("kill", "-s", "USR1", "k", check=True).stdout == "k\n"
    assert engine.run_onggi("wait", "k", check=True).stdout == "42\n"
    r = engine.run_onggi("kill", "k")
    assert r.returncode == 125 and "can only kill running containers" in r.stderr
    engine.run_onggi("restart", "k", check=True)
    assert engine.inspect("k")["State"]["Status"] == "running"
    engine.run_onggi("rm", "-f", "k", check=True)
    assert engine.run_onggi("ps", "-aq").stdout == ""


def test_restart_policy_on_failure(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "rp", "--restart", "on-failure:2", engine.image,
                     "sh", "-c", "echo try; exit 1", check=True)
    engine.wait_for(lambda: engine.run_onggi("logs", "rp").stdout.count("try") == 3, timeout=20,
                    what="two restarts")
    engine.wait_for(lambda: engine.inspect("rp")["State"]["Status"] == "exited", what="the last exit")
    doc = engine.inspect("rp")
    assert doc["RestartCount"] == 2 and doc["State"]["ExitCode"] == 1


def test_pause_unpause(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "p", engine.image, "sleep", "1000", check=True)
    engine.run_onggi("pause", "p", check=True)
    assert engine.inspect("p")["State"]["Status"] == "paused"
    engine.run_onggi("unpause", "p", check=True)
    assert engine.inspect("p")["State"]["Status"] == "running"
    engine.run_onggi("rm", "-f", "p", check=True)


def test_ps_filters_and_json(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "a1", "-l", "tier=web", engine.image, "true", check=True)
    engine.run_onggi("run", *NONE, "--name", "b2", engine.image, "true", check=True)
    fmt = ("--format", "{{.Names}}")
    assert engine.run_onggi("ps", "-a", "--filter", "label=tier=web", *fmt).stdout == "a1\n"
    assert engine.run_onggi("ps", "-a", "--filter", "status=exited", *fmt).stdout == "b2\n"
    assert engine.run_onggi("ps", "-a", "--filter", "name=b", *fmt).stdout == "b2\n"
    assert engine.run_onggi("ps", "-a", "--filter", f"ancestor={engine.image}", *fmt).stdout == "b2\na1\n"
    data = json.loads(engine.run_onggi("ps", "-a", "--format", "json", check=True).stdout)
    assert sorted(d["Names"][0] for d in data) == ["a1", "b2"]
    assert {d["State"] for d in data} == {"created", "exited"}
    assert engine.run_onggi("ps", "-q").stdout == ""


def test_user_workdir_env_hostname(engine) -> None:  # noqa: ANN001
    r = engine.run_onggi("run", "--rm", *NONE, "-u", "app", "-w", "/tmp", "-e", "FOO=bar", "--hostname", "h1",
                         engine.image, "sh", "-c", "id -u; id -g; pwd; echo $FOO; hostname; echo $HOME", check=True)
    assert r.stdout.split() == ["1000", "1000", "/tmp", "bar", "h1", "/home/app"]
    r = engine.run_onggi("run", "--rm", *NONE, "-u", "nosuchuser", engine.image, "true")
    assert r.returncode != 0 and "nosuchuser" in r.stderr


def test_stdin_with_interactive(engine) -> None:  # noqa: ANN001
    r = engine.run_onggi("run", "--rm", "-i", *NONE, engine.image, "sh", "-c", "tr a-z A-Z", input="hello\n")
    assert (r.returncode, r.stdout) == (0, "HELLO\n")


def test_parallel_detached_runs(engine) -> None:  # noqa: ANN001
    procs = [engine.popen("run", "-d", *NONE, "--name", f"par{i}", engine.image, "sleep", "1000",
                          stdout=-1, stderr=-1) for i in range(20)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(rc == 0 for _, _, rc in results), [e for _, e, rc in results if rc]
    names = engine.run_onggi("ps", "--format", "{{.Names}}", check=True).stdout.split()
    assert sorted(names) == sorted(f"par{i}" for i in range(20))
    procs = [engine.popen("rm", "-f", f"par{i}", stdout=-1, stderr=-1) for i in range(20)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert engine.run_onggi("ps", "-aq").stdout == ""


def test_monitor_killed_container_keeps_running(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "orphan", engine.image, "sleep", "1000", check=True)
    doc = engine.inspect("orphan")
    monitor, pid = doc["State"]["ConmonPid"], doc["State"]["Pid"]
    os.kill(monitor, signal.SIGKILL)
    time.sleep(0.2)
    assert engine.inspect("orphan")["State"]["Status"] == "running"
    os.kill(pid, signal.SIGKILL)
    engine.wait_for(lambda: engine.inspect("orphan")["State"]["Status"] == "exited", what="the reaping")
    doc = engine.inspect("orphan")
    assert doc["State"]["ExitCode"] == -1 and "monitor" in doc["State"]["Error"]
    engine.run_onggi("rm", "orphan", check=True)


def test_cli_killed_mid_run_container_goes_on(engine) -> None:  # noqa: ANN001
    p = engine.popen("run", *NONE, "--name", "att", engine.image, "sh", "-c", "sleep 1; echo done",
                     stdout=-1, stderr=-1)
    engine.wait_for(lambda: engine.run_onggi("ps", "-q").stdout != "", what="the container")
    p.kill()
    p.wait()
    assert engine.run_onggi("wait", "att", check=True).stdout == "0\n"
    assert engine.run_onggi("logs", "att").stdout == "done\n"


def test_runtime_runc(engine) -> None:  # noqa: ANN001
    import shutil

    import pytest

    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    r = engine.run_onggi("run", "--rm", *NONE, "--runtime", "runc", engine.image, "sh", "-c", "echo via runc; exit 4")
    assert (r.returncode, r.stdout) == (4, "via runc\n"), r.stderr
    engine.run_onggi("run", "-d", *NONE, "--runtime", "runc", "--name", "rc", engine.image, "sleep", "100", check=True)
    assert engine.inspect("rc")["OCIRuntime"] == "runc"
    engine.run_onggi("rm", "-f", "rc", check=True)
