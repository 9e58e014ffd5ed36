"""A container's place on the networks: ``prepare`` before it starts (netns, addresses,
ports, netavark setup), ``release`` when it is gone, ``connect`` / ``disconnect`` while
it runs. Each step either finishes or leaves nothing behind."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from typing import Iterable

from ...errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, OnggiError
from ...sys.netns import create_netns, is_netns, remove_netns
from ..options import RunOptions
from ..paths import Paths
from . import ipam, netavark
from .definitions import DEFAULT_NAME, Network, lookup
from .ports import PortMapping, check_overlaps, parse_publish, publish_all
from .setup import Attachment, NetworkSetup

__all__ = ["prepare", "release", "connect", "disconnect", "network_names"]


def network_names(mode: str) -> list[str]:
    """``--network a,b`` -> ["a", "b"]; ``bridge`` / ``default`` is the default network."""
    names = [n.strip() for n in mode.split(",") if n.strip()]
    if not names:
        raise InvalidArgument(f"invalid --network {mode!r}")
    return [DEFAULT_NAME if n in ("bridge", "default") else n for n in names]


def _entry(net: Network, ip: str, interface: str, aliases: list[str]) -> dict:
    return {"definition": net.to_json(), "ip": ip, "interface": interface, "aliases": aliases}


def _attachments(setup: NetworkSetup, only: Iterable[str]) -> dict[str, dict]:
    return {n: {"definition": a.definition, "ip": a.ip, "interface": a.interface, "aliases": a.aliases}
            for n, a in setup.networks.items() if n in only}


def _aliases(cid: str, extra: Iterable[str]) -> list[str]:
    out = [cid[:12]]
    out += [a for a in extra if a and a not in out]
    return out


def prepare(paths: Paths, cid: str, name: str, opts: RunOptions,
            exposed_ports: Iterable[str] = ()) -> NetworkSetup:
    """Set up the network of a container about to start. ``exposed_ports`` are the
    image's ExposedPorts keys (``"80/tcp"``), published by ``-P``."""
    mode = opts.network or "bridge"
    if mode == "none":
        return NetworkSetup(netns="", mode="none", container_name=name)
    if mode == "host":
        return NetworkSetup(netns=None, mode="host", container_name=name)
    if mode.startswith("ns:"):
        return NetworkSetup(netns=mode[3:], mode="ns", container_name=name)
    if mode.startswith(("container:", "pod:", "slirp4netns", "pasta", "private")):
        raise InvalidArgument(f"--network {mode} is not a network this module sets up")
    nets = [lookup(paths, n) for n in network_names(mode)]
    if len({n.name for n in nets}) != len(nets):
        raise InvalidArgument(f"--network {mode} names a network twice")
    ports = [parse_publish(p) for p in opts.publish]
    if opts.publish_all:
        ports += publish_all(exposed_ports, ports)
    check_overlaps(ports)
    static = opts.ip
    ips, ports = ipam.reserve(paths, cid, [(n, static if i == 0 else None) for i, n in enumerate(nets)], ports)
    aliases = _aliases(cid, opts.network_aliases)
    entries = {n.name: _entry(n, ips[n.name], f"eth{i}", aliases) for i, n in enumerate(nets)}
    netns = os.path.join(paths.netns, cid)
    setup = NetworkSetup(netns=netns, mode="bridge", container_name=name, ports=ports,
                         port_networks=[n.name for n in nets] if ports else [])
    try:
        os.makedirs(paths.netns, exist_ok=True)
        remove_netns(netns)  # a leftover of a crash
        # podman's default sysctl: ping without CAP_NET_RAW (ICMP datagram sockets)
        create_netns(netns, {"net/ipv4/ping_group_range": "0 0"})
        _setup(paths, cid, name, setup, entries, ports)
    except BaseException:
        _undo(paths, cid, name, netns, entries, ports)
        raise
    return setup


def _setup(paths: Paths, cid: str, name: str, setup: NetworkSetup, entries: dict[str, dict],
           ports: list[PortMapping]) -> None:
    assert setup.netns
    result = netavark.setup(paths, setup.netns, netavark.options(cid, name, entries, ports))
    got, servers, search = netavark.parse_result(result)
    for net_name, e in entries.items():
        g = got.get(net_name, {})
        setup.networks[net_name] = Attachment(interface=g.get("interface", e["interface"]), ip=g.get("ip", e["ip"]),
                                              prefix_len=int(g.get("prefix_len", 0)),
                                              gateway=g.get("gateway", e["definition"]["subnets"][0].get("gateway", "")),
                                              mac=g.get("mac", ""), aliases=list(e["aliases"]),
                                              definition=e["definition"])
    setup.dns_servers += [s for s in servers if s not in setup.dns_servers]
    setup.dns_search += [s for s in search if s not in setup.dns_search]


