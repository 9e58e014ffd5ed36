"""Network definitions, netavark's options and result, and ``onggi network`` on files
only (no namespace is made here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from onggi.engine.network import crud, definitions, netavark
from onggi.engine.network.ports import PortMapping
from onggi.engine.paths import Paths
from onggi.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


@pytest.fixture
def paths(tmp_path) -> Paths:  # noqa: ANN001
    return Paths(storage=str(tmp_path / "s"), root=str(tmp_path / "r"), run=str(tmp_path / "run"))


def test_default_network_is_written_on_first_use(paths: Paths) -> None:
    net = definitions.lookup(paths, "bridge")
    assert (net.name, net.network_interface, net.dns_enabled) == ("onggi", "onggi0", False)
    assert net.subnets == [{"subnet": "10.98.0.0/16", "gateway": "10.98.0.1"}]
    assert os.path.exists(os.path.join(paths.networks, "onggi.json"))
    assert definitions.lookup(paths, "onggi").id == net.id == definitions.default_network().id


def test_create_picks_subnet_and_bridge(paths: Paths) -> None:
    a = crud.create(paths, "a")
    b = crud.create(paths, "b", internal=True, disable_dns=True, labels={"k": "v"})
    assert a.subnet().subnet_of(definitions.USER_POOL) and b.subnet().subnet_of(definitions.USER_POOL)
    assert a.subnet() != b.subnet() and a.network_interface != b.network_interface
    assert a.dns_enabled and not b.dns_enabled and b.internal and b.labels == {"k": "v"}
    assert a.gateway() == str(a.subnet().network_address + 1)
    c = crud.create(paths, None, subnet="10.97.3.0/24", gateway="10.97.3.254")
    assert c.name.startswith("onggi") and c.gateway() == "10.97.3.254"
    assert [n.name for n in crud.list_networks(paths)] == sorted(["a", "b", c.name, "onggi"])
    assert [n.name for n in crud.list_networks(paths, {"label": ["k=v"]})] == ["b"]
    assert [n.name for n in crud.list_networks(paths, {"name": ["a"]})] == ["a"]
    assert definitions.lookup(paths, a.id[:10]).name == "a"


@pytest.mark.parametrize("kw,words", [
    ({"name": "bad name"}, "is invalid"),
    ({"name": "host"}, "reserved"),
    ({"name": "onggi"}, "reserved"),
    ({"name": "x", "driver": "macvlan"}, "unsupported network driver"),
    ({"name": "x", "subnet": "10.1.1.0/33"}, "invalid --subnet"),
    ({"name": "x", "subnet": "fd00::/64"}, "only IPv4"),
    ({"name": "x", "subnet": "10.1.1.0/31"}, "too small"),
    ({"name": "x", "gateway": "10.1.1.1"}, "--gateway needs --subnet"),
    ({"name": "x", "subnet": "10.1.1.0/24", "gateway": "10.1.2.1"}, "not a host address"),
    ({"name": "x", "subnet": "10.1.1.0/24", "gateway": "10.1.1.255"}, "not a host address"),
    ({"name": "x", "subnet": "10.98.5.0/24"}, "already used by network onggi"),
])
def test_create_errors(paths: Paths, kw: dict, words: str) -> None:
    definitions.lookup(paths, "onggi")
    with pytest.raises(InvalidArgument, match=words):
        crud.create(paths, **kw)


def test_name_taken_and_remove(paths: Paths) -> None:
    crud.create(paths, "dup")
    with pytest.raises(AlreadyExists, match="network name dup already used"):
        crud.create(paths, "dup")
    assert crud.remove(paths, "dup") == "dup"
    with pytest.raises(NotFound, match="unable to find network with name or ID dup"):
        crud.remove(paths, "dup")
    with pytest.raises(InvalidArgument, match="cannot be removed"):
        crud.remove(paths, "onggi")


def test_in_use_networks_are_kept(paths: Paths) -> None:
    from onggi.engine.network import ipam

    net = crud.create(paths, "busy")
    crud.create(paths, "idle")
    ipam.reserve(paths, "c" * 64, [(net, None)], [])
    assert crud.users(paths, "busy") == [("c" * 64, "c" * 12)]
    with pytest.raises(FailedPrecondition, match="network busy is being used by containers cccccccccccc"):
        crud.remove(paths, "busy")
    removed: list[str] = []
    with pytest.raises(FailedPrecondition, match="still in use"):
        crud.remove(paths, "busy", force=True, remove_container=removed.append)
    assert removed == ["c" * 64]
    assert crud.prune(paths) == ["idle"]
    crud.remove(paths, "busy", force=True, remove_container=lambda cid: ipam.free(paths, cid))
    assert [n.name for n in crud.list_networks(paths)] == ["onggi"]


def test_netavark_options_and_result() -> None:
    net = definitions.default_network()
    opts = netavark.options("f" * 64, "web", {"onggi": {"definition": net.to_json(), "ip": "10.98.0.2",
                                                          "interface": "eth0", "aliases": ["ffffffffffff"]}},
                            [PortMapping("", 8080, 80)])
    assert opts == {
        "container_id": "f" * 64, "container_name": "web",
        "port_mappings": [{"host_ip": "", "host_port": 8080, "container_port": 80, "protocol": "tcp", "range": 1}],
        "networks": {"onggi": {"static_ips": ["10.98.0.2"], "aliases": ["ffffffffffff"], "interface_name": "eth0"}},
        "network_info": {"onggi": net.to_json()}}
    assert netavark.options("f" * 64, "w", {}, [])["port_mappings"] is None
    result = {"n": {"dns_search_domains": ["dns.podman"], "dns_server_ips": ["10.99.5.1"],
                    "interfaces": {"eth0": {"mac_address": "4a:72:34:c6:99:66",
                                            "subnets": [{"gateway": "10.99.5.1", "ipnet": "10.99.5.2/24"}]}}}}
    assert netavark.parse_result(result) == (
        {"n": {"interface": "eth0", "ip": "10.99.5.2", "prefix_len": 24, "gateway": "10.99.5.1",
               "mac": "4a:72:34:c6:99:66"}}, ["10.99.5.1"], ["dns.podman"])


def _onggi(paths: Paths, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ONGGI_ROOT=paths.root, ONGGI_RUNROOT=paths.run, ONGGI_STORAGE=paths.storage)
    return subprocess.run([sys.executable, "-m", "onggi.cli.main", *args], env=env, capture_output=True, text=True)


def test_cli(paths: Paths) -> None:
    r = _onggi(paths, "network", "create", "--label", "a=b", "--subnet", "10.97.4.0/24", "front")
    assert (r.returncode, r.stdout) == (0, "front\n"), r.stderr
    r = _onggi(paths, "network", "ls")
    lines = r.stdout.splitlines()
    assert lines[0] == "NETWORK ID    NAME        DRIVER"
    assert [ln.split()[1:] for ln in lines[1:]] == [["front", "bridge"], ["onggi", "bridge"]]
    assert lines[1].index("front") == 14 and lines[1].index("bridge") == 26
    data = json.loads(_onggi(paths, "network", "inspect", "front").stdout)
    assert data[0]["subnets"] == [{"subnet": "10.97.4.0/24", "gateway": "10.97.4.1"}]
    assert list(data[0]) == ["name", "id", "driver", "network_interface", "created", "subnets", "ipv6_enabled",
                             "internal", "dns_enabled", "labels", "ipam_options"]
    r = _onggi(paths, "network", "inspect", "--format", "{{.Name}} {{.Subnets}} {{.Labels}} {{.DNSEnabled}}", "front")
    assert r.stdout == "front [{10.97.4.0/24 10.97.4.1}] map[a:b] true\n"
    assert len(_onggi(paths, "network", "ls", "-q").stdout.split()) == 2
    assert [n["name"] for n in json.loads(_onggi(paths, "network", "ls", "--format", "json").stdout)] == ["front", "onggi"]
    r = _onggi(paths, "network", "inspect", "nope")
    assert (r.returncode, r.stdout.strip()) == (125, "[]") and "unable to find network" in r.stderr
    r = _onggi(paths, "network", "create", "front")
    assert r.returncode == 125 and "already used" in r.stderr
    assert _onggi(paths, "network", "rm", "nope").returncode == 1
    assert _onggi(paths, "network", "prune", "-f").stdout == "front\n"
