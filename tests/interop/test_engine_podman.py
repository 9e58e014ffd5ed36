"""The same command lines through podman and onggi (same busybox image): what users see
must agree: output, exit codes, inspect fields, logs, ps columns."""

from __future__ import annotations

import json

import pytest
from engine_support import busybox_archive, engine, podman  # noqa: F401  (fixtures)

NONE = ("--network", "none")


@pytest.mark.parametrize("args", [
    ["sh", "-c", "echo out; echo err >&2; exit 3"],
    ["true"],
    ["nosuchprogram"],
    ["--entrypoint", "/etc/passwd"],
    ["-u", "app", "-w", "/tmp", "sh", "-c", "id -u; id -g; id -G; pwd"],
    ["-e", "FOO=bar", "sh", "-c", "echo $FOO $PATH $TERM $container"],
])
def test_run_same_output_and_code(engine, podman, args: list[str]) -> None:  # noqa: ANN001
    i = 0
    pre, cmd = [], []
    while i < len(args):
        if args[i] in ("--entrypoint", "-u", "-w", "-e"):
            pre += args[i:i + 2]
            i += 2
        else:
            cmd = args[i:]
            break
    o = engine.run_onggi("run", "--rm", *NONE, *pre, engine.image, *cmd)
    p = podman("run", "--rm", *NONE, *pre, podman.image, *cmd)
    assert o.returncode == p.returncode, (o.stderr, p.stderr)
    assert o.stdout == p.stdout


def test_missing_image_is_125(engine, podman) -> None:  # noqa: ANN001
    o = engine.run_onggi("run", "--rm", "--pull", "never", "localhost/nope:latest", "true")
    p = podman("run", "--rm", "--pull", "never", "localhost/nope:latest", "true")
    assert o.returncode == p.returncode == 125


def test_inspect_and_logs_agree(engine, podman) -> None:  # noqa: ANN001
    cmd = ["sh", "-c", "echo one; echo two >&2; exit 5"]
    engine.run_onggi("run", *NONE, "--name", "x", "-l", "k=v", engine.image, *cmd)
    podman("run", *NONE, "--name", "x", "-l", "k=v", podman.image, *cmd)
    o = json.loads(engine.run_onggi("inspect", "x").stdout)[0]
    p = json.loads(podman("inspect", "x").stdout)[0]
    for key in ("Name", "Path", "Args", "ImageName", "RestartCount"):
        assert o[key] == p[key], key
    for key in ("Status", "Running", "Paused", "ExitCode", "OOMKilled", "Pid"):
        assert o["State"][key] == p["State"][key], key
    assert o["Config"]["Labels"] == p["Config"]["Labels"]
    assert o["Config"]["Tty"] == p["Config"]["Tty"]
    assert engine.run_onggi("logs", "x").stdout == podman("logs", "x").stdout
    fmt = "{{.Names}} {{.State}}"
    o_ps, p_ps = engine.run_onggi("ps", "-a", "--format", fmt).stdout, podman("ps", "-a", "--format", fmt).stdout
    assert o_ps.split(")")[0] == p_ps.split(")")[0] == "x Exited (5"  # the ages may differ by a second
    assert (engine.run_onggi("ps", "-a").stdout.splitlines()[0].split()
            == podman("ps", "-a").stdout.splitlines()[0].split())
    r_o, r_p = engine.run_onggi("rm", "x"), podman("rm", "x")
    assert (r_o.returncode, r_o.stdout) == (r_p.returncode, r_p.stdout)
