"""TLS per registry: the certs.d layout, tls_verify against registries.conf's insecure,
and contexts that really verify (a local TLS server with a certificate made by openssl)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from onggi.distribution import tls as T
from onggi.errors import InvalidArgument


def touch(path, text: str = "") -> str:  # noqa: ANN001
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_certs_dirs(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HOME", "/h")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert T.certs_dirs() == ["/h/.config/containers/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d"]
    assert T.certs_dirs({"HOME": "/h", "XDG_CONFIG_HOME": "/x"})[0] == "/x/containers/certs.d"


def test_cert_dir_layout(tmp_path) -> None:  # noqa: ANN001
    user, system = tmp_path / "user", tmp_path / "system"
    host = "reg.example:5000"
    touch(system / host / "ca.crt")
    cfg = T.for_registry(host, dirs=[str(user), str(system)])
    assert cfg.ca_files == (str(system / host / "ca.crt"),) and cfg.client_cert is None
    assert cfg.cert_dir == str(system / host)
    # the first existing host directory wins, whole
    touch(user / host / "b.crt")
    touch(user / host / "a.crt")
    touch(user / host / "client.cert")
    touch(user / host / "client.key")
    touch(user / host / "notes.txt")
    cfg = T.for_registry(host, dirs=[str(user), str(system)])
    assert cfg.ca_files == (str(user / host / "a.crt"), str(user / host / "b.crt"))
    assert cfg.client_cert == (str(user / host / "client.cert"), str(user / host / "client.key"))
    assert T.for_registry("other.example", dirs=[str(user), str(system)]).ca_files == ()
    # an explicit directory (skopeo --cert-dir) replaces the search
    assert T.for_registry(host, cert_dir=str(system / host), dirs=[str(user)]).ca_files == \
        (str(system / host / "ca.crt"),)
    assert T.read_cert_dir(str(tmp_path / "absent")) == ((), None)


@pytest.mark.parametrize("name", ["lonely.cert", "lonely.key"])
def test_half_client_pair(tmp_path, name: str) -> None:  # noqa: ANN001
    touch(tmp_path / "h" / name)
    with pytest.raises(InvalidArgument) as e:
        T.for_registry("h", dirs=[str(tmp_path)])
    assert name in str(e.value) and "no matching" in str(e.value)


@pytest.mark.parametrize("tls_verify, insecure, verify, http", [
    (None, False, True, False),
    (None, True, False, True),
    (False, False, False, True),
    (True, True, True, False),
])
def test_verify_and_http(tmp_path, tls_verify, insecure, verify, http) -> None:  # noqa: ANN001
    cfg = T.for_registry("r.io", tls_verify=tls_verify, insecure=insecure, dirs=[str(tmp_path)])
    assert cfg.verify is verify and cfg.allow_http is http
    assert cfg.schemes() == (("https", "http") if http else ("https",))
    ctx = cfg.ssl_context()
    assert ctx.check_hostname is verify
    assert ctx.verify_mode == (ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)


def test_bad_files(tmp_path) -> None:  # noqa: ANN001
    bad = touch(tmp_path / "bad.crt", "not a certificate")
    with pytest.raises(InvalidArgument, match="cannot load CA"):
        T.TLSConfig(ca_files=(bad,)).ssl_context()
    with pytest.raises(InvalidArgument, match="cannot load client certificate"):
        T.TLSConfig(client_cert=(bad, bad)).ssl_context()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):  # noqa: ANN001, ANN201
    """A self-signed server certificate for 127.0.0.1 and a client certificate."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("certs")
    for name, extra in (("server", ["-addext", "subjectAltName=IP:127.0.0.1"]), ("client", [])):
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"),
                        "-out", str(d / f"{name}.crt"), *extra], check=True, capture_output=True)
    return d


def serve_once(certs, require_client: bool) -> tuple[int, list]:  # noqa: ANN001
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs / "server.crt"), str(certs / "server.key"))
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(str(certs / "client.crt"))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    seen: list = []

    def run() -> None:
        conn, _ = lsock.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                seen.append(s.getpeercert())
                s.sendall(b"ok")
        except (ssl.SSLError, OSError) as e:
            seen.append(e)
        finally:
            lsock.close()

    threading.Thread(target=run, daemon=True).start()
    return lsock.getsockname()[1], seen


def handshake(ctx: ssl.SSLContext, port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.recv(2)


def test_real_handshakes(certs, tmp_path) -> None:  # noqa: ANN001
    host = "127.0.0.1:1234"
    hd = tmp_path / host
    os.makedirs(hd)
    shutil.copy(certs / "server.crt", hd / "ca.crt")
    shutil.copy(certs / "client.crt", hd / "me.cert")
    shutil.copy(certs / "client.key", hd / "me.key")
    # the system CAs alone do not trust the self-signed server
    port, _ = serve_once(certs, False)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(T.TLSConfig().ssl_context(), port)
    # unless verification is off
    port, _ = serve_once(certs, False)
    assert handshake(T.for_registry(host, tls_verify=False, dirs=[]).ssl_context(), port) == b"ok"
    # the certs.d CA makes it trusted, and the client certificate is presented
    cfg = T.for_registry(host, dirs=[str(tmp_path)])
    port, seen = serve_once(certs, True)
    assert handshake(cfg.ssl_context(), port) == b"ok"
    assert seen and isinstance(seen[0], dict)
    assert dict(x[0] for x in seen[0]["subject"])["commonName"] == "client"
