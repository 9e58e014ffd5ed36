"""The registry client against the Debian reference registry (distribution 2.8.2):
plain HTTP, htpasswd Basic auth, token (Bearer) auth with a token server written here,
TLS with a certs.d CA; faults injected by an HTTP proxy in front of the real registry
(dropped connections, 503s, redirects, corrupted bodies, tag pagination, which 2.8 does
not do itself); skopeo reads what onggi pushed and onggi reads what skopeo pushed.

Every registry, proxy and token server is stopped (registries by PID) and every
directory removed at the end of the session.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support import Registry, free_port

from onggi.distribution import RegistryClient, RetryPolicy, TLSConfig
from onggi.distribution import credentials as C
from onggi.distribution import tls as T
from onggi.distribution.credentials import Credentials
from onggi.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from onggi.oci import mediatypes as MT
from onggi.oci.digest import DigestMismatch, Verifier, of_bytes

pytestmark = pytest.mark.interop

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
OPENSSL = shutil.which("openssl")
SKOPEO = shutil.which("skopeo")
FAST = RetryPolicy(attempts=4, initial=0.01, maximum=0.05)
USER, PASSWORD = "user", "pass"

if not os.path.exists(REGISTRY):
    pytest.skip("docker-registry is not installed (apt-get install docker-registry)", allow_module_level=True)


@pytest.fixture(scope="session")
def workdir():  # noqa: ANN201
    d = tempfile.mkdtemp(prefix="onggi-registry-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def plain(workdir):  # noqa: ANN001, ANN201
    r = Registry(workdir, "plain")
    yield r
    r.stop()


@pytest.fixture(scope="session")
def basic(workdir):  # noqa: ANN001, ANN201
    htpasswd = shutil.which("htpasswd")
    if not htpasswd:
        pytest.skip("htpasswd is not installed (apt-get install apache2-utils)")
    line = subprocess.run([htpasswd, "-Bbn", USER, PASSWORD], capture_output=True, check=True).stdout
    path = os.path.join(workdir, "htpasswd")
    with open(path, "wb") as f:
        f.write(line)
    r = Registry(workdir, "basic", auth=f"auth:\n  htpasswd:\n    realm: onggi-test\n    path: {path}")
    yield r
    r.stop()


def make_cert(d: str, name: str, san: str | None = "IP:127.0.0.1") -> tuple[str, str]:
    if not OPENSSL:
        pytest.skip("openssl is not installed")
    crt, key = os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")
    extra = ["-addext", f"subjectAltName={san}"] if san else []
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-keyout", key, "-out", crt, *extra],
                   check=True, capture_output=True)
    return crt, key


@pytest.fixture(scope="session")
def tls_registry(workdir):  # noqa: ANN001, ANN201
    """A registry over TLS and a certs.d tree trusting its self-signed certificate."""
    crt, key = make_cert(workdir, "server")
    r = Registry(workdir, "tls", tls=(crt, key))
    certs_d = os.path.join(workdir, "certs.d")
    os.makedirs(os.path.join(certs_d, r.host))
    shutil.copy(crt, os.path.join(certs_d, r.host, "ca.crt"))
    r.certs_d = certs_d  # type: ignore[attr-defined]
    yield r
    r.stop()


# ---- a token server (Docker token auth, RS256 JWTs signed by openssl) -------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Grants what is asked to ``user:pass`` (or an identity token ``good-refresh``),
    and pull on ``public/*`` to anonymous callers. ``expired_next`` hands out tokens the
    registry rejects (already expired) while claiming a long life."""

    ISSUER, SERVICE = "onggi-test-issuer", "onggi-test-registry"

    def __init__(self, workdir: str) -> None:
        self.crt, self.key = make_cert(workdir, "token-signer", san=None)
        der = subprocess.run([OPENSSL, "x509", "-in", self.crt, "-outform", "DER"],
                             capture_output=True, check=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.issued: list[tuple[str, tuple[str, ...]]] = []
        self.expired_next = 0
        self.lock = threading.Lock()
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                q = urllib.parse.urlparse(self.path)
                params = urllib.parse.parse_qs(q.query)
                owner.answer(self, params.get("scope", []), self.headers.get("Authorization"), None)

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                scopes = form.get("scope", [""])[0].split()
                owner.answer(self, scopes, None, form.get("refresh_token", [""])[0])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, h: BaseHTTPRequestHandler, scopes: list[str], authz: str | None,
               refresh: str | None) -> None:
        user = ""
        if authz:
            u, _, p = base64.b64decode(authz.split()[1]).decode().partition(":")
            if (u, p) != (USER, PASSWORD):
                h.send_response(401)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            user = u
        elif refresh is not None:
            if refresh != "good-refresh":
                h.send_response(401)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            user = USER
        access = []
        for s in scopes:
            kind, _, rest = s.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = actions.split(",") if user else (
                ["pull"] if name.startswith("public/") and "pull" in actions.split(",") else [])
            access.append({"type": kind, "name": name, "actions": granted})
        with self.lock:
            self.issued.append((user, tuple(scopes)))
            expired = self.expired_next > 0
            self.expired_next -= 1 if expired else 0
        now = int(time.time())
        exp = now - 3600 if expired else now + 600
        claims = {"iss": self.ISSUER, "sub": user, "aud": self.SERVICE, "exp": exp, "nbf": now - 3700,
                  "iat": now, "jti": os.urandom(8).hex(), "access": access}
        head = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = subprocess.run([OPENSSL, "dgst", "-sha256", "-sign", self.key], input=signing.encode(),
                             capture_output=True, check=True).stdout
        body = json.dumps({"token": f"{signing}.{b64url(sig)}", "expires_in": 600}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def token_registry(workdir):  # noqa: ANN001, ANN201
    ts = TokenServer(workdir)
    auth = (f"auth:\n  token:\n    realm: {ts.realm}\n    service: {ts.SERVICE}\n"
            f"    issuer: {ts.ISSUER}\n    rootcertbundle: {ts.crt}")
    r = Registry(workdir, "token", auth=auth)
    r.tokens = ts  # type: ignore[attr-defined]
    yield r
    r.stop()
    ts.stop()


# ---- the fault-injecting proxy -----------------------------------------------------------------

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class Proxy:
    """An HTTP proxy to one registry. ``fault(method, path_regex, action, times, **kw)``:
    ``status`` (answer ``code`` without forwarding), ``reply`` (answer ``code``, ``headers``
    and ``body``), ``cut`` (send ``after`` bytes of the
    body, then drop the connection), ``corrupt`` (flip a byte), ``swap`` (answer with the
    body of ``other`` instead), ``redirect`` (307 to the same URL plus a query). With
    ``paginate_tags`` it serves tag lists in pages of ``n`` with ``Link`` headers; with
    ``relative_locations`` it makes the registry's ``Location`` headers relative."""

    def __init__(self, upstream: Registry) -> None:
        self.upstream = upstream.host
        self.faults: list[dict] = []
        self.log: list[tuple[str, str, dict]] = []
        self.paginate_tags = False
        self.relative_locations = False
        self.lock = threading.Lock()
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def handle_one(self) -> None:
                owner.handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fault(self, method: str, path: str, action: str, times: int = 1, **kw: object) -> None:
        with self.lock:
            self.faults.append({"method": method, "path": re.compile(path), "action": action,
                                "times": times, **kw})

    def _take(self, method: str, path: str) -> dict | None:
        with self.lock:
            for f in self.faults:
                if f["times"] > 0 and f["method"] == method and f["path"].search(path):
                    f["times"] -= 1
                    return f
        return None

    def requests(self, method: str, path: str) -> list[tuple[str, str, dict]]:
        return [x for x in self.log if x[0] == method and re.search(path, x[1])]

    @staticmethod
    def _body(h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(h.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    h.rfile.readline()
                    return out
                out += h.rfile.read(size)
                h.rfile.readline()
        n = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(n) if n else b""

    def _upstream(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            conn.request(method, path, body=body if body or method in ("PUT", "POST", "PATCH") else None,
                         headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        method, path = h.command, h.path
        body = self._body(h)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP}
        with self.lock:
            self.log.append((method, path, {k.lower(): v for k, v in headers.items()}))
        f = self._take(method, path)
        if f and f["action"] == "status":
            msg = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "injected"}]}).encode()
            self._reply(h, f.get("code", 503), [("Content-Type", "application/json")], msg)
            return
        if f and f["action"] == "reply":
            self._reply(h, f.get("code", 200), list(f.get("headers", [])), f["body"])
            return
        if f and f["action"] == "redirect":
            loc = path + ("&" if "?" in path else "?") + "redirected=1"
            self._reply(h, 307, [("Location", loc)], b"")
            return
        m = re.match(r"^/v2/(.+)/tags/list(\?.*)?$", path)
        if self.paginate_tags and m and method == "GET":
            self._tags_page(h, m.group(1), urllib.parse.parse_qs((m.group(2) or "?")[1:]), headers)
            return
        status, rheaders, data = self._upstream(method, path, headers, body)
        if f and f["action"] == "swap":
            _, _, data = self._upstream("GET", f["other"], headers, b"")
        if f and f["action"] == "corrupt" and data:
            data = data[:-1] + bytes([data[-1] ^ 1])
        out = [(k, v) for k, v in rheaders if k.lower() not in HOP]
        if self.relative_locations:
            out = [(k, re.sub(r"^https?://[^/]+", "", v) if k.lower() == "location" else v) for k, v in out]
        if method == "HEAD":
            out.append(("Content-Length", dict((k.lower(), v) for k, v in rheaders).get("content-length", "0")))
            self._reply(h, status, out, b"", length=False)
            return
        if f and f["action"] == "cut":
            h.send_response(status)
            for k, v in out:
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[:f["after"]])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        self._reply(h, status, out, data)

    def _tags_page(self, h: BaseHTTPRequestHandler, repo: str, q: dict, headers: dict) -> None:
        status, rheaders, data = self._upstream("GET", f"/v2/{repo}/tags/list", headers, b"")
        if status != 200:
            self._reply(h, status, [(k, v) for k, v in rheaders if k.lower() not in HOP], data)
            return
        tags = sorted(json.loads(data)["tags"])
        n = int(q.get("n", [len(tags) or 1])[0])
        last = q.get("last", [""])[0]
        rest = [t for t in tags if t > last]
        page = rest[:n]
        hdrs = [("Content-Type", "application/json")]
        if len(rest) > n:
            hdrs.append(("Link", f'</v2/{repo}/tags/list?n={n}&last={page[-1]}>; rel="next"'))
        self._reply(h, 200, hdrs, json.dumps({"name": repo, "tags": page}).encode())

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: list, data: bytes, length: bool = True) -> None:
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        if length:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data and h.command != "HEAD":
            h.wfile.write(data)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(plain):  # noqa: ANN001, ANN201
    p = Proxy(plain)
    yield p
    p.stop()


