"""``pause`` and ``resume``: freeze and thaw every process of a container (the freezer
cgroup on v1, ``cgroup.freeze`` on v2)."""

from __future__ import annotations

from ..errors import FailedPrecondition
from . import status as st
from .cgroup import manager_for
from .state import Container


def pause(root: str, cid: str) -> None:
    c = Container.load(root, cid)
    try:
        if not st.can_pause(c.status):
            raise FailedPrecondition(f"cannot pause container {cid}: it is {c.status}")
        manager_for(c).freeze()
        c.status = st.PAUSED
        c.save()
    finally:
        c.unlock()


def resume(root: str, cid: str) -> None:
    c = Container.load(root, cid)
    try:
        if not st.can_resume(c.status):
            raise FailedPrecondition(f"cannot resume container {cid}: it is {c.status}, not paused")
        manager_for(c).thaw()
        c.status = st.RUNNING
        c.save()
        c.refresh()
    finally:
        c.unlock()
