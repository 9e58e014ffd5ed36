"""start, stop, kill, restart, wait, pause, unpause, rename: refresh -> check -> act ->
persist, on the state database and the container's monitor."""

from __future__ import annotations

import os
import socket
import time

from ..errors import AlreadyExists, Conflict, FailedPrecondition, NotFound, OnggiError
from .frames import Reader
from .options import RunOptions
from .paths import Paths
from .state import CREATED, EXITED, LIVE, PAUSED, RUNNING, STOPPED, Record, StateDB

__all__ = ["StartError", "start", "start_detached", "stop", "kill", "wait", "pause", "unpause", "rename",
           "lookup", "check_removable"]


class StartError(OnggiError):
    """The container could not be started; ``exit_code`` is podman's: 125, 126
    (cannot invoke) or 127 (not found)."""

    def __init__(self, message: str, exit_code: int = 125, category: str = "unknown") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.category = category


def lookup(paths: Paths, db: StateDB, ref: str) -> Record:
    from .cleanup import reap_if_orphaned

    return reap_if_orphaned(paths, db, db.lookup(ref))


def _error_from(payload: bytes) -> StartError:
    category, _, msg = payload.decode(errors="replace").partition("\0")
    if category == "not-found" and "exec" in msg:
        return StartError(f"{msg}: OCI runtime attempted to invoke a command that was not found", 127, category)
    if category == "permission-denied":
        return StartError(msg, 126, category)
    return StartError(msg, 125, category)


def start(paths: Paths, rec: Record) -> tuple[socket.socket, int, list[tuple[bytes, bytes]], Reader]:
    """Start container ``rec`` through a new monitor. Returns the control socket, the
    container's pid, frames that came after the start message (output already) and the
    frame reader (holding any partial frame)."""
    from .monitor import spawn

    if rec.options.get("pod") or str(rec.options.get("network", "")).startswith("container:"):
        from .pods import ensure_infra

        ensure_infra(paths, rec)
    sock = spawn(paths, rec.id)
    reader = Reader()
    while True:
        data = sock.recv(65536)
        if not data:
            sock.close()
            raise StartError(f"container {rec.id}: its monitor exited before the container started "
                             f"(see {paths.container_run_dir(rec.id)}/monitor.err)")
        frames = reader.feed(data)
        for i, (kind, payload) in enumerate(frames):
            if kind == b"s":
                return sock, int(payload), frames[i + 1:], reader
            if kind == b"E":
                sock.close()
                raise _error_from(payload)


def start_detached(paths: Paths, db: StateDB, ref: str) -> Record:
    rec = lookup(paths, db, ref)
    if rec.state in LIVE:
        return rec
    if rec.state == "removing":
        raise FailedPrecondition(f"container {rec.id} is being removed")
    db.close()
    sock, _pid, _, _ = start(paths, rec)
    sock.close()
    return rec


def signal_of(rec: Record, sig: str | int | None) -> int:
    from .runtimes import signal_number

    opts = RunOptions.from_json(rec.options)
    return signal_number(sig if sig not in (None, "") else (opts.stop_signal or rec.config.get("stop_signal")))


def kill(paths: Paths, db: StateDB, ref: str, sig: str | int = "KILL") -> Record:
    from .runtimes import signal_number

    rec = lookup(paths, db, ref)
    num = signal_number(sig)
    if rec.state not in LIVE:
        raise FailedPrecondition(f"can only kill running containers. {rec.id} is in state {rec.state}: "
                                 f"container state improper")
    # logged first: the monitor's "died" must not come before it
    db.event("container", "kill", rec.id, rec.name, {"image": rec.image, "signal": num})
    _signal(rec, num)
    return rec


def _signal(rec: Record, num: int) -> None:
    from .monitor import alive

    if not alive(rec.pid, rec.pid_start):
        return
    try:
        os.kill(rec.pid, num)
    except ProcessLookupError:
        pass
    if rec.state == PAUSED and num == 9:
        from ..runtime.state import Container

        try:
            from ..runtime.cgroup import manager_for

            manager_for(Container.load(_runtime_root(rec), rec.id, lock=False)).thaw()
        except OnggiError:
            pass


def _runtime_root(rec: Record) -> str:
    return Paths.from_env().runtime_root


def stop(paths: Paths, db: StateDB, ref: str, timeout: float | None = None) -> Record:
    """Stop signal, then SIGKILL after ``timeout`` (the container's, else 10 s); returns
    once the monitor has cleaned up."""
    from .monitor import alive, wait_exit

    rec = lookup(paths, db, ref)
    if rec.state not in LIVE + (STOPPED,):
        return rec
    opts = RunOptions.from_json(rec.options)
    if timeout is None:
        timeout = opts.stop_timeout if opts.stop_timeout is not None else 10
    db.update(rec.id, "stop", stop_requested=True)
    if rec.state == PAUSED:
        _signal(rec, 9)
    else:
        _signal(rec, signal_of(rec, None))
    if not wait_exit(rec.pid, rec.pid_start, timeout):
        _signal(rec, 9)
        wait_exit(rec.pid, rec.pid_start, 10)
    wait_exit(rec.monitor_pid, rec.monitor_start, 10)
    try:
        rec = db.get(rec.id)
    except NotFound:
        return rec  # --rm: the monitor removed it
    if rec.state in LIVE + (STOPPED,) and not alive(rec.monitor_pid, rec.monitor_start):
        from .cleanup import reap_if_orphaned

        rec = reap_if_orphaned(paths, db, rec)
    return rec


def wait(paths: Paths, db: StateDB, ref: str, conditions: tuple[str, ...] = ("stopped", "exited")) -> int:
    rec = lookup(paths, db, ref)
    while True:
        try:
            rec = lookup(paths, db, rec.id)
        except NotFound:
            return rec.exit_code if rec.state == EXITED else -1
        if rec.state in conditions or (rec.state == EXITED and "stopped" in conditions):
            return rec.exit_code
        if rec.state == CREATED and not rec.started and "created" in conditions:
            return rec.exit_code
        time.sleep(0.05)


def pause(paths: Paths, db: StateDB, ref: str) -> Record:
    from .runtimes import for_container

    rec = lookup(paths, db, ref)
    if rec.state != RUNNING:
        raise FailedPrecondition(f"\"{rec.id}\" is not running, can't pause: container state improper")
    for_container(paths, RunOptions.from_json(rec.options).runtime).pause(rec.id)
    db.update(rec.id, "pause", state=PAUSED)
    return rec


def unpause(paths: Paths, db: StateDB, ref: str) -> Record:
    from .runtimes import for_container

    rec = lookup(paths, db, ref)
    if rec.state != PAUSED:
        raise FailedPrecondition(f"\"{rec.id}\" is not paused, can't unpause: container state improper")
    for_container(paths, RunOptions.from_json(rec.options).runtime).resume(rec.id)
    db.update(rec.id, "unpause", state=RUNNING)
    return rec


def rename(paths: Paths, db: StateDB, ref: str, new: str) -> Record:
    import sqlite3

    from .create import check_name

    rec = lookup(paths, db, ref)
    check_name(new)
    try:
        db.update(rec.id, "rename", name=new)
    except sqlite3.IntegrityError:
        raise AlreadyExists(f"the container name \"{new}\" is already in use: that name is already in use") from None
    return db.get(rec.id)


def check_removable(rec: Record, force: bool) -> None:
    if rec.state in LIVE and not force:
        raise Conflict(f"cannot remove container {rec.id} as it is {rec.state} - running or paused "
                       f"containers cannot be removed without force: container state improper")

