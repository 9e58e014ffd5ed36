"""onggi.oci.defaults against what runc writes (``runc spec`` / ``runc spec --rootless``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from onggi.oci import defaults
from onggi.oci.spec import Spec

RUNC = shutil.which("runc") or ("/usr/sbin/runc" if os.path.exists("/usr/sbin/runc") else None)
needs_runc = pytest.mark.skipif(RUNC is None, reason="runc is not installed")


def _runc_spec(tmp_path: object, *args: str, user: int | None = None) -> dict:
    d = str(tmp_path)
    kw = {}
    if user is not None:
        os.chmod(d, 0o777)
        kw = {"user": user, "group": user}
    subprocess.run([RUNC, "spec", *args], cwd=d, check=True, capture_output=True, **kw)
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f)


def _ours_vs_runc(ours: dict, theirs: dict) -> None:
    assert ours["ociVersion"] == defaults.OCI_VERSION
    assert ours["hostname"] == "onggi"
    a = {k: v for k, v in ours.items() if k not in ("ociVersion", "hostname")}
    b = {k: v for k, v in theirs.items() if k not in ("ociVersion", "hostname")}
    assert list(a) == list(b)
    for key in a:  # field by field, for a readable failure
        if isinstance(a[key], dict):
            assert list(a[key]) == list(b[key]), key
            for sub in a[key]:
                assert a[key][sub] == b[key][sub], f"{key}.{sub}"
        else:
            assert a[key] == b[key], key


@needs_runc
def test_default_spec_matches_runc(tmp_path: object) -> None:
    _ours_vs_runc(defaults.default_spec(), _runc_spec(tmp_path))


@needs_runc
def test_rootless_matches_runc(tmp_path: object) -> None:
    theirs = _runc_spec(tmp_path, "--rootless")
    uid, gid = os.geteuid(), os.getegid()  # runc maps the user running it
    _ours_vs_runc(defaults.rootless(defaults.default_spec(), uid, gid), theirs)


@needs_runc
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run runc as another user")
def test_rootless_ids_match_runc_as_other_user(tmp_path: object) -> None:
    theirs = _runc_spec(tmp_path, "--rootless", user=65534)
    ours = defaults.rootless(defaults.default_spec(), 65534, 65534)
    assert ours["linux"]["uidMappings"] == theirs["linux"]["uidMappings"]
    assert ours["linux"]["gidMappings"] == theirs["linux"]["gidMappings"]


def test_default_spec_is_fresh_and_valid() -> None:
    a = defaults.default_spec()
    a["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    a["mounts"][5]["options"].append("x")
    b = defaults.default_spec()
    assert "CAP_SYS_ADMIN" not in b["process"]["capabilities"]["bounding"]
    assert "x" not in b["mounts"][5]["options"]
    assert b["process"]["capabilities"]["effective"] == ["CAP_AUDIT_WRITE", "CAP_KILL",
                                                         "CAP_NET_BIND_SERVICE"]
    Spec.parse(b)
    Spec.parse(defaults.rootless(b, 1000, 1000))


def test_rootless_leaves_input_alone_and_rewrites() -> None:
    spec = defaults.default_spec()
    before = json.dumps(spec)
    out = defaults.rootless(spec, 1234, 5678)
    assert json.dumps(spec) == before
    lin = out["linux"]
    assert lin["uidMappings"] == [{"containerID": 0, "hostID": 1234, "size": 1}]
    assert lin["gidMappings"] == [{"containerID": 0, "hostID": 5678, "size": 1}]
    assert [n["type"] for n in lin["namespaces"]] == ["pid", "ipc", "uts", "mount", "user"]
    assert "resources" not in lin
    sysm = next(m for m in out["mounts"] if m["destination"] == "/sys")
    assert sysm == {"destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    pts = next(m for m in out["mounts"] if m["destination"] == "/dev/pts")
    assert "gid=5" not in pts["options"]


def test_rootless_drops_emptied_options_and_cleans_sys_path() -> None:
    spec = {"mounts": [{"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                        "options": ["uid=1", "gid=2"]},
                       {"destination": "//sys/", "type": "sysfs", "source": "sysfs"}],
            "linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]}}
    out = defaults.rootless(spec, 1, 2)
    assert out["mounts"][0] == {"destination": "/x", "type": "tmpfs", "source": "tmpfs"}
    assert out["mounts"][1]["type"] == "none"
    assert out["linux"]["namespaces"] == [{"type": "user"}]


@needs_runc
def test_features_shape_matches_runc() -> None:
    r = subprocess.run([RUNC, "features"], check=True, capture_output=True, text=True)
    theirs = json.loads(r.stdout)
    ours = defaults.features(True)
    assert set(theirs) <= set(ours)
    assert set(theirs["linux"]) <= set(ours["linux"])
    assert ours["hooks"] == theirs["hooks"]
    assert set(ours["mountOptions"]) <= set(theirs["mountOptions"])
    assert set(theirs["linux"]["namespaces"]) <= set(ours["linux"]["namespaces"])
    assert ours["linux"]["capabilities"] == theirs["linux"]["capabilities"]
    for k in ("actions", "operators"):
        assert ours["linux"]["seccomp"][k] == theirs["linux"]["seccomp"][k]
    assert set(theirs["linux"]["seccomp"]["archs"]) <= set(ours["linux"]["seccomp"]["archs"])
    assert set(ours["linux"]["cgroup"]) >= set(theirs["linux"]["cgroup"])


def test_features_without_seccomp() -> None:
    f = defaults.features(False, annotations={"org.onggi.version": "0.1.0"})
    assert f["linux"]["seccomp"] == {"enabled": False}
    assert f["ociVersionMax"] == "1.1.0"
    assert f["annotations"] == {"org.onggi.version": "0.1.0"}
    assert f["linux"]["apparmor"] == {"enabled": False}
    f2 = defaults.features(True, seccomp_flags=["SECCOMP_FILTER_FLAG_LOG"])
    assert f2["linux"]["seccomp"]["supportedFlags"] == ["SECCOMP_FILTER_FLAG_LOG"]
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in f2["linux"]["seccomp"]["knownFlags"]
