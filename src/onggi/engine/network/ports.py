"""Published ports: ``-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`` (ranges ``8000-8010:80-90``)
and ``-P`` (every port the image exposes) parsed into :class:`PortMapping` rows in
netavark's shape, and the text podman shows for them.

Parsing is pure; a mapping whose ``host_port`` is 0 still needs a host port, which the
allocator (:mod:`.ipam`) picks when it reserves the ports."""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from ...errors import InvalidArgument

__all__ = ["PortMapping", "parse_publish", "publish_all", "port_strings", "port_lines", "port_map"]

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PortMapping:
    """``range`` consecutive ports from ``host_port`` to ``container_port`` (netavark's
    field names); ``host_ip`` "" means every address of the host."""

    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"
    range: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PortMapping":
        return cls(str(d.get("host_ip", "")), int(d["host_port"]), int(d["container_port"]),
                   str(d.get("protocol", "tcp")), int(d.get("range", 1)))

    def container_ports(self) -> range:
        return range(self.container_port, self.container_port + self.range)

    def host_ports(self) -> range:
        return range(self.host_port, self.host_port + self.range)


def _port_range(text: str, spec: str) -> tuple[int, int]:
    """``"80"`` -> (80, 1); ``"80-90"`` -> (80, 11)."""
    lo, dash, hi = text.partition("-")
    try:
        start = int(lo)
        end = int(hi) if dash else start
    except ValueError:
        raise InvalidArgument(f"invalid port {text!r} in --publish {spec!r}") from None
    for p in (start, end):
        if not 1 <= p <= 65535:
            raise InvalidArgument(f"port {p} out of range 1-65535 in --publish {spec!r}")
    if end < start:
        raise InvalidArgument(f"invalid port range {text!r} in --publish {spec!r}: the end is below the start")
    return start, end - start + 1


def _split_host_ip(spec: str, body: str) -> tuple[str, str]:
    """Take a leading host IP (``[v6]`` in brackets, or a dotted v4) off ``body``."""
    if body.startswith("["):
        end = body.find("]")
        if end < 0 or body[end + 1:end + 2] != ":":
            raise InvalidArgument(f"invalid IPv6 host address in --publish {spec!r}")
        return body[1:end], body[end + 2:]
    parts = body.split(":")
    if len(parts) == 3:
        return parts[0], ":".join(parts[1:])
    if len(parts) > 3:
        raise InvalidArgument(f"invalid --publish {spec!r}: too many ':'")
    return "", body


def parse_publish(spec: str) -> PortMapping:
    """One ``-p`` value. A host port left out (or ``IP::CTR``) is 0: pick one later."""
    s = spec.strip()
    if not s:
        raise InvalidArgument("empty --publish value")
    body, slash, proto = s.rpartition("/") if "/" in s else (s, "", "tcp")
    proto = proto.lower() if slash else "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid protocol {proto!r} in --publish {spec!r} (tcp, udp or sctp)")
    host_ip, rest = _split_host_ip(spec, body)
    if host_ip:
        try:
            host_ip = str(ipaddress.ip_address(host_ip))
        except ValueError:
            raise InvalidArgument(f"invalid host IP {host_ip!r} in --publish {spec!r}") from None
        if host_ip in ("0.0.0.0", "::"):
            host_ip = ""
    host_part, colon, ctr_part = rest.rpartition(":") if ":" in rest else ("", "", rest)
    if not ctr_part:
        raise InvalidArgument(f"no container port in --publish {spec!r}")
    ctr, n = _port_range(ctr_part, spec)
    if not host_part:
        return PortMapping(host_ip, 0, ctr, proto, n)
    host, hn = _port_range(host_part, spec)
    if hn != n:
        raise InvalidArgument(f"--publish {spec!r}: the host range ({hn} ports) and the container range "
                              f"({n} ports) differ in length")
    return PortMapping(host_ip, host, ctr, proto, n)


def publish_all(exposed: Iterable[str], taken: list[PortMapping]) -> list[PortMapping]:
    """``-P``: a random host port for every exposed port (``"80/tcp"``, ``"53/udp"``,
    ``"80"``) that ``-p`` did not already publish."""
    out: list[PortMapping] = []
    done = {(m.protocol, p) for m in taken for p in m.container_ports()}
    for e in exposed:
        port, _, proto = str(e).partition("/")
        proto = (proto or "tcp").lower()
        start, n = _port_range(port, f"{e} (exposed by the image)")
        for p in range(start, start + n):
            if (proto, p) not in done:
                done.add((proto, p))
                out.append(PortMapping("", 0, p, proto, 1))
    return out


def check_overlaps(mappings: list[PortMapping]) -> None:
    """Two mappings may not claim the same container port or the same host port."""
    ctr: set[tuple[str, int]] = set()
    host: set[tuple[str, str, int]] = set()
    for m in mappings:
        for p in m.container_ports():
            if (m.protocol, p) in ctr:
                raise InvalidArgument(f"container port {p}/{m.protocol} is published more than once")
            ctr.add((m.protocol, p))
        if m.host_port:
            for p in m.host_ports():
                if (m.protocol, m.host_ip, p) in host:
                    raise InvalidArgument(f"host port {p}/{m.protocol} is published more than once")
                host.add((m.protocol, m.host_ip, p))


def _span(first: int, n: int) -> str:
    return str(first) if n == 1 else f"{first}-{first + n - 1}"


def port_strings(mappings: Iterable[PortMapping]) -> list[str]:
    """podman's PORTS column: ``0.0.0.0:8080->80/tcp``, ``0.0.0.0:9000-9002->90-92/udp``."""
    return [f"{m.host_ip or '0.0.0.0'}:{_span(m.host_port, m.range)}->{_span(m.container_port, m.range)}"
            f"/{m.protocol}" for m in mappings]


def port_lines(mappings: Iterable[PortMapping]) -> list[str]:
    """``podman port``: one ``80/tcp -> 0.0.0.0:8080`` line per port."""
    return [f"{c}/{m.protocol} -> {m.host_ip or '0.0.0.0'}:{h}"
            for m in mappings for c, h in zip(m.container_ports(), m.host_ports())]


def port_map(mappings: Iterable[PortMapping]) -> dict[str, list[dict[str, str]]]:
    """inspect's ``NetworkSettings.Ports``: ``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``."""
    out: dict[str, list[dict[str, str]]] = {}
    for m in mappings:
        for c, h in zip(m.container_ports(), m.host_ports()):
            out.setdefault(f"{c}/{m.protocol}", []).append({"HostIp": m.host_ip, "HostPort": str(h)})
    return out
