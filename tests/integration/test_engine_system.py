"""``onggi version``, ``system info``, ``system df`` and ``system prune``: podman's fields
and tables, counts that follow what the engine holds, and prune's podman semantics
(stopped containers, unused networks, dangling or with -a unused images, --volumes)
ending with the image store's garbage collection."""

from __future__ import annotations

import json
import os
import platform

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def test_version(engine) -> None:  # noqa: ANN001
    out = engine.run_onggi("version", check=True).stdout.splitlines()
    assert [ln.split(":")[0] for ln in out] == ["Client", "Version", "API Version", "Python Version",
                                                "Built", "OS/Arch"]
    doc = json.loads(engine.run_onggi("version", "--format", "json", check=True).stdout)["Client"]
    assert doc["PythonVersion"] == platform.python_version() and doc["Os"] == "linux"
    assert doc["OsArch"] == "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                                                  platform.machine())
    assert engine.run_onggi("version", "--format", "{{.Client.Version}}", check=True).stdout == doc["Version"] + "\n"


def test_info_counts_what_the_engine_holds(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "up", engine.image, "sleep", "1000", check=True)
    engine.run_onggi("create", *NONE, "--name", "idle", engine.image, "true", check=True)
    doc = json.loads(engine.run_onggi("system", "info", "--format", "json", check=True).stdout)
    host, store = doc["host"], doc["store"]
    assert host["kernel"] == os.uname().release and host["os"] == "linux"
    assert host["cpus"] == os.cpu_count() and host["memTotal"] > 0
    assert host["cgroupVersion"] in ("v1", "v2") and host["networkBackend"] == "netavark"
    assert store["containerStore"] == {"number": 2, "paused": 0, "running": 1, "stopped": 1}
    assert store["imageStore"]["number"] == 1 and store["graphRoot"] == engine.storage
    out = engine.run_onggi("system", "info", "--format", "{{.Host.Kernel}}/{{.Store.ImageStore.Number}}",
                           check=True).stdout
    assert out == f"{os.uname().release}/1\n"
    text = engine.run_onggi("system", "info", check=True).stdout  # podman's YAML
    assert text.startswith("host:\n") and "\nstore:\n" in text and f"  kernel: {os.uname().release}\n" in text


def test_df(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--name", "writer", "-v", "data:/data", engine.image, "sh", "-c",
                     "head -c 300000 /dev/zero > /big; head -c 200000 /dev/zero > /data/f", check=True)
    engine.run_onggi("run", "-d", *NONE, "--name", "up", engine.image, "sleep", "1000", check=True)
    lines = engine.run_onggi("system", "df", check=True).stdout.splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = {ln[:15].strip(): ln[15:].split() for ln in lines[1:]}
    assert rows["Images"][:2] == ["1", "1"]
    assert rows["Containers"][:2] == ["2", "1"]
    assert rows["Local Volumes"][:2] == ["1", "1"]  # "writer" (exited) still holds it
    du = json.loads(engine.run_onggi("system", "df", "-v", "--format", "json", check=True).stdout)
    sizes = {c["Names"]: c["Size"] for c in du["Containers"]}
    (image,) = du["Images"]
    assert image["Containers"] == 2 and image["Size"] > 500000  # busybox
    assert (image["SharedSize"], image["UniqueSize"]) == (0, image["Size"])  # no other image
    assert 300000 <= sizes["writer"] < 400000 and sizes["up"] < 100000
    assert 200000 <= du["Volumes"][0]["Size"] < 300000
    summary = json.loads(engine.run_onggi("system", "df", "--format", "json", check=True).stdout)
    cont = next(r for r in summary if r["Type"] == "Containers")
    assert cont["Reclaimable"] == sizes["writer"]
    verbose = engine.run_onggi("system", "df", "-v", check=True).stdout
    assert "Images space usage:" in verbose and "Containers space usage:" in verbose
    assert "Local Volumes space usage:" in verbose and "writer" in verbose and "\ndata " in verbose


def test_prune(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "keep", engine.image, "sleep", "1000", check=True)
    engine.run_onggi("run", *NONE, "--name", "gone1", "-v", "vol1:/v", engine.image, "true", check=True)
    engine.run_onggi("run", *NONE, "--name", "gone2", engine.image, "true", check=True)
    engine.run_onggi("network", "create", "spare", check=True)
    engine.run_onggi("volume", "create", "loose", check=True)
    r = engine.run_onggi("system", "prune", input="n\n")  # declined: nothing goes
    assert r.returncode == 0 and "WARNING! This command removes" in r.stdout
    assert len(json.loads(engine.run_onggi("ps", "-a", "--format", "json", check=True).stdout)) == 3
    r = engine.run_onggi("system", "prune", "--dry-run", check=True)
    assert "Would delete Containers" in r.stdout
    assert len(json.loads(engine.run_onggi("ps", "-a", "--format", "json", check=True).stdout)) == 3
    ids = {n: engine.inspect(n)["Id"] for n in ("gone1", "gone2")}
    r = engine.run_onggi("system", "prune", "-f", check=True)
    out = r.stdout.splitlines()
    deleted = out[out.index("Deleted Containers") + 1:out.index("Deleted Networks")]
    assert sorted(deleted) == sorted(ids.values())
    assert out[out.index("Deleted Networks") + 1] == "spare"
    assert "Deleted Images" not in out  # busybox has a name: not dangling
    assert any(ln.startswith("Removed ") and "from the image store" in ln for ln in out)
    assert out[-1].startswith("Total reclaimed space: ")
    names = [c["Names"][0] for c in json.loads(engine.run_onggi("ps", "-a", "--format", "json").stdout)]
    assert names == ["keep"]
    vols = engine.run_onggi("volume", "ls", "-q", check=True).stdout.split()
    assert sorted(vols) == ["loose", "vol1"]  # volumes only with --volumes
    out = engine.run_onggi("system", "prune", "-f", "--volumes", check=True).stdout.splitlines()
    assert sorted(out[out.index("Deleted Volumes") + 1:][:2]) == ["loose", "vol1"]
    # -a: the image is in use by "keep", so it stays; once keep is gone, it goes
    assert "Deleted Images" not in engine.run_onggi("system", "prune", "-af", check=True).stdout
    engine.run_onggi("rm", "-f", "-t", "0", "keep", check=True)
    out = engine.run_onggi("system", "prune", "-af", check=True).stdout.splitlines()
    assert "Deleted Images" in out
    assert engine.run_onggi("images", "-q", check=True).stdout == ""
    assert engine.run_onggi("system", "check", check=True).stdout.endswith("0 problem(s)\n")
