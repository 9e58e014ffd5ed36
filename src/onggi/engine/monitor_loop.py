"""The monitor's work once it is detached (see :mod:`.monitor`): start, copy I/O, wait,
record, clean up, restart or remove."""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time

from ..errors import OnggiError
from .frames import Reader, listen, pack
from .options import RunOptions
from .paths import Paths
from .state import EXITED, RUNNING, StateDB

_READ = selectors.EVENT_READ


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = Reader()
        sock.settimeout(5)

    def send(self, kind: bytes, payload: bytes = b"") -> bool:
        try:
            self.sock.sendall(pack(kind, payload))
            return True
        except OSError:
            return False


class Monitor:
    def __init__(self, paths: Paths, cid: str, first: socket.socket) -> None:
        self.paths = paths
        self.cid = cid
        self.clients: list[Client] = [Client(first)]
        self.first = self.clients[0]
        self.sel = selectors.DefaultSelector()
        self.stdin_w = -1
        self.master = -1
        self.db: StateDB | None = None

    # ---- the life of the container --------------------------------------------------
    def run(self) -> None:
        from .cleanup import lock
        from .monitor import alive
        from ..runtime.state import proc_start_time

        self.db = StateDB(self.paths.db)
        rundir = self.paths.container_run_dir(self.cid)
        os.makedirs(rundir, exist_ok=True)
        me, me_start = os.getpid(), proc_start_time(os.getpid()) or 0
        self.server = listen(os.path.join(rundir, "attach"))
        self.sel.register(self.server, _READ, "accept")
        with lock(self.paths, self.cid):
            rec = self.db.get(self.cid)
            if rec.state in (RUNNING, "paused") and alive(rec.monitor_pid, rec.monitor_start):
                self.first.send(b"s", str(rec.pid).encode())
                return
            self.db.update(self.cid, monitor_pid=me, monitor_start=me_start, stop_requested=False)
        backoff = 0.1
        while True:
            code = self.once()
            if code is None:
                return  # it never started: the error went to the client
            rec = self.db.get(self.cid)
            opts = RunOptions.from_json(rec.options)
            if opts.rm:
                self._remove(rec)
                self._tell_exit(code)
                return
            self._tell_exit(code)
            if rec.stop_requested or not _should_restart(opts.restart, code, rec.restart_count):
                return
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            rec = self.db.get(self.cid)
            if rec.stop_requested:
                return
            self.db.update(self.cid, "restart", restart_count=rec.restart_count + 1)

    def once(self) -> int | None:
        """One start to exit; the exit code, or None if it failed to start."""
        from ..runtime.state import proc_start_time
        from .cleanup import after_exit, lock, release_network, unmount_rootfs
        from .logs import LogWriter
        from .prepare import prepare
        from .runtimes import for_container, oom_kills

        assert self.db is not None
        rec = self.db.get(self.cid)
        opts = RunOptions.from_json(rec.options)
        runtime = for_container(self.paths, opts.runtime)
        pipes: list[int] = []
        try:
            with lock(self.paths, self.cid):
                bundle, terminal, setup = prepare(self.paths, rec)
                rec.network = setup
                try:
                    in_r, stdio, outs = self._stdio(opts, terminal)
                    pipes = outs
                    pid, master = runtime.create(self.cid, bundle, stdio, terminal)
                    self._close_child_ends(stdio)
                    start = proc_start_time(pid) or 0
                    runtime.start(self.cid)
                except BaseException:
                    release_network(self.paths, self.cid, setup)
                    unmount_rootfs(self.paths, self.cid)
                    from .cleanup import delete_runtime_state

                    delete_runtime_state(self.paths, rec)
                    raise
                self.db.update(self.cid, "start", state=RUNNING, pid=pid, pid_start=start,
                               started=time.time(), finished=0.0, exit_code=0, oom_killed=False,
                               network=setup, error="")
        except OnggiError as e:
            self._close_all(pipes)
            self.db.update(self.cid, state=rec.state if rec.state != RUNNING else EXITED, error=str(e))
            for c in self.clients:
                c.send(b"E", f"{e.category}\0{e}".encode())
            return None
        self.first.send(b"s", str(pid).encode())
        if master >= 0:
            self.master = master
            os.set_blocking(master, False)
            self.sel.register(master, _READ, ("out", "stdout"))
        else:
            for fd, name in zip(pipes, ("stdout", "stderr")):
                os.set_blocking(fd, False)
                self.sel.register(fd, _READ, ("out", name))
        log = LogWriter(os.path.join(self.paths.container_dir(self.cid), "ctr.log"),
                        int(getattr(opts, "log_size_max", -1) or -1))
        try:
            status = self._pump(pid, log)
        finally:
            for fd in ([master] if master >= 0 else pipes):
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
            log.close()
            self._close_all(pipes + ([master] if master >= 0 else []))
            self.master = -1
            if self.stdin_w >= 0:
                os.close(self.stdin_w)
                self.stdin_w = -1
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            code = 128 - code
        oom = oom_kills(self.cid) > 0
        with lock(self.paths, self.cid):
            after_exit(self.paths, self.db, self.db.get(self.cid), code, oom)
        return code

    # ---- stdio ------------------------------------------------------------------------
    def _stdio(self, opts: RunOptions, terminal: bool) -> tuple[int, tuple[int, int, int], list[int]]:
        """(the container's stdin read end, its three fds, our read ends)."""
        self._child_ends: list[int] = []
        if opts.interactive and not terminal:
            in_r, self.stdin_w = os.pipe2(os.O_CLOEXEC)
            self._child_ends.append(in_r)
        else:
            in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            self._child_ends.append(in_r)
        if terminal:
            return in_r, (in_r, in_r, in_r), []
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self._child_ends += [out_w, err_w]
        return in_r, (in_r, out_w, err_w), [out_r, err_r]

    def _close_child_ends(self, stdio: tuple[int, int, int]) -> None:
        for fd in set(self._child_ends):
            try:
                os.close(fd)
            except OSError:
                pass
        self._child_ends = []

    @staticmethod
    def _close_all(fds: list[int]) -> None:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    # ---- the loop ---------------------------------------------------------------------
    def _pump(self, pid: int, log) -> int:  # noqa: ANN001
        """Copy output and stdin until init exits; returns its wait status."""
        pidfd = os.pidfd_open(pid)
        self.sel.register(pidfd, _READ, "exit")
        for c in self.clients:
            self._watch(c)
        status = None
        try:
            while status is None:
                for key, _ in self.sel.select(1.0):
                    status = self._event(key, pid, log) if status is None else status
                if status is None:
                    status = self._reap_others(pid)
            self._drain(log)
            return status
        finally:
            self.sel.unregister(pidfd)
            os.close(pidfd)

    def _watch(self, c: Client) -> None:
        try:
            self.sel.register(c.sock, _READ, c)
        except KeyError:
            pass

    def _event(self, key: selectors.SelectorKey, pid: int, log) -> int | None:  # noqa: ANN001
        data = key.data
        if data == "exit":
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = 255 << 8
            return status
        if data == "accept":
            try:
                conn, _ = self.server.accept()
            except OSError:
                return None
            c = Client(conn)
            self.clients.append(c)
            self._watch(c)
            return None
        if isinstance(data, tuple):
            self._read_output(key.fd, data[1], log)
            return None
        self._client_input(data)
        return None

    def _read_output(self, fd: int, stream: str, log) -> bool:  # noqa: ANN001
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            chunk = b""
        if not chunk:
            try:
                self.sel.unregister(fd)
            except KeyError:
                pass
            return False
        log.write(stream, chunk)
        kind = b"o" if stream == "stdout" else b"e"
        self.clients = [c for c in self.clients if c.send(kind, chunk) or self._drop(c)]
        return True

    def _drop(self, c: Client) -> bool:
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        return False

    def _client_input(self, c: Client) -> None:
        try:
            data = c.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            if c in self.clients:
                self.clients.remove(c)
            self._drop(c)
            return
        for kind, payload in c.reader.feed(data):
            target = self.master if self.master >= 0 else self.stdin_w
            if kind == b"i" and target >= 0:
                try:
                    os.write(target, payload)
                except OSError:
                    pass
            elif kind == b"c" and self.stdin_w >= 0:
                os.close(self.stdin_w)
                self.stdin_w = -1
            elif kind == b"w" and self.master >= 0:
                try:
                    rows, cols = (int(x) for x in payload.split())
                    from ..runtime.console import set_size

                    set_size(self.master, rows, cols)
                except (ValueError, OSError):
                    pass

    def _drain(self, log) -> None:  # noqa: ANN001
        """After init's exit: what is left in the pipes (every writer is gone with the
        pid namespace; a writer outside it, as with --pid host, gets 2 s)."""
        deadline = time.monotonic() + 2
        fds = [k.fd for k in self.sel.get_map().values() if isinstance(k.data, tuple)]
        streams = {k.fd: k.data[1] for k in self.sel.get_map().values() if isinstance(k.data, tuple)}
        while fds and time.monotonic() < deadline:
            for key, _ in self.sel.select(0.05):
                if isinstance(key.data, tuple) and not self._read_output(key.fd, key.data[1], log):
                    fds.remove(key.fd)
            fds = [fd for fd in fds if fd in streams and self._registered(fd)]

    def _registered(self, fd: int) -> bool:
        try:
            self.sel.get_key(fd)
            return True
        except KeyError:
            return False

    @staticmethod
    def _reap_others(pid: int) -> int | None:
        """Orphans (exec'd processes whose caller went) are reparented to us: reap them;
        the wait status of ``pid`` if it was among them."""
        while True:
            try:
                wpid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if wpid == 0:
                return None
            if wpid == pid:
                return status

    # ---- the end ----------------------------------------------------------------------
    def _tell_exit(self, code: int) -> None:
        for c in self.clients:
            c.send(b"x", str(code).encode())
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
        self.clients = []
        self.first = Client.__new__(Client)
        self.first.sock = _Closed()

    def _remove(self, rec) -> None:  # noqa: ANN001
        from .cleanup import lock, remove

        assert self.db is not None
        try:
            self.server.close()
        except OSError:
            pass
        with lock(self.paths, self.cid):
            remove(self.paths, self.db, self.db.get(self.cid))


class _Closed:
    def sendall(self, data: bytes) -> None:
        raise OSError(errno.EPIPE, "closed")

    def close(self) -> None:
        pass


def _should_restart(policy: str, code: int, count: int) -> bool:
    name, _, limit = (policy or "no").partition(":")
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        return code != 0 and (not limit or count < int(limit))
    return False
