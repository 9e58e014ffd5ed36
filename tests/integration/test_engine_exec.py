"""``onggi exec``: output, exit codes (the process's own, 125 when the container is not
running, 126 not executable, 127 not found), env/user/workdir, stdin only with -i,
detached processes, ``--runtime runc`` containers, and ``exec -it`` / ``run -it`` through
a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import shutil
import time

import pytest
from engine_support import ONGGI, busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def _sleeper(engine, name: str = "box", *extra: str) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, *extra, "--name", name, engine.image, "sleep", "1000", check=True)


def test_exec_output_codes_env_user_workdir(engine) -> None:  # noqa: ANN001
    _sleeper(engine)
    r = engine.run_onggi("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")
    r = engine.run_onggi("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "box", "sh", "-c",
                         "echo $FOO; pwd; id -u")
    assert r.stdout == "bar\n/tmp\n65534\n", r.stderr
    r = engine.run_onggi("exec", "box", "nosuchprogram")
    assert r.returncode == 127 and "nosuchprogram" in r.stderr
    r = engine.run_onggi("exec", "box", "/etc")
    assert r.returncode == 126 and "permission denied" in r.stderr
    r = engine.run_onggi("exec", "-u", "nosuchuser", "box", "true")
    assert r.returncode == 125 and "nosuchuser" in r.stderr
    r = engine.run_onggi("exec", "nosuchcontainer", "true")
    assert r.returncode == 125 and "nosuchcontainer" in r.stderr


def test_exec_stdin_only_with_i_and_detached(engine) -> None:  # noqa: ANN001
    _sleeper(engine)
    r = engine.run_onggi("exec", "-i", "box", "sh", "-c", "cat", input="piped\n")
    assert r.stdout == "piped\n"
    r = engine.run_onggi("exec", "box", "sh", "-c", "cat; echo eof", input="ignored\n")
    assert r.stdout == "eof\n"
    assert engine.run_onggi("exec", "-d", "box", "sh", "-c", "echo bg > /tmp/bg").returncode == 0
    engine.wait_for(lambda: engine.run_onggi("exec", "box", "cat", "/tmp/bg").stdout == "bg\n",
                    what="the detached process's file")


def test_exec_in_a_stopped_container_is_125(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "idle", engine.image, "true", check=True)
    r = engine.run_onggi("exec", "idle", "true")
    assert r.returncode == 125 and "can only create exec sessions on running containers" in r.stderr


def test_exec_with_runc(engine) -> None:  # noqa: ANN001
    runc = shutil.which("runc")
    if not runc:
        pytest.skip("runc is not installed")
    _sleeper(engine, "withrunc", "--runtime", runc)
    r = engine.run_onggi("exec", "-e", "X=1", "withrunc", "sh", "-c", "echo $X; exit 4")
    assert (r.returncode, r.stdout) == (4, "1\n"), r.stderr


def _pty_session(engine, args: list[str], typed: bytes, timeout: float = 20) -> tuple[int, bytes]:  # noqa: ANN001
    """Run onggi on a new pseudo-terminal, type ``typed``, return (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(ONGGI, [ONGGI, *args], engine.env)
    out = b""
    deadline = time.monotonic() + timeout
    sent = False
    status = None
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                out += data
            if not sent and out:  # the shell is up (a prompt or an echo)
                time.sleep(0.3)
                os.write(fd, typed)
                sent = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


def test_exec_it_and_run_it_through_a_terminal(engine) -> None:  # noqa: ANN001
    _sleeper(engine)
    code, out = _pty_session(engine, ["exec", "-it", "box", "sh"],
                             b"tty; echo $((6*7)); exit 3\n")
    assert code == 3, out
    assert b"42" in out and b"/dev/pts/" in out, out
    code, out = _pty_session(engine, ["run", "--rm", "-it", *NONE, engine.image, "sh"],
                             b"tty; echo $((5*5)); exit 4\n")
    assert code == 4, out
    assert b"25" in out and b"/dev/pts/" in out, out