# ---- clients and images ------------------------------------------------------------------------

@pytest.fixture
def clients():  # noqa: ANN201
    made: list[RegistryClient] = []

    def make(host: str, creds: Credentials | None = None, tls: TLSConfig | None = None,
             **kw: object) -> RegistryClient:
        c = RegistryClient(host, creds, tls or TLSConfig(allow_http=True, verify=False),
                           retry=kw.pop("retry", FAST), **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def layer(seed: str, size: int) -> tuple[bytes, str]:
    """A gzip'd tar holding one file of random bytes; (blob, diff ID)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        data = os.urandom(size)
        info = tarfile.TarInfo(seed)
        info.size, info.mtime = len(data), 0
        tf.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), f"sha256:{hashlib.sha256(tar).hexdigest()}"


class Image:
    def __init__(self, seed: str, sizes: tuple[int, ...] = (2000, 300_000)) -> None:
        self.layers = []
        diff_ids = []
        for i, n in enumerate(sizes):
            blob, diff = layer(f"{seed}-{i}", n)
            self.layers.append(blob)
            diff_ids.append(diff)
        self.config = json.dumps({"architecture": "amd64", "os": "linux",
                                  "rootfs": {"type": "layers", "diff_ids": diff_ids},
                                  "config": {"Env": [f"SEED={seed}"]}}).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MT.OCI_MANIFEST,
            "config": {"mediaType": MT.OCI_CONFIG, "digest": of_bytes(self.config), "size": len(self.config)},
            "layers": [{"mediaType": MT.OCI_LAYER_GZIP, "digest": of_bytes(b), "size": len(b)}
                       for b in self.layers]}, indent=1).encode()
        self.digest = of_bytes(self.manifest)

    def push(self, c: RegistryClient, repo: str, tag: str, chunk_size: int | None = None) -> str:
        c.put_blob(repo, self.config, of_bytes(self.config))
        for b in self.layers:
            c.put_blob(repo, io.BytesIO(b), of_bytes(b), size=len(b), chunk_size=chunk_size)
        return c.put_manifest(repo, tag, self.manifest, MT.OCI_MANIFEST)


def pull(c: RegistryClient, repo: str, ref: str) -> dict[str, bytes]:
    m = c.get_manifest(repo, ref)
    doc = json.loads(m.raw)
    out = {"manifest": m.raw}
    for d in [doc["config"], *doc["layers"]]:
        buf = io.BytesIO()
        c.get_blob(repo, d["digest"], buf, size=d["size"])
        out[d["digest"]] = buf.getvalue()
    return out


# ---- tests ---------------------------------------------------------------------------------------

def test_ping(plain, basic, clients) -> None:  # noqa: ANN001
    p = clients(plain.host).ping()
    assert p.status == 200 and p.api_version == "registry/2.0" and p.base_url == f"http://{plain.host}"
    p = clients(basic.host).ping()
    assert p.status == 401 and [c.scheme for c in p.challenges] == ["basic"]


def test_push_pull_monolithic_and_chunked(plain, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    img = Image("mono")
    assert img.push(c, "onggi/mono", "v1") == img.digest
    img2 = Image("chunked", sizes=(150_000, 333_333))
    assert img2.push(c, "onggi/chunked", "v1", chunk_size=64 * 1024) == img2.digest
    for im, repo in ((img, "onggi/mono"), (img2, "onggi/chunked")):
        for ref in ("v1", im.digest):
            got = pull(c, repo, ref)
            assert got["manifest"] == im.manifest
            assert [got[of_bytes(b)] for b in im.layers] == im.layers
            assert got[of_bytes(im.config)] == im.config
        m = c.get_manifest(repo, "v1")
        assert (m.digest, m.media_type, m.size) == (im.digest, MT.OCI_MANIFEST, len(im.manifest))
        info = c.head_manifest(repo, "v1")
        assert (info.digest, info.media_type, info.size) == (im.digest, MT.OCI_MANIFEST, len(im.manifest))
        b = im.layers[1]
        assert c.head_blob(repo, of_bytes(b)).size == len(b)
    assert c.head_manifest("onggi/mono", "nope") is None
    assert not c.blob_exists("onggi/mono", of_bytes(b"absent"))
    again = c.put_blob("onggi/mono", img.layers[0], of_bytes(img.layers[0]))
    assert again.how == "exists"


def test_cross_repo_mount(plain, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    blob = os.urandom(5000)
    d = of_bytes(blob)
    assert c.put_blob("onggi/src", blob, d).how == "uploaded"
    assert c.put_blob("onggi/dst", blob, d, mount_from="onggi/src").how == "mounted"
    assert c.blob_exists("onggi/dst", d)
    other = os.urandom(100)
    # the source lacks it: the registry opens an upload session and onggi uses it
    r = c.put_blob("onggi/dst2", other, of_bytes(other), mount_from=["onggi/empty-src"])
    assert r.how == "uploaded" and c.blob_exists("onggi/dst2", of_bytes(other))


def test_tags_catalog_and_pagination(plain, proxy, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    img = Image("tags", sizes=(100,))
    img.push(c, "onggi/tags", "t0")
    for t in ("t1", "t2", "t3", "t4"):
        c.put_manifest("onggi/tags", t, img.manifest, MT.OCI_MANIFEST)
    want = ["t0", "t1", "t2", "t3", "t4"]
    assert sorted(c.list_tags("onggi/tags", page_size=2)) == want  # 2.8 ignores n: one page
    pc = clients(proxy.host)
    proxy.paginate_tags = True
    assert pc.list_tags("onggi/tags", page_size=2) == want
    pages = proxy.requests("GET", r"/tags/list")
    assert len(pages) == 3 and "last=t1" in pages[1][1] and "last=t3" in pages[2][1]
    repos = c.catalog(page_size=1)
    assert "onggi/tags" in repos and len(repos) == len(set(repos)) >= 2
    with pytest.raises(NotFound) as e:
        c.list_tags("onggi/never-pushed")
    assert "onggi/never-pushed" in str(e.value) and plain.host in str(e.value)


def test_delete_manifest(plain, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    img = Image("delete", sizes=(100,))
    d = img.push(c, "onggi/del", "v1")
    with pytest.raises(InvalidArgument, match="give a digest"):
        c.delete_manifest("onggi/del", "v1")
    c.delete_manifest("onggi/del", d)
    assert c.head_manifest("onggi/del", d) is None
    with pytest.raises(NotFound) as e:
        c.get_manifest("onggi/del", "v1")
    assert f"{plain.host}/onggi/del:v1" in str(e.value) and "MANIFEST_UNKNOWN" in str(e.value)
    with pytest.raises(NotFound, match=d):
        c.delete_manifest("onggi/del", d)


def test_referrers_tag_fallback(plain, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    img = Image("subject", sizes=(100,))
    subject = img.push(c, "onggi/ref", "v1")
    assert c.referrers("onggi/ref", subject) == []
    empty = b"{}"
    c.put_blob("onggi/ref", empty, of_bytes(empty))

    def artifact(kind: str, note: str) -> bytes:
        return json.dumps({
            "schemaVersion": 2, "mediaType": MT.OCI_MANIFEST, "artifactType": kind,
            "config": {"mediaType": MT.OCI_EMPTY, "digest": of_bytes(empty), "size": 2},
            "layers": [{"mediaType": MT.OCI_EMPTY, "digest": of_bytes(empty), "size": 2}],
            "subject": {"mediaType": MT.OCI_MANIFEST, "digest": subject, "size": len(img.manifest)},
            "annotations": {"note": note}}).encode()

    sig, sbom = artifact("application/vnd.example.sig", "s"), artifact("application/vnd.example.sbom", "b")
    ds = c.put_manifest("onggi/ref", of_bytes(sig), sig, MT.OCI_MANIFEST)
    c.put_manifest("onggi/ref", of_bytes(sig), sig, MT.OCI_MANIFEST)  # no duplicate entry
    db = c.put_manifest("onggi/ref", of_bytes(sbom), sbom, MT.OCI_MANIFEST)
    refs = c.referrers("onggi/ref", subject)
    assert [r.digest for r in refs] == [ds, db]
    assert refs[0].artifact_type == "application/vnd.example.sig" and refs[0].annotations == {"note": "s"}
    assert refs[0].size == len(sig) and refs[0].media_type == MT.OCI_MANIFEST
    only = c.referrers("onggi/ref", subject, artifact_type="application/vnd.example.sbom")
    assert [r.digest for r in only] == [db]
    assert f"sha256-{subject.hex}" in c.list_tags("onggi/ref")


def test_basic_auth(basic, clients, tmp_path) -> None:  # noqa: ANN001
    good = clients(basic.host, Credentials(USER, PASSWORD))
    img = Image("basic", sizes=(100,))
    img.push(good, "onggi/private", "v1")
    assert pull(good, "onggi/private", "v1")["manifest"] == img.manifest
    bad = clients(basic.host, Credentials(USER, "wrong"))
    with pytest.raises(PermissionDenied) as e:
        bad.get_manifest("onggi/private", "v1")
    msg = str(e.value)
    assert basic.host in msg and "onggi/private:v1" in msg and f"user {USER!r}" in msg and "401" in msg
    with pytest.raises(PermissionDenied) as e:
        clients(basic.host).head_blob("onggi/private", of_bytes(img.config))
    assert "no credentials" in str(e.value) and "onggi/private@sha256:" in str(e.value)
    # credentials from an auth file, keyed by host/namespace
    auth = str(tmp_path / "auth.json")
    C.set_credentials(f"{basic.host}/onggi", USER, PASSWORD, auth_file=auth)
    c = RegistryClient.from_config(basic.host, tls_verify=False, auth_file=auth, retry=FAST)
    try:
        assert c.get_manifest("onggi/private", "v1").digest == img.digest
        with pytest.raises(PermissionDenied, match="no credentials"):
            c.get_manifest("elsewhere/x", "v1")
    finally:
        c.close()


def test_token_auth(token_registry, clients) -> None:  # noqa: ANN001
    ts = token_registry.tokens
    c = clients(token_registry.host, Credentials(USER, PASSWORD))
    p = c.ping()
    assert p.status == 401 and p.challenges[0].scheme == "bearer" and p.challenges[0].realm == ts.realm
    img = Image("token", sizes=(100, 200))
    before = len(ts.issued)
    img.push(c, "onggi/tok", "v1")
    pull(c, "onggi/tok", "v1")
    scopes = {s for _, s in ts.issued[before:]}
    # cached per scope set: one token for pushing, one for pulling
    assert scopes == {("repository:onggi/tok:pull,push",), ("repository:onggi/tok:pull",)}
    assert len(ts.issued) - before == 2
    # a token the registry refuses is dropped and fetched again once
    ts.expired_next = 1
    c2 = clients(token_registry.host, Credentials(USER, PASSWORD))
    assert c2.get_manifest("onggi/tok", "v1").digest == img.digest
    # identity token (OAuth2 refresh-token grant)
    c3 = clients(token_registry.host, Credentials(identity_token="good-refresh"))
    assert c3.get_manifest("onggi/tok", "v1").digest == img.digest
    with pytest.raises(PermissionDenied) as e:
        clients(token_registry.host, Credentials(USER, "wrong")).get_manifest("onggi/tok", "v1")
    assert ts.realm in str(e.value) and f"user {USER!r}" in str(e.value)
    with pytest.raises(PermissionDenied) as e:  # anonymous: a token without access
        clients(token_registry.host).get_manifest("onggi/tok", "v1")
    assert "onggi/tok:v1" in str(e.value) and "no credentials" in str(e.value)
    img.push(c, "public/tok", "v1")
    assert clients(token_registry.host).get_manifest("public/tok", "v1").digest == img.digest
    # one client, many threads: one token for the scope, every blob pushed and read back
    from concurrent.futures import ThreadPoolExecutor

    blobs = [os.urandom(20_000 + i) for i in range(12)]
    c4 = clients(token_registry.host, Credentials(USER, PASSWORD))
    before = len(ts.issued)
    with ThreadPoolExecutor(6) as pool:
        pushed = list(pool.map(lambda b: c4.put_blob("onggi/par", b, of_bytes(b)).how, blobs))
    assert pushed == ["uploaded"] * len(blobs)
    assert len(ts.issued) - before == 2  # pull (HEAD) and pull,push, each fetched once

    def read(b: bytes) -> bytes:
        out = io.BytesIO()
        c4.get_blob("onggi/par", of_bytes(b), out, size=len(b))
        return out.getvalue()

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(read, blobs)) == blobs


def test_not_found_names_what(plain, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    Image("nf", sizes=(100,)).push(c, "onggi/nf", "v1")
    missing = of_bytes(b"missing blob")
    with pytest.raises(NotFound) as e:
        c.get_blob("onggi/nf", missing, io.BytesIO())
    assert f"{plain.host}/onggi/nf@{missing}" in str(e.value) and "BLOB_UNKNOWN" in str(e.value)
    with pytest.raises(NotFound, match="onggi/nf:v9"):
        c.get_manifest("onggi/nf", "v9")
    with pytest.raises(NotFound, match="NAME_UNKNOWN|MANIFEST_UNKNOWN"):
        c.get_manifest("onggi/no-such-repo", "v1")


def test_digest_mismatches(plain, proxy, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    a, b = Image("mm-a", sizes=(1000,)), Image("mm-b", sizes=(1000,))
    a.push(c, "onggi/mm", "a")
    b.push(c, "onggi/mm", "b")
    pc = clients(proxy.host)
    blob = a.layers[0]
    proxy.fault("GET", r"/blobs/", "corrupt")
    with pytest.raises(DigestMismatch) as e:
        pc.get_blob("onggi/mm", of_bytes(blob), io.BytesIO(), size=len(blob))
    assert of_bytes(blob) in str(e.value)
    # asked by a's digest, served b's bytes
    proxy.fault("GET", rf"/manifests/{a.digest}", "swap", other=f"/v2/onggi/mm/manifests/{b.digest}")
    with pytest.raises(DigestMismatch) as e:
        pc.get_manifest("onggi/mm", a.digest)
    assert a.digest in str(e.value) and b.digest in str(e.value)
    # pushing bytes that are not what the digest says: refused, nothing committed
    wrong = of_bytes(b"something else")
    with pytest.raises(DigestMismatch):
        c.put_blob("onggi/mm", b"payload", wrong)
    with pytest.raises(DigestMismatch):
        c.put_blob("onggi/mm", io.BytesIO(b"payload"), wrong, size=7, chunk_size=3)
    assert not c.blob_exists("onggi/mm", wrong)
    with pytest.raises(DigestMismatch):
        c.put_manifest("onggi/mm", b.digest, a.manifest, MT.OCI_MANIFEST)


def test_resume_after_dropped_connection(plain, proxy, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    img = Image("resume", sizes=(400_000,))
    img.push(c, "onggi/resume", "v1")
    blob = img.layers[0]
    d = of_bytes(blob)
    pc = clients(proxy.host)
    proxy.fault("GET", rf"/blobs/{d}", "cut", after=100_000)
    out = io.BytesIO()
    assert pc.get_blob("onggi/resume", d, out, size=len(blob)) == d
    assert out.getvalue() == blob
    gets = proxy.requests("GET", rf"/blobs/{d}")
    assert len(gets) == 2 and "range" not in gets[0][2]
    assert gets[1][2]["range"] == f"bytes={100_000}-"
    # without a known size the drop is seen too (a short body), and still resumed
    proxy.fault("GET", rf"/blobs/{d}", "cut", after=5)
    out = io.BytesIO()
    pc.get_blob("onggi/resume", d, out)
    assert out.getvalue() == blob
    # a caller's own partial download goes on from its verifier state, which stays as it was
    v = Verifier(d, len(blob))
    v.update(blob[:123_456])
    out = io.BytesIO(blob[:123_456])
    out.seek(0, 2)
    pc.get_blob("onggi/resume", d, out, size=len(blob), resume=v)
    assert out.getvalue() == blob and v.seen == 123_456
    assert proxy.requests("GET", rf"/blobs/{d}")[-1][2]["range"] == "bytes=123456-"


def test_retries_on_5xx_and_redirects(plain, proxy, clients) -> None:  # noqa: ANN001
    c = clients(plain.host)
    img = Image("retry", sizes=(150_000,))
    img.push(c, "onggi/retry", "v1")
    pc = clients(proxy.host)
    proxy.fault("GET", r"/manifests/v1", "status", code=503)
    assert pc.get_manifest("onggi/retry", "v1").digest == img.digest
    assert len(proxy.requests("GET", r"/manifests/v1")) == 2
    proxy.fault("HEAD", r"/blobs/", "status", code=429)
    assert pc.blob_exists("onggi/retry", of_bytes(img.layers[0]))
    assert len(proxy.requests("HEAD", r"/blobs/")) == 2
    proxy.fault("GET", r"/blobs/", "redirect")
    d = of_bytes(img.layers[0])
    out = io.BytesIO()
    pc.get_blob("onggi/retry", d, out)
    assert out.getvalue() == img.layers[0]
    assert any("redirected=1" in p for _, p, _ in proxy.requests("GET", rf"/blobs/{d}"))
    # a monolithic upload whose PUT fails restarts from a new session
    blob = os.urandom(10_000)
    proxy.fault("PUT", r"/blobs/uploads/", "status", code=502)
    assert pc.put_blob("onggi/retry", blob, of_bytes(blob)).how == "uploaded"
    assert len(proxy.requests("POST", r"/blobs/uploads/")) >= 2
    # a chunk that fails is resent from the offset the registry reports
    blob = os.urandom(200_000)
    proxy.fault("PATCH", r"/blobs/uploads/", "status", times=1, code=503)
    r = pc.put_blob("onggi/retry", io.BytesIO(blob), of_bytes(blob), size=len(blob), chunk_size=64 * 1024)
    assert r.how == "uploaded"
    assert len(proxy.requests("PATCH", r"/blobs/uploads/")) == 5  # 4 chunks + 1 resend
    assert pull(c, "onggi/retry", "v1")["manifest"] == img.manifest
    # 503 for ever: Unavailable after the tries, naming the target
    proxy.fault("GET", r"/manifests/v1", "status", times=100, code=503)
    with pytest.raises(Unavailable) as e:
        pc.get_manifest("onggi/retry", "v1")
    assert f"{proxy.host}/onggi/retry:v1" in str(e.value) and "after 4 tries" in str(e.value)


def test_relative_locations_and_other_answers(plain, proxy, clients) -> None:  # noqa: ANN001
    pc = clients(proxy.host)
    proxy.relative_locations = True
    img = Image("relative", sizes=(1000, 150_000))
    pc.put_blob("onggi/rel", img.config, of_bytes(img.config))
    pc.put_blob("onggi/rel", img.layers[0], of_bytes(img.layers[0]))
    pc.put_blob("onggi/rel", io.BytesIO(img.layers[1]), of_bytes(img.layers[1]), chunk_size=50_000)
    pc.put_manifest("onggi/rel", "v1", img.manifest, MT.OCI_MANIFEST)
    assert pull(clients(plain.host), "onggi/rel", "v1")["manifest"] == img.manifest
    assert any(p.startswith("/v2/onggi/rel/blobs/uploads/") and "digest=" in p
               for _, p, _ in proxy.requests("PUT", r"/blobs/uploads/"))
    # a registry with the referrers API: its answer is used, pages followed, filtered here
    # when it did not filter (no OCI-Filters-Applied)
    subject = img.digest

    def desc(n: int, kind: str) -> dict:
        return {"mediaType": MT.OCI_MANIFEST, "digest": of_bytes(b"r%d" % n), "size": 10, "artifactType": kind}

    page1 = json.dumps({"schemaVersion": 2, "mediaType": MT.OCI_INDEX,
                        "manifests": [desc(1, "a/x"), desc(2, "b/y")]}).encode()
    page2 = json.dumps({"schemaVersion": 2, "mediaType": MT.OCI_INDEX, "manifests": [desc(3, "a/x")]}).encode()
    ct = ("Content-Type", MT.OCI_INDEX)
    proxy.fault("GET", rf"/referrers/{subject}", "reply", body=page1,
                headers=[ct, ("Link", f'</v2/onggi/rel/referrers/{subject}?page=2>; rel="next"')])
    proxy.fault("GET", r"page=2", "reply", body=page2, headers=[ct])
    got = pc.referrers("onggi/rel", subject, artifact_type="a/x")
    assert [d.digest for d in got] == [of_bytes(b"r1"), of_bytes(b"r3")]
    assert "artifactType=a%2Fx" in proxy.requests("GET", r"/referrers/")[0][1]
    proxy.fault("GET", rf"/referrers/{subject}", "reply", body=page1,
                headers=[ct, ("OCI-Filters-Applied", "artifactType")])
    assert len(pc.referrers("onggi/rel", subject, artifact_type="a/x")) == 2  # trusted as filtered
    # answers that are not JSON, or not the JSON expected
    proxy.fault("GET", r"/tags/list", "reply", body=b"<html>oops</html>")
    with pytest.raises(InvalidArgument, match=f"listing tags of {proxy.host}/onggi/rel.*invalid JSON"):
        pc.list_tags("onggi/rel")
    proxy.fault("GET", r"/tags/list", "reply", body=b'{"tags": "v1"}')
    with pytest.raises(InvalidArgument, match="not a list of strings"):
        pc.list_tags("onggi/rel")
    proxy.fault("GET", r"/manifests/v1", "reply", body=b"{not json", headers=[("Content-Type", MT.OCI_MANIFEST)])
    with pytest.raises(InvalidArgument, match="onggi/rel:v1"):
        pc.get_manifest("onggi/rel", "v1")
    big = b'{"schemaVersion": 2, "pad": "' + b"x" * 5000 + b'"}'
    proxy.fault("GET", r"/manifests/v1", "reply", body=big, headers=[("Content-Type", MT.OCI_MANIFEST)])
    small = clients(proxy.host, max_manifest_size=4096)
    with pytest.raises(InvalidArgument, match="more than the 4096"):
        small.get_manifest("onggi/rel", "v1")


def test_endpoints_from_registries_conf(plain, clients, tmp_path) -> None:  # noqa: ANN001
    from onggi.distribution import registries_conf
    from onggi.oci.reference import parse

    c = clients(plain.host)
    img = Image("conf", sizes=(100,))
    img.push(c, "mirrored/app", "v1")
    dead = f"127.0.0.1:{free_port()}"
    conf = tmp_path / "registries.conf"
    conf.write_text(f"""
[[registry]]
prefix = "example.com/team"
location = "{plain.host}/mirrored"
insecure = true
[[registry.mirror]]
location = "{dead}/nothing"
insecure = true
""")
    eps = registries_conf.load([str(conf)]).lookup(parse("example.com/team/app:v1"))
    assert [(e.host, e.mirror) for e in eps] == [(dead, True), (plain.host, False)]
    errors, got = [], None
    for ep in eps:
        rc = RegistryClient.from_config(ep.host, insecure=ep.insecure, retry=FAST, env={"HOME": str(tmp_path)})
        try:
            got = rc.get_manifest(ep.reference.path, ep.reference.identifier)
            break
        except Unavailable as e:
            errors.append(e)
        finally:
            rc.close()
    assert got is not None and got.digest == img.digest
    assert len(errors) == 1 and dead in str(errors[0])


def test_unreachable(clients) -> None:  # noqa: ANN001
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(Unavailable) as e:
        clients(f"127.0.0.1:{port}").get_manifest("x", "v1")
    assert f"127.0.0.1:{port}" in str(e.value) and "refused" in str(e.value).lower()
    assert time.monotonic() - t0 < 5


def test_tls(tls_registry, plain, clients) -> None:  # noqa: ANN001
    host = tls_registry.host
    trusted = T.for_registry(host, dirs=[tls_registry.certs_d])
    assert trusted.ca_files and trusted.verify and not trusted.allow_http
    c = clients(host, tls=trusted)
    img = Image("tls", sizes=(100,))
    img.push(c, "onggi/tls", "v1")
    assert c.ping().base_url == f"https://{host}"
    with pytest.raises(Unavailable) as e:  # no CA: refused at once, never over http
        clients(host, tls=T.for_registry(host, dirs=[])).ping()
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and "after 1 try" in str(e.value)
    insecure = clients(host, tls=T.for_registry(host, tls_verify=False, dirs=[]))
    assert insecure.get_manifest("onggi/tls", "v1").digest == img.digest
    assert insecure.ping().base_url == f"https://{host}"
    # an insecure registry that speaks plain HTTP: https fails, http is used
    fallback = clients(plain.host, tls=T.for_registry(plain.host, insecure=True, dirs=[]))
    assert fallback.ping().base_url == f"http://{plain.host}"
    with pytest.raises(Unavailable):
        clients(plain.host, tls=T.for_registry(plain.host, dirs=[])).ping()


@pytest.fixture
def skopeo(tmp_path):  # noqa: ANN001, ANN201
    if not SKOPEO:
        pytest.skip("skopeo is not installed")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    env = dict(os.environ, REGISTRY_AUTH_FILE=str(tmp_path / "skopeo-auth.json"))

    def run(*args: str) -> str:
        p = subprocess.run([SKOPEO, "--policy", str(policy), *args], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout

    return run


def test_skopeo_reads_onggi_push(plain, basic, clients, skopeo) -> None:  # noqa: ANN001
    c = clients(plain.host)
    img = Image("for-skopeo")
    img.push(c, "onggi/skopeo-reads", "v1")
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{plain.host}/onggi/skopeo-reads:v1"))
    assert info["Digest"] == img.digest and info["Layers"] == [of_bytes(b) for b in img.layers]
    assert info["Env"] == ["SEED=for-skopeo"]
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{plain.host}/onggi/skopeo-reads:v1")
    assert raw.encode() == img.manifest
    bc = clients(basic.host, Credentials(USER, PASSWORD))
    img.push(bc, "onggi/skopeo-basic", "v1")
    info = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                             f"docker://{basic.host}/onggi/skopeo-basic:v1"))
    assert info["Digest"] == img.digest


def write_layout(path: str, img: Image, tag: str) -> None:
    os.makedirs(os.path.join(path, "blobs", "sha256"))
    for blob in [img.config, img.manifest, *img.layers]:
        with open(os.path.join(path, "blobs", "sha256", of_bytes(blob).hex), "wb") as f:
            f.write(blob)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": MT.OCI_MANIFEST, "digest": img.digest, "size": len(img.manifest),
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)


def test_onggi_reads_skopeo_push(plain, clients, skopeo, tmp_path) -> None:  # noqa: ANN001
    img = Image("from-skopeo")
    write_layout(str(tmp_path / "layout"), img, "v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1",
           f"docker://{plain.host}/onggi/skopeo-wrote:v1")
    skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{tmp_path / 'layout'}:v1",
           f"docker://{plain.host}/onggi/skopeo-wrote:docker")
    c = clients(plain.host)
    got = pull(c, "onggi/skopeo-wrote", "v1")
    assert got["manifest"] == img.manifest
    assert [got[of_bytes(b)] for b in img.layers] == img.layers
    m = c.get_manifest("onggi/skopeo-wrote", "docker")
    assert m.media_type == MT.DOCKER_MANIFEST
    doc = json.loads(m.raw)
    assert [x["digest"] for x in doc["layers"]] == [of_bytes(b) for b in img.layers]
    assert c.head_manifest("onggi/skopeo-wrote", "docker").digest == m.digest
    assert sorted(c.list_tags("onggi/skopeo-wrote")) == ["docker", "v1"]
