"""Rootless: ``onggi-runtime spec --rootless`` and a run as an unprivileged user (the
host's ``nobody``), with a user namespace mapping container root to that user and no
cgroups (not delegated to the user)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess

import pytest

from support import need_root, onggi_runtime


@pytest.fixture
def as_nobody(tmp_path, busybox_rootfs):  # noqa: ANN001, ANN201
    need_root()
    binary = onggi_runtime()
    if binary is None or shutil.which("runuser") is None:
        pytest.skip("needs onggi-runtime and runuser")
    nobody = pwd.getpwnam("nobody")
    with open("/proc/sys/kernel/unprivileged_userns_clone" if os.path.exists(
            "/proc/sys/kernel/unprivileged_userns_clone") else "/dev/null") as f:
        if f.read().strip() == "0":
            pytest.skip("unprivileged user namespaces are disabled on this host")
    # pytest's tmp dirs are private to root: nobody needs a path it can walk
    import pathlib
    import tempfile

    home = pathlib.Path(tempfile.mkdtemp(prefix="onggi-rootless-"))
    os.chmod(home, 0o755)
    shutil.copytree(busybox_rootfs, home / "rootfs", symlinks=True)
    (home / "xdg").mkdir()
    for p in (home, home / "xdg"):
        os.chown(p, nobody.pw_uid, nobody.pw_gid)

    def run(*args: str) -> subprocess.CompletedProcess:
        # files, not pipes: a detached container keeps the runtime's stdio open
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(["runuser", "-u", "nobody", "--", "env", f"XDG_RUNTIME_DIR={home}/xdg",
                                binary, *args], cwd=home, stdout=out, stderr=err, timeout=60)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())

    run.home = home  # type: ignore[attr-defined]
    run.uid = nobody.pw_uid  # type: ignore[attr-defined]
    yield run
    run("delete", "--force", "rootless-test")
    leaked = os.path.exists(home / "xdg" / "onggi-runtime" / "rootless-test")
    shutil.rmtree(home)
    assert not leaked


def test_spec_rootless_and_run_as_nobody(as_nobody):
    r = as_nobody("spec", "--rootless")
    assert r.returncode == 0, r.stderr
    cfg = json.loads((as_nobody.home / "config.json").read_text())
    assert {"type": "user"} in cfg["linux"]["namespaces"]
    assert cfg["linux"]["uidMappings"] == [{"containerID": 0, "hostID": as_nobody.uid, "size": 1}]
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map; hostname; echo > /dev/null && echo devnull-ok"]
    (as_nobody.home / "config.json").write_text(json.dumps(cfg))
    r = as_nobody("run", "rootless-test")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[0] == "0"  # root inside ...
    assert out[1].split() == ["0", str(as_nobody.uid), "1"]  # ... which is nobody outside
    assert out[2] == "onggi"
    assert out[3] == "devnull-ok"


def test_rootless_state_lives_in_xdg_runtime_dir(as_nobody):
    as_nobody("spec", "--rootless")
    cfg = json.loads((as_nobody.home / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sleep", "30"]
    (as_nobody.home / "config.json").write_text(json.dumps(cfg))
    r = as_nobody("run", "-d", "rootless-test")
    assert r.returncode == 0, r.stderr
    assert (as_nobody.home / "xdg" / "onggi-runtime" / "rootless-test" / "state.json").exists()
    st = json.loads(as_nobody("state", "rootless-test").stdout)
    assert st["status"] == "running" and st["owner"] == ""  # as runc's state
    rows = json.loads(as_nobody("list", "--format", "json").stdout)
    assert [(r["id"], r["owner"]) for r in rows] == [("rootless-test", "nobody")]  # the state dir's owner
    r = as_nobody("exec", "rootless-test", "id", "-u")
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr
    assert as_nobody("kill", "rootless-test", "KILL").returncode == 0
    assert as_nobody("delete", "--force", "rootless-test").returncode == 0
