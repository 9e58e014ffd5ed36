"""Network definitions: one JSON file per network in :attr:`Paths.networks`, in netavark's
(and podman's) format, so the file is what ``netavark setup`` gets as ``network_info``
and what ``network inspect`` prints.

The default network ``onggi`` (the role of podman's ``podman``: bridge ``onggi0``,
10.98.0.0/16, DNS off) is written the first time it is needed. Networks that
``network create`` makes get the next free /24 from 10.99.0.0 on and the next free
bridge ``onggiN``, skipping what other onggi networks, the host's routes and podman's
own definitions already use."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...files import atomic_write
from ..paths import Paths

__all__ = ["Network", "DEFAULT_NAME", "load", "save", "all_networks", "lookup", "default_network",
           "new_network", "delete_file"]

DEFAULT_NAME = "onggi"
DEFAULT_BRIDGE = "onggi0"
DEFAULT_SUBNET = "10.98.0.0/16"
USER_POOL = ipaddress.ip_network("10.99.0.0/16")
# names that --network gives a meaning of its own
RESERVED = {"none", "host", "bridge", "private", "slirp4netns", "pasta", "container", "ns",
            "default", DEFAULT_NAME}
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
PODMAN_NETWORKS = "/etc/containers/networks"


@dataclass
class Network:
    name: str
    id: str
    driver: str = "bridge"
    network_interface: str = ""
    created: str = ""
    subnets: list[dict[str, str]] = field(default_factory=list)   # [{"subnet", "gateway"}]
    ipv6_enabled: bool = False
    internal: bool = False
    dns_enabled: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] = field(default_factory=lambda: {"driver": "host-local"})

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("labels", "options"):
            if not d[k]:
                del d[k]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Network":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})

    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(self.subnets[0]["subnet"])  # type: ignore[return-value]

    def gateway(self) -> str:
        return self.subnets[0].get("gateway", "")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _path(paths: Paths, name: str) -> str:
    return os.path.join(paths.networks, f"{name}.json")


def default_network() -> Network:
    """The built-in network; its id is fixed, as podman's default network's is."""
    net = ipaddress.ip_network(DEFAULT_SUBNET)
    return Network(name=DEFAULT_NAME, id=hashlib.sha256(DEFAULT_NAME.encode()).hexdigest(),
                   network_interface=DEFAULT_BRIDGE, created=_now(),
                   subnets=[{"subnet": str(net), "gateway": str(net.network_address + 1)}],
                   dns_enabled=False)


def load(paths: Paths, name: str) -> Network:
    try:
        with open(_path(paths, name)) as f:
            return Network.from_json(json.load(f))
    except FileNotFoundError:
        if name == DEFAULT_NAME:
            net = default_network()
            try:
                save(paths, net, exclusive=True)
            except AlreadyExists:
                return load(paths, name)
            return net
        raise NotFound(f"unable to find network with name or ID {name}: network not found") from None
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidArgument(f"network definition {_path(paths, name)} is damaged: {e}") from None


def save(paths: Paths, net: Network, exclusive: bool = False) -> None:
    os.makedirs(paths.networks, exist_ok=True)
    data = (json.dumps(net.to_json(), indent=5) + "\n").encode()
    target = _path(paths, net.name)
    if exclusive:
        # create-only: written beside, then linked; a concurrent create of the name loses
        tmp = f"{target}.{secrets.token_hex(6)}.new"
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise AlreadyExists(f"network name {net.name} already used: network already exists") from None
        finally:
            os.unlink(tmp)
        return
    atomic_write(target, data)


def delete_file(paths: Paths, name: str) -> None:
    try:
        os.unlink(_path(paths, name))
    except FileNotFoundError:
        pass


def all_networks(paths: Paths) -> list[Network]:
    """Every network, the default one included, sorted by name."""
    names = {DEFAULT_NAME}
    try:
        names.update(f[:-5] for f in os.listdir(paths.networks) if f.endswith(".json"))
    except FileNotFoundError:
        pass
    out = []
    for n in sorted(names):
        try:
            out.append(load(paths, n))
        except NotFound:  # removed meanwhile
            continue
    return out


def lookup(paths: Paths, ref: str) -> Network:
    """By name, full id or unique id prefix (``bridge`` is the default network)."""
    if ref in ("bridge", "default"):
        ref = DEFAULT_NAME
    if ref == DEFAULT_NAME or (_NAME.match(ref) and os.path.exists(_path(paths, ref))):
        return load(paths, ref)
    hits = [n for n in all_networks(paths) if n.id.startswith(ref)] if re.fullmatch(r"[0-9a-f]+", ref) else []
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise InvalidArgument(f"more than one network matches ID prefix {ref}")
    raise NotFound(f"unable to find network with name or ID {ref}: network not found")


# ---- picking subnets and bridge names for new networks ------------------------------------

def _host_routes() -> list[ipaddress.IPv4Network]:
    out = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                cols = line.split()
                dest, mask = int(cols[1], 16), int(cols[7], 16)
                if mask == 0:
                    continue
                net = ipaddress.IPv4Network((ipaddress.IPv4Address(dest.to_bytes(4, "little")),
                                             str(ipaddress.IPv4Address(mask.to_bytes(4, "little")))), strict=False)
                out.append(net)
    except (OSError, StopIteration, ValueError):
        pass
    return out


def _podman_subnets() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [ipaddress.ip_network("10.88.0.0/16")]
    try:
        names = [f for f in os.listdir(PODMAN_NETWORKS) if f.endswith(".json")]
    except OSError:
        return out
    for f in names:
        try:
            with open(os.path.join(PODMAN_NETWORKS, f)) as fh:
                out += [ipaddress.ip_network(s["subnet"]) for s in json.load(fh).get("subnets", [])]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _used_subnets(paths: Paths) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    used = _host_routes() + _podman_subnets()  # type: ignore[operator]
    for n in all_networks(paths):
        used += [ipaddress.ip_network(s["subnet"]) for s in n.subnets]
    return used


def _free_subnet(paths: Paths) -> ipaddress.IPv4Network:
    used = _used_subnets(paths)
    for cand in USER_POOL.subnets(new_prefix=24):
        if not any(cand.overlaps(u) for u in used if u.version == 4):
            return cand
    raise InvalidArgument("no free /24 subnet is left in 10.99.0.0/16: give --subnet")


def _free_bridge(paths: Paths) -> str:
    used = {n.network_interface for n in all_networks(paths)}
    try:
        used.update(os.listdir("/sys/class/net"))
    except OSError:
        pass
    i = 1
    while f"onggi{i}" in used:
        i += 1
    return f"onggi{i}"


def new_network(paths: Paths, name: str | None, subnet: str | None = None, gateway: str | None = None,
                internal: bool = False, dns: bool = True, labels: dict[str, str] | None = None,
                driver: str = "bridge", interface: str | None = None) -> Network:
    """Check the request and fill in what was left out; the caller saves it."""
    if driver != "bridge":
        raise InvalidArgument(f"unsupported network driver {driver!r}: only bridge is available")
    if name is not None:
        if not _NAME.match(name):
            raise InvalidArgument(f"network name {name!r} is invalid: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        if name in RESERVED:
            raise InvalidArgument(f"network name {name} is reserved")
    else:
        taken = {n.name for n in all_networks(paths)}
        i = 1
        while f"onggi{i}" in taken:
            i += 1
        name = f"onggi{i}"
    if subnet:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid --subnet {subnet!r}") from None
        if net.version != 4:
            raise InvalidArgument(f"--subnet {subnet}: only IPv4 subnets are supported")
        if net.num_addresses < 4:
            raise InvalidArgument(f"--subnet {subnet} is too small for a gateway and a container")
        for other in all_networks(paths):
            if any(net.overlaps(ipaddress.ip_network(s["subnet"])) for s in other.subnets):
                raise InvalidArgument(f"subnet {net} is already used by network {other.name}")
    elif gateway:
        raise InvalidArgument("--gateway needs --subnet")
    else:
        net = _free_subnet(paths)
    if gateway:
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid --gateway {gateway!r}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise InvalidArgument(f"gateway {gw} is not a host address of subnet {net}")
    else:
        gw = net.network_address + 1
    return Network(name=name, id=secrets.token_hex(32), network_interface=interface or _free_bridge(paths),
                   created=_now(), subnets=[{"subnet": str(net), "gateway": str(gw)}],
                   internal=internal, dns_enabled=dns, labels=dict(labels or {}))
