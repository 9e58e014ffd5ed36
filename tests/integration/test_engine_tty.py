"""``run -it`` and ``exec -it`` on a real pseudo-terminal: the caller's window size is
the container's (``stty size``), a resize (TIOCSWINSZ + SIGWINCH) reaches it, input is
echoed back, and the exit code comes through."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import termios
import time

import pytest
from engine_support import ONGGI, busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Term:
    """onggi on a pseudo-terminal whose size we choose."""

    def __init__(self, engine, args: list[str], rows: int, cols: int) -> None:  # noqa: ANN001
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            _set_size(0, rows, cols)
            os.execve(ONGGI, [ONGGI, *args], engine.env)
        self.out = b""
        self.status: int | None = None

    def read_until(self, pattern: bytes, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.out)
            if m:
                return m
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                self.out += data
        raise AssertionError(f"no {pattern!r} in {self.out!r}")

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)

    def resize(self, rows: int, cols: int) -> None:
        _set_size(self.fd, rows, cols)  # the kernel sends SIGWINCH to the terminal's foreground group

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return os.waitstatus_to_exitcode(status)
            select.select([self.fd], [], [], 0.1)
            try:
                self.out += os.read(self.fd, 4096)
            except OSError:
                pass
        raise AssertionError(f"onggi did not exit; output {self.out!r}")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        os.close(self.fd)


def _session(engine, args: list[str]) -> None:  # noqa: ANN001
    t = Term(engine, args, 33, 101)
    try:
        t.read_until(rb"[#$] ")  # the shell's prompt
        t.type(b"stty size; echo mark-$((6*7))\n")
        t.read_until(rb"stty size; echo mark-\$\(\(6\*7\)\)")  # the terminal echoes what we type
        t.read_until(rb"33 101\r\nmark-42")
        t.resize(41, 77)
        time.sleep(0.5)
        t.type(b"stty size\n")
        t.read_until(rb"41 77\r\n")
        t.type(b"exit 5\n")
        assert t.wait() == 5, t.out
    finally:
        t.close()


def test_run_it_terminal_size_and_resize(engine) -> None:  # noqa: ANN001
    _session(engine, ["run", "--rm", "-it", *NONE, engine.image, "sh"])


def test_exec_it_terminal_size_and_resize(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "box", engine.image, "sleep", "1000", check=True)
    _session(engine, ["exec", "-it", "box", "sh"])


def test_exec_it_in_a_runc_container(engine) -> None:  # noqa: ANN001
    runc = shutil.which("runc")
    if not runc:
        pytest.skip("runc is not installed")
    engine.run_onggi("run", "-d", *NONE, "--runtime", runc, "--name", "rbox", engine.image, "sleep", "1000",
                     check=True)
    _session(engine, ["exec", "-it", "rbox", "sh"])
