"""The engine's spec parts on real containers: a busybox bundle whose config.json gets the
mounts, resources and security of ``onggi run`` options, run by onggi-runtime and runc.

- podman's default seccomp profile (converted) lets a container run, refuses what it
  refuses (swapoff even with CAP_SYS_ADMIN), and unshare fails without CAP_SYS_ADMIN;
- --memory, --pids-limit, --ulimit are what the container sees, the same under both
  runtimes;
- a named volume keeps what a container wrote; --read-only leaves /tmp writable; --tmpfs.
"""

from __future__ import annotations

import os
import shutil

import pytest

from onggi.engine import seccomp_profile, volumes
from onggi.engine.options import RunOptions, SpecContext
from onggi.engine.paths import Paths
from onggi.engine.spec_mounts import apply_mounts
from onggi.engine.spec_resources import apply_resources
from onggi.engine.spec_security import apply_security

RUNC = shutil.which("runc") or "/usr/sbin/runc"
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]


@pytest.fixture
def paths(tmp_path) -> Paths:  # noqa: ANN001
    return Paths(storage=str(tmp_path / "s"), root=str(tmp_path / "r"), run=str(tmp_path / "run"))


def prepare(bundle, paths: Paths, cid: str, **kw) -> list[str]:  # noqa: ANN001, ANN003
    """Apply the engine's parts for ``RunOptions(**kw)`` to the bundle's config."""
    c = bundle.config
    c["process"]["capabilities"] = {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")}
    c["process"]["noNewPrivileges"] = False
    c["process"].pop("rlimits", None)
    c["root"] = {"path": "rootfs", "readonly": False}
    c["linux"]["cgroupsPath"] = f"/{cid}"
    opts = RunOptions(image="busybox", **kw)
    os.makedirs(paths.container_dir(cid), exist_ok=True)
    ctx = SpecContext(container_id=cid, name=cid, rootfs=os.path.join(bundle.path, "rootfs"), bundle=bundle.path)
    made = apply_mounts(c, opts, ctx, paths)
    apply_resources(c, opts)
    apply_security(c, opts, ctx)
    bundle.write()
    return made


def _need_profile() -> None:
    if seccomp_profile.default_profile_path() is None:
        pytest.skip("no containers seccomp.json (golang-github-containers-common)")


def test_default_seccomp_profile(runtime, make_bundle, paths):
    _need_profile()
    from onggi.sys import seccomp as sc

    if not sc.available():
        pytest.skip("libseccomp.so.2 is not installed")
    b = make_bundle(["sh", "-c", "echo ok; unshare -m true 2>&1 || echo unshare-refused"])
    cid = runtime.new_id()
    prepare(b, paths, cid)
    assert b.config["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    r = runtime("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "ok" and "unshare-refused" in r.stdout
    # swapoff is refused by the profile itself: even CAP_SYS_ADMIN does not get it through
    script = "swapoff /nonexistent 2>&1; true"
    b2 = make_bundle(["sh", "-c", script])
    cid2 = runtime.new_id()
    prepare(b2, paths, cid2, cap_add=["SYS_ADMIN"])
    filtered = runtime("run", "--bundle", b2.path, cid2)
    b3 = make_bundle(["sh", "-c", script])
    cid3 = runtime.new_id()
    prepare(b3, paths, cid3, cap_add=["SYS_ADMIN"], security_opt=["seccomp=unconfined"])
    unconfined = runtime("run", "--bundle", b3.path, cid3)
    assert "Operation not permitted" in filtered.stdout, filtered.stdout + filtered.stderr
    assert "Operation not permitted" not in unconfined.stdout and "No such file" in unconfined.stdout


def test_cap_drop_all_capeff(runtime, make_bundle, paths):
    b = make_bundle(["sh", "-c", "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status"])
    cid = runtime.new_id()
    prepare(b, paths, cid, cap_drop=["ALL"], security_opt=["seccomp=unconfined"])
    r = runtime("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert [ln.split()[1] for ln in r.stdout.splitlines()] == ["0000000000000000"] * 3


RESOURCE_SCRIPT = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                   "2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; ulimit -n; ulimit -Hn")


def _resources_run(rt, make_bundle, paths, copy: bool) -> list[str]:  # noqa: ANN001
    b = make_bundle(["sh", "-c", RESOURCE_SCRIPT], copy_rootfs=copy)
    cid = rt.new_id()
    prepare(b, paths, cid, memory="64m", pids_limit=100, cpus=0.5, ulimits=["nofile=512:1024"],
            security_opt=["seccomp=unconfined"])
    r = rt("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_resources_seen_inside_under_onggi_runtime_and_runc(runtime, make_bundle, paths, tmp_path):
    if not os.path.isdir("/sys/fs/cgroup/memory") and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("no memory cgroup")
    want = [str(64 << 20), "100", "512", "1024"]
    assert _resources_run(runtime, make_bundle, paths, False) == want
    if not os.path.exists(RUNC):
        pytest.skip("runc is not installed")
    runc = type(runtime)(RUNC, str(tmp_path / "runc-state"))
    try:
        assert _resources_run(runc, make_bundle, paths, True) == want
    finally:
        leaks = runc.cleanup()
    assert not leaks


def test_volume_persists_and_read_only_root(runtime, make_bundle, paths):
    b = make_bundle(["sh", "-c", "echo kept > /data/f; touch /rootfile 2>/dev/null || echo ro-root; "
                                 "touch /tmp/ok && echo tmp-ok; grep ' /scratch ' /proc/mounts"])
    cid = runtime.new_id()
    made = prepare(b, paths, cid, volumes=["keep:/data"], read_only=True, tmpfs=["/scratch:size=1m"],
                   security_opt=["seccomp=unconfined"])
    assert made == []
    r = runtime("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["ro-root", "tmp-ok"] and "tmpfs /scratch tmpfs rw,nosuid,nodev" in lines[2]
    vol = volumes.get(paths, "keep")
    assert open(os.path.join(vol.mountpoint, "f")).read() == "kept\n"
    b2 = make_bundle(["cat", "/again/f"])
    cid2 = runtime.new_id()
    prepare(b2, paths, cid2, volumes=["keep:/again:ro"], security_opt=["seccomp=unconfined"])
    r = runtime("run", "--bundle", b2.path, cid2)
    assert r.stdout == "kept\n", r.stderr
    assert volumes.get(paths, "keep").users == [cid, cid2]
