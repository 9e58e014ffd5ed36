"""docker-archive files written by onggi load in podman and in the docker CLI (``docker
load``, talking to ``podman system service``, the Docker-compatible API: this machine has
the docker client but no dockerd), and podman's ``save`` loads in onggi. Each podman
runs on a store of its own under the test's temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

pytestmark = pytest.mark.interop

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"
PODMAN = shutil.which("podman")
DOCKER = shutil.which("docker")
SKOPEO = shutil.which("skopeo")


def run(*args: str, env: dict | None = None) -> str:
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout


@pytest.fixture
def podman(tmp_path):  # noqa: ANN001, ANN201
    if os.geteuid() != 0:
        pytest.skip("podman with a store of its own needs root here")
    if not (PODMAN and os.path.exists(ONGGI)):
        pytest.skip("podman and onggi are needed (tools/install.sh)")
    runroot = tempfile.mkdtemp(prefix="onggi-p-")  # podman wants a runroot under 50 characters
    base = [PODMAN, "--root", str(tmp_path / "p-root"), "--runroot", runroot, "--storage-driver", "vfs"]
    yield base
    subprocess.run(base + ["system", "reset", "--force"], capture_output=True, timeout=60)
    shutil.rmtree(runroot, ignore_errors=True)


def _config_digest(layout: str) -> str:
    return json.loads(run(SKOPEO, "inspect", "--raw", f"oci:{layout}:img"))["config"]["digest"]


def test_podman_loads_an_onggi_docker_archive(podman, layout, tmp_path):  # noqa: ANN001
    archive = str(tmp_path / "o.tar")
    run(ONGGI, "image", "copy", "-q", f"oci:{layout}:img", f"docker-archive:{archive}:onggi/test:v1")
    assert "onggi/test:v1" in run(*podman, "load", "-i", archive)
    images = json.loads(run(*podman, "images", "--format", "json"))
    assert [i["Id"] for i in images] == [_config_digest(layout)[7:]]
    assert "docker.io/onggi/test:v1" in images[0]["Names"]
    out = tmp_path / "fs"
    cid = run(*podman, "create", "docker.io/onggi/test:v1", "true").strip()
    run(*podman, "cp", f"{cid}:/data1/file1", str(out))
    assert out.read_bytes() == b"second layer\n" * 100


def test_docker_cli_loads_an_onggi_docker_archive(podman, layout, tmp_path):  # noqa: ANN001
    if not DOCKER:
        pytest.skip("the docker CLI is not installed")
    archive = str(tmp_path / "o.tar")
    run(ONGGI, "image", "copy", "-q", f"oci:{layout}:img", f"docker-archive:{archive}:onggi/test:v2")
    sock = tmp_path / "docker.sock"
    with open(tmp_path / "service.log", "wb") as log:
        svc = subprocess.Popen(podman + ["system", "service", "--time=0", f"unix://{sock}"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(tmp_path / "docker-config"))
        deadline = time.monotonic() + 20
        while subprocess.run([DOCKER, "version"], env=env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline and svc.poll() is None, (tmp_path / "service.log").read_text()
            time.sleep(0.1)
        assert "onggi/test:v2" in run(DOCKER, "load", "-i", archive, env=env)
        got = json.loads(run(DOCKER, "image", "inspect", "onggi/test:v2", env=env))[0]
        assert got["Id"] == _config_digest(layout)
        assert len(got["RootFS"]["Layers"]) == 2
    finally:
        svc.terminate()
        svc.wait(20)


def test_onggi_loads_a_podman_save(podman, layout, tmp_path):  # noqa: ANN001
    run(*podman, "pull", "-q", f"oci:{layout}:img")
    image_id = json.loads(run(*podman, "images", "--format", "json"))[0]["Id"]
    run(*podman, "tag", image_id, "localhost/from/podman:1")
    archive = str(tmp_path / "p.tar")
    run(*podman, "save", "-q", "--format", "docker-archive", "-o", archive, "localhost/from/podman:1")
    env = dict(os.environ, ONGGI_STORAGE=str(tmp_path / "store"))
    run(ONGGI, "load", "-q", "-i", archive, env=env)
    listed = json.loads(run(ONGGI, "images", "--format", "json", env=env))
    assert [i["Id"] for i in listed] == [image_id]
    assert any("from/podman:1" in n for n in listed[0]["Names"])
