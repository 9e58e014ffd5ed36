"""onggi.engine.network.ports: ``-p`` / ``-P`` parsing and podman's ways of showing ports."""

from __future__ import annotations

import pytest

from onggi.engine.network.ports import (PortMapping, check_overlaps, parse_publish, port_lines, port_map,
                                        port_strings, publish_all)
from onggi.errors import InvalidArgument


@pytest.mark.parametrize("spec,want", [
    ("80", PortMapping("", 0, 80, "tcp", 1)),
    ("8080:80", PortMapping("", 8080, 80, "tcp", 1)),
    ("8080:80/udp", PortMapping("", 8080, 80, "udp", 1)),
    ("8080:80/TCP", PortMapping("", 8080, 80, "tcp", 1)),
    ("127.0.0.1:8080:80", PortMapping("127.0.0.1", 8080, 80, "tcp", 1)),
    ("127.0.0.1::80", PortMapping("127.0.0.1", 0, 80, "tcp", 1)),
    ("0.0.0.0:8080:80", PortMapping("", 8080, 80, "tcp", 1)),
    ("[::1]:8080:80", PortMapping("::1", 8080, 80, "tcp", 1)),
    ("8000-8010:80-90", PortMapping("", 8000, 80, "tcp", 11)),
    ("80-82", PortMapping("", 0, 80, "tcp", 3)),
    ("10.1.2.3:9000-9001:90-91/sctp", PortMapping("10.1.2.3", 9000, 90, "sctp", 2)),
    (" 53:53/udp ", PortMapping("", 53, 53, "udp", 1)),
])
def test_parse(spec: str, want: PortMapping) -> None:
    assert parse_publish(spec) == want


@pytest.mark.parametrize("spec,words", [
    ("", "empty"),
    ("http", "invalid port 'http'"),
    ("8080:", "no container port"),
    ("0:80", "out of range"),
    ("8080:70000", "out of range"),
    ("90-80", "end is below the start"),
    ("8000-8010:80", "differ in length"),
    ("8000:80-81", "differ in length"),
    ("8080:80/icmp", "invalid protocol 'icmp'"),
    ("1.2.3:8080:80", "invalid host IP '1.2.3'"),
    ("a:b:c:d", "too many"),
    ("[::1:8080:80", "IPv6"),
])
def test_parse_errors_name_the_value(spec: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_publish(spec)
    assert words in str(e.value)


def test_publish_all_skips_ports_published_by_hand() -> None:
    taken = [parse_publish("8080:80")]
    got = publish_all(["80/tcp", "53/udp", "443", "7000-7001/tcp"], taken)
    assert got == [PortMapping("", 0, 53, "udp"), PortMapping("", 0, 443, "tcp"),
                   PortMapping("", 0, 7000, "tcp"), PortMapping("", 0, 7001, "tcp")]
    with pytest.raises(InvalidArgument, match="exposed by the image"):
        publish_all(["http/tcp"], [])


def test_overlaps_are_refused() -> None:
    check_overlaps([parse_publish("8080:80"), parse_publish("8080:80/udp"), parse_publish("8081:81")])
    with pytest.raises(InvalidArgument, match="container port 85/tcp is published more than once"):
        check_overlaps([parse_publish("8000-8010:80-90"), parse_publish("9000:85")])
    with pytest.raises(InvalidArgument, match="host port 8080/tcp"):
        check_overlaps([parse_publish("8080:80"), parse_publish("8080:81")])


def test_podman_texts() -> None:
    ms = [PortMapping("", 9000, 90, "udp", 3), PortMapping("", 18083, 80), PortMapping("127.0.0.1", 33317, 81)]
    assert port_strings(ms) == ["0.0.0.0:9000-9002->90-92/udp", "0.0.0.0:18083->80/tcp",
                                "127.0.0.1:33317->81/tcp"]
    assert port_lines(ms) == ["90/udp -> 0.0.0.0:9000", "91/udp -> 0.0.0.0:9001", "92/udp -> 0.0.0.0:9002",
                              "80/tcp -> 0.0.0.0:18083", "81/tcp -> 127.0.0.1:33317"]
    assert port_map(ms)["91/udp"] == [{"HostIp": "", "HostPort": "9001"}]
    assert port_map(ms)["81/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "33317"}]


def test_json_round_trip() -> None:
    m = PortMapping("127.0.0.1", 8000, 80, "udp", 4)
    assert m.to_json() == {"host_ip": "127.0.0.1", "host_port": 8000, "container_port": 80,
                           "protocol": "udp", "range": 4}
    assert PortMapping.from_json(m.to_json()) == m
