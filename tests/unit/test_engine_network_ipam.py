"""onggi.engine.network.ipam: addresses and host ports under a file lock."""

from __future__ import annotations

import multiprocessing
import socket

import pytest

from onggi.engine.network import ipam
from onggi.engine.network.definitions import Network
from onggi.engine.network.ports import PortMapping
from onggi.engine.paths import Paths
from onggi.errors import AlreadyExists, Conflict, InvalidArgument, Unavailable


def _net(name: str = "n1", subnet: str = "10.99.50.0/24", gw: str = "10.99.50.1") -> Network:
    return Network(name=name, id="0" * 64, network_interface="onggi9", subnets=[{"subnet": subnet, "gateway": gw}])


@pytest.fixture
def paths(tmp_path) -> Paths:  # noqa: ANN001
    return Paths(storage=str(tmp_path / "s"), root=str(tmp_path / "r"), run=str(tmp_path / "run"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lowest_free_address_skipping_the_gateway(paths: Paths) -> None:
    net = _net()
    assert ipam.reserve(paths, "a", [(net, None)], [])[0] == {"n1": "10.99.50.2"}
    assert ipam.reserve(paths, "b", [(net, None)], [])[0] == {"n1": "10.99.50.3"}
    ipam.free(paths, "a")
    assert ipam.reserve(paths, "c", [(net, None)], [])[0] == {"n1": "10.99.50.2"}
    assert ipam.users(paths, "n1") == ["b", "c"]
    assert ipam.holdings(paths, "b") == {"n1": "10.99.50.3"}
    ipam.free(paths, "b")
    ipam.free(paths, "b")  # twice is fine
    ipam.free(paths, "c")
    assert ipam.users(paths, "n1") == []


def test_gateway_in_the_middle_and_static_addresses(paths: Paths) -> None:
    net = _net(subnet="10.99.51.0/29", gw="10.99.51.2")
    got = [ipam.reserve(paths, str(i), [(net, None)], [])[0]["n1"] for i in range(5)]
    assert got == ["10.99.51.1", "10.99.51.3", "10.99.51.4", "10.99.51.5", "10.99.51.6"]
    with pytest.raises(Unavailable, match="no free IP address is left on network n1"):
        ipam.reserve(paths, "x", [(net, None)], [])
    ipam.free(paths, "3")
    with pytest.raises(AlreadyExists, match="10.99.51.4 is already allocated"):
        ipam.reserve(paths, "y", [(net, "10.99.51.4")], [])
    for bad in ("10.99.51.2", "10.99.51.0", "10.99.51.7", "10.1.1.1"):
        with pytest.raises(InvalidArgument, match=f"--ip {bad} is not a free host address"):
            ipam.reserve(paths, "y", [(net, bad)], [])
    with pytest.raises(InvalidArgument, match="invalid --ip"):
        ipam.reserve(paths, "y", [(net, "nope")], [])
    assert ipam.reserve(paths, "y", [(net, "10.99.51.5")], [])[0] == {"n1": "10.99.51.5"}


def _grab(args: tuple[str, str]) -> str:
    run, cid = args
    p = Paths(storage=run, root=run, run=run)
    return ipam.reserve(p, cid, [(_net(subnet="10.99.52.0/24", gw="10.99.52.1"), None)], [])[0]["n1"]


def test_twenty_processes_get_twenty_addresses(paths: Paths) -> None:
    with multiprocessing.get_context("spawn").Pool(20) as pool:
        ips = pool.map(_grab, [(paths.run, f"c{i}") for i in range(20)])
    assert len(set(ips)) == 20
    assert sorted(ipam.users(paths, "n1")) == sorted(f"c{i}" for i in range(20))


def test_host_ports(paths: Paths) -> None:
    port = _free_port()
    _, got = ipam.reserve(paths, "a", [], [PortMapping("", port, 80)])
    assert got == [PortMapping("", port, 80)]
    # the same port again: taken by container a, on any address
    with pytest.raises(Conflict, match=f"host port {port}/tcp is already published by container a"):
        ipam.reserve(paths, "b", [], [PortMapping("127.0.0.1", port, 81)])
    # udp is another port space
    ipam.reserve(paths, "b", [], [PortMapping("", port, 80, "udp")])
    # a port a host process listens on
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(Conflict, match=f"cannot publish host port {busy}/tcp: address already in use"):
            ipam.reserve(paths, "c", [(_net(), None)], [PortMapping("", busy, 80)])
    # all or nothing: the failed request holds no address
    assert ipam.holdings(paths, "c") == {}
    with pytest.raises(InvalidArgument, match="not an address of this host"):
        ipam.reserve(paths, "c", [], [PortMapping("192.0.2.254", _free_port(), 80)])


def test_random_host_ports_and_ranges(paths: Paths) -> None:
    _, got = ipam.reserve(paths, "a", [], [PortMapping("", 0, 80), PortMapping("", 0, 90, "tcp", 5)])
    one, rng = got
    assert one.host_port > 0 and one.container_port == 80
    assert rng.range == 5 and rng.host_port > 0
    assert not set(one.host_ports()) & set(rng.host_ports())
    ipam.free(paths, "a")
    _, again = ipam.reserve(paths, "b", [], [PortMapping("", rng.host_port, 90, "tcp", 5)])
    assert again[0].host_port == rng.host_port
