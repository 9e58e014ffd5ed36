"""The engine's networks for real (root, netavark, aardvark-dns, iptables): namespaces made
by ``prepare`` on a user network, processes run in them with ``nsenter``, traffic between
them, names through aardvark-dns, published ports from the host, and nothing left after
``release``."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Iterator

import pytest

from onggi.engine import network as N
from onggi.engine.network import ipam, netavark
from onggi.engine.options import RunOptions
from onggi.engine.paths import Paths
from onggi.errors import Conflict, NotFound

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
NSENTER = shutil.which("nsenter")
IPTABLES = shutil.which("iptables") or "/usr/sbin/iptables"


def _need() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, bridges, iptables)")
    try:
        netavark.binary()
    except Exception:
        pytest.skip("netavark is not installed (apt-get install netavark)")
    if netavark.aardvark_binary() is None:
        pytest.skip("aardvark-dns is not installed (apt-get install aardvark-dns)")
    if not os.path.exists(IPTABLES):
        pytest.skip("iptables is not installed")
    if not (NSENTER and os.path.exists(BUSYBOX)):
        pytest.skip("nsenter (util-linux) and busybox-static are needed")


def _sh(cmd: str) -> str:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout


def _aardvarks(cfg: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if "aardvark-dns" in cmd and cfg in cmd:
            out.append(int(pid))
    return out


def _fetch(ip: str, port: int, tries: int = 30) -> str:
    """What the server says (it restarts nc between connections: try a few times)."""
    out = ""
    for _ in range(tries):
        out = subprocess.run([BUSYBOX, "nc", "-w", "3", ip, str(port)], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=10).stdout.strip()
        if out:
            return out
        time.sleep(0.1)
    return out


class Net:
    """One test's engine roots and one user network; ``close`` releases what is left and
    checks nothing remains: netns files, veths on the bridge, rules, aardvark-dns."""

    def __init__(self) -> None:
        self.base = tempfile.mkdtemp(prefix="ogn", dir="/run")
        self.paths = Paths(storage=f"{self.base}/s", root=f"{self.base}/r", run=f"{self.base}/run")
        self.network = N.create(self.paths, f"t{uuid.uuid4().hex[:8]}")
        self.setups: dict[str, N.NetworkSetup] = {}
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, **kw) -> tuple[str, N.NetworkSetup]:  # noqa: ANN003
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        kw.setdefault("network", self.network.name)
        s = N.prepare(self.paths, cid, name, RunOptions(image="x", **kw))
        self.setups[cid] = s
        return cid, s

    def stop(self, cid: str) -> None:
        N.release(self.paths, cid, self.setups.pop(cid))

    def in_ns(self, s: N.NetworkSetup, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run([NSENTER, f"--net={s.netns}", BUSYBOX, *args], capture_output=True, text=True,
                              timeout=timeout)

    def serve(self, s: N.NetworkSetup, port: int, text: str) -> None:
        """A one-answer-per-connection TCP server in the namespace (busybox nc, looped)."""
        p = subprocess.Popen([NSENTER, f"--net={s.netns}", BUSYBOX, "sh", "-c",
                              f"while true; do echo {text} | {BUSYBOX} nc -l -p {port}; done"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        time.sleep(0.3)

    def close(self) -> list[str]:
        for p in self.procs:
            os.killpg(p.pid, 9)
            p.wait()
        for cid in list(self.setups):
            self.stop(cid)
        leaks = self.leaks()
        try:
            N.remove(self.paths, self.network.name)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
        return leaks

    def leaks(self) -> list[str]:
        out = []
        if os.path.isdir(self.paths.netns) and os.listdir(self.paths.netns):
            out.append(f"netns files {os.listdir(self.paths.netns)}")
        bridge = self.network.network_interface
        if _sh(f"ip -o link show master {bridge} 2>/dev/null").strip():
            out.append(f"veths on {bridge}")
        subnet = str(self.network.subnet())
        prefix = subnet.rsplit(".", 1)[0] + "."
        rules = [r for t in ("filter", "nat") for r in _sh(f"{IPTABLES} -t {t} -S").splitlines() if prefix in r]
        if rules:
            out.append(f"iptables rules {rules}")
        if _aardvarks(netavark.config_dir(self.paths)):
            out.append("aardvark-dns still running")
        if ipam.users(self.paths, self.network.name):
            out.append("addresses still allocated")
        return out


@pytest.fixture
def net() -> Iterator[Net]:
    _need()
    n = Net()
    try:
        yield n
    finally:
        leaks = n.close()
    assert not leaks, f"leaked: {leaks}"


def test_two_containers_talk_and_resolve_each_other(net: Net) -> None:
    _, a = net.start("alpha")
    _, b = net.start("beta", network_aliases=["db"])
    ip_a, ip_b = a.ips[0], b.ips[0]
    assert ip_a != ip_b and a.networks[net.network.name].interface == "eth0"
    gw = net.network.gateway()
    assert a.dns_servers == [gw] and a.dns_search == ["dns.podman"]
    assert net.in_ns(a, "ping", "-c1", "-W3", ip_b).returncode == 0
    assert net.in_ns(b, "ping", "-c1", "-W3", ip_a).returncode == 0
    assert net.in_ns(a, "ping", "-c1", "-W3", gw).returncode == 0
    for name, want in (("beta", ip_b), ("db", ip_b), ("alpha", ip_a)):
        r = net.in_ns(a, "nslookup", name, gw)
        assert want in r.stdout, r.stdout + r.stderr
    assert "NXDOMAIN" in net.in_ns(a, "nslookup", "nosuchname", gw).stdout
    assert _aardvarks(netavark.config_dir(net.paths))
    # the etc files a container would get
    hosts, resolv, _ = N.write_etc_files(f"{net.base}/etc", "alpha-host", a, RunOptions(image="x"))
    assert f"{ip_a}\talpha-host alpha\n" in open(hosts).read()
    assert open(resolv).read().startswith(f"search dns.podman\nnameserver {gw}\n")


def test_published_port_from_the_host(net: Net) -> None:
    with __import__("socket").socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    _, a = net.start("web", publish=[f"{port}:8080", "9999/udp"])
    assert a.ports[0].host_port == port and a.ports[1].host_port > 0
    assert a.port_strings()[0] == f"0.0.0.0:{port}->8080/tcp"
    net.serve(a, 8080, "hello-from-web")
    host_ip = _sh("ip -4 -o route get 203.0.113.1").split(" src ")[1].split()[0]
    for ip in ("127.0.0.1", host_ip):
        assert _fetch(ip, port) == "hello-from-web", f"via {ip}"
    # the same host port for another container is refused, and that leaves nothing behind
    before = os.listdir(net.paths.netns)
    with pytest.raises(Conflict, match=f"host port {port}/tcp is already published"):
        net.start("web2", publish=[f"{port}:80"])
    assert os.listdir(net.paths.netns) == before
    assert len(ipam.users(net.paths, net.network.name)) == 1


def test_release_leaves_nothing(net: Net) -> None:
    cid, a = net.start("one", publish=["8080"])
    ip = a.ips[0]
    assert os.path.exists(a.netns)
    assert ip in _sh(f"{IPTABLES} -t nat -S")
    net.stop(cid)
    assert not os.path.exists(a.netns)
    assert ip not in _sh(f"{IPTABLES} -t nat -S") + _sh(f"{IPTABLES} -S")
    assert not _aardvarks(netavark.config_dir(net.paths))
    assert net.leaks() == []
    N.release(net.paths, cid, a)  # again: nothing to do, no error


def test_release_after_the_netns_went(net: Net) -> None:
    """After a reboot-like loss of the namespace, release still drops rules and addresses."""
    cid, a = net.start("lost", publish=["8080"])
    from onggi.sys.netns import remove_netns

    remove_netns(a.netns)
    net.stop(cid)
    assert net.leaks() == []


def test_twenty_in_parallel(net: Net) -> None:
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        setups = list(pool.map(lambda i: net.start(f"p{i}"), range(20)))
    ips = [s.ips[0] for _, s in setups]
    assert len(set(ips)) == 20
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda cs: net.stop(cs[0]), setups))
    assert net.leaks() == []


def test_connect_and_disconnect(net: Net) -> None:
    other = N.create(net.paths, f"o{uuid.uuid4().hex[:8]}")
    try:
        cid, a = net.start("multi")
        b = N.connect(net.paths, cid, "multi", a, other.name, ["extra"])
        assert set(b.networks) == {net.network.name, other.name}
        assert b.networks[other.name].interface == "eth1"
        assert "eth1" in net.in_ns(b, "ip", "-o", "addr").stdout
        with pytest.raises(Exception, match="already connected"):
            N.connect(net.paths, cid, "multi", b, other.name)
        c = N.disconnect(net.paths, cid, "multi", b, other.name)
        assert set(c.networks) == {net.network.name}
        assert "eth1" not in net.in_ns(c, "ip", "-o", "addr").stdout
        with pytest.raises(NotFound, match="not connected"):
            N.disconnect(net.paths, cid, "multi", c, other.name)
        net.setups[cid] = c
    finally:
        for cid in list(net.setups):
            net.stop(cid)
        N.remove(net.paths, other.name)


def test_none_and_host_modes(net: Net) -> None:
    none = N.prepare(net.paths, "n" * 64, "n", RunOptions(image="x", network="none"))
    host = N.prepare(net.paths, "h" * 64, "h", RunOptions(image="x", network="host"))
    assert (none.netns, host.netns) == ("", None)
    N.release(net.paths, "n" * 64, none)
    N.release(net.paths, "h" * 64, host)
    with pytest.raises(NotFound, match="unable to find network with name or ID nosuchnet"):
        N.prepare(net.paths, "x" * 64, "x", RunOptions(image="x", network="nosuchnet"))
    assert not os.listdir(net.paths.netns) if os.path.isdir(net.paths.netns) else True


def test_default_network_reaches_the_host(net: Net) -> None:
    """``--network bridge``: the default network (no DNS), outbound through the gateway to
    a server on the host's own address."""
    import socket

    host_ip = _sh("ip -4 -o route get 203.0.113.1").split(" src ")[1].split()[0]
    cid, a = net.start("plain", network="bridge")
    assert list(a.networks) == ["onggi"] and a.dns_servers == []
    assert a.networks["onggi"].gateway == "10.98.0.1"
    with socket.socket() as srv:
        srv.bind((host_ip, 0))
        srv.listen()
        port = srv.getsockname()[1]
        p = subprocess.Popen([NSENTER, f"--net={a.netns}", BUSYBOX, "nc", "-w", "3", host_ip, str(port)],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        srv.settimeout(10)
        conn, peer = srv.accept()
        with conn:
            assert peer[0] in (a.ips[0], "10.98.0.1")  # NAT may or may not rewrite a host-local target
        p.kill()
        p.wait()
    net.stop(cid)
    assert not os.path.exists(a.netns)
