"""Take the wait for an RCU grace period off the critical path of moving a process into
a cgroup.

Every write to a ``cgroup.procs`` file takes the kernel's global threadgroup rwsem for
writing. When that lock has been idle, taking it waits for an RCU grace period (6 to 30 ms
on the machines measured); while it is in use, and for one grace period after, it is
taken at once. So ``create`` and ``exec`` start a thread that re-writes the runtime's own pid into
the cgroup it is already in (a migration to the same place, which changes nothing) every
couple of milliseconds: the grace period passes while the runtime forks the container's
init, and the real move of that process finds the lock warm.

The write holds ``cgroup_mutex`` while it waits, so cgroup directories must be made
before the thread starts (a ``mkdir`` would wait behind it): ``create`` starts it right
after its cgroup is set up.

Nothing here is required: on any error (no cgroupfs, no permission) the thread stops and
the move simply pays the wait itself.
"""

from __future__ import annotations

import os

_running = [False]
_PERIOD = 0.002
_MAX_WRITES = 250  # at most about half a second, should the runtime forget to stop it


def _own_procs_files() -> list[str]:
    """``cgroup.procs`` of the cgroup this process is in: the v2 (unified) one, else v1."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        _, ctl, path = line.split(":", 2)
        if ctl == "":
            out += [f"/sys/fs/cgroup{path}/cgroup.procs", f"/sys/fs/cgroup/unified{path}/cgroup.procs"]
    for line in lines:
        _, ctl, path = line.split(":", 2)
        if ctl and not ctl.startswith("name="):
            out.append(f"/sys/fs/cgroup/{ctl.split(',')[0]}{path}/cgroup.procs")
    return out


def _loop(path: str) -> None:
    import time

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        _running[0] = False
        return
    me = str(os.getpid()).encode()
    try:
        for _ in range(_MAX_WRITES):
            if not _running[0]:
                break
            os.write(fd, me)
            time.sleep(_PERIOD)
    except OSError:
        pass
    finally:
        _running[0] = False
        os.close(fd)


def start() -> None:
    """Begin keeping the cgroup attach lock warm (root only; a no-op otherwise)."""
    if _running[0] or os.geteuid() != 0:
        return
    for path in _own_procs_files():
        if os.path.exists(path):
            import _thread

            _running[0] = True
            _thread.start_new_thread(_loop, (path,))
            return


def stop() -> None:
    _running[0] = False
