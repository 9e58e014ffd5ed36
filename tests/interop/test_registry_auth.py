"""``onggi registry serve`` with auth, driven by real clients: skopeo, podman, curl and
onggi's own registry client, against htpasswd Basic auth and the built-in token server.

Accounts (``htpasswd -Bbc``): alice (may do anything in ``alice/*`` and push to
``public/*``), bob (pull everywhere, all of ``bob/*``); anonymous callers may pull
``public/*`` only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Iterator

import pytest

pytestmark = pytest.mark.interop

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"
SKOPEO, PODMAN, CURL = shutil.which("skopeo"), shutil.which("podman"), shutil.which("curl")
HTPASSWD = shutil.which("htpasswd")
PASSWORDS = {"alice": "alice-pw", "bob": "bob pw:with colon"}
RULES = [
    {"account": "alice", "name": "alice/*", "actions": ["pull", "push", "delete"]},
    {"account": "alice", "name": "public/*", "actions": ["pull", "push"]},
    {"account": "*", "name": "${account}/*", "actions": ["pull", "push", "delete"]},
    {"account": "*", "name": "*", "actions": ["pull"]},
    {"account": "", "name": "public/*", "actions": ["pull"]},
    {"account": "alice", "type": "registry", "name": "catalog", "actions": ["*"]},
]


def creds(user: str) -> str:
    return f"{user}:{PASSWORDS[user]}"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def curl(*args: str) -> tuple[int, dict[str, str], str]:
    """(status, headers lower-cased, body) of one curl request."""
    p = run(CURL or "curl", "-s", "-i", *args)
    head, _, body = p.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def htpasswd_file(tmp_path_factory) -> str:  # noqa: ANN001
    if not (HTPASSWD and SKOPEO and CURL and os.path.exists(ONGGI)):
        pytest.skip("needs htpasswd (apache2-utils), skopeo, curl and onggi")
    path = str(tmp_path_factory.mktemp("auth") / "htpasswd")
    for i, (user, pw) in enumerate(PASSWORDS.items()):
        subprocess.run([HTPASSWD, "-Bb" + ("c" if i == 0 else ""), path, user, pw],
                       check=True, capture_output=True)
    return path


def _start(base: str, auth: dict, port: int | None = None):  # noqa: ANN202
    from registry_support import OnggiRegistry

    return OnggiRegistry(base, auth=auth, port=port)


@pytest.fixture(scope="module")
def basic_reg(tmp_path_factory, htpasswd_file):  # noqa: ANN001, ANN201
    reg = _start(str(tmp_path_factory.mktemp("basic")),
                 {"htpasswd": {"realm": "onggi-test", "path": htpasswd_file}, "access": RULES})
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def token_reg(tmp_path_factory, htpasswd_file):  # noqa: ANN001, ANN201
    from support import free_port

    port = free_port()
    reg = _start(str(tmp_path_factory.mktemp("token")),
                 {"token": {"realm": f"http://127.0.0.1:{port}/token", "service": "onggi-test",
                            "htpasswd": htpasswd_file, "expiration": 120}, "access": RULES}, port)
    yield reg
    reg.stop()


def skopeo_copy(layout: str, dest: str, *extra: str) -> subprocess.CompletedProcess:
    return run(SKOPEO or "skopeo", "copy", "-q", "--dest-tls-verify=false", *extra,
               f"oci:{layout}:img", f"docker://{dest}")


def skopeo_inspect(ref: str, *extra: str) -> subprocess.CompletedProcess:
    return run(SKOPEO or "skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{ref}")


# ---- htpasswd Basic auth ---------------------------------------------------------------

def test_basic_challenge_and_status_codes(basic_reg, layout) -> None:  # noqa: ANN001
    url = f"{basic_reg.url}/v2/"
    status, headers, body = curl(url)
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="onggi-test"'
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    assert curl("-u", "alice:wrong", url)[0] == 401
    assert curl("-u", creds("alice"), url)[0] == 200
    assert skopeo_copy(layout, f"{basic_reg.host}/alice/app:1", "--dest-creds", creds("alice")).returncode == 0
    manifest = f"{basic_reg.url}/v2/alice/app/manifests/1"
    assert curl("-u", creds("bob"), manifest)[0] == 200  # anyone logged in may pull
    status, headers, body = curl("-u", creds("bob"), "-X", "DELETE", manifest)
    assert status == 403 and json.loads(body)["errors"][0]["code"] == "DENIED"
    assert "www-authenticate" not in headers
    assert curl(manifest)[0] == 401  # anonymous: not in public/*
    assert curl("-u", creds("bob"), f"{basic_reg.url}/v2/_catalog")[0] == 403
    status, _, body = curl("-u", creds("alice"), f"{basic_reg.url}/v2/_catalog")
    assert status == 200 and "alice/app" in json.loads(body)["repositories"]


def test_basic_skopeo_push_pull(basic_reg, layout, tmp_path) -> None:  # noqa: ANN001
    host = basic_reg.host
    r = skopeo_copy(layout, f"{host}/public/app:1")
    assert r.returncode != 0 and "unauthorized" in r.stderr.lower()
    r = skopeo_copy(layout, f"{host}/public/app:1", "--dest-creds", creds("bob"))
    assert r.returncode != 0 and "denied" in r.stderr.lower()
    assert skopeo_copy(layout, f"{host}/public/app:1", "--dest-creds", creds("alice")).returncode == 0
    r = skopeo_inspect(f"{host}/public/app:1", "--no-creds")
    assert r.returncode == 0, r.stderr  # anonymous pull where the rules allow it
    r = run(SKOPEO or "skopeo", "copy", "-q", "--src-tls-verify=false", "--src-creds", creds("bob"),
            f"docker://{host}/public/app:1", f"oci:{tmp_path}/out:x")
    assert r.returncode == 0, r.stderr
    r = skopeo_inspect(f"{host}/public/app:1", "--creds", "bob:wrong")
    assert r.returncode != 0 and "unauthorized" in r.stderr.lower()


@pytest.fixture
def podman_store() -> Iterator[list[str]]:
    """podman with its own store (vfs: no mounts), removed afterwards. A short path under
    /tmp: podman refuses a runroot longer than 50 characters."""
    if not PODMAN or os.geteuid() != 0:
        pytest.skip("needs podman, run as root")
    base = tempfile.mkdtemp(prefix="onggi-auth-", dir="/tmp")
    argv = [PODMAN, "--root", f"{base}/root", "--runroot", f"{base}/run", "--storage-driver", "vfs"]
    yield argv
    run(*argv, "rmi", "--all", "--force")
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_podman_login_push_pull(mode, request, layout, podman_store, tmp_path) -> None:  # noqa: ANN001
    reg = request.getfixturevalue(f"{mode}_reg")
    host, authfile = reg.host, str(tmp_path / "auth.json")
    assert skopeo_copy(layout, f"{host}/bob/src:1", "--dest-creds", creds("bob")).returncode == 0
    login = [*podman_store, "login", "--tls-verify=false", "--authfile", authfile]
    r = run(*login, "-u", "bob", "-p", "wrong", host)
    assert r.returncode != 0 and "invalid username/password" in r.stderr and not os.path.exists(authfile)
    r = run(*login, "-u", "bob", "-p", PASSWORDS["bob"], host)
    assert r.returncode == 0, r.stderr
    auth = ["--tls-verify=false", "--authfile", authfile]
    r = run(*podman_store, "pull", "-q", *auth, f"{host}/bob/src:1")
    assert r.returncode == 0, r.stderr
    r = run(*podman_store, "push", "-q", *auth, f"{host}/bob/src:1", f"docker://{host}/bob/copy:2")
    assert r.returncode == 0, r.stderr
    r = run(*podman_store, "push", "-q", *auth, f"{host}/bob/src:1", f"docker://{host}/alice/nope:1")
    assert r.returncode != 0
    r = skopeo_inspect(f"{host}/bob/copy:2", "--creds", creds("alice"))
    assert r.returncode == 0, r.stderr
    assert run(*podman_store, "logout", "--authfile", authfile, host).returncode == 0


# ---- the built-in token server -----------------------------------------------------------

def test_token_challenge_and_endpoint(token_reg) -> None:  # noqa: ANN001
    realm = f"{token_reg.url}/token"
    status, headers, _ = curl(f"{token_reg.url}/v2/")
    assert status == 401
    assert headers["www-authenticate"] == f'Bearer realm="{realm}",service="onggi-test"'
    status, headers, _ = curl(f"{token_reg.url}/v2/alice/app/manifests/1")
    assert headers["www-authenticate"].endswith(',scope="repository:alice/app:pull"')
    status, _, body = curl("-u", creds("bob"), f"{realm}?service=onggi-test"
                           "&scope=repository:alice/app:pull,push&scope=repository:bob/x:push")
    doc = json.loads(body)
    assert status == 200 and doc["expires_in"] == 120 and doc["token"] == doc["access_token"]
    status, _, _ = curl("-u", "bob:nope", f"{realm}?service=onggi-test")
    assert status == 401
    bad = curl("-H", "Authorization: Bearer not.a.token", f"{token_reg.url}/v2/")
    assert bad[0] == 401 and bad[1]["www-authenticate"].endswith('error="invalid_token"')
    assert curl("-H", f"Authorization: Bearer {doc['token']}", f"{token_reg.url}/v2/")[0] == 200


def test_token_skopeo_rules(token_reg, layout) -> None:  # noqa: ANN001
    host = token_reg.host
    r = skopeo_copy(layout, f"{host}/alice/app:1", "--dest-creds", creds("alice"))
    assert r.returncode == 0, r.stderr
    assert skopeo_copy(layout, f"{host}/public/app:1", "--dest-creds", creds("alice")).returncode == 0
    r = skopeo_inspect(f"{host}/public/app:1", "--no-creds")
    assert r.returncode == 0, r.stderr  # anonymous token for public/*
    r = skopeo_inspect(f"{host}/alice/app:1", "--no-creds")
    assert r.returncode != 0 and ("unauthorized" in r.stderr.lower() or "denied" in r.stderr.lower())
    assert skopeo_inspect(f"{host}/alice/app:1", "--creds", creds("bob")).returncode == 0
    r = skopeo_copy(layout, f"{host}/alice/app:2", "--dest-creds", creds("bob"))
    assert r.returncode != 0
    r = skopeo_copy(layout, f"{host}/alice/app:2", "--dest-creds", "alice:wrong")
    assert r.returncode != 0 and "unauthorized" in r.stderr.lower()


def test_onggi_client_bearer_flow(token_reg, layout, tmp_path) -> None:  # noqa: ANN001
    host = token_reg.host

    def onggi(*args: str) -> subprocess.CompletedProcess:
        return run(ONGGI, *args)

    r = onggi("image", "copy", "-q", "--dest-tls-verify=false", "--dest-creds", creds("alice"),
              f"oci:{layout}:img", f"docker://{host}/alice/onggi:1")
    assert r.returncode == 0, r.stderr
    r = onggi("image", "copy", "-q", "--src-tls-verify=false", "--src-creds", creds("bob"),
              f"docker://{host}/alice/onggi:1", f"oci:{tmp_path}/out:x")
    assert r.returncode == 0, r.stderr
    r = onggi("image", "copy", "-q", "--dest-tls-verify=false", "--dest-creds", creds("bob"),
              f"oci:{layout}:img", f"docker://{host}/alice/onggi:2")
    assert r.returncode != 0
    r = onggi("image", "copy", "-q", "--src-tls-verify=false",
              f"docker://{host}/alice/onggi:1", f"oci:{tmp_path}/anon:x")
    assert r.returncode != 0


def test_token_key_shared_by_workers(tmp_path, htpasswd_file) -> None:  # noqa: ANN001
    """Without a configured key, every worker process signs and checks with the one key
    made in <root>/auth/token.key: a token from any worker works on every worker."""
    import urllib.request
    from support import free_port

    port = free_port()
    reg = _start(str(tmp_path), {"token": {"realm": f"http://127.0.0.1:{port}/token",
                                           "htpasswd": htpasswd_file}}, port)
    reg.stop()  # a second start with 2 workers must find and reuse the first key
    key = os.path.join(reg.root, "auth", "token.key")
    first = open(key, "rb").read()
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    from registry_support import OnggiRegistry

    reg = OnggiRegistry(str(tmp_path), name="again", root=reg.root, port=port, workers=2,
                        auth={"token": {"realm": f"http://127.0.0.1:{port}/token",
                                        "htpasswd": htpasswd_file}})
    try:
        assert open(key, "rb").read() == first
        statuses = set()
        for _ in range(12):
            _, _, body = curl("-u", creds("bob"), f"{reg.url}/token?service=onggi-registry")
            token = json.loads(body)["token"]
            for _ in range(3):
                req = urllib.request.Request(f"{reg.url}/v2/", headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    statuses.add(resp.status)
        assert statuses == {200}
    finally:
        reg.stop()
