"""``start``: release a created container's init (it is blocked opening the exec fifo
for writing; opening it for reading lets it exec the user's program)."""

from __future__ import annotations

import os

from ..errors import FailedPrecondition
from . import status as st
from .state import FIFO, Container


def start(root: str, cid: str) -> Container:
    c = Container.load(root, cid)
    try:
        if not st.can_start(c.status):
            raise FailedPrecondition(f"cannot start container {cid} in status {c.status}")
        fifo = os.path.join(c.dir, FIFO)
        # O_NONBLOCK: if init died meanwhile, do not hang waiting for a writer
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            data = _read_one(fd, c)
            if data:
                _wait_exec(fd, c)
        finally:
            os.close(fd)
        os.unlink(fifo)
        if not data:
            raise FailedPrecondition(f"cannot start container {cid}: its init process has exited")
        c.status = st.RUNNING
        c.save()
        _poststart(c)
        return c
    finally:
        c.unlock()


def _read_one(fd: int, c: Container) -> bytes:
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        if poller.poll(100):
            try:
                return os.read(fd, 1)
            except BlockingIOError:
                pass
        if not c.alive():
            return b""


def _wait_exec(fd: int, c: Container) -> None:
    """Wait for the end of file: init closes the fifo when it execs the program (after
    the startContainer hooks), or when it dies."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        if poller.poll(100):
            try:
                if not os.read(fd, 64):
                    return
            except BlockingIOError:
                pass
        elif not c.alive():
            return


def _poststart(c: Container) -> None:
    if not (c.config.get("hooks") or {}).get("poststart"):
        return
    spec = c.spec()
    if spec.hooks.poststart:
        import sys

        from .hooks import run_hooks

        for msg in run_hooks(spec.hooks.poststart, c.oci_state(spec.oci_version), "poststart", fatal=False):
            sys.stderr.write(f"onggi-runtime: warning: {msg}\n")
