"""A pull killed with SIGKILL in the middle leaves nothing half-written visible in the
store; ``onggi system check`` finds it consistent, and the next pull completes, reusing
the partial download: it asks the registry for the rest only (a range request, 206)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

pytestmark = pytest.mark.interop

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"


def _big_layout(path: str) -> None:
    """An OCI layout holding one image with a 24 MB incompressible layer."""
    from onggi.image.compression import open_writer
    from onggi.oci import image as I
    from onggi.oci import mediatypes as MT
    from onggi.oci.digest import of_bytes

    os.makedirs(os.path.join(path, "blobs/sha256"))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        data = os.urandom(24 << 20)
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    gz = io.BytesIO()
    w = open_writer(gz, "gzip")
    w.write(tar)
    w.close()

    def put(b: bytes) -> str:
        d = of_bytes(b)
        with open(os.path.join(path, "blobs/sha256", d[7:]), "wb") as f:
            f.write(b)
        return d

    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [of_bytes(tar)]}}).encode()
    m = I.serialize(I.Manifest.new(I.Descriptor.new(MT.OCI_CONFIG, put(config), len(config)),
                                   [I.Descriptor.new(MT.OCI_LAYER_GZIP, put(gz.getvalue()), len(gz.getvalue()))]))
    index = {"schemaVersion": 2, "manifests": [{"mediaType": MT.OCI_MANIFEST, "digest": put(m), "size": len(m),
                                                "annotations": {"org.opencontainers.image.ref.name": "big"}}]}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


@pytest.fixture
def logged_registry(tmp_path):  # noqa: ANN001, ANN201
    """A docker-registry of this test's own, with its access log on (it shows each
    response's status and size)."""
    from support import REGISTRY, Registry

    if not os.path.exists(REGISTRY):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    r = Registry(str(tmp_path), "reg", access_log=True)
    yield r
    r.stop()


def _blob_gets(registry, digest: str) -> list[tuple[int, int]]:  # noqa: ANN001
    """(status, bytes sent) of each GET of the blob, from the registry's access log."""
    with open(os.path.join(registry.dir, "registry.log")) as f:
        lines = [ln for ln in f if f'"GET /v2/crash/big/blobs/{digest} ' in ln]
    out = []
    for ln in lines:
        status, size = ln.split('" ', 2)[1].split()[:2]
        out.append((int(status), int(size)))
    return out


def test_killed_pull_then_retry(logged_registry, tmp_path):  # noqa: ANN001
    if not os.path.exists(ONGGI):
        pytest.skip("onggi is not installed (run tools/install.sh)")
    registry = logged_registry
    _big_layout(str(tmp_path / "lay"))
    ref = f"{registry.host}/crash/big:1"
    subprocess.run([ONGGI, "image", "copy", "-q", "--dest-tls-verify=false", f"oci:{tmp_path}/lay:big",
                    f"docker://{ref}"], check=True, capture_output=True)
    env = dict(os.environ, ONGGI_STORAGE=str(tmp_path / "store"))
    ingest = tmp_path / "store/ingest"
    p = subprocess.Popen([ONGGI, "pull", "-q", "--tls-verify=false", ref], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and p.poll() is None:
        parts = list(ingest.glob("*.part")) if ingest.exists() else []
        if parts and parts[0].stat().st_size > (1 << 20):
            break
        time.sleep(0.005)
    if p.poll() is not None:
        pytest.skip("the pull finished before it could be killed")
    p.send_signal(signal.SIGKILL)
    p.wait()
    part = next(ingest.glob("*.part"))
    kept = part.stat().st_size
    layer = "sha256:" + part.name.split(".")[0].split("-", 1)[1]
    check = subprocess.run([ONGGI, "system", "check"], env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert subprocess.run([ONGGI, "images", "-q"], env=env, capture_output=True, text=True).stdout == ""
    r = subprocess.run([ONGGI, "pull", "-q", "--tls-verify=false", ref], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    snap = [d for d in (tmp_path / "store/snapshots").iterdir() if not d.name.startswith(("tmp-", "del-"))]
    assert len(snap) == 1 and (snap[0] / "fs/big.bin").stat().st_size == 24 << 20
    assert list(ingest.glob("*.part")) == []
    status, sent = _blob_gets(registry, layer)[-1]  # the retry's request for the layer
    assert status == 206 and sent == (tmp_path / "lay/blobs/sha256" / layer[7:]).stat().st_size - kept
    assert subprocess.run([ONGGI, "system", "check"], env=env, capture_output=True).returncode == 0
