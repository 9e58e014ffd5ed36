"""Terminals through the real onggi-runtime: ``--console-socket`` (the pty master sent
to a unix socket, as runc does) for ``create`` and ``exec --tty``, and ``run`` with a
terminal and no socket, attached to the caller's own pty."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest

TIOCGPTN = 0x80045430  # not in the termios module


class ConsoleServer:
    """A unix socket that accepts one connection and takes the fd sent over it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.fds: list[int] = []
        self.names: list[bytes] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.sock.settimeout(30)
            conn, _ = self.sock.accept()
            with conn:
                msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
                self.names.append(msg)
                self.fds.extend(fds)
        except BaseException as e:  # noqa: BLE001 - reported by master()
            self.error = e

    def master(self, timeout: float = 10) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "no fd arrived on the console socket"
        assert self.error is None, self.error
        assert len(self.fds) == 1, self.fds
        return self.fds[0]

    def close(self) -> None:
        self.sock.close()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


@pytest.fixture
def console(tmp_path):  # noqa: ANN001, ANN201
    servers = []

    def make() -> ConsoleServer:
        s = ConsoleServer(str(tmp_path / f"console{len(servers)}.sock"))
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def read_all(master: int, timeout: float = 10, until: bytes | None = None) -> bytes:
    """Read the master until the slave side is closed (EIO) or ``until`` is seen."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if not r:
            continue
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if until is not None and until in out:
            break
    return out


def _lines(data: bytes) -> list[str]:
    return [x.strip() for x in data.decode(errors="replace").replace("\r", "").splitlines() if x.strip()]


def _is_pty_master(fd: int) -> bool:
    try:
        fcntl.ioctl(fd, TIOCGPTN, b"\0\0\0\0")
        return True
    except OSError:
        return False


def test_create_console_socket(runtime, make_bundle, console):
    b = make_bundle(["sh", "-c", "tty; stty size; echo hi; exit 3"])
    b.config["process"]["terminal"] = True
    b.config["process"]["consoleSize"] = {"height": 30, "width": 100}
    b.write()
    srv = console()
    cid = runtime.new_id()
    r = runtime("create", "--console-socket", srv.path, "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    master = srv.master()
    assert _is_pty_master(master)
    # the size was set before the process ran
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    assert (rows, cols) == (30, 100)
    runtime("start", cid, check=True)
    out = _lines(read_all(master))
    assert len(out) == 3, out
    assert out[0].startswith("/dev/pts/"), out  # a pts of the container's own devpts
    assert out[1] == "30 100"
    assert out[2] == "hi"
    for _ in range(250):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert runtime.state(cid)["status"] == "stopped"


def test_console_is_bound_on_dev_console(runtime, make_bundle, console):
    b = make_bundle(["sh", "-c", "ls -l /dev/console | cut -c1; readlink /proc/self/fd/0; "
                                 "stat -c %t:%T /dev/console; stat -L -c %t:%T /proc/self/fd/0"])
    b.config["process"]["terminal"] = True
    b.write()
    srv = console()
    cid = runtime.new_id()
    runtime("create", "--console-socket", srv.path, "--bundle", b.path, cid, check=True)
    master = srv.master()
    runtime("start", cid, check=True)
    out = _lines(read_all(master))
    assert out[0] == "c" and out[1].startswith("/dev/pts/"), out
    assert out[2] == out[3], out  # /dev/console is the same device as the process's tty


def test_terminal_without_console_socket_is_refused_by_create(runtime, make_bundle):
    b = make_bundle(["true"])
    b.config["process"]["terminal"] = True
    b.write()
    cid = runtime.new_id()
    r = runtime("create", "--bundle", b.path, cid)
    assert r.returncode == 1 and "console-socket" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_console_socket_not_listening(runtime, make_bundle, tmp_path):
    b = make_bundle(["true"])
    b.config["process"]["terminal"] = True
    b.write()
    cid = runtime.new_id()
    r = runtime("create", "--console-socket", str(tmp_path / "nobody.sock"), "--bundle", b.path, cid)
    assert r.returncode == 1 and "nobody.sock" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def _exec_on_console(runtime, srv, args: list[str]) -> tuple[int, list[str], str]:  # noqa: ANN001
    """``exec --console-socket`` with ``args``: (exit code, lines read from the pty
    master it sent, stderr)."""
    p = subprocess.Popen([runtime.binary, "--root", runtime.root, "exec", "--console-socket", srv.path, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        master = srv.master()
        assert _is_pty_master(master)
        out = _lines(read_all(master))
        code = p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return code, out, p.stderr.read().decode(errors="replace")


def test_exec_tty_console_socket(runtime, make_bundle, console):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    srv = console()
    code, out, err = _exec_on_console(runtime, srv, ["--tty", cid, "sh", "-c", "tty; stty size; echo hi; exit 3"])
    assert code == 3, err
    assert out[0].startswith("/dev/pts/"), out
    assert out[-1] == "hi", out  # (stty size of a 0x0 terminal: busybox prints an error)
    assert runtime.state(cid)["status"] == "running"


def test_exec_process_json_with_console_size(runtime, make_bundle, console, tmp_path):
    import json

    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    proc = dict(b.config["process"], terminal=True, consoleSize={"height": 30, "width": 100},
                args=["sh", "-c", "tty; stty size; echo hi"])
    (tmp_path / "process.json").write_text(json.dumps(proc))
    srv = console()
    code, out, err = _exec_on_console(runtime, srv, ["--process", str(tmp_path / "process.json"), cid])
    assert code == 0, err
    assert out[0].startswith("/dev/pts/") and out[1:] == ["30 100", "hi"], out


def test_exec_tty_detached_console_socket(runtime, make_bundle, console):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    srv = console()
    r = runtime("exec", "-d", "--tty", "--console-socket", srv.path, cid, "sh", "-c", "read x; echo got $x")
    assert r.returncode == 0, r.stderr
    master = srv.master()
    os.write(master, b"jar\n")
    out = read_all(master, until=b"got jar")
    assert b"got jar" in out, out


def _run_in_pty(argv: list[str], rows: int, cols: int, feed: bytes | None = None,
                timeout: float = 20) -> tuple[int, bytes]:
    pid, master = pty.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if feed is not None:
            time.sleep(0.5)
            os.write(master, feed)
        out = read_all(master, timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            wpid, status = os.waitpid(pid, os.WNOHANG)
            if wpid:
                return os.waitstatus_to_exitcode(status), out
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"run did not exit; output so far {out!r}")
            time.sleep(0.02)
    finally:
        os.close(master)


def test_run_with_terminal_attaches_to_the_callers_pty(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "tty; stty size; echo hi; exit 7"])
    b.config["process"]["terminal"] = True
    b.write()
    cid = runtime.new_id()
    code, out = _run_in_pty([runtime.binary, "--root", runtime.root, "run", "--bundle", b.path, cid], 33, 111)
    lines = _lines(out)
    assert code == 7, (code, out)
    assert lines[0].startswith("/dev/pts/"), lines
    assert "33 111" in lines, lines  # our window size reached the container's terminal
    assert "hi" in lines
    assert not os.path.exists(os.path.join(runtime.root, cid))  # run deleted it


def test_run_with_terminal_forwards_input(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "read line; echo \"got [$line]\""])
    b.config["process"]["terminal"] = True
    b.write()
    cid = runtime.new_id()
    code, out = _run_in_pty([runtime.binary, "--root", runtime.root, "run", "--bundle", b.path, cid], 24, 80,
                            feed=b"onggi jar\r")
    assert code == 0, (code, out)
    assert "got [onggi jar]" in out.decode(errors="replace"), out


def test_exec_tty_attaches_to_the_callers_pty(runtime, make_bundle):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    code, out = _run_in_pty([runtime.binary, "--root", runtime.root, "exec", "--tty", cid,
                             "sh", "-c", "tty; stty size; exit 3"], 41, 99)
    lines = _lines(out)
    assert code == 3, (code, out)
    assert lines[0].startswith("/dev/pts/"), lines
    assert "41 99" in lines, lines
    runtime("delete", "--force", cid, check=True)
