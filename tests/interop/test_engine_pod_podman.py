"""The same pod command lines through podman and onggi: the keys of ``pod inspect`` and
``pod ps --format json``, the ``pod ps`` header, the states, what members share, and the
errors. podman builds its pause image (localhost/podman-pause) from the host's catatonit;
where it cannot (offline, no catatonit) the test skips and says so."""

from __future__ import annotations

import json

import pytest
from engine_support import busybox_archive, engine, podman  # noqa: F401  (fixtures)

NONE = ("--network", "none")
LOOP = ("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")


def _both(engine, podman, *args: str):  # noqa: ANN001, ANN202
    return engine.run_onggi(*args), podman(*args)


def _pod_up(engine, podman) -> None:  # noqa: ANN001
    o, p = _both(engine, podman, "pod", "create", "--name", "pp", *NONE, "--label", "k=v")
    if p.returncode != 0:
        pytest.skip(f"podman cannot create a pod here (its pause image): {p.stderr.strip()}")
    assert o.returncode == 0, o.stderr
    assert len(o.stdout.strip()) == len(p.stdout.strip()) == 64
    for run in (engine.run_onggi, podman):
        r = run("run", "-d", "--pod", "pp", "--name", "m1", "busybox", *LOOP)
        assert r.returncode == 0, r.stderr


def test_pod_inspect_and_ps_shapes(engine, podman) -> None:  # noqa: ANN001
    _pod_up(engine, podman)
    o, p = _both(engine, podman, "pod", "inspect", "pp")
    od, pd = json.loads(o.stdout), json.loads(p.stdout)
    pd = pd[0] if isinstance(pd, list) else pd  # podman 4.3 prints one object, newer ones a list
    wanted = ("Id", "Name", "Created", "State", "Hostname", "Labels", "CreateInfra", "InfraContainerID",
              "SharedNamespaces", "NumContainers", "Containers")
    assert all(k in od for k in wanted) and all(k in pd for k in wanted), [k for k in wanted if k not in pd]
    for k in ("Name", "State", "Hostname", "Labels", "CreateInfra", "NumContainers"):
        assert od[k] == pd[k], k
    assert sorted(od["SharedNamespaces"]) == sorted(pd["SharedNamespaces"])
    assert [sorted(c) for c in od["Containers"]] == [sorted(c) for c in pd["Containers"]]
    assert sorted(c["State"] for c in od["Containers"]) == sorted(c["State"] for c in pd["Containers"])
    o, p = _both(engine, podman, "pod", "ps", "--format", "json")
    orow, prow = json.loads(o.stdout)[0], json.loads(p.stdout)[0]
    for k in ("Id", "Name", "Status", "InfraId", "Containers", "Labels"):
        assert k in orow and k in prow, k
    assert (orow["Name"], orow["Status"], orow["Labels"]) == (prow["Name"], prow["Status"], prow["Labels"])
    assert sorted(orow["Containers"][0]) == sorted(prow["Containers"][0])
    o, p = _both(engine, podman, "pod", "ps")
    assert o.stdout.splitlines()[0].split() == p.stdout.splitlines()[0].split()
    o, p = _both(engine, podman, "pod", "ps", "--ctr-names")
    assert o.stdout.splitlines()[0].split() == p.stdout.splitlines()[0].split()


def test_pod_members_share_like_podman(engine, podman) -> None:  # noqa: ANN001
    _pod_up(engine, podman)
    for run in (engine.run_onggi, podman):
        r = run("run", "-d", "--pod", "pp", "--name", "m2", "busybox", *LOOP)
        assert r.returncode == 0, r.stderr
    for run in (engine.run_onggi, podman):
        links = {k: {run("exec", c, "readlink", f"/proc/self/ns/{k}").stdout for c in ("m1", "m2")}
                 for k in ("net", "ipc", "uts", "pid", "mnt")}
        assert {k: len(v) for k, v in links.items()} == {"net": 1, "ipc": 1, "uts": 1, "pid": 2, "mnt": 2}
        assert run("exec", "m2", "hostname").stdout == "pp\n"


def test_pod_lifecycle_and_errors_like_podman(engine, podman) -> None:  # noqa: ANN001
    _pod_up(engine, podman)
    o, p = _both(engine, podman, "pod", "rm", "pp")
    assert o.returncode == p.returncode != 0
    o, p = _both(engine, podman, "pod", "create", "--name", "pp", *NONE)
    assert o.returncode == p.returncode != 0 and "pp" in o.stderr
    o, p = _both(engine, podman, "run", "--rm", "--pod", "nosuch", "busybox", "true")
    assert o.returncode == p.returncode == 125
    assert "no pod with name or ID nosuch found" in o.stderr and "no pod with name or ID nosuch found" in p.stderr
    o, p = _both(engine, podman, "create", "--pod", "pp", "-p", "8080:80", "busybox", "true")
    assert o.returncode == p.returncode == 125
    o, p = _both(engine, podman, "pod", "stop", "-t", "1", "pp")
    assert o.returncode == p.returncode == 0
    o, p = _both(engine, podman, "pod", "inspect", "--format", "{{.State}}", "pp")
    assert o.stdout == p.stdout
    o, p = _both(engine, podman, "pod", "exists", "nosuch")
    assert o.returncode == p.returncode == 1
    o, p = _both(engine, podman, "pod", "rm", "pp")
    assert o.returncode == p.returncode == 0
    assert engine.run_onggi("ps", "-aq").stdout == podman("ps", "-aq").stdout == ""


def test_network_container_like_podman(engine, podman) -> None:  # noqa: ANN001
    for run in (engine.run_onggi, podman):
        assert run("create", *NONE, "--name", "holder", "busybox", *LOOP).returncode == 0
    # both start the container whose network is joined
    o, p = _both(engine, podman, "run", "--rm", "--network", "container:holder", "busybox", "true")
    assert o.returncode == p.returncode == 0, o.stderr
    for run in (engine.run_onggi, podman):
        assert json.loads(run("inspect", "holder").stdout)[0]["State"]["Status"] == "running"
        r = run("run", "--rm", "--network", "container:holder", "busybox", "sh", "-c",
                "readlink /proc/self/ns/net; hostname")
        net, host = r.stdout.split()
        assert net == run("exec", "holder", "readlink", "/proc/self/ns/net").stdout.strip()
        assert host != run("exec", "holder", "hostname").stdout.strip()
        run("rm", "-f", "-t", "0", "holder")
