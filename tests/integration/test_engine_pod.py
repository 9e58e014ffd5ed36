"""``onggi pod ...`` and ``--network container:NAME`` on real containers (root): the
containers of a pod share its infra container's network, IPC and UTS namespaces."""

from __future__ import annotations

import json
import socket

import pytest

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)
from support import free_port

NONE = ("--network", "none")
LOOP = ("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")


def _ns(engine, name: str, kind: str) -> str:  # noqa: ANN001
    r = engine.run_onggi("exec", name, "readlink", f"/proc/self/ns/{kind}", check=True)
    return r.stdout.strip()


def _fetch(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            return s.makefile().readline()
    except OSError:
        return ""


def test_pod_members_share_net_ipc_uts(engine) -> None:  # noqa: ANN001
    port = free_port()
    # the default bridge: onggi's --network none leaves the loopback down
    pid = engine.run_onggi("pod", "create", "--name", "p1", "-p", f"{port}:7777", "--label", "app=x",
                           check=True).stdout.strip()
    assert len(pid) == 64
    # podman starts the pod's infra container with its first container
    engine.run_onggi("run", "-d", "--pod", "p1", "--name", "server", engine.image, "sh", "-c",
                     "while true; do echo hi | nc -l -p 7777; done", check=True)
    engine.run_onggi("run", "-d", "--pod", "p1", "--name", "other", engine.image, *LOOP, check=True)
    for kind in ("net", "ipc", "uts"):
        assert _ns(engine, "server", kind) == _ns(engine, "other", kind), kind
    assert _ns(engine, "server", "mnt") != _ns(engine, "other", "mnt")
    assert _ns(engine, "server", "pid") != _ns(engine, "other", "pid")
    host = engine.run_onggi("exec", "other", "hostname", check=True).stdout.strip()
    assert host == "p1" == engine.run_onggi("exec", "server", "hostname", check=True).stdout.strip()
    # the other container reaches the server on the pod's loopback
    engine.wait_for(lambda: engine.run_onggi("exec", "other", "sh", "-c", "sleep 1 | nc 127.0.0.1 7777")
                    .stdout.strip() == "hi", timeout=10, what="the pod's loopback server")
    # the port published on the pod reaches the server too
    engine.wait_for(lambda: _fetch(port) == "hi\n", timeout=10, what="the pod's published port")
    doc = json.loads(engine.run_onggi("pod", "inspect", "p1", check=True).stdout)
    assert (doc["Id"], doc["Name"], doc["State"], doc["Hostname"]) == (pid, "p1", "Running", "")
    assert doc["Labels"] == {"app": "x"} and doc["CreateInfra"] is True
    assert doc["SharedNamespaces"] == ["ipc", "net", "uts"] and doc["NumContainers"] == 3
    names = {c["Name"] for c in doc["Containers"]}
    assert {"server", "other"} < names and doc["InfraContainerID"] in {c["Id"] for c in doc["Containers"]}
    rows = json.loads(engine.run_onggi("pod", "ps", "--format", "json", check=True).stdout)
    assert [(r["Id"], r["Name"], r["Status"], r["InfraId"]) for r in rows] == [
        (pid, "p1", "Running", doc["InfraContainerID"])]
    table = engine.run_onggi("pod", "ps", "--ctr-names", check=True).stdout.splitlines()
    assert table[0].split() == ["POD", "ID", "NAME", "STATUS", "CREATED", "INFRA", "ID", "NAMES"]
    assert table[1].split()[:3] == [pid[:12], "p1", "Running"]
    assert set(table[1].split()[-1].split(",")) >= {"server", "other"}
    table = engine.run_onggi("pod", "ps", check=True).stdout.splitlines()
    assert table[0].split()[-3:] == ["#", "OF", "CONTAINERS"] and table[1].split()[-1] == "3"
    assert engine.run_onggi("pod", "ps", "-q").stdout.split() == [pid[:12]]
    # rm without -f refuses; -f removes the pod and all of its containers
    r = engine.run_onggi("pod", "rm", "p1")
    assert r.returncode == 125 and "running" in r.stderr
    assert engine.run_onggi("pod", "rm", "-f", "p1", check=True).stdout.strip() == pid
    assert engine.run_onggi("ps", "-aq").stdout == ""
    assert engine.run_onggi("pod", "exists", "p1").returncode == 1


def test_pod_start_stop_order_and_status(engine) -> None:  # noqa: ANN001
    engine.run_onggi("pod", "create", "--name", "p2", *NONE, check=True)
    assert engine.run_onggi("pod", "exists", "p2").returncode == 0
    engine.run_onggi("create", "--pod", "p2", "--name", "c1", engine.image, *LOOP, check=True)
    doc = json.loads(engine.run_onggi("pod", "inspect", "p2", check=True).stdout)
    assert doc["State"] == "Created" and doc["NumContainers"] == 2
    engine.run_onggi("pod", "start", "p2", check=True)
    assert engine.inspect("c1")["State"]["Status"] == "running"
    infra = engine.inspect(doc["InfraContainerID"])
    assert infra["State"]["Status"] == "running"
    engine.run_onggi("pod", "stop", "-t", "2", "p2", check=True)
    doc = json.loads(engine.run_onggi("pod", "inspect", "p2", check=True).stdout)
    assert doc["State"] in ("Exited", "Stopped") and {c["State"] for c in doc["Containers"]} <= {"exited", "stopped"}
    engine.run_onggi("pod", "restart", "p2", check=True)
    assert json.loads(engine.run_onggi("pod", "inspect", "p2", check=True).stdout)["State"] == "Running"
    engine.run_onggi("pod", "kill", "p2", check=True)
    engine.wait_for(lambda: json.loads(engine.run_onggi("pod", "inspect", "p2").stdout)["State"] != "Running",
                    what="the killed pod")
    assert engine.run_onggi("pod", "prune", check=True).stdout.strip() == doc["Id"]
    assert engine.run_onggi("ps", "-aq").stdout == "" and engine.run_onggi("pod", "ps", "-q").stdout == ""


def test_pod_errors(engine) -> None:  # noqa: ANN001
    engine.run_onggi("pod", "create", "--name", "p3", *NONE, check=True)
    r = engine.run_onggi("pod", "create", "--name", "p3", *NONE)
    assert r.returncode == 125 and "p3" in r.stderr and "exists" in r.stderr
    r = engine.run_onggi("run", "--rm", "--pod", "nosuchpod", engine.image, "true")
    assert r.returncode == 125 and "no pod with name or ID nosuchpod" in r.stderr
    r = engine.run_onggi("create", "--pod", "p3", "-p", "8080:80", engine.image, "true")
    assert r.returncode == 125 and "published" in r.stderr
    r = engine.run_onggi("create", "--pod", "p3", "--hostname", "h", engine.image, "true")
    assert r.returncode == 125 and "hostname" in r.stderr
    r = engine.run_onggi("pod", "create", "--share", "net,mnt", *NONE)
    assert r.returncode == 125 and "mnt" in r.stderr
    # an infra container removed behind the pod's back: a clear error, and pod rm still works
    infra = json.loads(engine.run_onggi("pod", "inspect", "p3", check=True).stdout)["InfraContainerID"]
    engine.run_onggi("rm", "-f", infra, check=True)
    r = engine.run_onggi("run", "--rm", "--pod", "p3", engine.image, "true")
    assert r.returncode == 125 and "infra container" in r.stderr and "was removed" in r.stderr
    assert engine.run_onggi("ps", "-aq").stdout == ""
    engine.run_onggi("pod", "rm", "-f", "p3", check=True)
    assert engine.run_onggi("pod", "ps", "-q").stdout == ""


def test_pod_without_infra(engine) -> None:  # noqa: ANN001
    engine.run_onggi("pod", "create", "--name", "bare", "--no-infra", check=True)
    doc = json.loads(engine.run_onggi("pod", "inspect", "bare", check=True).stdout)
    assert (doc["CreateInfra"], doc["InfraContainerID"], doc["SharedNamespaces"]) == (False, "", [])
    r = engine.run_onggi("run", "--rm", "--pod", "bare", *NONE, engine.image, "echo", "alone", check=True)
    assert r.stdout == "alone\n"
    engine.run_onggi("pod", "rm", "bare", check=True)
    assert engine.run_onggi("pod", "ps", "-q").stdout == ""


def test_network_container(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "holder", engine.image, *LOOP, check=True)
    # podman starts the container whose network it joins
    r = engine.run_onggi("run", "--rm", "--network", "container:holder", engine.image, "true")
    assert r.returncode == 0, r.stderr
    assert engine.inspect("holder")["State"]["Status"] == "running"
    engine.run_onggi("stop", "-t", "1", "holder", check=True)
    r = engine.run_onggi("run", "--rm", "--network", "container:nosuch", engine.image, "true")
    assert r.returncode == 125 and "nosuch" in r.stderr
    engine.run_onggi("start", "holder", check=True)
    engine.run_onggi("run", "-d", "--network", "container:holder", "--name", "guest", engine.image, *LOOP,
                     check=True)
    assert _ns(engine, "holder", "net") == _ns(engine, "guest", "net")
    assert _ns(engine, "holder", "uts") != _ns(engine, "guest", "uts")
    links = engine.run_onggi("exec", "guest", "ip", "-o", "link", check=True).stdout
    assert links == engine.run_onggi("exec", "holder", "ip", "-o", "link", check=True).stdout
    engine.run_onggi("rm", "-f", "guest", "holder", check=True)


@pytest.mark.parametrize("share", ["ipc", "net,uts"])
def test_pod_share_subset(engine, share: str) -> None:  # noqa: ANN001
    engine.run_onggi("pod", "create", "--name", "ps", "--share", share, *NONE, check=True)
    engine.run_onggi("run", "-d", "--pod", "ps", "--name", "a", *(NONE if "net" not in share else ()),
                     engine.image, *LOOP, check=True)
    engine.run_onggi("run", "-d", "--pod", "ps", "--name", "b", *(NONE if "net" not in share else ()),
                     engine.image, *LOOP, check=True)
    for kind in ("ipc", "net", "uts"):
        same = _ns(engine, "a", kind) == _ns(engine, "b", kind)
        assert same == (kind in share.split(",")), kind
    engine.run_onggi("pod", "rm", "-f", "ps", check=True)


def test_pod_infra_image_and_command_and_pid_share(engine) -> None:  # noqa: ANN001
    engine.run_onggi("pod", "create", "--name", "pi", *NONE, "--infra-image", engine.image, "--infra-command",
                     "sleep 1000", "--infra-name", "pi-infra", "--share", "pid,ipc", check=True)
    r = engine.run_onggi("run", "--rm", "--pod", "pi", *NONE, engine.image, "sh", "-c", "ps -o comm | sort -u")
    assert r.returncode == 0, r.stderr
    assert "sleep" in r.stdout.split()  # the infra's process, seen through the shared PID namespace
    doc = json.loads(engine.run_onggi("pod", "inspect", "pi", check=True).stdout)
    assert doc["SharedNamespaces"] == ["pid", "ipc"]
    infra = engine.inspect("pi-infra")
    assert "sleep 1000" in str(infra["Config"]["Entrypoint"]) and infra["Pod"] == doc["Id"]
    r = engine.run_onggi("pod", "create", "--no-infra", "-p", "8080:80")
    assert r.returncode == 125 and "infra container" in r.stderr
    engine.run_onggi("pod", "rm", "-f", "pi", check=True)
    assert engine.run_onggi("ps", "-aq").stdout == ""
