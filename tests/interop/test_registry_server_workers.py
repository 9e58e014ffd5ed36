"""``onggi registry serve`` as a process: several workers sharing one storage (an upload
whose chunks land on different processes, metrics summed across them, SIGTERM stopping
them all), ``--read-only`` over a populated root, and a clear error for a busy port."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from registry_support import ONGGI, OnggiRegistry


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def call(method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None):  # noqa: ANN201
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture(autouse=True)
def _installed() -> None:
    if not os.path.exists(ONGGI):
        pytest.skip("onggi is not installed (run tools/install.sh)")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_workers_share_uploads_and_metrics(tmp_path) -> None:  # noqa: ANN001
    reg = OnggiRegistry(str(tmp_path), workers=2)
    try:
        workers = _children(reg.proc.pid)
        assert len(workers) == 2
        data = os.urandom(64 * 1024 * 8)
        st, h, _ = call("POST", f"{reg.url}/v2/w/app/blobs/uploads/")
        loc = reg.url + h["Location"]
        step = 64 * 1024
        for i in range(0, len(data), step):  # one connection per chunk: both workers take some
            st, h, _ = call("PATCH", loc, data[i:i + step], {"Content-Range": f"{i}-{i + step - 1}"})
            assert st == 202 and h["Range"] == f"0-{i + step - 1}"
        st, h, _ = call("PUT", f"{loc}?digest={sha(data)}")
        assert st == 201, h
        assert call("GET", f"{reg.url}/v2/w/app/blobs/{sha(data)}")[2] == data
        for _ in range(20):
            call("GET", f"{reg.url}/v2/")
        _, _, text = call("GET", f"{reg.url}/metrics")
        line = [x for x in text.decode().splitlines()
                if x.startswith('onggi_registry_http_requests_total{method="PATCH",route="upload",status="202"}')]
        assert line and float(line[0].split()[-1]) == 8.0
    finally:
        reg.stop()
    assert reg.proc.returncode is not None
    time.sleep(0.2)
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_read_only_over_a_populated_root(tmp_path) -> None:  # noqa: ANN001
    rw = OnggiRegistry(str(tmp_path), "rw")
    cfg = b"{}"
    call("POST", f"{rw.url}/v2/ro/app/blobs/uploads/?digest={sha(cfg)}", cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg),
                               "size": 2}, "layers": []}).encode()
    assert call("PUT", f"{rw.url}/v2/ro/app/manifests/v1", m,
                {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})[0] == 201
    rw.stop()
    ro = OnggiRegistry(str(tmp_path), "ro", root=rw.root, read_only=True)
    try:
        st, h, body = call("GET", f"{ro.url}/v2/ro/app/manifests/v1")
        assert st == 200 and body == m
        for method, path in (("POST", "/v2/ro/app/blobs/uploads/"), ("DELETE", f"/v2/ro/app/manifests/{sha(m)}"),
                             ("PUT", "/v2/ro/app/manifests/v2")):
            st, h, body = call(method, ro.url + path, b"" if method != "DELETE" else None)
            assert st == 405 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
        assert call("GET", f"{ro.url}/v2/ro/app/tags/list")[2] == b'{"name": "ro/app", "tags": ["v1"]}'
    finally:
        ro.stop()


def test_busy_port_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    reg = OnggiRegistry(str(tmp_path), "a")
    try:
        r = subprocess.run([ONGGI, "registry", "serve", "--addr", reg.host, "--root", str(tmp_path / "b")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "Error:" in r.stderr and "in use" in r.stderr.lower()
        r = subprocess.run([ONGGI, "registry", "serve", "--addr", "nowhere", "--root", str(tmp_path / "b")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "HOST:PORT" in r.stderr
    finally:
        reg.stop()
