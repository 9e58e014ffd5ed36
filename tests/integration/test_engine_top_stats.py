"""``onggi top`` and ``onggi stats`` on a running container: podman's columns, the
container's own PIDs and users, figures from its cgroup; clear errors otherwise."""

from __future__ import annotations

import json

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def test_top(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "t", "-u", "nobody", engine.image, "sh", "-c",
                     "sleep 1000 & wait", check=True)
    engine.wait_for(lambda: "sleep" in engine.run_onggi("top", "t").stdout, what="sleep in top")
    lines = engine.run_onggi("top", "t", check=True).stdout.splitlines()
    assert lines[0].split() == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    rows = [ln.split(None, 7) for ln in lines[1:]]
    sh = next(r for r in rows if r[7].startswith("sh -c"))
    sleep = next(r for r in rows if r[7] == "sleep 1000")
    assert (sh[0], sh[1], sh[2]) == ("nobody", "1", "0")  # the container's pid namespace and passwd
    assert sleep[2] == "1" and sleep[0] == "nobody"
    out = engine.run_onggi("top", "t", "pid", "args", check=True).stdout.splitlines()
    assert out[0].split() == ["PID", "COMMAND"]
    r = engine.run_onggi("top", "t", "nosuchdescriptor")
    assert r.returncode == 125 and "nosuchdescriptor" in r.stderr
    engine.run_onggi("create", *NONE, "--name", "idle", engine.image, "true", check=True)
    r = engine.run_onggi("top", "idle")
    assert r.returncode == 125 and "running" in r.stderr


def test_stats(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "busy", "--memory", "64m", engine.image, "sh", "-c",
                     "while :; do :; done", check=True)
    engine.run_onggi("run", "-d", *NONE, "--name", "calm", engine.image, "sleep", "1000", check=True)
    out = engine.run_onggi("stats", "--no-stream", check=True).stdout.splitlines()
    assert out[0].split("  ")[0] == "ID" and "MEM USAGE / LIMIT" in out[0] and "AVG CPU %" in out[0]
    assert len(out) == 3
    got = {s["name"]: s for s in json.loads(engine.run_onggi("stats", "--no-stream", "--format", "json",
                                                             check=True).stdout)}
    assert set(got) == {"busy", "calm"}
    assert float(got["busy"]["cpu_percent"].rstrip("%")) > 20
    assert float(got["calm"]["cpu_percent"].rstrip("%")) < 20
    assert got["busy"]["mem_usage"].endswith("/ 67.11MB")  # the --memory limit
    assert got["busy"]["pids"] == "1"
    out = engine.run_onggi("stats", "--no-stream", "--format", "{{.Name}}={{.PIDs}}", "calm", check=True).stdout
    assert out == "calm=1\n"
