"""The monitor (conmon's role): one small process per started container that outlives
the command which started it.

The CLI forks (no second interpreter), the child calls :func:`spawn`'s double fork and
``setsid`` and becomes the monitor, a child subreaper, which then, for each start (the
first, and each restart its policy allows):

1. prepares the container (:mod:`.prepare`: rootfs mount, network, /etc files, config.json),
2. creates and starts it through the runtime (in-process, or a runc-like binary),
3. copies its stdout/stderr (pipes, or the pty master with -t) into the k8s-file log and
   to attached clients, and their stdin into the container (-i),
4. waits for its init, records the exit code, finish time and OOM kill, has the runtime
   delete it, unmounts the rootfs and releases the network (:mod:`.cleanup`),
5. removes it for ``--rm``, or restarts it per ``--restart``.

If the monitor is killed, the container keeps running (as with podman when conmon dies);
the next command that looks at it sees the dead monitor (its pid and start time are in
the database), and once the container has exited, cleans up after it with exit code -1.
"""

from __future__ import annotations

import os
import socket
import time

from .paths import Paths

__all__ = ["spawn"]


def spawn(paths: Paths, cid: str) -> socket.socket:
    """Fork the monitor of container ``cid``; returns the CLI's end of the control
    socket (frames: ``s`` started or ``E`` error, then the container's output and ``x``)."""
    from .state import close_all

    close_all()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            ours.close()
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _become_monitor(theirs)
            from .monitor_loop import Monitor

            Monitor(paths, cid, theirs).run()
        except BaseException:
            code = 1
            try:
                import traceback

                with open(os.path.join(paths.container_run_dir(cid), "monitor.err"), "a") as f:
                    traceback.print_exc(file=f)
            except BaseException:
                pass
        finally:
            os._exit(code)
    theirs.close()
    os.waitpid(pid, 0)
    return ours


def _become_monitor(keep: socket.socket) -> None:
    """Detach from the CLI: stdio on /dev/null, no inherited fds but ``keep``, a child
    subreaper, signals that would end us by accident ignored."""
    import _signal

    from ..sys import libc as L

    null = os.open("/dev/null", os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(null, i)
    if null > 2:
        os.close(null)
    k = keep.fileno()
    os.closerange(3, k)
    os.closerange(k + 1, 4096)
    os.chdir("/")
    L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
    for s in (1, 2, 3, 13, 20, 21, 22):  # HUP INT QUIT PIPE TSTP TTIN TTOU
        _signal.signal(s, _signal.SIG_IGN)
    import gc

    gc.freeze()  # keep the CLI's objects' pages shared with nobody's writes


def alive(pid: int, start: int) -> bool:
    """Is ``pid`` still the process that started at ``start`` (clock ticks)?"""
    if pid <= 0:
        return False
    from ..runtime.state import proc_start_time

    return proc_start_time(pid) == start


def wait_exit(pid: int, start: int, timeout: float) -> bool:
    """Wait until the process is gone; True if it went within ``timeout``."""
    if not alive(pid, start):
        return True
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not alive(pid, start):
            return True
        import select

        p = select.poll()
        p.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if p.poll(left * 1000):
                return True
    finally:
        os.close(fd)
