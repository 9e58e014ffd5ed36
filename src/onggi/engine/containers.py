"""The engine's container operations, one call per CLI command: create, run, start,
attach, rm, prune (the rest live in :mod:`.lifecycle`, :mod:`.query`)."""

from __future__ import annotations

from ..errors import NotFound
from .create import create
from .lifecycle import StartError, check_removable, kill, lookup, pause, rename, start_detached, stop, unpause, wait
from .options import RunOptions
from .paths import Paths
from .state import LIVE, StateDB

__all__ = ["create", "run", "start", "attach", "remove", "prune", "stop", "kill", "wait", "pause",
           "unpause", "rename", "lookup", "StartError"]


def run(paths: Paths, opts: RunOptions) -> tuple[str, int]:
    """create + start; detached: (id, 0) once it runs; attached: (id, its exit code)."""
    db = StateDB(paths.db)
    rec = create(paths, opts, db)
    db.close()  # the monitor is forked next: no connection crosses a fork
    try:
        from .lifecycle import start as do_start

        sock, pid, pending, reader = do_start(paths, rec)
    except StartError:
        if opts.rm:
            _remove_quietly(paths, rec.id)
        raise
    if opts.detach:
        sock.close()
        return rec.id, 0
    from .attach import stream

    code = stream(sock, pid, interactive=opts.interactive, tty=opts.tty, pending=pending, reader=reader)
    if code is None:
        code = _after_monitor_death(paths, rec.id)
    return rec.id, code


def _after_monitor_death(paths: Paths, cid: str) -> int:
    """The monitor went away while we were attached: wait for the container, clean up."""
    from .monitor import wait_exit

    db = StateDB(paths.db)
    try:
        rec = db.get(cid)
        wait_exit(rec.pid, rec.pid_start, 3600 * 24)
        rec = lookup(paths, db, cid)
        if rec.exit_code == -1:
            raise StartError(f"container {cid}: its monitor died: the exit code is unknown")
        return rec.exit_code
    except NotFound:
        return 0
    finally:
        db.close()


def _remove_quietly(paths: Paths, cid: str) -> None:
    from .cleanup import lock, remove

    db = StateDB(paths.db)
    try:
        with lock(paths, cid):
            remove(paths, db, db.get(cid))
    except NotFound:
        pass
    finally:
        db.close()


def start(paths: Paths, ref: str, attach_: bool = False, interactive: bool = False) -> tuple[str, int]:
    db = StateDB(paths.db)
    rec = lookup(paths, db, ref)
    if not attach_:
        start_detached(paths, db, ref)
        return rec.name, 0
    db.close()
    from .attach import stream
    from .lifecycle import start as do_start

    opts = RunOptions.from_json(rec.options)
    sock, pid, pending, reader = do_start(paths, rec)
    code = stream(sock, pid, interactive=interactive, tty=opts.tty, pending=pending, reader=reader)
    return rec.name, code if code is not None else _after_monitor_death(paths, rec.id)


def attach(paths: Paths, ref: str, no_stdin: bool = False) -> int:
    db = StateDB(paths.db)
    try:
        rec = lookup(paths, db, ref)
    finally:
        db.close()
    if rec.state not in LIVE:
        from ..errors import FailedPrecondition

        raise FailedPrecondition("you can only attach to running containers: container state improper")
    from .attach import attach_socket, stream

    opts = RunOptions.from_json(rec.options)
    code = stream(attach_socket(paths, rec.id), rec.pid, interactive=opts.interactive and not no_stdin,
                  tty=opts.tty)
    return code if code is not None else _after_monitor_death(paths, rec.id)


def remove(paths: Paths, db: StateDB, ref: str, force: bool = False, volumes: bool = False,
           timeout: float | None = None) -> str:
    """``rm``: the container's id once it is gone (with ``force``, stopped first)."""
    from .cleanup import lock, remove as do_remove

    rec = lookup(paths, db, ref)
    check_removable(rec, force)
    if rec.state in LIVE + ("stopped",):
        stop(paths, db, rec.id, 0 if timeout is None else timeout)
    with lock(paths, rec.id):
        try:
            rec = db.get(rec.id)
        except NotFound:
            return rec.id  # its monitor removed it (--rm)
        check_removable(rec, False)
        do_remove(paths, db, rec, volumes=volumes)
    return rec.id


def prune(paths: Paths, db: StateDB) -> list[str]:
    out = []
    for rec in db.all():
        rec = lookup(paths, db, rec.id)
        if rec.state in ("exited", "created"):
            out.append(remove(paths, db, rec.id))
    return out
