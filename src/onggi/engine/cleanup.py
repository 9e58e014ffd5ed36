"""Undoing a container's start (runtime state, rootfs mount, network) and removing a
container altogether. Every step is idempotent: the monitor runs them after an exit, and
any command runs them again for a container whose monitor died."""

from __future__ import annotations

import os
import shutil
import time

from ..errors import NotFound, OnggiError
from .options import SpecContext
from .paths import Paths
from .state import EXITED, LIVE, STOPPED, Record, StateDB

__all__ = ["after_exit", "unmount_rootfs", "release_network", "remove", "reap_if_orphaned", "lock"]


def lock(paths: Paths, cid: str):  # noqa: ANN201
    """The container's lock (flock on a file in its dir): starts, cleanups, removal."""
    from ..image.locks import FileLock

    d = paths.container_dir(cid)
    os.makedirs(d, exist_ok=True)
    return FileLock(os.path.join(d, "lock"))


def unmount_rootfs(paths: Paths, cid: str) -> None:
    from ..image.snapshots_mount import unmount
    from .prepare import rootfs_of

    target = rootfs_of(paths, cid)
    while os.path.ismount(target):
        try:
            unmount(target, detach=True)
        except NotFound:
            break


def release_network(paths: Paths, cid: str, setup_json: dict) -> None:
    from . import network as net

    if not setup_json:
        return
    try:
        net.release(paths, cid, net.NetworkSetup.from_json(setup_json))
    except OnggiError:
        pass


def delete_runtime_state(paths: Paths, rec: Record) -> None:
    from .options import RunOptions
    from .runtimes import for_container

    try:
        for_container(paths, RunOptions.from_json(rec.options).runtime).delete(rec.id)
    except OnggiError:
        pass
    from ..cgroups import remove_if_empty

    try:  # the engine's parent cgroup goes with its last container
        remove_if_empty(f"/{SpecContext.cgroup_parent}")
    except OnggiError:
        pass


def after_exit(paths: Paths, db: StateDB, rec: Record, code: int, oom: bool, error: str = "") -> None:
    """The container's init has exited: tear down and record it."""
    delete_runtime_state(paths, rec)
    unmount_rootfs(paths, rec.id)
    release_network(paths, rec.id, rec.network)
    db.update(rec.id, "died", state=EXITED, exit_code=code, oom_killed=oom, finished=time.time(),
              pid=0, pid_start=0, error=error)


def reap_if_orphaned(paths: Paths, db: StateDB, rec: Record) -> Record:
    """A container recorded as live whose monitor is gone: if its init has exited too,
    clean up (exit code -1: nobody saw it); returns the fresh record."""
    from .monitor import alive

    if rec.state not in LIVE + (STOPPED,) or alive(rec.monitor_pid, rec.monitor_start):
        return rec
    if alive(rec.pid, rec.pid_start):
        return rec  # runs on without its monitor, as with podman when conmon dies
    with lock(paths, rec.id):
        try:
            cur = db.get(rec.id)
        except NotFound:
            return rec
        if cur.state in LIVE + (STOPPED,) and not alive(cur.monitor_pid, cur.monitor_start):
            from .runtimes import oom_kills

            after_exit(paths, db, cur, -1, oom_kills(cur.id) > 0,
                       error="the container's monitor died: its exit code is unknown")
        return db.get(rec.id)


def remove(paths: Paths, db: StateDB, rec: Record, volumes: bool = True) -> None:
    """Remove a container that is not running: its layer, dirs, row (and anonymous
    volumes unless ``volumes`` is false)."""
    from .prepare import store

    unmount_rootfs(paths, rec.id)
    try:
        store(paths).snapshots.remove_container(rec.id)
    except NotFound:
        pass
    release_volumes(paths, rec.id, rec.config.get("anonymous_volumes") or [] if volumes else [])
    shutil.rmtree(paths.container_run_dir(rec.id), ignore_errors=True)
    shutil.rmtree(paths.container_dir(rec.id), ignore_errors=True)
    db.remove(rec.id)


def release_volumes(paths: Paths, cid: str, anonymous: list[str]) -> None:
    """The container no longer uses its volumes; its anonymous ones in ``anonymous`` go."""
    from . import volumes as V

    V.release(paths, cid, remove_anonymous=anonymous)
