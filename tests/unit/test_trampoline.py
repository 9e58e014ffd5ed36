"""onggi.sys.trampoline: a sealed memfd that execs ``argv[1]`` with ``argv[2:]`` (argv0
kept) and the environment, and exits with the errno when it cannot."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import subprocess
import sys

import pytest

from onggi.sys import trampoline

pytestmark = pytest.mark.skipif(not trampoline.supported(), reason=f"no trampoline for {os.uname().machine}")

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")
F_GET_SEALS = 1034
SH = "/bin/sh"

# a helper process that becomes the trampoline: execve(memfd, argv, env)
_EXEC = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from onggi.sys import trampoline
argv, env = json.loads(sys.argv[2]), json.loads(sys.argv[3])
fd = trampoline.make_fd()
os.execve(fd, argv, env)
"""


def via_trampoline(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import json

    return subprocess.run([sys.executable, "-I", "-S", "-c", _EXEC, os.path.abspath(SRC), json.dumps(argv),
                           json.dumps(env or {})], capture_output=True, text=True, timeout=30)


@pytest.fixture
def fd():  # noqa: ANN201
    fd = trampoline.make_fd()
    yield fd
    os.close(fd)


def test_sealed_against_writes(fd: int) -> None:
    with pytest.raises(PermissionError) as ei:
        os.write(fd, b"\x90")
    assert ei.value.errno == errno.EPERM
    with pytest.raises(PermissionError):
        os.pwrite(fd, b"\x90", 0)
    with pytest.raises(PermissionError):
        os.ftruncate(fd, 0)
    with pytest.raises(PermissionError):
        os.ftruncate(fd, 1 << 20)
    seals = fcntl.fcntl(fd, F_GET_SEALS)
    want = trampoline.F_SEAL_SEAL | trampoline.F_SEAL_SHRINK | trampoline.F_SEAL_GROW | trampoline.F_SEAL_WRITE
    assert seals & want == want
    with pytest.raises(PermissionError):  # F_SEAL_SEAL: no seal can be removed or added
        fcntl.fcntl(fd, trampoline.F_ADD_SEALS, 0x10)


def test_sealed_through_proc_reopen(fd: int) -> None:
    """What a container process would try: open /proc/PID/exe (the memfd) for writing."""
    try:
        w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_CLOEXEC)
    except PermissionError:  # mode 0555: only root gets this far
        assert os.geteuid() != 0
    else:
        try:
            with pytest.raises(PermissionError) as ei:  # root: the seal stops the write
                os.write(w, b"\x90")
            assert ei.value.errno == errno.EPERM
        finally:
            os.close(w)
    with pytest.raises(PermissionError):
        os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)


def test_image(fd: int) -> None:
    st = os.fstat(fd)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o555
    assert st.st_size < 512
    assert os.pread(fd, 4, 0) == b"\x7fELF"
    assert not os.get_inheritable(fd)
    assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:onggi-exec")


def test_each_call_is_a_new_fd() -> None:
    a, b = trampoline.make_fd(), trampoline.make_fd()
    try:
        assert a != b
        assert os.pread(a, 4096, 0) == os.pread(b, 4096, 0)
    finally:
        os.close(a)
        os.close(b)


def test_execs_with_argv0_args_and_env() -> None:
    script = 'tr "\\0" "|" < /proc/$$/cmdline; printf "%s|%s|%s" "$0" "$1" "$FOO"'
    r = via_trampoline([SH, "my-argv0", "-c", script, "zero", "one"], {"FOO": "bar baz"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"my-argv0|-c|{script}|zero|one|zero|one|bar baz"


def test_env_is_exactly_what_was_passed() -> None:
    r = via_trampoline(["/usr/bin/env", "env"], {"A": "1", "B": "x=y", "EMPTY": ""})
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["A=1", "B=x=y", "EMPTY="]
    r = via_trampoline(["/usr/bin/env", "env"], {})
    assert r.returncode == 0 and r.stdout == ""


def test_exit_status_passes_through() -> None:
    assert via_trampoline([SH, "sh", "-c", "exit 42"]).returncode == 42


@pytest.mark.parametrize("program,code", [
    ("/nonexistent/program", errno.ENOENT),
    ("/etc/passwd/x", errno.ENOTDIR),
    ("/etc", errno.EACCES),            # a directory
    ("/etc/passwd", errno.EACCES),     # not executable
])
def test_failed_exec_exits_with_the_errno(program: str, code: int) -> None:
    r = via_trampoline([program, "x"])
    assert r.returncode == code
    assert r.stdout == "" and r.stderr == ""


def test_proc_self_exe_is_not_the_host_python() -> None:
    host = os.path.realpath(sys.executable)
    r = via_trampoline([SH, "sh", "-c", "readlink /proc/$$/exe"])
    assert r.returncode == 0, r.stderr
    exe = r.stdout.strip()
    assert exe == os.path.realpath(SH)
    assert exe != host and "python" not in exe


def test_reentry_through_proc_self_exe_is_the_trampoline() -> None:
    """``/proc/self/exe`` while the trampoline runs is the trampoline itself: exec'ing it
    starts the trampoline again (with the arguments shifted), not the host interpreter."""
    r = via_trampoline(["/proc/self/exe", SH, "sh", "-c", "echo reentered; readlink /proc/$$/exe"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["reentered", os.path.realpath(SH)]


@pytest.mark.parametrize("argv", [["/proc/self/exe"], ["/proc/self/exe", "x"]])
def test_reentry_without_a_program_stops(argv: list[str]) -> None:
    assert via_trampoline(argv).returncode == 127


def test_shebang_proc_self_exe_stops(tmp_path) -> None:  # noqa: ANN001
    """A ``#!/proc/self/exe`` program (the CVE-2019-5736 trick) ends, and never runs the
    host interpreter."""
    script = tmp_path / "evil"
    script.write_text("#!/proc/self/exe\nimport sys; print('python ran')\n")
    script.chmod(0o755)
    r = via_trampoline([str(script), "evil"])
    assert r.returncode == 127
    assert "python ran" not in r.stdout
