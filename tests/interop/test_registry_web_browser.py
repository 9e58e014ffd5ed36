"""The registry's web page in a real browser: onggi's registry is filled by skopeo (an image
made by umoci) and curl (a two-platform index with a hostile annotation, a referrer
artifact with ``subject``), then headless Chromium renders each page and the DOM it
builds is checked: repository, tags, layer digests, platforms, the referrer, and the
annotation shown as text, never as markup."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from onggi.oci import mediatypes as mt

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SKOPEO = shutil.which("skopeo") or "skopeo"
CURL = shutil.which("curl") or "curl"
REPO = "team/web-app"
HOSTILE = "<script>document.title='owned'</script><b id=injected>bold</b>"
ARTIFACT = "application/vnd.example.sbom.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def onggi_registry(tmp_path):  # noqa: ANN001, ANN201
    from registry_support import OnggiRegistry

    reg = OnggiRegistry(str(tmp_path))
    yield reg
    reg.stop()
    assert reg.proc.poll() is not None


def curl(*args: str) -> bytes:
    return subprocess.run([CURL, "-sS", "--fail-with-body", *args], check=True, capture_output=True).stdout


def put_blob(url: str, data: bytes, path: str) -> dict:
    with open(path, "wb") as f:
        f.write(data)
    curl("-X", "POST", "-H", "Content-Type: application/octet-stream", "--data-binary", f"@{path}",
         f"{url}/v2/{REPO}/blobs/uploads/?digest={digest_of(data)}")
    return {"digest": digest_of(data), "size": len(data)}


def put_manifest(url: str, ref: str | None, doc: dict, path: str) -> dict:
    """PUT ``doc`` under a tag, or under its own digest when ``ref`` is None."""
    data = json.dumps(doc).encode()
    with open(path, "wb") as f:
        f.write(data)
    curl("-X", "PUT", "-H", f"Content-Type: {doc['mediaType']}", "--data-binary", f"@{path}",
         f"{url}/v2/{REPO}/manifests/{ref or digest_of(data)}")
    return {"mediaType": doc["mediaType"], "digest": digest_of(data), "size": len(data)}


def get_manifest(url: str, ref: str) -> tuple[bytes, str]:
    req = urllib.request.Request(f"{url}/v2/{REPO}/manifests/{ref}",
                                 headers={"Accept": ", ".join(mt.MANIFEST_ACCEPT)})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read(), r.headers["Content-Type"]


def fill(url: str, host: str, layout: str, tmp: str) -> dict[str, object]:
    """Push the test content; returns the digests the pages must show."""
    policy = os.path.join(tmp, "policy.json")
    with open(policy, "w") as f:
        json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    subprocess.run([SKOPEO, "--policy", policy, "copy", "--dest-tls-verify=false", f"oci:{layout}:img",
                    f"docker://{host}/{REPO}:v1"], check=True, capture_output=True, env={**os.environ, "HOME": tmp})
    raw, media_type = get_manifest(url, "v1")
    amd = json.loads(raw)
    amd_desc = {"mediaType": media_type, "digest": digest_of(raw), "size": len(raw)}
    # an arm64 twin: same layers, its own config
    arm_config = put_blob(url, json.dumps({"architecture": "arm64", "variant": "v8", "os": "linux",
                                           "rootfs": {"type": "layers", "diff_ids": []}}).encode(),
                          os.path.join(tmp, "cfg"))
    arm = {**amd, "mediaType": media_type, "config": {"mediaType": amd["config"]["mediaType"], **arm_config}}
    arm_desc = put_manifest(url, None, arm, os.path.join(tmp, "arm.json"))
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "annotations": {"org.example.note": HOSTILE},
             "manifests": [{**amd_desc, "platform": {"os": "linux", "architecture": "amd64"}},
                           {**arm_desc, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}
    index_desc = put_manifest(url, "multi", index, os.path.join(tmp, "index.json"))
    empty = put_blob(url, b"{}", os.path.join(tmp, "empty"))
    sbom = put_blob(url, b'{"packages": []}', os.path.join(tmp, "sbom"))
    referrer = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": ARTIFACT,
                "config": {"mediaType": mt.OCI_EMPTY, **empty},
                "layers": [{"mediaType": "application/json", **sbom}],
                "subject": amd_desc}
    ref_desc = put_manifest(url, None, referrer, os.path.join(tmp, "ref.json"))
    return {"amd": amd_desc["digest"], "arm": arm_desc["digest"], "index": index_desc["digest"],
            "referrer": ref_desc["digest"], "layers": [d["digest"] for d in amd["layers"]]}


def dump_dom(url: str, tmp: str) -> str:
    """The DOM Chromium builds for ``url`` (headless; killed with its process group after 90 s)."""
    profile = os.path.join(tmp, "chromium-profile")
    os.makedirs(profile)
    env = {**os.environ, "HOME": profile, "XDG_CONFIG_HOME": profile, "XDG_CACHE_HOME": profile}
    proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-extensions", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                             "--dump-dom", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"chromium did not finish rendering {url} in 90 s") from None
    finally:
        _reap_group(proc.pid)
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, f"chromium -> {proc.returncode}: {err.decode(errors='replace')[-2000:]}"
    return out.decode()


def _reap_group(pgid: int) -> None:
    """Chromium's helpers share its process group: wait for them, then kill what is left."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_pages_in_chromium(onggi_registry, layout, tmp_path) -> None:  # noqa: ANN001
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    if not shutil.which(CURL):
        pytest.skip("curl is not installed")
    url = onggi_registry.url
    want = fill(url, onggi_registry.host, layout, str(tmp_path))
    tmp = str(tmp_path)

    home = dump_dom(f"{url}/", tmp)
    assert REPO in home and f'href="/r/{REPO}"' in home

    tags = dump_dom(f"{url}/r/{REPO}", tmp)
    assert ">v1<" in tags and ">multi<" in tags
    assert want["amd"] in tags and want["index"] in tags

    v1 = dump_dom(f"{url}/r/{REPO}/-/v1", tmp)
    for layer in want["layers"]:  # type: ignore[union-attr]
        assert layer in v1
    assert "Referrers" in v1 and ARTIFACT in v1 and want["referrer"] in v1

    multi = dump_dom(f"{url}/r/{REPO}/-/multi", tmp)
    assert "linux/amd64" in multi and "linux/arm64/v8" in multi
    assert f'href="/r/{REPO}/-/{want["amd"]}"' in multi and f'href="/r/{REPO}/-/{want["arm"]}"' in multi
    # the hostile annotation is text in the DOM: escaped, no element made of it
    assert "&lt;script&gt;document.title='owned'&lt;/script&gt;&lt;b id=injected&gt;" in multi
    assert "<b id=" not in multi and 'id="injected"' not in multi and "<title>owned" not in multi

    referrer = dump_dom(f"{url}/r/{REPO}/-/{want['referrer']}", tmp)
    assert "Subject" in referrer and f'href="/r/{REPO}/-/{want["amd"]}"' in referrer

    missing = dump_dom(f"{url}/r/{REPO}/-/nosuchtag", tmp)
    assert "Not found" in missing and "nosuchtag" in missing
    assert not os.path.exists(os.path.join(tmp, "chromium-profile"))
