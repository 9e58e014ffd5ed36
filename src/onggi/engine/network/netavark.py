"""Driving netavark (and, through it, aardvark-dns): the options JSON it reads on stdin,
``setup`` / ``teardown`` of a network namespace, and the result it prints.

Called the way podman 4 calls it, as root::

    netavark --config <run>/network/netavark --rootless false \\
             --aardvark-binary /usr/lib/podman/aardvark-dns setup <netns> < options.json

``--config`` is onggi's own directory, so the aardvark-dns that netavark starts for
onggi's networks is not podman's (podman uses /run/containers/networks)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from typing import Any

from ...errors import InvalidArgument, Unavailable, Unsupported
from ..paths import Paths
from .ipam import state_dir
from .ports import PortMapping

__all__ = ["binary", "aardvark_binary", "config_dir", "options", "setup", "teardown", "parse_result"]

_DIRS = ("/usr/lib/podman", "/usr/libexec/podman", "/usr/local/libexec/podman", "/usr/local/lib/podman")


def _find(name: str, env: str) -> str | None:
    override = os.environ.get(env)
    if override:
        return override if os.access(override, os.X_OK) else None
    for d in _DIRS:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def binary() -> str:
    p = _find("netavark", "ONGGI_NETAVARK")
    if p is None:
        raise Unsupported("netavark is not installed (apt-get install netavark): bridge networks need it")
    return p


def aardvark_binary() -> str | None:
    return _find("aardvark-dns", "ONGGI_AARDVARK_DNS")


def config_dir(paths: Paths) -> str:
    return os.path.join(state_dir(paths), "netavark")


def options(cid: str, name: str, networks: dict[str, dict[str, Any]], ports: list[PortMapping],
            dns_servers: list[str] | None = None) -> dict[str, Any]:
    """netavark's network options. ``networks``: {name: {"definition": network JSON,
    "ip": str, "interface": "eth0", "aliases": [...]}}."""
    opts: dict[str, Any] = {
        "container_id": cid,
        "container_name": name,
        "port_mappings": [p.to_json() for p in ports] or None,
        "networks": {n: {"static_ips": [v["ip"]], "aliases": list(v.get("aliases", [])),
                         "interface_name": v["interface"]} for n, v in networks.items()},
        "network_info": {n: v["definition"] for n, v in networks.items()},
    }
    if dns_servers:
        opts["dns_servers"] = list(dns_servers)
    return opts


def _run(paths: Paths, action: str, netns: str, opts: dict[str, Any]) -> str:
    cfg = config_dir(paths)
    os.makedirs(cfg, exist_ok=True)
    argv = [binary(), "--config", cfg, "--rootless", "false"]
    aardvark = aardvark_binary()
    if aardvark:
        argv += ["--aardvark-binary", aardvark]
    argv += [action, netns]
    # the environment is kept (ONGGI_ROOT included): an aardvark-dns left running after
    # its last container is then visible to the tests' leak checks
    env = dict(os.environ)
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    # one netavark at a time (podman holds its network lock the same way): parallel
    # teardowns race on the bridge and on aardvark-dns's files
    lock = os.open(os.path.join(state_dir(paths), "netavark.lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = subprocess.run(argv, input=json.dumps(opts), capture_output=True, text=True, timeout=120,
                           env=env, cwd="/", close_fds=True, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"netavark {action} of {netns} did not finish in 120 s") from None
    finally:
        os.close(lock)
    if p.returncode != 0:
        raise Unavailable(f"netavark {action} failed for container {opts['container_id'][:12]}: "
                          f"{_error_text(p.stdout, p.stderr)}")
    return p.stdout


def _error_text(stdout: str, stderr: str) -> str:
    for text in (stdout, stderr):
        try:
            err = json.loads(text).get("error")
            if err:
                return str(err)
        except (ValueError, AttributeError):
            pass
    return (stderr.strip() or stdout.strip() or "no output").splitlines()[-1]


def setup(paths: Paths, netns: str, opts: dict[str, Any]) -> dict[str, Any]:
    out = _run(paths, "setup", netns, opts)
    try:
        return json.loads(out)
    except ValueError:
        raise InvalidArgument(f"netavark setup printed something that is not JSON: {out[:200]!r}") from None


def teardown(paths: Paths, netns: str, opts: dict[str, Any]) -> None:
    _run(paths, "teardown", netns, opts)


def parse_result(result: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    """netavark's status: ({network: {interface, ip, prefix_len, gateway, mac}},
    dns server IPs, dns search domains)."""
    nets: dict[str, dict[str, Any]] = {}
    servers: list[str] = []
    search: list[str] = []
    for name, status in result.items():
        for ifname, iface in (status.get("interfaces") or {}).items():
            for sub in iface.get("subnets") or []:
                ip, _, plen = str(sub.get("ipnet", "")).partition("/")
                if ":" in ip and name in nets:  # keep the IPv4 address first
                    continue
                nets[name] = {"interface": ifname, "ip": ip, "prefix_len": int(plen or 0),
                              "gateway": str(sub.get("gateway") or ""), "mac": str(iface.get("mac_address", ""))}
        for s in status.get("dns_server_ips") or []:
            if s not in servers:
                servers.append(s)
        for s in status.get("dns_search_domains") or []:
            if s not in search:
                search.append(s)
    return nets, servers, search
