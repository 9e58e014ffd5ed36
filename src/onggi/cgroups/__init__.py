"""Container cgroups: v1 (legacy and hybrid hosts) and v2 behind one small interface.

::

    mgr = open_manager(spec.linux.cgroups_path, container_id)   # no I/O beyond mountinfo
    mgr.create(resources)          # directories (+ v2 controllers enabled top-down)
    mgr.apply(resources)           # linux.resources -> cgroup files
    mgr.add_pid(pid)
    state["cgroup_paths"] = mgr.paths
    ...                            # later, in another runtime process:
    mgr = from_paths(version, state["cgroup_paths"])
    mgr.freeze(); mgr.thaw(); mgr.stats(); mgr.destroy()

``cgroupsPath`` follows runc's cgroupfs driver: ``/a/b`` is relative to each hierarchy's
root; a relative path is taken relative to the root as well (runc's behaviour when the
runtime runs in the root cgroup); none means ``/<container id>``. The systemd driver
(``--systemd-cgroup``, ``slice:prefix:name``) is not supported and says so.

``destroy()`` removes the container's directory and any child cgroups, never the parents
(``/a`` of ``/a/b`` may be shared, as with runc).

Errors: Unsupported (controller not mounted/enabled, field with no file on this cgroup
version), InvalidArgument (the kernel refused a value: EINVAL, EBUSY ...),
PermissionDenied, FailedPrecondition (a cgroup still has processes). Messages name the
spec field, the value and the cgroup file.

This package runs on every container start: it imports only ``os``, ``errno`` and
onggi's own modules (``time`` is imported lazily, only when waiting).
"""

from __future__ import annotations

import os

from . import _fs
from ._base import Manager
from ..errors import InvalidArgument, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .v1 import V1Manager
    from .v2 import V2Manager

__all__ = ["Manager", "V1Manager", "V2Manager", "detect", "open_manager", "from_paths", "remove_if_empty"]

DEFAULT_ROOT = "/sys/fs/cgroup"
MOUNTINFO = "/proc/self/mountinfo"


def detect(root: str = DEFAULT_ROOT, *, mountinfo: str = MOUNTINFO) -> str:
    """``"v2"`` when cgroup2 is mounted at ``root`` (unified mode), ``"v1"`` when v1
    hierarchies are mounted under it (legacy or hybrid mode). Unsupported when neither."""
    return _fs.version_of(_fs.cgroup_mounts(mountinfo, root), root)


def open_manager(cgroups_path: str | None, container_id: str, *, root: str = DEFAULT_ROOT,
                 systemd: bool = False, mountinfo: str = MOUNTINFO) -> Manager:
    """The manager of a container's cgroup (nothing is created until ``create()``)."""
    if systemd:
        raise Unsupported("--systemd-cgroup: the systemd cgroup driver is not supported; "
                          "use cgroupfs (drop --systemd-cgroup)")
    path = _fs.cgroup_path(cgroups_path, container_id)
    root = os.path.normpath(root)
    mounts = _fs.cgroup_mounts(mountinfo, root)
    if _fs.version_of(mounts, root) == "v2":
        from .v2 import V2Manager

        return V2Manager(root + path, root)
    paths: dict[str, str] = {}
    for m in mounts:
        rel = path
        # Without a cgroup namespace a hierarchy may be mounted from a sub-cgroup
        # (mountinfo root "/docker/x"): strip it when the path lies below it.
        if m.root not in ("/", "") and (path == m.root or path.startswith(m.root + "/")):
            rel = path[len(m.root):] or "/"
        d = m.point + rel
        if m.fstype == "cgroup2":
            paths.setdefault("", d)  # hybrid: the empty unified hierarchy, joined as runc does
            continue
        for ctrl in m.controllers:
            paths.setdefault(ctrl, d)
    from .v1 import V1Manager

    return V1Manager(paths)


def remove_if_empty(cgroups_path: str, *, root: str = DEFAULT_ROOT, mountinfo: str = MOUNTINFO) -> None:
    """Remove the cgroup ``cgroups_path`` from every hierarchy where nothing is left in it
    (no process, no child): a parent that its containers' cgroups were made under, such
    as the engine's ``/onggi``. A busy or missing one is left as it is."""
    for d in set(open_manager(cgroups_path, "", root=root, mountinfo=mountinfo).paths.values()):
        try:
            _fs.rmdir(d)
        except OSError:
            pass  # EBUSY / ENOTEMPTY: still in use; ENOENT: already gone


def from_paths(version: str, paths: dict[str, str], *, root: str = DEFAULT_ROOT) -> Manager:
    """Rebuild a manager from ``Manager.version`` and ``Manager.paths`` persisted by an
    earlier runtime process."""
    if version == "v1":
        from .v1 import V1Manager

        return V1Manager(paths)
    if version == "v2":
        from .v2 import V2Manager

        if set(paths) != {""}:
            raise InvalidArgument(f"cgroup v2 paths must be {{'': dir}}, not {paths!r}")
        return V2Manager(paths[""], root)
    raise InvalidArgument(f"unknown cgroup version {version!r} (expected v1 or v2)")


def __getattr__(name: str) -> type:
    # V1Manager / V2Manager load on first use: a host needs only one of them.
    if name == "V1Manager":
        from .v1 import V1Manager

        return V1Manager
    if name == "V2Manager":
        from .v2 import V2Manager

        return V2Manager
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
