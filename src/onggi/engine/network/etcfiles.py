"""The container's /etc/hosts, /etc/resolv.conf and /etc/hostname, laid out as podman 4
writes them.

hosts: ``--add-host`` entries, the host's own /etc/hosts entries (localhost lines when it
has none), ``host.containers.internal`` (the network's gateway; the host's address with
``--network none|host``), then the container's addresses with its hostname and name.
resolv.conf: aardvark-dns first (with ``search dns.podman``) on networks with DNS, then
``--dns`` servers or else the host's, leaving out 127.x and ::1 (unreachable from another
network namespace) unless the container shares the host's; ``--dns-search`` (``.`` for
none) and ``--dns-option`` replace the host's."""

from __future__ import annotations

import ipaddress
import os
import socket

from ...errors import InvalidArgument
from ...files import atomic_write
from ..options import RunOptions
from .setup import NetworkSetup

__all__ = ["write_etc_files", "hosts_text", "resolv_text", "parse_resolv"]

HOST_HOSTS = "/etc/hosts"
HOST_RESOLV = "/etc/resolv.conf"
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"
DEFAULT_LOCALHOST = [("127.0.0.1", ["localhost", "localhost.localdomain", "localhost4", "localhost4.localdomain4"]),
                     ("::1", ["localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6"])]
FALLBACK_DNS = ["8.8.8.8", "8.8.4.4"]


def _ip(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise InvalidArgument(f"invalid IP address {value!r} in {what}") from None


def _parse_hosts(text: str) -> list[tuple[str, list[str]]]:
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            out.append((fields[0], fields[1:]))
    return out


def _add_hosts(entries: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for e in entries:
        host, sep, ip = e.partition(":")
        if not sep or not host or not ip:
            raise InvalidArgument(f"invalid --add-host {e!r}: want HOST:IP")
        out.append((_ip(ip, f"--add-host {e}"), [host]))
    return out


def hosts_text(hostname: str, setup: NetworkSetup, opts: RunOptions, base: str, host_ip: str | None) -> str:
    entries = _add_hosts(opts.add_hosts)
    entries += _parse_hosts(base) or DEFAULT_LOCALHOST
    gateways = [a.gateway for a in setup.networks.values() if a.gateway]
    internal = gateways[0] if setup.mode == "bridge" and gateways else (host_ip if setup.mode != "bridge" else None)
    if internal:
        entries.append((internal, ["host.containers.internal"]))
    names = [hostname] + ([setup.container_name] if setup.container_name and setup.container_name != hostname else [])
    if setup.mode == "bridge":
        entries += [(a.ip, names) for a in setup.networks.values() if a.ip]
    elif setup.mode == "none":
        entries.append(("127.0.0.1", names))
    return "".join(f"{ip}\t{' '.join(n)}\n" for ip, n in entries)


def parse_resolv(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) of a resolv.conf."""
    ns: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            ns.append(fields[1])
        elif fields[0] in ("search", "domain"):
            search = fields[1:]
        elif fields[0] == "options":
            options += fields[1:]
    return ns, search, options


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolv_text(setup: NetworkSetup, opts: RunOptions, host: str) -> str:
    host_ns, host_search, host_opts = parse_resolv(host)
    if setup.mode != "host":
        host_ns = [n for n in host_ns if not _loopback(n)] or list(FALLBACK_DNS)
    servers = list(setup.dns_servers) + ([_ip(d, "--dns") for d in opts.dns] if opts.dns else host_ns)
    user_search = [] if opts.dns_search == ["."] else (opts.dns_search or host_search)
    search = list(setup.dns_search) + [s for s in user_search if s not in setup.dns_search]
    options = opts.dns_options or host_opts
    lines = []
    if search:
        lines.append("search " + " ".join(search))
    seen: set[str] = set()
    for s in servers:
        if s not in seen:
            seen.add(s)
            lines.append(f"nameserver {s}")
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _host_resolv() -> str:
    text = _read(HOST_RESOLV)
    ns, _, _ = parse_resolv(text)
    # systemd-resolved's stub (127.0.0.53) is of no use elsewhere: take its upstreams
    if ns and all(_loopback(n) for n in ns) and os.path.exists(RESOLVED_UPSTREAM):
        return _read(RESOLVED_UPSTREAM)
    return text


def _host_ip() -> str | None:
    """The address the host would send from towards the outside (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("203.0.113.1", 9))
            return str(s.getsockname()[0])
        except OSError:
            return None


def write_etc_files(dir: str, hostname: str, setup: NetworkSetup, opts: RunOptions) -> tuple[str, str, str]:
    """Write ``hosts``, ``resolv.conf`` and ``hostname`` into ``dir``; their paths."""
    os.makedirs(dir, exist_ok=True)
    paths = (os.path.join(dir, "hosts"), os.path.join(dir, "resolv.conf"), os.path.join(dir, "hostname"))
    host_ip = _host_ip() if setup.mode != "bridge" else None
    atomic_write(paths[0], hosts_text(hostname, setup, opts, _read(HOST_HOSTS), host_ip).encode(), durable=False)
    atomic_write(paths[1], resolv_text(setup, opts, _host_resolv()).encode(), durable=False)
    atomic_write(paths[2], hostname.encode(), durable=False)  # no newline, as podman writes it
    return paths
