"""The OCI runtime behind a container: onggi's own, called in-process (no interpreter
start-up per container), or any runc-compatible binary (``--runtime runc|PATH``) driven
through the runc command line, as conmon drives it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

from ..errors import InvalidArgument, NotFound, OnggiError
from .paths import Paths

__all__ = ["Runtime", "InProcess", "External", "for_container", "oom_kills"]

_ERRORS = {"not-found": NotFound, "invalid-argument": InvalidArgument}


class Runtime:
    name = ""
    root = ""

    def create(self, cid: str, bundle: str, stdio: tuple[int, int, int], terminal: bool) -> tuple[int, int]:
        """Create the container; its init gets ``stdio`` (or, with ``terminal``, a pty
        whose master is returned). Returns (init pid, master fd or -1)."""
        raise NotImplementedError

    def start(self, cid: str) -> None:
        raise NotImplementedError

    def delete(self, cid: str) -> None:
        raise NotImplementedError

    def pause(self, cid: str) -> None:
        raise NotImplementedError

    def resume(self, cid: str) -> None:
        raise NotImplementedError


class InProcess(Runtime):
    name = "onggi-runtime"

    def __init__(self, root: str) -> None:
        self.root = root

    def create(self, cid: str, bundle: str, stdio: tuple[int, int, int], terminal: bool) -> tuple[int, int]:
        from ..runtime.create import Options, create

        saved = [os.dup(i) for i in (0, 1, 2)]
        sock = None
        opts = Options(bundle=bundle)
        try:
            for i, fd in enumerate(stdio):
                os.dup2(fd, i)
            if terminal:
                import socket

                sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                opts.console_fd = theirs.detach()
            c = create(self.root, cid, opts)
        finally:
            for i, fd in enumerate(saved):
                os.dup2(fd, i)
                os.close(fd)
        master = -1
        if sock is not None:
            from ..runtime.console import recv_fd

            try:
                master = recv_fd(sock.fileno())
            finally:
                sock.close()
        return c.pid, master

    def start(self, cid: str) -> None:
        from ..runtime.start import start

        start(self.root, cid)

    def delete(self, cid: str) -> None:
        from ..runtime.delete import delete

        delete(self.root, cid, force=True)

    def pause(self, cid: str) -> None:
        from ..runtime.pause import pause

        pause(self.root, cid)

    def resume(self, cid: str) -> None:
        from ..runtime.pause import resume

        resume(self.root, cid)


class External(Runtime):
    """A runc-compatible binary; its state under ``<runtime root>/ext-<name>``."""

    def __init__(self, binary: str, root: str) -> None:
        path = binary if "/" in binary else shutil.which(binary)
        if not path or not os.access(path, os.X_OK):
            raise NotFound(f"--runtime {binary}: no such OCI runtime (not on PATH, or not executable)")
        self.binary = path
        self.name = binary
        self.root = os.path.join(root, "ext-" + os.path.basename(path))

    def _run(self, *args: str, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
        log = os.path.join(self.root, f"log-{os.getpid()}.json")
        os.makedirs(self.root, exist_ok=True)
        try:
            r = subprocess.run([self.binary, "--root", self.root, "--log", log, "--log-format", "json", *args],
                               **kw)
            if r.returncode != 0:
                raise OnggiError(f"{os.path.basename(self.binary)}: {_last_error(log) or 'exit status %d' % r.returncode}")
            return r
        finally:
            try:
                os.unlink(log)
            except FileNotFoundError:
                pass

    def create(self, cid: str, bundle: str, stdio: tuple[int, int, int], terminal: bool) -> tuple[int, int]:
        pid_file = os.path.join(bundle, "pidfile")
        if not terminal:
            self._run("create", "--bundle", bundle, "--pid-file", pid_file, cid,
                      stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
            return _read_pid(pid_file), -1
        from ..runtime.console import recv_fd
        from .frames import listen

        sock_path = os.path.join(bundle, "console.sock")
        srv = listen(sock_path)
        d = os.open(bundle, os.O_PATH | os.O_DIRECTORY)
        try:
            import threading

            got: list[int] = []

            def accept() -> None:
                try:
                    conn, _ = srv.accept()
                    with conn:
                        got.append(recv_fd(conn.fileno()))
                except OSError:
                    pass

            t = threading.Thread(target=accept, daemon=True)
            t.start()
            self._run("create", "--bundle", bundle, "--pid-file", pid_file,
                      "--console-socket", f"/proc/self/fd/{d}/console.sock", cid,
                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stdio[2], pass_fds=(d,))
            t.join(10)
        finally:
            srv.close()
            os.close(d)
            try:
                os.unlink(sock_path)
            except FileNotFoundError:
                pass
        if not got:
            raise OnggiError(f"{self.name}: no console received from the runtime")
        return _read_pid(pid_file), got[0]

    def start(self, cid: str) -> None:
        self._run("start", cid, stdin=subprocess.DEVNULL, capture_output=True)

    def delete(self, cid: str) -> None:
        self._run("delete", "--force", cid, stdin=subprocess.DEVNULL, capture_output=True)

    def pause(self, cid: str) -> None:
        self._run("pause", cid, stdin=subprocess.DEVNULL, capture_output=True)

    def resume(self, cid: str) -> None:
        self._run("resume", cid, stdin=subprocess.DEVNULL, capture_output=True)


def _read_pid(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip())


def _last_error(log: str) -> str:
    try:
        with open(log) as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("level") in ("error", "fatal"):
            return str(rec.get("msg", ""))
    return ""


def for_container(paths: Paths, runtime: str | None) -> Runtime:
    if runtime in (None, "", "onggi", "onggi-runtime"):
        return InProcess(paths.runtime_root)
    return External(runtime, paths.runtime_root)


def oom_kills(cid: str, cgroup_parent: str = "onggi") -> int:
    """How many processes the OOM killer took from the container's cgroup (v1 memory
    controller or v2), read before the runtime deletes the cgroup."""
    rel = f"{cgroup_parent}/{cid}"
    for path, key in ((f"/sys/fs/cgroup/memory/{rel}/memory.oom_control", "oom_kill"),
                      (f"/sys/fs/cgroup/{rel}/memory.events", "oom_kill"),
                      (f"/sys/fs/cgroup/unified/{rel}/memory.events", "oom_kill")):
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == key:
                        return int(v)
        except (OSError, ValueError):
            continue
    return 0


def signal_number(sig: str | int | None, default: int = signal.SIGTERM) -> int:
    """``KILL``, ``SIGKILL``, ``9`` -> 9 (podman's spellings)."""
    if sig is None or sig == "":
        return default
    from ..runtime.kill import signal_number as parse

    return parse(str(sig).upper() if not str(sig).isdigit() else int(sig))
