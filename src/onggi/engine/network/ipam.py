"""Who holds which address and which host port: one small JSON file under an exclusive
``fcntl`` lock, so parallel ``onggi run`` commands never get the same IP or port
(netavark does no address management of its own).

The file lives in the volatile run root (``$ONGGI_RUNROOT/network/ipam.json``), not beside
the network definitions: an allocation is only as alive as the network namespace that
uses it, and both are gone after a reboot::

    {"ips": {"<network>": {"<ip>": "<container id>"}},
     "ports": [{"protocol": "tcp", "host_ip": "", "host_port": 8080, "cid": "<id>"}]}
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import random
import socket
from typing import Any, Iterator

from ...errors import AlreadyExists, Conflict, InvalidArgument, Unavailable
from ...files import atomic_write
from ..paths import Paths
from .definitions import Network
from .ports import PortMapping

__all__ = ["state_dir", "reserve", "free", "users", "holdings"]


def state_dir(paths: Paths) -> str:
    """The network's volatile state: the allocations and netavark's --config dir."""
    return os.path.join(paths.run, "network")


@contextlib.contextmanager
def _locked(paths: Paths, write: bool = True) -> Iterator[dict[str, Any]]:
    d = state_dir(paths)
    os.makedirs(d, exist_ok=True)
    fd = os.open(os.path.join(d, "ipam.lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        path = os.path.join(d, "ipam.json")
        try:
            with open(path) as f:
                state = json.load(f)
        except FileNotFoundError:
            state = {}
        state.setdefault("ips", {})
        state.setdefault("ports", [])
        before = json.dumps(state, sort_keys=True)
        yield state
        if write and json.dumps(state, sort_keys=True) != before:
            atomic_write(path, json.dumps(state).encode(), mode=0o600, durable=False)
    finally:
        os.close(fd)


def _pick_ip(net: Network, taken: dict[str, str], static: str | None) -> str:
    subnet = net.subnet()
    gw = net.gateway()
    if static:
        try:
            ip = ipaddress.ip_address(static)
        except ValueError:
            raise InvalidArgument(f"invalid --ip {static!r}") from None
        if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address) or str(ip) == gw:
            raise InvalidArgument(f"--ip {ip} is not a free host address of network {net.name} ({subnet})")
        if str(ip) in taken:
            raise AlreadyExists(f"IP address {ip} is already allocated on network {net.name}")
        return str(ip)
    for ip in subnet.hosts():
        s = str(ip)
        if s != gw and s not in taken:
            return s
    raise Unavailable(f"no free IP address is left on network {net.name} ({subnet})")


def _clash(a_ip: str, b_ip: str) -> bool:
    return not a_ip or not b_ip or a_ip == b_ip


def _registered(state: dict[str, Any], proto: str, ip: str, port: int) -> str | None:
    for p in state["ports"]:
        if p["protocol"] == proto and p["host_port"] == port and _clash(p["host_ip"], ip):
            return str(p["cid"])
    return None


def _host_free(proto: str, ip: str, port: int) -> bool:
    """Whether a process of the host could bind the port now (sctp is not probed)."""
    if proto == "sctp":
        return True
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(fam, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(f"host IP {ip} of a published port is not an address of this host") from None
            raise
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _assign_port(state: dict[str, Any], m: PortMapping, cid: str) -> PortMapping:
    if m.host_port:
        for p in m.host_ports():
            owner = _registered(state, m.protocol, m.host_ip, p)
            if owner is not None:
                raise Conflict(f"host port {p}/{m.protocol} is already published by container {owner[:12]}")
            if not _host_free(m.protocol, m.host_ip, p):
                raise Conflict(f"cannot publish host port {p}/{m.protocol}: address already in use")
        return m
    lo, hi = _ephemeral_range()
    for _ in range(200):
        start = random.randint(lo, max(lo, hi - m.range + 1))
        ports = range(start, start + m.range)
        if all(_registered(state, m.protocol, m.host_ip, p) is None and _host_free(m.protocol, m.host_ip, p)
               for p in ports):
            return PortMapping(m.host_ip, start, m.container_port, m.protocol, m.range)
    raise Unavailable(f"no free host port found for container port {m.container_port}/{m.protocol}")


def reserve(paths: Paths, cid: str, networks: list[tuple[Network, str | None]],
            ports: list[PortMapping]) -> tuple[dict[str, str], list[PortMapping]]:
    """Allocate one IP on each network (``static`` or the lowest free one) and the host
    ports (a free one where ``host_port`` is 0), all or nothing. Returns ({network: ip},
    the mappings with their host ports)."""
    with _locked(paths) as state:
        ips: dict[str, str] = {}
        for net, static in networks:
            taken = state["ips"].setdefault(net.name, {})
            ips[net.name] = _pick_ip(net, taken, static)
        done: list[PortMapping] = []
        for m in ports:
            a = _assign_port(state, m, cid)
            # later mappings of this same request see the ports just chosen
            state["ports"] += [{"protocol": a.protocol, "host_ip": a.host_ip, "host_port": p, "cid": cid}
                               for p in a.host_ports()]
            done.append(a)
        for name, ip in ips.items():
            state["ips"][name][ip] = cid
    return ips, done


def free(paths: Paths, cid: str, networks: list[str] | None = None, ports: bool = True) -> None:
    """Give back what ``cid`` holds (on ``networks`` only, when given)."""
    with _locked(paths) as state:
        for name, taken in list(state["ips"].items()):
            if networks is not None and name not in networks:
                continue
            for ip in [ip for ip, owner in taken.items() if owner == cid]:
                del taken[ip]
            if not taken:
                del state["ips"][name]
        if ports:
            state["ports"] = [p for p in state["ports"] if p["cid"] != cid]


def users(paths: Paths, network: str) -> list[str]:
    """Ids of the containers holding an address on ``network``."""
    with _locked(paths, write=False) as state:
        return sorted(set(state["ips"].get(network, {}).values()))


def holdings(paths: Paths, cid: str) -> dict[str, str]:
    """{network: ip} that ``cid`` holds now."""
    with _locked(paths, write=False) as state:
        return {name: ip for name, taken in state["ips"].items() for ip, owner in taken.items() if owner == cid}
