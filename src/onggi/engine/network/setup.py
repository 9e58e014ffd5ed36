"""What the network side made for one container, kept with the container (as JSON in the
state database) so that ``release`` can undo it and ``ps`` / ``port`` / ``inspect`` can
show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ports import PortMapping, port_lines, port_map, port_strings

__all__ = ["NetworkSetup", "Attachment"]


@dataclass
class Attachment:
    """The container on one network: its interface, address and the network as netavark
    saw it at setup time (``definition``, so teardown works even if the network changed)."""

    interface: str
    ip: str
    prefix_len: int
    gateway: str
    mac: str = ""
    aliases: list[str] = field(default_factory=list)
    definition: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"interface": self.interface, "ip": self.ip, "prefix_len": self.prefix_len,
                "gateway": self.gateway, "mac": self.mac, "aliases": list(self.aliases),
                "definition": self.definition}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Attachment":
        return cls(str(d["interface"]), str(d["ip"]), int(d.get("prefix_len", 0)), str(d.get("gateway", "")),
                   str(d.get("mac", "")), list(d.get("aliases", [])), dict(d.get("definition", {})))


@dataclass
class NetworkSetup:
    """``netns``: the namespace path to join; "" asks the runtime for a new empty one
    (``--network none``); None keeps the host's (``--network host``).
    ``networks``: {name: Attachment}; ``ports``: the published mappings with their real
    host ports; ``dns_servers`` / ``dns_search``: what netavark reported (aardvark-dns)."""

    netns: str | None
    networks: dict[str, Attachment] = field(default_factory=dict)
    ports: list[PortMapping] = field(default_factory=list)
    dns_servers: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    container_name: str = ""
    mode: str = "bridge"                     # none, host, bridge (netavark networks)
    port_networks: list[str] = field(default_factory=list)  # the networks set up with the ports

    @property
    def ips(self) -> list[str]:
        return [a.ip for a in self.networks.values()]

    def port_strings(self) -> list[str]:
        """podman's ``ps`` PORTS entries (``0.0.0.0:8080->80/tcp``)."""
        return port_strings(self.ports)

    def port_lines(self) -> list[str]:
        """``onggi port`` lines (``80/tcp -> 0.0.0.0:8080``)."""
        return port_lines(self.ports)

    def port_map(self) -> dict[str, list[dict[str, str]]]:
        """inspect's ``NetworkSettings.Ports``."""
        return port_map(self.ports)

    def inspect_settings(self, default_network: str = "onggi") -> dict[str, Any]:
        """podman's ``NetworkSettings`` of ``inspect``: the top-level address fields are
        filled on the default network only, as podman does; ``Networks`` has every one."""
        nets = {name: {"EndpointID": "", "Gateway": a.gateway, "IPAddress": a.ip, "IPPrefixLen": a.prefix_len,
                       "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": a.mac,
                       "NetworkID": name, "DriverOpts": None, "IPAMConfig": None, "Links": None,
                       "Aliases": list(a.aliases)}
                for name, a in self.networks.items()}
        top = dict(nets.get(default_network, {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                                              "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                                              "MacAddress": ""}))
        for k in ("NetworkID", "DriverOpts", "IPAMConfig", "Links", "Aliases"):
            top.pop(k, None)
        top.update({"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
                    "LinkLocalIPv6PrefixLen": 0, "Ports": self.port_map(), "SandboxKey": self.netns or "",
                    "Networks": nets})
        return top

    def to_json(self) -> dict[str, Any]:
        return {"netns": self.netns, "mode": self.mode, "container_name": self.container_name, "ips": self.ips,
                "networks": {k: v.to_json() for k, v in self.networks.items()},
                "ports": [p.to_json() for p in self.ports], "port_networks": list(self.port_networks),
                "dns_servers": list(self.dns_servers), "dns_search": list(self.dns_search)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "NetworkSetup":
        if not d:  # a container the network side never saw
            return cls(netns="", mode="none")
        return cls(netns=d.get("netns"), mode=str(d.get("mode", "bridge")),
                   container_name=str(d.get("container_name", "")),
                   networks={k: Attachment.from_json(v) for k, v in d.get("networks", {}).items()},
                   ports=[PortMapping.from_json(p) for p in d.get("ports", [])],
                   port_networks=list(d.get("port_networks", [])),
                   dns_servers=list(d.get("dns_servers", [])), dns_search=list(d.get("dns_search", [])))
