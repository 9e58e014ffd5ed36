"""``onggi registry serve`` with real clients: skopeo (copy in and out, inspect,
list-tags, delete, TLS), podman (push and pull through its own store), onggi's own image
commands, a kill -9 in the middle of an upload, and ``onggi registry garbage-collect``.
Digests must come back unchanged from every round trip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
from registry_support import ONGGI, OnggiRegistry

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")
OPENSSL = shutil.which("openssl")


def run(*args: str, ok: bool = True, **kw: object) -> subprocess.CompletedProcess:
    r = subprocess.run(args, capture_output=True, text=True, timeout=180, **kw)
    if ok and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def skopeo(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    if not SKOPEO:
        pytest.skip("skopeo is not installed")
    return run(SKOPEO, *args, ok=ok)


def raw_digest(ref: str, *flags: str) -> str:
    out = skopeo("inspect", "--raw", *flags, ref).stdout
    import hashlib

    return "sha256:" + hashlib.sha256(out.encode()).hexdigest()


@pytest.fixture(scope="module")
def reg(tmp_path_factory):  # noqa: ANN001, ANN201
    if not os.path.exists(ONGGI):
        pytest.skip("onggi is not installed (run tools/install.sh)")
    r = OnggiRegistry(str(tmp_path_factory.mktemp("onggi-peers")))
    yield r
    r.stop()


def test_skopeo_round_trip(reg: OnggiRegistry, layout: str, tmp_path) -> None:  # noqa: ANN001
    src = f"oci:{layout}:img"
    want = raw_digest(src)
    skopeo("copy", "--dest-tls-verify=false", src, f"docker://{reg.host}/sk/img:v1")
    assert raw_digest(f"docker://{reg.host}/sk/img:v1", "--tls-verify=false") == want
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{reg.host}/sk/img:v1").stdout)
    assert info["Digest"] == want and info["RepoTags"] == ["v1"] and len(info["Layers"]) == 2
    skopeo("copy", "--dest-tls-verify=false", src, f"docker://{reg.host}/sk/img:v2")
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{reg.host}/sk/img").stdout)
    assert tags["Tags"] == ["v1", "v2"]
    skopeo("copy", "--src-tls-verify=false", f"docker://{reg.host}/sk/img:v1", f"oci:{tmp_path}/back:img")
    assert raw_digest(f"oci:{tmp_path}/back:img") == want
    # Docker schema 2 on the way in: the media type is kept exactly
    skopeo("copy", "--format", "v2s2", "--dest-tls-verify=false", src, f"docker://{reg.host}/sk/docker:v1")
    with urllib.request.urlopen(f"{reg.url}/v2/sk/docker/manifests/v1") as resp:
        assert resp.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    skopeo("delete", "--tls-verify=false", f"docker://{reg.host}/sk/img:v2")
    r = skopeo("inspect", "--tls-verify=false", f"docker://{reg.host}/sk/img:v2", ok=False)
    assert r.returncode != 0 and "manifest unknown" in r.stderr.lower()


def test_skopeo_between_registries(reg: OnggiRegistry, registry, layout: str) -> None:  # noqa: ANN001
    """The reference registry and onggi's, both ways, digest unchanged."""
    want = raw_digest(f"oci:{layout}:img")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{registry.host}/ref/img:x")
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{registry.host}/ref/img:x", f"docker://{reg.host}/from-ref/img:x")
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{reg.host}/from-ref/img:x", f"docker://{registry.host}/back/img:x")
    for host, name in ((reg.host, "from-ref/img"), (registry.host, "back/img")):
        assert raw_digest(f"docker://{host}/{name}:x", "--tls-verify=false") == want


