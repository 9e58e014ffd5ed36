"""buildah and podman against ``onggi registry serve`` over TLS with htpasswd auth: buildah
pushes an image it built (a layer of its own on top of a locally made base), podman pulls
it back with the CA in a certs dir and the credentials, and the digests agree. Each peer
runs on a store of its own under the test's temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest
from registry_support import OnggiRegistry

pytestmark = pytest.mark.interop

BUILDAH, PODMAN, SKOPEO = shutil.which("buildah"), shutil.which("podman"), shutil.which("skopeo")
OPENSSL, HTPASSWD = shutil.which("openssl"), shutil.which("htpasswd")


def run(*args: str) -> str:
    r = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout


@pytest.fixture
def secured(tmp_path):  # noqa: ANN001, ANN201
    """A TLS + htpasswd onggi registry, and the certs dir that trusts it."""
    if not (OPENSSL and HTPASSWD):
        pytest.skip("openssl and htpasswd (apache2-utils) are needed")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    run(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert)
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(cert, certs / "ca.crt")
    htpasswd = str(tmp_path / "htpasswd")
    run(HTPASSWD, "-Bbc", htpasswd, "builder", "s3cret")
    reg = OnggiRegistry(str(tmp_path), tls=(cert, key), auth={"htpasswd": {"realm": "onggi", "path": htpasswd}})
    yield reg, str(certs)
    reg.stop()


@pytest.fixture
def stores(tmp_path):  # noqa: ANN001, ANN201
    """(buildah argv, podman argv) on stores of their own (vfs), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("buildah and podman with stores of their own need root here")
    if not (BUILDAH and PODMAN and SKOPEO):
        pytest.skip("buildah, podman and skopeo are needed (apt-get install buildah podman skopeo)")
    runroot = tempfile.mkdtemp(prefix="onggi-b-")  # both want a short runroot
    common = ["--root", str(tmp_path / "store"), "--runroot", runroot, "--storage-driver", "vfs"]
    yield [BUILDAH, *common], [PODMAN, *common]
    subprocess.run([PODMAN, *common, "system", "reset", "--force"], capture_output=True, timeout=60)
    shutil.rmtree(runroot, ignore_errors=True)


def test_buildah_push_podman_pull_over_tls_with_auth(secured, stores, layout, tmp_path):  # noqa: ANN001
    reg, certs = secured
    buildah, podman = stores
    ref = f"{reg.host}/team/built:1"
    ctr = run(*buildah, "from", "--pull", f"oci:{layout}:img").strip()
    (tmp_path / "hello.txt").write_text("built by buildah\n")
    run(*buildah, "copy", ctr, str(tmp_path / "hello.txt"), "/hello.txt")
    run(*buildah, "commit", "-q", ctr, "localhost/built:1")
    run(*buildah, "rm", ctr)

    refused = subprocess.run([*buildah, "push", "--cert-dir", certs, "localhost/built:1", f"docker://{ref}"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "unauthorized" in refused.stderr.lower()
    digestfile = tmp_path / "digest"
    run(*buildah, "push", "--cert-dir", certs, "--creds", "builder:s3cret", "--digestfile", str(digestfile),
        "localhost/built:1", f"docker://{ref}")
    pushed = digestfile.read_text().strip()

    run(*podman, "rmi", "-a", "-f")
    run(*podman, "pull", "-q", "--cert-dir", certs, "--creds", "builder:s3cret", ref)
    raw = run(SKOPEO, "inspect", "--raw", "--cert-dir", certs, "--creds", "builder:s3cret", f"docker://{ref}")
    from onggi.oci.digest import of_bytes

    assert of_bytes(raw.encode()) == pushed  # the bytes buildah pushed, unchanged
    assert len(json.loads(raw)["layers"]) == 3  # the base's two and buildah's own
    cid = run(*podman, "create", ref, "true").strip()
    out = tmp_path / "out.txt"
    run(*podman, "cp", f"{cid}:/hello.txt", str(out))
    assert out.read_text() == "built by buildah\n"
