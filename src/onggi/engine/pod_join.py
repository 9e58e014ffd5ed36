"""Joining another container's namespaces: containers of a pod join its infra container's
(the namespaces the pod shares), ``--network container:NAME`` joins NAME's network. The
joining container makes no network of its own: it uses the other's /etc/hosts and
/etc/resolv.conf, and its namespaces are taken from the other's init process (the network
from the namespace file the network layer pinned, when there is one)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import FailedPrecondition, InvalidArgument
from .options import RunOptions
from .paths import Paths
from .state import LIVE, Record, StateDB

__all__ = ["Joined", "joined", "target_of", "check_pod_options", "check_create", "SPEC_TYPES"]

# pod --share names -> OCI namespace types
SPEC_TYPES = {"net": "network", "ipc": "ipc", "uts": "uts", "pid": "pid"}


@dataclass
class Joined:
    """What a joining container takes from the other: namespace paths by OCI type, the
    network setup JSON to store (mode ``container``: nothing to release) and the /etc
    files to bind-mount."""

    target: Record
    namespaces: dict[str, str] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)
    hosts: str | None = None
    resolv: str | None = None
    hostname: str = ""


def target_of(paths: Paths, db: StateDB, opts: RunOptions) -> tuple[str, list[str]] | None:
    """(id of the container to join, the --share names) for ``opts``, or None when it
    joins nobody. A pod without an infra container shares nothing."""
    if opts.pod:
        from .pods import get_pod

        pod = get_pod(db, opts.pod)
        if pod.infra_id:
            return pod.infra_id, list(pod.options.get("share", []))
    if opts.network.startswith("container:"):
        return opts.network.split(":", 1)[1], ["net"]
    return None


def joined(paths: Paths, rec: Record, opts: RunOptions) -> Joined | None:
    """The namespaces container ``rec`` joins (None: it makes its own). The other must be
    running."""
    from .lifecycle import lookup
    from .monitor import alive

    db = StateDB(paths.db)
    try:
        want = target_of(paths, db, opts)
        if want is None:
            return None
        ref, share = want
        if ref == rec.id:
            return None  # the infra container itself
        target = lookup(paths, db, ref)
    finally:
        db.close()
    if target.state not in LIVE or not alive(target.pid, target.pid_start):
        raise FailedPrecondition(f"cannot join the namespaces of container {target.id}: it is not running: "
                                 f"container state improper")
    out = Joined(target=target)
    netns = (target.network or {}).get("netns")
    mode = (target.network or {}).get("mode", "none")
    for name in share:
        typ = SPEC_TYPES[name]
        if typ == "network" and mode == "host":
            continue  # the host's network: no namespace entry at all
        if typ == "network" and netns:
            out.namespaces[typ] = netns
        else:
            out.namespaces[typ] = f"/proc/{target.pid}/ns/{name}"
    if "net" in share:
        bundle = paths.container_dir(target.id)
        out.hosts, out.resolv = os.path.join(bundle, "hosts"), os.path.join(bundle, "resolv.conf")
        out.setup = {"netns": out.namespaces.get("network"), "mode": "container", "container": target.id,
                     "container_name": rec.name, "networks": {}, "ports": []}
    else:
        out.setup = {}
    out.hostname = str(target.config.get("hostname") or "") if "uts" in share else ""
    return out


def check_pod_options(opts: RunOptions, share: list[str]) -> None:
    """What a container in a pod may not set itself (podman's rules and words)."""
    if "net" in share and (opts.publish or opts.publish_all):
        raise InvalidArgument("invalid config provided: published or exposed ports must be defined when the "
                              "pod is created: network cannot be configured when it is shared with a pod")
    if "net" in share and opts.network not in ("bridge", "", None):
        raise InvalidArgument("invalid config provided: networks must be defined when the pod is created: "
                              "network cannot be configured when it is shared with a pod")
    if "uts" in share and opts.hostname:
        raise InvalidArgument("invalid config provided: cannot set hostname when joining the pod UTS namespace")


def check_create(paths: Paths, db: StateDB, opts: RunOptions) -> None:
    """At ``create``: ``--pod`` names a pod (stored as its id) and the options fit what it
    shares; ``--network container:NAME`` names a container."""
    from .lifecycle import lookup

    if opts.pod:
        from .pods import get_pod

        pod = get_pod(db, opts.pod)
        opts.pod = pod.id
        if pod.infra_id:  # the infra container itself is made before infra_id is set
            check_pod_options(opts, list(pod.options.get("share", [])))
            if opts.network.startswith("container:"):
                raise InvalidArgument("invalid config provided: networks must be defined when the pod is created")
    if opts.network.startswith("container:"):
        ref = opts.network.split(":", 1)[1]
        if not ref:
            raise InvalidArgument("--network container: needs a container name or id")
        target = lookup(paths, db, ref)
        if opts.publish or opts.publish_all:
            raise InvalidArgument("invalid config provided: published or exposed ports must be defined when the "
                                  "network is shared with another container")
        opts.network = f"container:{target.id}"
