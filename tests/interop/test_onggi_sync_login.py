"""``onggi image sync`` (repository -> registry namespace, -> dir, YAML lists),
``onggi login``/``logout`` against docker-registry with htpasswd, ``onggi import`` and
``onggi system check``/``prune`` of the local store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.interop

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"
SKOPEO = shutil.which("skopeo") or "skopeo"


def onggi(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    if not os.path.exists(ONGGI):
        pytest.skip("onggi is not installed (run tools/install.sh)")
    return subprocess.run([ONGGI, *args], capture_output=True, text=True, input=stdin,
                          env=dict(os.environ, **(env or {})))


@pytest.fixture(scope="module")
def tagged(layout, registry):  # noqa: ANN001, ANN201
    for tag in ("a", "b", "c"):
        r = onggi("image", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img",
                  f"docker://{registry.host}/sync/src:{tag}")
        assert r.returncode == 0, r.stderr
    return f"{registry.host}/sync/src"


def test_sync_repository_to_registry_and_dir(tagged, registry, tmp_path):  # noqa: ANN001
    r = onggi("image", "sync", "-q", "--src", "docker", "--dest", "docker", "--src-tls-verify=false",
              "--dest-tls-verify=false", tagged, f"{registry.host}/mirror")
    assert r.returncode == 0, r.stderr
    tags = json.loads(subprocess.run([SKOPEO, "list-tags", "--tls-verify=false",
                                      f"docker://{registry.host}/mirror/src"], capture_output=True,
                                     text=True, check=True).stdout)["Tags"]
    assert sorted(tags) == ["a", "b", "c"]
    r = onggi("image", "sync", "-q", "--src", "docker", "--dest", "dir", "--src-tls-verify=false",
              f"{tagged}:b", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out/src:b/manifest.json").exists()


def test_sync_yaml(tagged, registry, tmp_path):  # noqa: ANN001
    host, repo = tagged.split("/", 1)
    (tmp_path / "list.yaml").write_text(
        f"{host}:\n  tls-verify: false\n  images:\n    {repo}: [a]\n"
        f"  images-by-tag-regex:\n    {repo}: '^[bc]$'\n")
    r = onggi("image", "sync", "--dry-run", "--src", "yaml", "--dest", "dir", str(tmp_path / "list.yaml"),
              str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert sorted(ln.split(" -> ")[1] for ln in r.stdout.splitlines()) == \
        [f"dir:{tmp_path}/out/src:{t}" for t in "abc"]
    r = onggi("image", "sync", "-q", "--src", "yaml", "--dest", "dir", str(tmp_path / "list.yaml"),
              str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["src:a", "src:b", "src:c"]


def test_login_logout(tmp_path):  # noqa: ANN001
    from support import REGISTRY, Registry

    htpasswd = shutil.which("htpasswd")
    if not (htpasswd and os.path.exists(REGISTRY)):
        pytest.skip("docker-registry and htpasswd are needed")
    line = subprocess.run([htpasswd, "-Bbn", "jar", "secret"], capture_output=True, check=True).stdout
    (tmp_path / "htpasswd").write_bytes(line)
    reg = Registry(str(tmp_path), "auth", auth=f"auth:\n  htpasswd:\n    realm: onggi\n    path: {tmp_path}/htpasswd")
    try:
        auth = str(tmp_path / "auth.json")
        r = onggi("login", "--tls-verify=false", "--authfile", auth, "-u", "jar", "--password-stdin", reg.host,
                  stdin="wrong\n")
        assert r.returncode == 125 and "Error: " in r.stderr and not os.path.exists(auth)
        r = onggi("login", "--tls-verify=false", "--authfile", auth, "-u", "jar", "--password-stdin", reg.host,
                  stdin="secret\n")
        assert r.returncode == 0 and r.stdout == "Login Succeeded!\n", r.stderr
        assert oct(os.stat(auth).st_mode & 0o777) == "0o600"
        # skopeo reads the same auth.json: authenticated, the repository is simply absent
        sk = subprocess.run([SKOPEO, "list-tags", "--tls-verify=false", "--authfile", auth,
                             f"docker://{reg.host}/none"], capture_output=True, text=True)
        assert "404" in sk.stderr and "401" not in sk.stderr, sk.stderr
        r = onggi("image", "list-tags", "--tls-verify=false", "--authfile", auth, f"docker://{reg.host}/none")
        assert "NAME_UNKNOWN" in r.stderr  # authenticated: the repository is simply absent
        r = onggi("logout", "--authfile", auth, reg.host)
        assert r.returncode == 0 and r.stdout == f"Removed login credentials for {reg.host}\n"
        r = onggi("image", "list-tags", "--tls-verify=false", "--authfile", auth, f"docker://{reg.host}/none")
        assert r.returncode == 1 and "no credentials were sent" in r.stderr, r.stderr
        assert onggi("logout", "--authfile", auth, reg.host).returncode == 125
    finally:
        reg.stop()


def test_import_check_prune(tmp_path):  # noqa: ANN001
    # every root of its own: system prune also looks at containers, networks and volumes
    env = {"ONGGI_STORAGE": str(tmp_path / "store"), "ONGGI_ROOT": str(tmp_path / "engine"),
           "ONGGI_RUNROOT": str(tmp_path / "run")}
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hello").write_text("imported\n")
    subprocess.run(["tar", "-C", str(root), "-czf", str(tmp_path / "root.tgz"), "."], check=True)
    r = onggi("import", "-c", "CMD [\"/bin/cat\", \"/etc/hello\"]", "-c", "ENV A=1 B=2",
              str(tmp_path / "root.tgz"), "imported:v1", env=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(onggi("inspect", "imported:v1", env=env).stdout)[0]
    assert info["RepoTags"] == ["localhost/imported:v1"]
    assert info["Config"] == {"Cmd": ["/bin/cat", "/etc/hello"], "Env": ["A=1", "B=2"]}
    r = onggi("system", "check", env=env)
    assert r.returncode == 0 and r.stdout.endswith("0 problem(s)\n"), r.stdout
    blobs = tmp_path / "store/blobs/sha256"
    victim = sorted(blobs.iterdir(), key=lambda p: -p.stat().st_size)[0]
    os.chmod(victim, 0o644)
    victim.write_bytes(b"corrupt")
    r = onggi("system", "check", env=env)
    assert r.returncode == 1 and "corrupt-blob" in r.stdout and victim.name in r.stdout
    r = onggi("system", "check", "--repair", env=env)
    assert "repaired" in r.stdout
    r = onggi("system", "prune", "-f", env=env)
    assert r.returncode == 0 and "Removed " in r.stdout, r.stdout + r.stderr
    assert onggi("system", "check", env=env).returncode == 0
    (tmp_path / "garbage.tar").write_bytes(b"x")
    before = onggi("images", "-q", env=env).stdout
    r = onggi("import", str(tmp_path / "garbage.tar"), "localhost/garbage:1", env=env)
    assert r.returncode == 125 and "garbage.tar: not a root filesystem tarball" in r.stderr, r.stderr
    assert onggi("images", "-q", env=env).stdout == before  # no image left from it
    bad = onggi("import", "-c", "FROM x", str(tmp_path / "root.tgz"), env=env)
    assert bad.returncode == 125 and "unsupported instruction 'FROM'" in bad.stderr