def test_onggi_client(reg: OnggiRegistry, layout: str, tmp_path) -> None:  # noqa: ANN001
    want = raw_digest(f"oci:{layout}:img")
    run(ONGGI, "image", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{reg.host}/og/img:a")
    run(ONGGI, "image", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{reg.host}/og/img:b")
    assert raw_digest(f"docker://{reg.host}/og/img:a", "--tls-verify=false") == want
    out = json.loads(run(ONGGI, "image", "list-tags", "--tls-verify=false", f"docker://{reg.host}/og/img").stdout)
    assert out["Tags"] == ["a", "b"]
    run(ONGGI, "image", "copy", "-q", "--src-tls-verify=false", f"docker://{reg.host}/og/img:a", f"oci:{tmp_path}/o:img")
    assert raw_digest(f"oci:{tmp_path}/o:img") == want
    run(ONGGI, "image", "delete", "--tls-verify=false", f"docker://{reg.host}/og/img:b")
    out = json.loads(run(ONGGI, "image", "list-tags", "--tls-verify=false", f"docker://{reg.host}/og/img").stdout)
    assert out["Tags"] == []  # deleting by digest takes every tag of the manifest, as skopeo's does


def test_podman_push_pull(reg: OnggiRegistry, layout: str, tmp_path) -> None:  # noqa: ANN001
    if not PODMAN:
        pytest.skip("podman is not installed")
    if os.geteuid() != 0:
        pytest.skip("podman runs as root here")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{reg.host}/pm/img:v1")
    base = tempfile.mkdtemp(prefix="ogpm-")  # podman wants a runroot under 50 characters
    os.makedirs(os.path.join(base, "xdg"), mode=0o700)
    with open(os.path.join(base, "containers.conf"), "w") as f:
        f.write('[engine]\nevents_logger = "file"\nlock_type = "file"\ncgroup_manager = "cgroupfs"\n')
    env = dict(os.environ, CONTAINERS_CONF=f"{base}/containers.conf", XDG_RUNTIME_DIR=f"{base}/xdg")
    pm = [PODMAN, "--root", f"{base}/storage", "--runroot", f"{base}/run", "--tmpdir", f"{base}/tmp",
          "--storage-driver", "vfs", "--events-backend", "file"]
    try:
        run(*pm, "pull", "--tls-verify=false", f"{reg.host}/pm/img:v1", env=env)
        run(*pm, "push", "--tls-verify=false", f"{reg.host}/pm/img:v1", f"docker://{reg.host}/pm/pushed:v1", env=env)
        info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{reg.host}/pm/pushed:v1").stdout)
        assert len(info["Layers"]) == 2
        run(*pm, "rmi", "--all", "--force", env=env)
        run(*pm, "pull", "--tls-verify=false", f"{reg.host}/pm/pushed:v1", env=env)
        ids = run(*pm, "images", "--format", "{{.Repository}}:{{.Tag}}", env=env).stdout.split()
        assert f"{reg.host}/pm/pushed:v1" in ids
    finally:
        subprocess.run([*pm, "rmi", "--all", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def test_tls(tmp_path, layout: str) -> None:  # noqa: ANN001
    if not OPENSSL:
        pytest.skip("openssl is not installed")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    run(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert)
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(cert, certs / "ca.crt")
    reg = OnggiRegistry(str(tmp_path), tls=(cert, key))
    try:
        assert reg.url.startswith("https://")
        want = raw_digest(f"oci:{layout}:img")
        skopeo("copy", "--dest-cert-dir", str(certs), f"oci:{layout}:img", f"docker://{reg.host}/tls/img:v1")
        assert raw_digest(f"docker://{reg.host}/tls/img:v1", "--cert-dir", str(certs)) == want
        assert raw_digest(f"docker://{reg.host}/tls/img:v1", "--tls-verify=false") == want
        r = skopeo("inspect", "--raw", f"docker://{reg.host}/tls/img:v1", ok=False)  # not trusted
        assert r.returncode != 0 and "certificate" in r.stderr
    finally:
        reg.stop()


def _slow_upload(url: str, stop: threading.Event) -> None:
    """PATCH a body that never ends (until the server dies)."""
    def body():  # noqa: ANN202
        while not stop.is_set():
            yield b"x" * 65536
            time.sleep(0.01)
    try:
        req = urllib.request.Request(url, data=body(), method="PATCH",
                                     headers={"Transfer-Encoding": "chunked"})
        urllib.request.urlopen(req, timeout=30).close()
    except Exception:
        pass  # the server was killed under it: that is the point


def test_kill9_mid_upload_then_gc(tmp_path, layout: str) -> None:  # noqa: ANN001
    reg = OnggiRegistry(str(tmp_path), "first")
    want = raw_digest(f"oci:{layout}:img")
    stop = threading.Event()
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{reg.host}/crash/img:v1")
        req = urllib.request.Request(f"{reg.url}/v2/crash/img/blobs/uploads/", method="POST")
        with urllib.request.urlopen(req) as resp:
            loc = resp.headers["Location"]
        t = threading.Thread(target=_slow_upload, args=(reg.url + loc, stop))
        t.start()
        time.sleep(0.5)
        reg.kill9()
        stop.set()
        t.join(30)
    finally:
        stop.set()
        reg.stop()
    uploads = os.listdir(os.path.join(reg.root, "uploads"))
    assert uploads and os.path.getsize(os.path.join(reg.root, "uploads", uploads[0], "data")) > 0
    again = OnggiRegistry(str(tmp_path), "second", root=reg.root)
    try:
        assert raw_digest(f"docker://{again.host}/crash/img:v1", "--tls-verify=false") == want
        skopeo("copy", "--src-tls-verify=false", f"docker://{again.host}/crash/img:v1", f"oci:{tmp_path}/out:img")
        # an unreferenced blob, then GC: dry run touches nothing, a real run removes only it
        junk = b"unreferenced junk"
        import hashlib

        jd = "sha256:" + hashlib.sha256(junk).hexdigest()
        req = urllib.request.Request(f"{again.url}/v2/crash/img/blobs/uploads/?digest={jd}", data=junk, method="POST")
        urllib.request.urlopen(req).close()
        before = sorted(os.walk(again.root))
        gc = [ONGGI, "registry", "garbage-collect", "--root", again.root, "--upload-age", "0"]
        dry = run(*gc, "--dry-run").stdout
        assert jd in dry and "eligible for deletion" in dry and uploads[0] in dry
        assert sorted(os.walk(again.root)) == before
        real = run(*gc).stdout
        assert jd in real and "1 blobs and 0 manifests deleted" in real
        assert not os.path.exists(os.path.join(again.root, "blobs", "sha256", jd[7:9], jd[7:]))
        assert os.listdir(os.path.join(again.root, "uploads")) == []
        assert raw_digest(f"docker://{again.host}/crash/img:v1", "--tls-verify=false") == want
        skopeo("copy", "--src-tls-verify=false", f"docker://{again.host}/crash/img:v1", f"oci:{tmp_path}/out2:img")
        assert raw_digest(f"oci:{tmp_path}/out2:img") == want
    finally:
        again.stop()


def test_gc_after_delete(tmp_path, layout: str) -> None:  # noqa: ANN001
    reg = OnggiRegistry(str(tmp_path))
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{reg.host}/gc/keep:v1")
        skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{layout}:img",
               f"docker://{reg.host}/gc/drop:v1")
        dropped = raw_digest(f"docker://{reg.host}/gc/drop:v1", "--tls-verify=false")
        skopeo("delete", "--tls-verify=false", f"docker://{reg.host}/gc/drop:v1")
        gc = [ONGGI, "registry", "garbage-collect", "--root", reg.root]
        dry = run(*gc, "--dry-run").stdout
        n = int(dry.split(" blobs and ")[0].rsplit(", ", 1)[-1].split()[-1])
        assert n >= 1 and dropped in dry  # the deleted v2s2 manifest (its layers are shared)
        assert os.path.exists(os.path.join(reg.root, "blobs", "sha256", dropped[7:9], dropped[7:]))
        out = run(*gc).stdout
        assert f"{n} blobs and 0 manifests deleted" in out
        assert not os.path.exists(os.path.join(reg.root, "blobs", "sha256", dropped[7:9], dropped[7:]))
        skopeo("copy", "--src-tls-verify=false", f"docker://{reg.host}/gc/keep:v1", f"oci:{tmp_path}/k:img")
        assert raw_digest(f"oci:{tmp_path}/k:img") == raw_digest(f"oci:{layout}:img")
        assert "0 blobs and 0 manifests" in run(*gc).stdout
    finally:
        reg.stop()
