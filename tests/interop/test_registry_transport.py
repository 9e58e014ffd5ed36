"""``docker://`` through ``onggi image`` against Debian's docker-registry and skopeo:
push what skopeo reads, pull what skopeo pushed, registry-to-registry (mounted), tags,
delete, the local store in between, and clear errors for what is not there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.interop

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"
SKOPEO = shutil.which("skopeo") or "skopeo"
NOTLS = "--tls-verify=false"


def onggi(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    if not os.path.exists(ONGGI):
        pytest.skip("onggi is not installed (run tools/install.sh)")
    return subprocess.run([ONGGI, "image", *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SKOPEO, *args], capture_output=True, text=True)


def test_push_pull_and_skopeo_agree(layout, registry, tmp_path):  # noqa: ANN001
    url = f"docker://{registry.host}/onggi/push:v1"
    r = onggi("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img", url)
    assert r.returncode == 0, r.stderr
    s = json.loads(skopeo("inspect", NOTLS, url).stdout)
    o = json.loads(onggi("inspect", NOTLS, url).stdout)
    for k in ("Name", "Digest", "RepoTags", "Created", "Architecture", "Os", "Layers", "Env", "Labels"):
        assert o[k] == s[k], k
    # what skopeo pushes, onggi pulls: the same files as skopeo's own pull
    url2 = f"docker://{registry.host}/onggi/by-skopeo:v2"
    assert skopeo("copy", "-q", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{layout}:img",
                  url2).returncode == 0
    assert onggi("copy", "-q", "--src-tls-verify=false", url2, f"dir:{tmp_path}/ours").returncode == 0
    assert skopeo("copy", "-q", "--src-tls-verify=false", url2, f"dir:{tmp_path}/theirs").returncode == 0
    for name in os.listdir(tmp_path / "theirs"):
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes(), name
    assert json.loads((tmp_path / "ours/manifest.json").read_text())["mediaType"] == \
        "application/vnd.docker.distribution.manifest.v2+json"


def test_registry_to_registry_tags_and_delete(layout, registry):  # noqa: ANN001
    a, b = f"docker://{registry.host}/onggi/src:1", f"docker://{registry.host}/onggi/dst:2"
    assert onggi("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img", a).returncode == 0
    r = onggi("copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", a, b)
    assert r.returncode == 0, r.stderr
    tags = json.loads(onggi("list-tags", NOTLS, f"docker://{registry.host}/onggi/dst").stdout)
    assert tags == json.loads(skopeo("list-tags", NOTLS, f"docker://{registry.host}/onggi/dst").stdout)
    assert tags["Tags"] == ["2"]
    assert onggi("delete", NOTLS, b).returncode == 0
    r = skopeo("inspect", NOTLS, b)
    assert r.returncode != 0 and "manifest unknown" in r.stderr
    r = onggi("inspect", NOTLS, b)
    assert r.returncode == 1 and "MANIFEST_UNKNOWN" in r.stderr and "onggi/dst:2" in r.stderr


def test_through_the_local_store(layout, registry, tmp_path):  # noqa: ANN001
    env = {"ONGGI_STORAGE": str(tmp_path / "store")}
    url = f"docker://{registry.host}/onggi/store:v1"
    assert onggi("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img", url).returncode == 0
    r = onggi("copy", "-q", "--src-tls-verify=false", url, "onggi:localhost/store:v1", env=env)
    assert r.returncode == 0, r.stderr
    r = onggi("copy", "-q", "--dest-tls-verify=false", "onggi:localhost/store:v1",
              f"docker://{registry.host}/onggi/store-back:v1", env=env)
    assert r.returncode == 0, r.stderr
    digests = {json.loads(skopeo("inspect", NOTLS, f"docker://{registry.host}/onggi/{n}:v1").stdout)["Digest"]
               for n in ("store", "store-back")}
    assert len(digests) == 1


@pytest.mark.parametrize("ref, words", [
    ("onggi/never:x", "MANIFEST_UNKNOWN"),
    ("onggi/never@sha256:" + "a" * 64, "onggi/never@sha256:aaaa"),
])
def test_missing_images_are_named(registry, ref, words):  # noqa: ANN001
    r = onggi("inspect", NOTLS, f"docker://{registry.host}/{ref}")
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and words in r.stderr, r.stderr


def test_unreachable_registry_is_unavailable():
    r = onggi("inspect", NOTLS, "docker://127.0.0.1:1/onggi/x:y")
    assert r.returncode == 1 and "127.0.0.1:1" in r.stderr and "Traceback" not in r.stderr, r.stderr
