"""Malformed or spec-violating input: onggi-runtime exits 1 with an error that names the
field or path at fault, and leaves nothing behind: no state directory under --root, no
cgroup named after the container, no process, no new host mount."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

CGROUP_ROOT = "/sys/fs/cgroup"


_WATCHED: list[str] = []


@pytest.fixture(autouse=True)
def _watch(tmp_path, busybox_rootfs):  # noqa: ANN001, ANN202
    _WATCHED[:] = [str(tmp_path), os.path.dirname(busybox_rootfs)]
    yield
    _WATCHED.clear()


def _mountinfo() -> list[str]:
    """Host mounts where a leak from these tests would land: on the bundles and the
    rootfs (other tests may mount elsewhere on the host meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) for line in f
                      if line.split()[4].startswith(tuple(_WATCHED)))


def _pgrep(marker: str) -> str:
    if shutil.which("pgrep") is None:
        pytest.skip("pgrep (procps) is not installed")
    return subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout


def _cgroups_named(cid: str) -> list[str]:
    found = []
    for ctl in os.listdir(CGROUP_ROOT):
        d = os.path.join(CGROUP_ROOT, ctl, cid)
        if os.path.isdir(d):
            found.append(d)
    return found


def assert_nothing_left(rt, cid: str, marker: str | None, mounts: list[str]) -> None:  # noqa: ANN001
    assert not os.path.exists(os.path.join(rt.root, cid)), "state dir left behind"
    assert _cgroups_named(cid) == [], "cgroup left behind"
    if marker:
        assert _pgrep(marker) == "", "process left behind"
    assert _mountinfo() == mounts, "host mount table changed"


def assert_clear_error(r, *words: str, code: int = 1) -> None:  # noqa: ANN001
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, f"{w!r} not in the error: {r.stderr!r}"


@pytest.fixture
def marker() -> str:
    return f"onggi-marker-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bundle(make_bundle, marker):  # noqa: ANN001, ANN201
    return make_bundle(["sh", "-c", "sleep 600; true", marker])


def _ns(config: dict, kind: str) -> dict:
    for n in config["linux"]["namespaces"]:
        if n["type"] == kind:
            return n
    n = {"type": kind}
    config["linux"]["namespaces"].append(n)
    return n


