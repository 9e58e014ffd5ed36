"""``network create / ls / inspect / rm / prune``: the definitions, and who uses them.

A network is in use when a container holds an address on it (:mod:`.ipam`: the running
ones) or when a container of the state database names it in its ``--network`` or has it
in its stored setup (stopped ones too). ``rm --force`` removes those containers first,
through the ``remove_container`` callable the caller passes (the container lifecycle)."""

from __future__ import annotations

import os
from typing import Any, Callable

from ...errors import FailedPrecondition, InvalidArgument
from ..paths import Paths
from . import ipam
from .attach import network_names
from .definitions import DEFAULT_NAME, Network, all_networks, delete_file, lookup, new_network, save

__all__ = ["create", "list_networks", "inspect", "remove", "prune", "users", "matches"]


def create(paths: Paths, name: str | None = None, *, subnet: str | None = None, gateway: str | None = None,
           internal: bool = False, disable_dns: bool = False, labels: dict[str, str] | None = None,
           driver: str = "bridge", interface: str | None = None) -> Network:
    net = new_network(paths, name, subnet=subnet, gateway=gateway, internal=internal, dns=not disable_dns,
                      labels=labels, driver=driver, interface=interface)
    save(paths, net, exclusive=True)
    return net


def _state_users(paths: Paths, net: Network) -> list[tuple[str, str]]:
    """(id, name) of the containers in the state database that use ``net``."""
    if not os.path.exists(paths.db):
        return []
    try:
        from ..state import StateDB
    except ImportError:  # the lifecycle is not there (yet)
        return []
    db = StateDB(paths.db)
    try:
        records = db.all()
    finally:
        db.close()
    out = []
    for r in records:
        mode = str((r.options or {}).get("network") or "bridge")
        named = set()
        if mode not in ("none", "host") and not mode.startswith(("container:", "ns:", "pod:")):
            try:
                named = set(network_names(mode))
            except InvalidArgument:
                named = set()
        named |= set(((r.network or {}).get("networks") or {}).keys())
        if net.name in named:
            out.append((r.id, r.name))
    return out


def users(paths: Paths, ref: str) -> list[tuple[str, str]]:
    """(container id, name) of every container using the network."""
    net = lookup(paths, ref)
    found = dict(_state_users(paths, net))
    for cid in ipam.users(paths, net.name):
        found.setdefault(cid, cid[:12])
    return sorted(found.items(), key=lambda x: x[1])


def inspect(paths: Paths, ref: str) -> dict[str, Any]:
    return lookup(paths, ref).to_json()


def matches(net: Network, filters: dict[str, list[str]]) -> bool:
    """podman's ``--filter``: name, id (prefixes), driver, label (key or key=value)."""
    for key, values in filters.items():
        if key == "name":
            ok = any(v in net.name for v in values)
        elif key == "id":
            ok = any(net.id.startswith(v) for v in values)
        elif key == "driver":
            ok = net.driver in values
        elif key == "label":
            ok = all((v.partition("=")[0] in net.labels) and
                     (not v.partition("=")[1] or net.labels[v.partition("=")[0]] == v.partition("=")[2])
                     for v in values)
        else:
            raise InvalidArgument(f"invalid network filter {key!r} (name, id, driver, label)")
        if not ok:
            return False
    return True


def list_networks(paths: Paths, filters: dict[str, list[str]] | None = None) -> list[Network]:
    return [n for n in all_networks(paths) if matches(n, filters or {})]


def remove(paths: Paths, ref: str, force: bool = False,
           remove_container: Callable[[str], None] | None = None) -> str:
    """Remove a network; returns its name. In use: refused, or with ``force`` its
    containers are removed first through ``remove_container(id)``."""
    net = lookup(paths, ref)
    if net.name == DEFAULT_NAME:
        raise InvalidArgument(f"default network {DEFAULT_NAME} cannot be removed")
    used = users(paths, net.name)
    if used:
        if not force:
            names = ", ".join(n for _, n in used)
            raise FailedPrecondition(f"network {net.name} is being used by containers {names}: "
                                     f"remove them first or use --force")
        if remove_container is None:
            raise FailedPrecondition(f"network {net.name} is in use and no container lifecycle is "
                                     f"available here to remove its containers")
        for cid, _ in used:
            remove_container(cid)
        if users(paths, net.name):
            raise FailedPrecondition(f"network {net.name} is still in use after removing its containers")
    delete_file(paths, net.name)
    return net.name


def prune(paths: Paths, filters: dict[str, list[str]] | None = None) -> list[str]:
    """Remove every network no container uses (the default one stays)."""
    gone = []
    for net in list_networks(paths, filters):
        if net.name == DEFAULT_NAME or users(paths, net.name):
            continue
        delete_file(paths, net.name)
        gone.append(net.name)
    return gone
