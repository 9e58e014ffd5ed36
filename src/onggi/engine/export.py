"""``export``: a container's whole filesystem (image layers + its own changes, as the
container sees it, without its mounts) as one tar stream, readable by ``onggi import``
and ``podman import``."""

from __future__ import annotations

import os
from typing import BinaryIO

from .paths import Paths
from .state import StateDB

__all__ = ["export"]


def export(paths: Paths, db: StateDB, ref: str, out: BinaryIO) -> str:
    """Write container ``ref``'s filesystem to ``out``; returns the container id. A
    container that is not running has its rootfs mounted for the time of the export
    (under its lock, so it cannot start meanwhile)."""
    from ..image.tarwrite import write_tree
    from .cleanup import lock, unmount_rootfs
    from .lifecycle import lookup
    from .prepare import mount_rootfs, rootfs_of

    rec = lookup(paths, db, ref)
    target = rootfs_of(paths, rec.id)
    if os.path.ismount(target):  # running: the monitor owns the mount; a detached unmount
        write_tree(target, out)  # on exit leaves our open descriptors valid
        return rec.id
    with lock(paths, rec.id):
        mount_rootfs(paths, rec.id)
        try:
            write_tree(target, out)
        finally:
            unmount_rootfs(paths, rec.id)
    return rec.id
