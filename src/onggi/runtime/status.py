"""A container's status, per the runtime spec, and what each status allows."""

from __future__ import annotations

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
ALL = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)


def can_start(status: str) -> bool:
    return status == CREATED


def can_kill(status: str) -> bool:
    return status in (CREATED, RUNNING, PAUSED)


def can_delete(status: str) -> bool:
    return status in (STOPPED, CREATING)


def can_exec(status: str) -> bool:
    return status in (CREATED, RUNNING)


def can_pause(status: str) -> bool:
    return status in (RUNNING, CREATED)


def can_resume(status: str) -> bool:
    return status == PAUSED
