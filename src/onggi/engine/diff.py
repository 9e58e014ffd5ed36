"""``diff``: what a container changed in its filesystem (podman's ``A``/``C``/``D``
lines), read from its overlay upper directory against its image's layers."""

from __future__ import annotations

from ..image.diff import Change
from .paths import Paths
from .state import StateDB

__all__ = ["container_changes", "layer_dirs"]

# made by the engine or the runtime as mount targets: an "added" one is not the
# container's change (podman leaves the same ones out)
_MOUNT_POINTS = ("/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/run",
                 "/run/.containerenv", "/run/secrets", "/sys", "/etc/mtab")


def layer_dirs(paths: Paths, cid: str) -> tuple[str, list[str]]:
    """(the container's upper directory, its image's layer directories, top first)."""
    from .prepare import store

    snaps = store(paths).snapshots
    layer = snaps.container(cid)
    lowers = [s.path for s in snaps.lowers(layer.parent)] if layer.parent else []
    return layer.upper, lowers


def container_changes(paths: Paths, db: StateDB, ref: str) -> list[Change]:
    """The changes of container ``ref`` (by name or id), sorted by path."""
    from ..image.diff import changes
    from .lifecycle import lookup

    rec = lookup(paths, db, ref)
    upper, lowers = layer_dirs(paths, rec.id)
    made = set(_MOUNT_POINTS) | {m.get("destination") for m in rec.config.get("mounts") or []}
    return [c for c in changes(upper, lowers) if not (c.kind == "A" and c.path in made)]
