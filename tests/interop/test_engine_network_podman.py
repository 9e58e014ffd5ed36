"""``onggi run`` on networks next to ``podman run`` doing the same: names resolved between
two containers of a user network, a published port reached from the host, the /etc
files the containers see, the ``port`` lines, a host port already in use (exit 125).

podman runs on private roots with its own containers.conf (``--runtime runc``, no
ulimits, a private network_config_dir); its networks get a fixed subnet from
10.97.0.0/16 that no route of the host uses, onggi's come from 10.99.0.0/16, and the
aardvark-dns instances differ (podman's --config is /run/containers/networks, onggi's is
under its run root). Everything started is removed at the end."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Iterator

import pytest
from engine_support import PODMAN, busybox_archive, engine  # noqa: F401  (fixtures)

pytestmark = pytest.mark.interop

RUNC = shutil.which("runc") or "/usr/sbin/runc"
SERVER = "while true; do echo hello-$HOSTNAME | nc -l -p 80; done"


class Podman:
    def __init__(self, base: str, archive: str) -> None:
        self.base = base
        self.runroot = tempfile.mkdtemp(prefix="pn", dir="/run")
        for d in ("xdg", "networks", "tmp"):
            os.makedirs(os.path.join(base, d))
        conf = os.path.join(base, "containers.conf")
        with open(conf, "w") as f:
            f.write(f'[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n'
                    f'events_logger = "file"\nlock_type = "file"\n[network]\n'
                    f'network_config_dir = "{base}/networks"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf, XDG_RUNTIME_DIR=f"{base}/xdg")
        r = self("load", "-q", "-i", archive)
        if r.returncode != 0:
            pytest.skip(f"podman cannot load the busybox archive here: {r.stderr.strip()}")

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [PODMAN, "--root", f"{self.base}/storage", "--runroot", self.runroot, "--tmpdir", f"{self.base}/tmp",
               "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
               "--runtime", RUNC, *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(cmd, env=self.env, timeout=timeout, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                               text=True)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, p.returncode, out.read(), err.read())

    def close(self) -> None:
        self("rm", "-fa", "-t", "0")
        self("network", "prune", "-f")
        self("system", "reset", "-f")
        with open("/proc/self/mountinfo") as f:
            points = [ln.split()[4] for ln in f]
        for p in sorted((p for p in points if p.startswith((self.base, self.runroot))), reverse=True):
            subprocess.run(["umount", "-l", p], capture_output=True)
        shutil.rmtree(self.runroot, ignore_errors=True)


@pytest.fixture
def podman(busybox_archive: str, tmp_path) -> Iterator[Podman]:  # noqa: ANN001, F811
    if not os.path.exists(PODMAN) or not os.path.exists(RUNC):
        pytest.skip("podman and runc are needed (apt-get install podman runc)")
    if not os.path.exists("/usr/lib/podman/netavark"):
        pytest.skip("netavark is not installed (apt-get install netavark aardvark-dns)")
    pm = Podman(str(tmp_path / "podman"), busybox_archive)
    yield pm
    pm.close()


@pytest.fixture
def onggi(engine):  # noqa: ANN001, ANN201, F811
    r = engine.run_onggi("run", "--help")
    if r.returncode != 0 or "--network" not in r.stdout:
        pytest.skip("this onggi has no `run` with --network yet")
    yield engine
    for name in engine.run_onggi("network", "ls", "--format", "{{.Name}}").stdout.split():
        if name != "onggi":
            engine.run_onggi("network", "rm", "-f", name)


def _free_subnet() -> str:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    used = [ipaddress.ip_network(w.split()[0], strict=False) for w in routes.splitlines() if "/" in w.split()[0]]
    for i in range(200, 250):
        cand = ipaddress.ip_network(f"10.97.{i}.0/24")
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    pytest.skip("no free 10.97.x.0/24 subnet for podman's test network")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def _fetch(ip: str, port: int) -> str:
    for _ in range(50):
        try:
            with socket.create_connection((ip, port), timeout=3) as s:
                data = s.recv(100).decode().strip()
                if data:
                    return data
        except OSError:
            pass
        time.sleep(0.1)
    return ""


def _both(onggi, podman, *args: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:  # noqa: ANN001
    return onggi.run_onggi(*args, timeout=120), podman(*args)


def test_containers_resolve_each_other(onggi, podman) -> None:  # noqa: ANN001
    net = f"n{uuid.uuid4().hex[:8]}"
    assert onggi.run_onggi("network", "create", net).stdout.strip() == net
    assert podman("network", "create", "--subnet", _free_subnet(), net).stdout.strip() == net
    # --network-alias where this onggi's run has it (the run flags are the lifecycle's)
    alias = "--network-alias" in onggi.run_onggi("run", "--help").stdout
    for tool in (onggi.run_onggi, podman):
        r = tool("run", "-d", "--name", "server", "--network", net, *(["--network-alias", "db"] if alias else []),
                 "localhost/busybox:latest", "sh", "-c",
                 "ip -4 -o addr show eth0; while true; do echo pong | nc -l -p 80; done")
        assert r.returncode == 0, r.stderr
    results = {}
    for label, tool in (("onggi", onggi.run_onggi), ("podman", podman)):
        ip = ""
        for _ in range(50):  # the address the server sees on its eth0 (from its log)
            m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", tool("logs", "server").stdout)
            if m:
                ip = m.group(1)
                break
            time.sleep(0.1)
        second = "db" if alias else "server"
        script = (f"nslookup server; nslookup {second}; for i in 1 2 3 4 5; do nc -w 3 server 80 && break; "
                  f"sleep 0.2; done; cat /etc/resolv.conf")
        r = tool("run", "--rm", "--network", net, "localhost/busybox:latest", "sh", "-c", script)
        assert r.returncode == 0, f"{label}: {r.stdout}\n{r.stderr}"
        assert ip and r.stdout.count(f"Address: {ip}") >= 2, f"{label}: {ip!r}\n{r.stdout}"
        assert "pong" in r.stdout, f"{label}: {r.stdout}"
        results[label] = re.sub(r"\d+\.\d+\.\d+\.\d+", "IP", r.stdout)
    # the same lines apart from the addresses (resolv.conf: search dns.podman, aardvark first)
    assert results["onggi"].splitlines()[-3:] == results["podman"].splitlines()[-3:]


def test_published_port_and_port_lines(onggi, podman) -> None:  # noqa: ANN001
    shown = {}
    for label, tool in (("onggi", onggi.run_onggi), ("podman", podman)):
        port = _free_port()
        r = tool("run", "-d", "--name", "web", "--hostname", "web", "-p", f"{port}:80", "-p", "127.0.0.1::81/udp",
                 "localhost/busybox:latest", "sh", "-c", SERVER)
        assert r.returncode == 0, r.stderr
        for ip in ("127.0.0.1", _host_ip()):
            assert _fetch(ip, port) == "hello-web", f"{label} via {ip}:{port}"
        lines = tool("port", "web").stdout.splitlines()
        shown[label] = sorted(re.sub(r":\d+$", ":PORT", ln) for ln in lines)
        # the same host port again: an engine error
        r = tool("run", "-d", "--name", "web2", "-p", f"{port}:80", "localhost/busybox:latest", "true")
        # onggi: 125 (refused before anything starts); podman 4.3 says 126 (its bind fails at start)
        assert r.returncode == (125 if label == "onggi" else 126), f"{label}: {r.returncode} {r.stderr}"
        assert str(port) in r.stderr
        tool("rm", "-f", "web2")
    assert shown["onggi"] == shown["podman"] == ["80/tcp -> 0.0.0.0:PORT", "81/udp -> 127.0.0.1:PORT"]


def _host_ip() -> str:
    r = subprocess.run(["ip", "-4", "-o", "route", "get", "203.0.113.1"], capture_output=True, text=True).stdout
    return r.split(" src ")[1].split()[0]


def test_etc_hosts_alike(onggi, podman) -> None:  # noqa: ANN001
    net = f"n{uuid.uuid4().hex[:8]}"
    onggi.run_onggi("network", "create", net, check=True)
    assert podman("network", "create", "--subnet", _free_subnet(), net).returncode == 0
    seen = {}
    for label, tool in (("onggi", onggi.run_onggi), ("podman", podman)):
        r = tool("run", "--rm", "--name", "etc", "--hostname", "box", "--add-host", "extra:10.1.2.3",
                 "--network", net, "localhost/busybox:latest", "cat", "/etc/hosts", "/etc/hostname")
        assert r.returncode == 0, r.stderr
        seen[label] = re.sub(r"\d+\.\d+\.\d+\.\d+(?=\t(box|host\.containers))", "IP", r.stdout)
    assert seen["onggi"] == seen["podman"]


def test_network_ls_and_inspect_shapes(onggi, podman) -> None:  # noqa: ANN001
    net = f"n{uuid.uuid4().hex[:8]}"
    o, p = _both(onggi, podman, "network", "create", "--internal", "--label", "k=v", net)
    assert (o.returncode, o.stdout) == (p.returncode, p.stdout) == (0, f"{net}\n")
    import json

    oi = json.loads(onggi.run_onggi("network", "inspect", net).stdout)[0]
    pi = json.loads(podman("network", "inspect", net).stdout)[0]
    assert set(oi) == set(pi)
    for k in ("name", "driver", "internal", "dns_enabled", "labels", "ipv6_enabled", "ipam_options"):
        assert oi[k] == pi[k], k
    o, p = _both(onggi, podman, "network", "ls")
    assert o.stdout.splitlines()[0] == p.stdout.splitlines()[0]
    o, p = _both(onggi, podman, "network", "inspect", "--format", "{{.Name}} {{.Labels}} {{.Internal}}", net)
    assert o.stdout == p.stdout
    o, p = _both(onggi, podman, "network", "rm", "nosuchnet")
    assert o.returncode == p.returncode == 1
    o, p = _both(onggi, podman, "network", "rm", net)
    assert o.stdout == p.stdout == f"{net}\n"
