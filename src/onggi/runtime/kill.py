"""``kill``: send a signal to a container's init, or to all its processes."""

from __future__ import annotations

import os

from ..errors import FailedPrecondition, InvalidArgument
from ..oci.tables import parse_signal
from . import status as st
from .state import Container


def signal_number(sig: str | int) -> int:
    if isinstance(sig, int):
        return sig
    try:
        return parse_signal(sig)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def kill(root: str, cid: str, sig: str | int = "TERM", all_processes: bool = False) -> None:
    num = signal_number(sig)
    c = Container.load(root, cid)
    try:
        if not st.can_kill(c.status):
            raise FailedPrecondition(f"cannot kill container {cid}: container is {c.status}")
        if all_processes and c.cgroup:
            from .cgroup import manager_for

            mgr = manager_for(c)
            frozen = c.status == st.PAUSED
            for pid in mgr.pids():
                try:
                    os.kill(pid, num)
                except ProcessLookupError:
                    pass
            if frozen and num == 9:
                mgr.thaw()  # a frozen task only dies once thawed
            return
        try:
            os.kill(c.pid, num)
        except ProcessLookupError:
            raise FailedPrecondition(f"cannot kill container {cid}: container is stopped") from None
    finally:
        c.unlock()
