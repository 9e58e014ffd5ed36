"""The runtime's use of :mod:`onggi.cgroups`: open the manager for a spec or for a
persisted container, and the device rules every container gets."""

from __future__ import annotations

import os

from ..errors import PermissionDenied, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cgroups import Manager
    from ..oci.resources import DeviceRule, Resources
    from ..oci.spec import Spec
    from .state import Container

# runc's always-allowed devices: mknod of anything, the default nodes (null, zero, full,
# tty, random, urandom), ptys and tun. Not the host's console (5:1), and not the nodes of
# linux.devices: an engine that passes a device allows it in linux.resources.devices.
_DEFAULT_ALLOW = (("c", None, None, "m"), ("b", None, None, "m"), ("c", 1, 3, "rwm"),
                  ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"), ("c", 1, 5, "rwm"),
                  ("c", 1, 9, "rwm"), ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"),
                  ("c", 10, 200, "rwm"))


def device_rules(spec: "Spec") -> "list[DeviceRule]":
    from ..oci.resources import DeviceRule

    rules = list(spec.linux.resources.devices)
    if not rules:
        return []
    return rules + [DeviceRule(allow=True, type=t, major=ma, minor=mi, access=a)
                    for t, ma, mi, a in _DEFAULT_ALLOW]


def resources_for(spec: "Spec", mgr: "Manager") -> "Resources":
    from ..oci.resources import Resources

    r = spec.linux.resources
    rules = device_rules(spec)
    if not mgr.device_rules_supported:
        # v2 device control needs eBPF, which onggi does not load: the container still
        # gets only the device nodes it was given, but the cgroup does not police them
        rules = []
    kw = {n: getattr(r, n) for n in r.__slots__}
    kw["devices"] = rules
    return Resources(**kw)


def has_limits(r: "Resources") -> bool:
    return any((r.memory, r.cpu, r.pids_limit, r.block_io, r.hugepage_limits, r.unified,
                r.network_class_id, r.network_priorities, r.rdma))


def setup(spec: "Spec", cid: str, systemd: bool) -> "Manager | None":
    """Create and configure the container's cgroup. Rootless without delegated cgroups
    and without limits runs without one, as runc does."""
    from ..cgroups import open_manager

    mgr = open_manager(spec.linux.cgroups_path, cid, systemd=systemd)
    res = resources_for(spec, mgr)
    try:
        mgr.create(res)
        mgr.apply(res)
    except PermissionDenied:
        mgr.destroy()
        if os.geteuid() != 0 and not has_limits(spec.linux.resources):
            return None
        raise
    except BaseException:
        mgr.destroy()
        raise
    return mgr


def manager_for(c: "Container") -> "Manager":
    from ..cgroups import from_paths

    if not c.cgroup:
        raise Unsupported(f"container {c.id} has no cgroup (rootless without cgroup delegation)")
    return from_paths(c.cgroup["version"], c.cgroup["paths"])
