"""``delete``: remove a stopped container (``force``: kill it first): its processes,
cgroup and state, then run the poststop hooks."""

from __future__ import annotations

import os
import time

from ..errors import FailedPrecondition, NotFound, OnggiError
from . import status as st
from .state import Container, proc_start_time


def delete(root: str, cid: str, force: bool = False) -> None:
    try:
        c = Container.load(root, cid)
    except NotFound:
        if force:
            return  # runc: delete --force of an unknown id is not an error
        raise
    try:
        if c.status in (st.CREATED, st.RUNNING, st.PAUSED):
            if c.status == st.CREATED and not force:
                pass  # runc deletes a created container: kill its waiting init
            elif not force:
                raise FailedPrecondition(f"cannot delete container {cid} that is not stopped: {c.status}")
            _kill_all(c)
        elif c.pid and proc_start_time(c.pid) is not None:
            _kill_all(c)
        if c.cgroup:
            from .cgroup import manager_for

            try:
                manager_for(c).destroy()
            except OnggiError:
                pass
        spec = _spec(c)
        c.remove()
    finally:
        c.unlock()
    if spec is not None and spec.hooks.poststop:
        from .hooks import run_hooks

        state = c.oci_state(spec.oci_version)
        state["status"] = st.STOPPED
        for msg in run_hooks(spec.hooks.poststop, state, "poststop", fatal=False):
            import sys

            sys.stderr.write(f"onggi-runtime: warning: {msg}\n")


def _spec(c: Container):  # noqa: ANN202
    if not (c.config.get("hooks") or {}).get("poststop"):
        return None  # parse config.json only when there are hooks to run
    try:
        return c.spec()
    except Exception:
        return None


def _kill_all(c: Container) -> None:
    pids = []
    mgr = None
    if c.cgroup:
        from .cgroup import manager_for

        mgr = manager_for(c)
        try:
            pids = mgr.pids()
        except OnggiError:
            pids = []
        if c.status == st.PAUSED:
            for pid in pids:
                _kill(pid)
            mgr.thaw()
    if c.pid not in pids and c.alive():
        pids.append(c.pid)
    for pid in pids:
        _kill(pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(proc_start_time(p) is None for p in pids):
            break
        for p in pids:  # reap the ones that are ours (run, or create's subreaper)
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.002)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
