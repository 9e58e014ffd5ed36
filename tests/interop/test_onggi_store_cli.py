"""podman's image commands on onggi's local store (``ONGGI_STORAGE`` in a temporary
directory): pull from Debian's docker-registry (layers unpacked), images, tag, history,
inspect, save (read by skopeo), load, push (read by skopeo), rmi; errors name the image."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.interop

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"
SKOPEO = shutil.which("skopeo") or "skopeo"


@pytest.fixture
def onggi(tmp_path):  # noqa: ANN001, ANN201
    if not os.path.exists(ONGGI):
        pytest.skip("onggi is not installed (run tools/install.sh)")
    env = dict(os.environ, ONGGI_STORAGE=str(tmp_path / "store"))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([ONGGI, *args], capture_output=True, text=True, env=env)
    run.store = tmp_path / "store"  # type: ignore[attr-defined]
    return run


@pytest.fixture
def pushed(layout, registry):  # noqa: ANN001, ANN201
    ref = f"{registry.host}/onggi/cli:v1"
    r = subprocess.run([ONGGI, "image", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img",
                        f"docker://{ref}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return ref


def test_pull_images_tag_history_inspect(onggi, pushed):  # noqa: ANN001
    r = onggi("pull", "--tls-verify=false", pushed)
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.strip()
    assert len(image_id) == 64 and f"Trying to pull {pushed}..." in r.stderr
    # the layers are unpacked once, as snapshots
    snaps = os.listdir(onggi.store / "snapshots")
    assert len([s for s in snaps if not s.startswith(("tmp-", "del-"))]) == 2
    assert onggi("tag", pushed, "localhost/other:2").returncode == 0
    lines = onggi("images").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    rows = sorted(ln.split()[:3] for ln in lines[1:])
    assert rows == sorted([[pushed.rsplit(":", 1)[0], "v1", image_id[:12]], ["localhost/other", "2", image_id[:12]]])
    assert onggi("images", "-q").stdout == image_id[:12] + "\n"
    doc = json.loads(onggi("images", "--format", "json").stdout)
    assert doc[0]["Id"] == image_id and sorted(doc[0]["Names"]) == sorted([pushed, "localhost/other:2"])
    hist = onggi("history", "localhost/other:2").stdout.splitlines()
    assert hist[0].split() == ["ID", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"] and len(hist) == 3
    info = json.loads(onggi("inspect", "localhost/other:2").stdout)[0]
    assert info["Id"] == image_id and info["Os"] == "linux" and len(info["RootFS"]["Layers"]) == 2


def test_save_load_push_rmi(onggi, pushed, registry, tmp_path):  # noqa: ANN001
    assert onggi("pull", "-q", "--tls-verify=false", pushed).returncode == 0
    r = onggi("save", "-o", str(tmp_path / "s.tar"), pushed)
    assert r.returncode == 0, r.stderr
    s = json.loads(subprocess.run([SKOPEO, "inspect", f"docker-archive:{tmp_path}/s.tar"],
                                  capture_output=True, text=True, check=True).stdout)
    assert len(s["Layers"]) == 2
    assert onggi("save", "--format", "oci-archive", "-o", str(tmp_path / "o.tar"), pushed).returncode == 0
    r = onggi("rmi", pushed)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == f"Untagged: {pushed}"
    assert r.stdout.splitlines()[1].startswith("Deleted: ")
    assert onggi("images", "-q").stdout == ""
    r = onggi("load", "-i", str(tmp_path / "s.tar"))
    assert r.returncode == 0 and r.stdout.strip() == f"Loaded image: {pushed}", r.stdout + r.stderr
    dest = f"{registry.host}/onggi/pushed-back:v9"
    r = onggi("push", "-q", "--tls-verify=false", pushed, dest)
    assert r.returncode == 0, r.stderr
    s = json.loads(subprocess.run([SKOPEO, "inspect", "--tls-verify=false", f"docker://{dest}"],
                                  capture_output=True, text=True, check=True).stdout)
    assert s["Name"] == dest.rsplit(":", 1)[0] and len(s["Layers"]) == 2


@pytest.mark.parametrize("args", [["rmi", "localhost/never:1"], ["history", "nope"], ["inspect", "nope"],
                                  ["save", "-o", "/tmp/onggi-never.tar", "nope"]])
def test_unknown_images_are_named(onggi, args):  # noqa: ANN001
    r = onggi(*args)
    assert r.returncode == 125 and r.stderr.startswith("Error: ") and "not in the local store" in r.stderr
    assert not os.path.exists("/tmp/onggi-never.tar")


def test_pull_of_a_missing_image(onggi, registry):  # noqa: ANN001
    r = onggi("pull", "-q", "--tls-verify=false", f"{registry.host}/onggi/none:x")
    assert r.returncode == 125 and "MANIFEST_UNKNOWN" in r.stderr and "onggi/none:x" in r.stderr
