"""``onggi registry serve`` driven with curl through the distribution spec's flows: pull,
push (monolithic, chunked, out of order, mount, status, cancel), content discovery (tags
and catalog pagination, referrers with a filter) and content management (deletes), and
every bad input the spec names answered with its error code, the server serving on."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time

import pytest
from registry_support import OnggiRegistry

CURL = shutil.which("curl")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Curl:
    def __init__(self, base: str, tmp: str) -> None:
        self.base = base
        self.tmp = tmp

    def __call__(self, method: str, path: str, data: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        hfile, bfile = os.path.join(self.tmp, "h"), os.path.join(self.tmp, "b")
        args = [CURL, "-s", "-X", method, "-D", hfile, "-o", bfile, "-w", "%{http_code}",
                "-H", "Expect:"]
        if method == "HEAD":
            args[2:4] = ["-I"]
        headers = dict(headers or {})
        if data is not None:
            args += ["--data-binary", "@-"]
            headers.setdefault("Content-Type", "application/octet-stream")
        for k, v in headers.items():
            args += ["-H", f"{k}: {v}"]
        out = subprocess.run(args + [self.base + path], input=data, capture_output=True, check=True)
        with open(hfile, "rb") as f:
            lines = f.read().decode().split("\r\n")
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        body = b""
        if os.path.exists(bfile):
            with open(bfile, "rb") as f:
                body = f.read()
            os.unlink(bfile)
        if method == "HEAD":  # curl -I puts the headers there; a HEAD answer has no body
            body = b""
        return int(out.stdout), hdrs, body


def code_of(body: bytes) -> str:
    return json.loads(body)["errors"][0]["code"]


@pytest.fixture(scope="module")
def reg(tmp_path_factory):  # noqa: ANN001, ANN201
    if not CURL:
        pytest.skip("curl is not installed")
    base = str(tmp_path_factory.mktemp("onggi-flows"))
    r = OnggiRegistry(base, config_text="onggi:\n  body_timeout: 1\n  max_blob_size: 100000\n")
    yield r
    r.stop()


@pytest.fixture
def curl(reg, tmp_path) -> Curl:  # noqa: ANN001
    return Curl(reg.url, str(tmp_path))


def push_blob(curl: Curl, repo: str, data: bytes) -> str:
    st, h, _ = curl("POST", f"/v2/{repo}/blobs/uploads/?digest={sha(data)}", data)
    assert st == 201 and h["docker-content-digest"] == sha(data)
    return sha(data)


def push_image(curl: Curl, repo: str, tag: str, layers: list[bytes], **extra: object) -> tuple[str, bytes]:
    cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": push_blob(curl, repo, cfg), "size": len(cfg)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": push_blob(curl, repo, x), "size": len(x)} for x in layers], **extra}
    m = json.dumps(doc).encode()
    st, h, _ = curl("PUT", f"/v2/{repo}/manifests/{tag}", m, {"Content-Type": OCI_MANIFEST})
    assert st == 201 and h["docker-content-digest"] == sha(m), h
    return sha(m), m


def test_ping_and_pull(curl: Curl) -> None:
    st, h, body = curl("GET", "/v2/")
    assert st == 200 and h["docker-distribution-api-version"] == "registry/2.0"
    digest, m = push_image(curl, "pull/app", "v1", [b"layer one", b"layer two"])
    for ref in ("v1", digest):
        st, h, body = curl("GET", f"/v2/pull/app/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert st == 200 and body == m and h["content-type"] == OCI_MANIFEST
        assert h["docker-content-digest"] == digest
    st, h, body = curl("HEAD", "/v2/pull/app/manifests/v1")
    assert st == 200 and int(h["content-length"]) == len(m) and body == b""
    layer = json.loads(m)["layers"][1]["digest"]
    st, h, body = curl("GET", f"/v2/pull/app/blobs/{layer}")
    assert st == 200 and body == b"layer two" and h["docker-content-digest"] == layer
    st, h, body = curl("HEAD", f"/v2/pull/app/blobs/{layer}")
    assert st == 200 and h["content-length"] == "9"
    st, h, body = curl("GET", f"/v2/pull/app/blobs/{layer}", headers={"Range": "bytes=6-8"})
    assert st == 206 and body == b"two" and h["content-range"] == "bytes 6-8/9"
    st, h, body = curl("GET", f"/v2/pull/app/blobs/{layer}", headers={"Range": "bytes=50-60"})
    assert st == 416
    # a blob pushed only to another repository is unknown here
    st, h, body = curl("GET", f"/v2/other/repo/blobs/{layer}")
    assert st == 404 and code_of(body) == "BLOB_UNKNOWN"


def test_chunked_push(curl: Curl) -> None:
    data = os.urandom(30000)
    st, h, _ = curl("POST", "/v2/push/chunked/blobs/uploads/")
    assert st == 202 and h["location"].startswith("/v2/push/chunked/blobs/uploads/")
    loc, uid = h["location"], h["docker-upload-uuid"]
    st, h, _ = curl("PATCH", loc, data[:10000], {"Content-Range": "0-9999"})
    assert st == 202 and h["range"] == "0-9999" and h["docker-upload-uuid"] == uid
    st, h, body = curl("PATCH", loc, data[20000:], {"Content-Range": "20000-29999"})
    assert st == 416 and h["range"] == "0-9999"  # out of order: refused, nothing written
    st, h, _ = curl("GET", loc)
    assert st == 204 and h["range"] == "0-9999"
    st, h, _ = curl("PATCH", loc, data[10000:20000], {"Content-Range": "10000-19999"})
    assert st == 202 and h["range"] == "0-19999"
    st, h, _ = curl("PUT", f"{loc}?digest={sha(data)}", data[20000:], {"Content-Range": "20000-29999"})
    assert st == 201 and h["location"] == f"/v2/push/chunked/blobs/{sha(data)}"
    st, _, body = curl("GET", f"/v2/push/chunked/blobs/{sha(data)}")
    assert st == 200 and body == data
    st, _, body = curl("GET", loc)
    assert st == 404 and code_of(body) == "BLOB_UPLOAD_UNKNOWN"


def test_cancel_and_digest_mismatch(curl: Curl) -> None:
    st, h, _ = curl("POST", "/v2/push/cancel/blobs/uploads/")
    loc = h["location"]
    assert curl("PATCH", loc, b"abc")[0] == 202
    st, _, _ = curl("DELETE", loc)
    assert st == 204
    st, _, body = curl("GET", loc)
    assert st == 404 and code_of(body) == "BLOB_UPLOAD_UNKNOWN"
    st, h, _ = curl("POST", "/v2/push/cancel/blobs/uploads/")
    st, _, body = curl("PUT", f"{h['location']}?digest={sha(b'other')}", b"content")
    assert st == 400 and code_of(body) == "DIGEST_INVALID"
    for d in (sha(b"other"), sha(b"content")):
        assert curl("HEAD", f"/v2/push/cancel/blobs/{d}")[0] == 404
    st, _, body = curl("POST", f"/v2/push/cancel/blobs/uploads/?digest={sha(b'x')}", b"y")
    assert st == 400 and code_of(body) == "DIGEST_INVALID"
    st, _, body = curl("POST", "/v2/push/cancel/blobs/uploads/?digest=sha256:nothex", b"y")
    assert st == 400 and code_of(body) == "DIGEST_INVALID"


def test_mount(curl: Curl) -> None:
    d = push_blob(curl, "mount/src", b"mountable")
    st, h, _ = curl("POST", f"/v2/mount/dst/blobs/uploads/?mount={d}&from=mount/src")
    assert st == 201 and h["location"] == f"/v2/mount/dst/blobs/{d}"
    assert curl("GET", f"/v2/mount/dst/blobs/{d}")[2] == b"mountable"
    absent = sha(b"absent")
    st, h, _ = curl("POST", f"/v2/mount/dst/blobs/uploads/?mount={absent}&from=mount/src")
    assert st == 202 and "/blobs/uploads/" in h["location"]  # falls back to a session
    assert curl("DELETE", h["location"])[0] == 204


def test_tags_and_catalog_pagination(curl: Curl) -> None:
    for t in ("c", "a", "e", "b", "d"):
        push_image(curl, "page/app", t, [b"same"])
    st, h, body = curl("GET", "/v2/page/app/tags/list")
    assert json.loads(body) == {"name": "page/app", "tags": ["a", "b", "c", "d", "e"]}
    st, h, body = curl("GET", "/v2/page/app/tags/list?n=2")
    assert json.loads(body)["tags"] == ["a", "b"]
    assert h["link"] == '</v2/page/app/tags/list?last=b&n=2>; rel="next"'
    st, h, body = curl("GET", "/v2/page/app/tags/list?last=b&n=2")
    assert json.loads(body)["tags"] == ["c", "d"] and "link" in h
    st, h, body = curl("GET", "/v2/page/app/tags/list?last=d&n=2")
    assert json.loads(body)["tags"] == ["e"] and "link" not in h
    st, h, body = curl("GET", "/v2/page/app/tags/list?n=0")
    assert json.loads(body)["tags"] == []
    for name in ("page/z1", "page/z2"):
        push_blob(curl, name, b"x")
    st, h, body = curl("GET", "/v2/_catalog")
    repos = json.loads(body)["repositories"]
    assert repos == sorted(repos) and {"page/app", "page/z1", "page/z2"} <= set(repos)
    st, h, body = curl("GET", "/v2/_catalog?n=1&last=page/app")
    assert json.loads(body)["repositories"] == ["page/z1"]
    assert h["link"] == '</v2/_catalog?last=page/z1&n=1>; rel="next"'
    st, _, body = curl("GET", "/v2/page/none/tags/list")
    assert st == 404 and code_of(body) == "NAME_UNKNOWN"


def test_referrers(curl: Curl) -> None:
    subject, m = push_image(curl, "refs/app", "v1", [b"app layer"])
    empty = push_blob(curl, "refs/app", b"{}")
    made = {}
    for at in ("application/vnd.example.sbom", "application/vnd.example.signature"):
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": at,
               "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
               "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(m)}}
        art = json.dumps(doc).encode()
        st, h, _ = curl("PUT", f"/v2/refs/app/manifests/{sha(art)}", art, {"Content-Type": OCI_MANIFEST})
        assert st == 201 and h["oci-subject"] == subject
        made[at] = sha(art)
    st, h, body = curl("GET", f"/v2/refs/app/referrers/{subject}")
    idx = json.loads(body)
    assert st == 200 and h["content-type"] == OCI_INDEX and idx["mediaType"] == OCI_INDEX
    assert {x["digest"] for x in idx["manifests"]} == set(made.values())
    assert "oci-filters-applied" not in h
    st, h, body = curl("GET", f"/v2/refs/app/referrers/{subject}?artifactType=application/vnd.example.sbom")
    assert h["oci-filters-applied"] == "artifactType"
    assert [x["digest"] for x in json.loads(body)["manifests"]] == [made["application/vnd.example.sbom"]]
    st, _, body = curl("GET", f"/v2/refs/app/referrers/{sha(b'nothing')}")
    assert st == 200 and json.loads(body)["manifests"] == []
    assert curl("GET", "/v2/refs/app/referrers/sha256:bad")[0] == 400


def test_delete(curl: Curl) -> None:
    digest, m = push_image(curl, "del/app", "v1", [b"to delete"])
    push_image(curl, "del/app", "v2", [b"to delete"])
    assert curl("DELETE", "/v2/del/app/manifests/v2")[0] == 202  # a tag only
    st, _, body = curl("GET", "/v2/del/app/tags/list")
    assert json.loads(body)["tags"] == ["v1"]
    assert curl("DELETE", f"/v2/del/app/manifests/{digest}")[0] == 202
    st, _, body = curl("GET", f"/v2/del/app/manifests/{digest}")
    assert st == 404 and code_of(body) == "MANIFEST_UNKNOWN"
    st, _, body = curl("DELETE", f"/v2/del/app/manifests/{digest}")
    assert st == 404 and code_of(body) == "MANIFEST_UNKNOWN"
    layer = json.loads(m)["layers"][0]["digest"]
    assert curl("DELETE", f"/v2/del/app/blobs/{layer}")[0] == 202
    st, _, body = curl("GET", f"/v2/del/app/blobs/{layer}")
    assert st == 404 and code_of(body) == "BLOB_UNKNOWN"


@pytest.mark.parametrize("method, path, body, ctype, status, code", [
    ("PUT", "/v2/bad/app/manifests/v1", b"{not json", OCI_MANIFEST, 400, "MANIFEST_INVALID"),
    ("PUT", "/v2/bad/app/manifests/v1", b'{"schemaVersion":2,"config":{"mediaType":"x","size":3,'
     b'"digest":"sha256:' + b"e" * 64 + b'"},"layers":[]}', OCI_MANIFEST, 404, "MANIFEST_BLOB_UNKNOWN"),
    ("PUT", "/v2/bad/app/manifests/v1", b"{" + b" " * (4 << 20) + b"}", OCI_MANIFEST, 413, "MANIFEST_INVALID"),
    ("PUT", "/v2/bad/app/manifests/-x", b"{}", OCI_MANIFEST, 400, "MANIFEST_INVALID"),
    ("PUT", "/v2/bad/app/manifests/" + sha(b"a"), b'{"schemaVersion":2,"manifests":[]}', OCI_INDEX,
     400, "DIGEST_INVALID"),
    ("GET", "/v2/Bad/App/manifests/v1", None, None, 400, "NAME_INVALID"),
    ("GET", "/v2/" + "a" * 300 + "/tags/list", None, None, 400, "NAME_INVALID"),
    ("GET", "/v2/bad/app/blobs/sha256:zz", None, None, 400, "DIGEST_INVALID"),
    ("POST", "/v2/bad/big/blobs/uploads/?digest=" + sha(b"x" * 100001), b"x" * 100001, None, 413,
     "SIZE_INVALID"),
    ("PATCH", "/v2/bad/app/blobs/uploads/" + "0" * 32, b"x", None, 404, "BLOB_UPLOAD_UNKNOWN"),
    ("POST", "/v2/bad/app/manifests/v1", b"{}", None, 405, "UNSUPPORTED"),
])
def test_bad_input(curl: Curl, method: str, path: str, body: bytes | None, ctype: str | None,
                   status: int, code: str) -> None:
    st, h, out = curl(method, path, body, {"Content-Type": ctype} if ctype else None)
    assert (st, code_of(out)) == (status, code), out[:300]
    assert curl("GET", "/v2/")[0] == 200
    st, _, out = curl("GET", "/v2/bad/app/manifests/v1")
    assert st == 404


def test_slow_body_times_out(reg: OnggiRegistry, curl: Curl) -> None:
    st, h, _ = curl("POST", "/v2/slow/app/blobs/uploads/")
    loc = h["location"]
    with socket.create_connection(("127.0.0.1", reg.port), timeout=10) as s:
        s.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode() + b"a" * 10)
        t0 = time.monotonic()
        reply = s.recv(4096)
        assert time.monotonic() - t0 < 8
    assert reply.startswith(b"HTTP/1.1 408") and b"BLOB_UPLOAD_INVALID" in reply
    st, h, _ = curl("GET", loc)
    assert st == 204 and h["range"] == "0-0"  # the partial chunk was not kept
    assert curl("PATCH", loc, b"abc")[1]["range"] == "0-2"


def test_access_log_and_metrics(reg: OnggiRegistry, curl: Curl) -> None:
    curl("GET", "/v2/", headers={"User-Agent": "flows-test/1"})
    deadline = time.monotonic() + 5
    while True:  # the log is flushed twice a second
        lines = [json.loads(x) for x in reg.log().splitlines() if x.startswith("{")]
        mine = [x for x in lines if x["user_agent"] == "flows-test/1"]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert mine and mine[-1]["status"] == 200 and mine[-1]["path"] == "/v2/"
    st, h, body = curl("GET", "/metrics")
    assert st == 200 and b'onggi_registry_http_requests_total{method="GET",route="ping",status="200"}' in body