def _undo(paths: Paths, cid: str, name: str, netns: str, entries: dict[str, dict],
          ports: list[PortMapping]) -> None:
    """Roll back a half-done prepare; errors here would hide the first one."""
    if is_netns(netns):
        try:
            netavark.teardown(paths, netns, netavark.options(cid, name, entries, ports))
        except OnggiError:
            pass
    remove_netns(netns)
    ipam.free(paths, cid)


def release(paths: Paths, cid: str, setup: NetworkSetup) -> None:
    """Undo :func:`prepare` (and every connect): netavark teardown, addresses and ports
    given back, netns unmounted and removed. Safe to call again."""
    if setup.mode != "bridge" or not setup.netns:
        return
    netns = setup.netns
    held = ipam.holdings(paths, cid)
    live = is_netns(netns)
    error: OnggiError | None = None
    if setup.networks and (held or live):
        opts = netavark.options(cid, setup.container_name, _attachments(setup, setup.networks),
                                setup.ports if setup.port_networks else [])
        target = netns if live else os.path.join(paths.netns, f"{cid}.teardown")
        try:
            if not live:  # the netns went (a crash): still drop rules, bridge and DNS entries
                _stand_in(paths, target, [a.interface for a in setup.networks.values()])
            netavark.teardown(paths, target, opts)
        except OnggiError as e:
            error = e if live else None
        finally:
            if target != netns:
                remove_netns(target)
    ipam.free(paths, cid)
    remove_netns(netns)
    if error is not None:
        raise error


def _stand_in(paths: Paths, target: str, interfaces: list[str]) -> None:
    """A namespace holding an interface of each name netavark will delete: its teardown
    stops at the first interface it cannot find, before the bridge and the rules."""
    os.makedirs(paths.netns, exist_ok=True)
    remove_netns(target)
    create_netns(target)
    for i, name in enumerate(interfaces):
        # a veth pair, both ends inside (the dummy driver is not everywhere)
        subprocess.run(["nsenter", f"--net={target}", "ip", "link", "add", name, "type", "veth",
                        "peer", "name", f"onggi-gone{i}"], capture_output=True, check=False)


def connect(paths: Paths, cid: str, name: str, setup: NetworkSetup, network: str,
            aliases: Iterable[str] = (), ip: str | None = None) -> NetworkSetup:
    """Join one more network while the container runs; returns the updated setup (the
    caller stores it). A stopped container needs no call: add the network to its options."""
    if setup.mode != "bridge" or not setup.netns or not is_netns(setup.netns):
        raise FailedPrecondition(f"container {name} has no bridge network namespace to connect "
                                 f"(network mode {setup.mode}, or it is not running)")
    net = lookup(paths, network)
    if net.name in setup.networks:
        raise AlreadyExists(f"container {name} is already connected to network {net.name}")
    used = {a.interface for a in setup.networks.values()}
    i = 0
    while f"eth{i}" in used:
        i += 1
    ips, _ = ipam.reserve(paths, cid, [(net, ip)], [])
    entry = {net.name: _entry(net, ips[net.name], f"eth{i}", _aliases(cid, aliases))}
    new = dataclasses.replace(setup, networks=dict(setup.networks), dns_servers=list(setup.dns_servers),
                              dns_search=list(setup.dns_search))
    try:
        _setup(paths, cid, name, new, entry, [])
    except BaseException:
        try:
            netavark.teardown(paths, setup.netns, netavark.options(cid, name, entry, []))
        except OnggiError:
            pass
        ipam.free(paths, cid, networks=[net.name], ports=False)
        raise
    return new


def disconnect(paths: Paths, cid: str, name: str, setup: NetworkSetup, network: str) -> NetworkSetup:
    """Leave one network while the container runs; returns the updated setup."""
    target = DEFAULT_NAME if network in ("bridge", "default") else network
    if target not in setup.networks:
        try:
            target = lookup(paths, network).name
        except NotFound:
            pass
    if target not in setup.networks:
        raise NotFound(f"container {name} is not connected to network {network}")
    with_ports = target in setup.port_networks
    ports = setup.ports if with_ports else []
    if setup.netns and is_netns(setup.netns):
        netavark.teardown(paths, setup.netns,
                          netavark.options(cid, name, _attachments(setup, [target]), ports))
    left = [n for n in setup.port_networks if n != target]
    ipam.free(paths, cid, networks=[target], ports=with_ports and not left)
    networks = {k: v for k, v in setup.networks.items() if k != target}
    return dataclasses.replace(setup, networks=networks, port_networks=left,
                               ports=setup.ports if left else [])
