"""The container's /etc/hosts and /etc/resolv.conf (onggi.engine.network.etcfiles), and
what the network side keeps per container (NetworkSetup)."""

from __future__ import annotations

import pytest

from onggi.engine.network import write_etc_files
from onggi.engine.network.etcfiles import hosts_text, parse_resolv, resolv_text
from onggi.engine.network.ports import PortMapping
from onggi.engine.network.setup import Attachment, NetworkSetup
from onggi.engine.options import RunOptions
from onggi.errors import InvalidArgument

HOST_HOSTS = "127.0.0.1 localhost\n# a comment\n\n::1 localhost ip6-localhost\n"
HOST_RESOLV = "# resolv\nsearch example.com corp\nnameserver 127.0.0.53\nnameserver 10.255.255.53\noptions ndots:2\n"


def _bridge(dns: bool = False) -> NetworkSetup:
    a = Attachment("eth0", "10.99.3.5", 24, "10.99.3.1", "aa:bb:cc:dd:ee:ff", ["0123456789ab"], {"name": "n"})
    return NetworkSetup(netns="/run/x/netns/c", networks={"n": a}, container_name="web", mode="bridge",
                        dns_servers=["10.99.3.1"] if dns else [], dns_search=["dns.podman"] if dns else [])


def test_hosts_on_a_bridge_network() -> None:
    text = hosts_text("0123456789ab", _bridge(), RunOptions("img", add_hosts=["db:10.0.0.9", "v6:::1"]),
                      HOST_HOSTS, None)
    assert text == ("10.0.0.9\tdb\n::1\tv6\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
                    "10.99.3.1\thost.containers.internal\n10.99.3.5\t0123456789ab web\n")


def test_hosts_without_a_network_and_on_the_host() -> None:
    none = NetworkSetup(netns="", mode="none", container_name="c1")
    assert hosts_text("h1", none, RunOptions("img"), "", "192.0.2.2").splitlines() == [
        "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4",
        "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6",
        "192.0.2.2\thost.containers.internal", "127.0.0.1\th1 c1"]
    host = NetworkSetup(netns=None, mode="host", container_name="c1")
    assert hosts_text("c1", host, RunOptions("img"), HOST_HOSTS, "192.0.2.2").splitlines()[-1] == \
        "192.0.2.2\thost.containers.internal"


@pytest.mark.parametrize("bad", ["nohost", "db:", ":1.2.3.4", "db:1.2.3"])
def test_bad_add_host(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="add-host"):
        hosts_text("h", _bridge(), RunOptions("img", add_hosts=[bad]), "", None)


def test_resolv_conf_from_the_host_without_loopback() -> None:
    assert resolv_text(_bridge(), RunOptions("img"), HOST_RESOLV) == (
        "search example.com corp\nnameserver 10.255.255.53\noptions ndots:2\n")
    # only a local stub: the public fallbacks
    assert "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" in resolv_text(_bridge(), RunOptions("img"),
                                                                      "nameserver 127.0.0.53\n")
    # the host's network keeps the host's file as it is
    host = NetworkSetup(netns=None, mode="host")
    assert "nameserver 127.0.0.53\nnameserver 10.255.255.53\n" in resolv_text(host, RunOptions("img"), HOST_RESOLV)


def test_resolv_conf_with_aardvark_and_overrides() -> None:
    assert resolv_text(_bridge(dns=True), RunOptions("img"), HOST_RESOLV) == (
        "search dns.podman example.com corp\nnameserver 10.99.3.1\nnameserver 10.255.255.53\noptions ndots:2\n")
    opts = RunOptions("img", dns=["1.1.1.1"], dns_search=["a.test"], dns_options=["timeout:1"])
    assert resolv_text(_bridge(dns=True), opts, HOST_RESOLV) == (
        "search dns.podman a.test\nnameserver 10.99.3.1\nnameserver 1.1.1.1\noptions timeout:1\n")
    assert resolv_text(_bridge(), RunOptions("img", dns_search=["."]), HOST_RESOLV).startswith("nameserver")
    with pytest.raises(InvalidArgument, match="'8.8.8' in --dns"):
        resolv_text(_bridge(), RunOptions("img", dns=["8.8.8"]), HOST_RESOLV)


def test_parse_resolv() -> None:
    assert parse_resolv("domain a\nnameserver 1.1.1.1 ; x\nsearch b c\noptions x y\noptions z\n") == (
        ["1.1.1.1"], ["b", "c"], ["x", "y", "z"])


def test_write_etc_files(tmp_path) -> None:  # noqa: ANN001
    hosts, resolv, hostname = write_etc_files(str(tmp_path / "etc"), "myhost", _bridge(dns=True), RunOptions("img"))
    assert open(hostname).read() == "myhost"
    assert "10.99.3.5\tmyhost web\n" in open(hosts).read()
    assert open(resolv).read().startswith("search dns.podman")


def test_setup_json_round_trip() -> None:
    s = _bridge(dns=True)
    s.ports = [PortMapping("", 8080, 80), PortMapping("127.0.0.1", 9000, 90, "udp", 2)]
    s.port_networks = ["n"]
    back = NetworkSetup.from_json(s.to_json())
    assert back == s
    assert back.ips == ["10.99.3.5"]
    assert back.port_strings() == ["0.0.0.0:8080->80/tcp", "127.0.0.1:9000-9001->90-91/udp"]
    assert back.port_lines()[-1] == "91/udp -> 127.0.0.1:9001"
    assert NetworkSetup.from_json({}).netns == ""
    host = NetworkSetup(netns=None, mode="host")
    assert NetworkSetup.from_json(host.to_json()).netns is None