# name -> (edit of the bundle, words the error must hold)
def _malformed_json(b) -> None:  # noqa: ANN001
    with open(os.path.join(b.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.1.0", "process": {')


def _missing_config(b) -> None:  # noqa: ANN001
    os.unlink(os.path.join(b.path, "config.json"))


def _missing_rootfs(b) -> None:  # noqa: ANN001
    b.config["root"]["path"] = "no-such-rootfs"
    b.write()


def _rootfs_is_file(b) -> None:  # noqa: ANN001
    with open(os.path.join(b.path, "afile"), "w") as f:
        f.write("not a directory\n")
    b.config["root"]["path"] = "afile"
    b.write()


def _edit(fn):  # noqa: ANN001, ANN202
    def apply(b) -> None:  # noqa: ANN001
        fn(b.config)
        b.write()
    return apply


CASES = {
    "malformed-json": (_malformed_json, ["config.json"]),
    "missing-config": (_missing_config, ["config.json"]),
    "missing-rootfs": (_missing_rootfs, ["root.path", "no-such-rootfs"]),
    "rootfs-is-a-file": (_rootfs_is_file, ["root.path", "afile"]),
    "empty-args": (_edit(lambda c: c["process"].__setitem__("args", [])), ["process.args"]),
    "unknown-namespace": (_edit(lambda c: c["linux"]["namespaces"].append({"type": "bogusns"})),
                          ["linux.namespaces", "bogusns"]),
    "namespace-path-not-a-namespace": (_edit(lambda c: _ns(c, "network").__setitem__("path", "/etc/hostname")),
                                       ["linux.namespaces", "/etc/hostname"]),
    "namespace-path-wrong-type": (_edit(lambda c: _ns(c, "pid").__setitem__("path", "/proc/self/ns/net")),
                                  ["linux.namespaces", "/proc/self/ns/net", "pid"]),
    "memory-limit-4096": (_edit(lambda c: c["linux"].setdefault("resources", {}).__setitem__(
        "memory", {"limit": 4096})), ["linux.resources.memory"]),
    "cpu-quota-50": (_edit(lambda c: c["linux"].setdefault("resources", {}).__setitem__(
        "cpu", {"quota": 50, "period": 100000})), ["linux.resources.cpu.quota"]),
    "missing-program": (_edit(lambda c: c["process"].__setitem__("args", ["/no/such/program"] + c["process"]["args"][3:])),
                        ["/no/such/program"]),
    "rlimit-above-hard": (_edit(lambda c: c["process"].__setitem__(
        "rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}])), ["RLIMIT_NOFILE"]),
    "oom-score-adj-lowered": (_edit(lambda c: c["process"].__setitem__("oomScoreAdj", -998)), ["oomScoreAdj"]),
    "unknown-sysctl": (_edit(lambda c: c["linux"].__setitem__("sysctl", {"kernel.onggi_no_such_key": "1"})),
                       ["linux.sysctl", "kernel.onggi_no_such_key"]),
    "unknown-mount-type": (_edit(lambda c: c["mounts"].append(
        {"destination": "/mnt", "type": "onggifs", "source": "none", "options": []})), ["mounts", "onggifs"]),
    "bind-source-missing": (_edit(lambda c: c["mounts"].append(
        {"destination": "/mnt", "type": "bind", "source": "/no/such/source", "options": ["rbind"]})),
        ["mounts", "/no/such/source"]),
}


def _preconditions(name: str) -> None:
    if name == "rlimit-above-hard":
        import resource

        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard == resource.RLIM_INFINITY or hard >= 1048576:
            pytest.skip(f"the caller's RLIMIT_NOFILE hard limit ({hard}) allows 1048576")
        if _has_cap(24):
            pytest.skip("the caller has CAP_SYS_RESOURCE: raising the hard limit is allowed")
    if name == "oom-score-adj-lowered":
        with open("/proc/self/oom_score_adj") as f:
            if int(f.read()) <= -998:
                pytest.skip("oom_score_adj is already at or below -998")
        if _has_cap(24):
            pytest.skip("the caller has CAP_SYS_RESOURCE: lowering oom_score_adj is allowed")
    if name.startswith(("memory", "cpu")):
        ctl = "memory" if name.startswith("memory") else "cpu"
        if not os.path.isdir(os.path.join(CGROUP_ROOT, ctl)) and not os.path.exists(
                os.path.join(CGROUP_ROOT, "cgroup.controllers")):
            pytest.skip(f"no {ctl} cgroup controller")


def _has_cap(n: int) -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << n))
    return False


@pytest.mark.parametrize("command", ["create", "run"])
@pytest.mark.parametrize("name", list(CASES))
def test_bad_config(runtime, bundle, marker, name, command):
    _preconditions(name)
    edit, words = CASES[name]
    edit(bundle)
    mounts = _mountinfo()
    cid = runtime.new_id("bad")  # no word of the expected error in the id
    r = runtime(command, "--bundle", bundle.path, cid)
    assert_clear_error(r, *words)
    assert_nothing_left(runtime, cid, marker, mounts)


def test_missing_bundle_dir(runtime, tmp_path):
    mounts = _mountinfo()
    cid = runtime.new_id()
    r = runtime("create", "--bundle", str(tmp_path / "nope"), cid)
    assert_clear_error(r, str(tmp_path / "nope"))
    assert_nothing_left(runtime, cid, None, mounts)


def test_duplicate_id_leaves_the_first_container_alone(runtime, make_bundle, marker):
    first = make_bundle(["sh", "-c", "sleep 600; true", marker])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", first.path, cid, check=True)
    before = runtime.state(cid)
    cgroups = _cgroups_named(cid)
    other_marker = marker + "-second"
    second = make_bundle(["sh", "-c", "sleep 600; true", other_marker])
    for command in ("create", "run"):
        r = runtime(command, "--bundle", second.path, cid)
        assert_clear_error(r, cid, "exists")
        assert _pgrep(other_marker) == ""
    after = runtime.state(cid)
    assert after["status"] == "running" and after["pid"] == before["pid"]
    assert after["bundle"] == first.path
    assert _cgroups_named(cid) == cgroups
    assert os.path.exists(f"/proc/{before['pid']}")
    assert marker in _pgrep(marker)
    r = runtime("exec", cid, "echo", "still here")
    assert r.returncode == 0 and r.stdout == "still here\n"


@pytest.mark.parametrize("cid", ["../x", "a/b", "..", "/abs", "a b", ""])
def test_invalid_id(runtime, bundle, marker, cid):
    mounts = _mountinfo()
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.returncode == 1
    assert "id" in r.stderr, r.stderr
    assert _pgrep(marker) == ""
    assert _mountinfo() == mounts
    # nothing made outside (or inside) the state root
    assert not os.path.exists(os.path.join(os.path.dirname(runtime.root), "x"))
    if os.path.isdir(runtime.root):
        assert os.listdir(runtime.root) == []


@pytest.mark.parametrize("args", [
    ["state"], ["start"], ["kill"], ["kill", "KILL"], ["delete"], ["pause"], ["resume"], ["ps"],
    ["events", "--stats"], ["update", "--memory", "64M"], ["exec", "{id}", "true"],
])
def test_unknown_id(runtime, args):
    cid = f"onggi-test-unknown-{uuid.uuid4().hex[:8]}"
    if "{id}" in args:
        argv = [a.replace("{id}", cid) for a in args]
    elif args[0] in ("update", "events"):
        argv = args + [cid]
    else:
        argv = [args[0], cid] + args[1:]
    r = runtime(*argv)
    assert_clear_error(r, cid, "does not exist", code=255 if args[0] == "exec" else 1)
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_delete_force_of_unknown_id_is_not_an_error(runtime):
    r = runtime("delete", "--force", "onggi-test-never-made")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("argv,words", [
    (["create"], ["create", "argument"]),
    (["create", "--bundle"], ["bundle"]),
    (["create", "--no-such-flag", "x"], ["no-such-flag"]),
    (["--no-such-global", "list"], ["no-such-global"]),
    (["start"], ["start", "argument"]),
    (["kill", "a", "b", "c"], ["kill", "argument"]),
    (["create", "--preserve-fds", "many", "x"], ["preserve-fds"]),
    (["nosuchcommand"], ["nosuchcommand"]),
])
def test_bad_flags(runtime, argv, words):
    r = runtime(*argv)
    assert_clear_error(r, *words)
    assert not os.path.exists(os.path.join(runtime.root, "x"))


def test_exec_with_bad_process_json(runtime, make_bundle, tmp_path):
    b = make_bundle(["sleep", "600"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    p = tmp_path / "process.json"
    p.write_text("{oops")
    r = runtime("exec", "--process", str(p), cid)
    assert_clear_error(r, "process", code=255)  # runc: "exec failed: ...", 255
    p.write_text(json.dumps({"cwd": "/", "args": []}))
    r = runtime("exec", "--process", str(p), cid)
    assert_clear_error(r, "args", code=255)
    r = runtime("exec", "--process", str(tmp_path / "missing.json"), cid)
    assert_clear_error(r, "missing.json", code=255)
    assert runtime.state(cid)["status"] == "running"
