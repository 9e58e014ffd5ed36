"""Capabilities, --privileged, --read-only, --security-opt (seccomp conversion of the
docker/podman profile format included), --device and --userns -> config.json."""

from __future__ import annotations

import copy
import json
import os

import pytest

from onggi.engine import seccomp_profile as sp
from onggi.engine import spec_security as ss
from onggi.engine.options import RunOptions, SpecContext
from onggi.engine.spec_devices import parse_device
from onggi.engine.spec_userns import apply_userns, sub_ranges
from onggi.errors import InvalidArgument, NotFound, Unsupported
from onggi.oci.linux import Seccomp
from onggi.oci.spec import Capabilities

DEFAULT = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
           "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]
CTX = SpecContext(container_id="c" * 64, name="c", rootfs="/nonexistent", bundle="/nonexistent")
PODMAN_PROFILE = sp.default_profile_path()


def base(uid: int = 0) -> dict:
    return {"process": {"user": {"uid": uid, "gid": uid},
                        "capabilities": {k: list(DEFAULT) for k in ("bounding", "effective", "permitted")}},
            "root": {"path": "/r", "readonly": False},
            "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]},
                       {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                        "options": ["rprivate", "ro"]}],
            "linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}]},
                      "maskedPaths": ["/proc/kcore", "/sys/firmware"], "readonlyPaths": ["/proc/sys"]}}


def apply(uid: int = 0, **kw) -> dict:  # noqa: ANN003
    kw.setdefault("security_opt", ["seccomp=unconfined"])
    s = base(uid)
    ss.apply_security(s, RunOptions(image="i", **kw), CTX)
    Capabilities.parse(s["process"]["capabilities"], "process.capabilities")
    return s


# ---- capabilities ------------------------------------------------------------------------

def test_cap_add_drop_forms():
    caps = apply(cap_add=["net_admin", "CAP_NET_RAW", "Sys_Time"], cap_drop=["chown", "CAP_KILL"])["process"]["capabilities"]
    want = sorted(set(DEFAULT) - {"CAP_CHOWN", "CAP_KILL"} | {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_TIME"})
    assert caps == {"bounding": want, "effective": want, "permitted": want}


def test_cap_drop_all_and_add():
    caps = apply(cap_drop=["ALL"], cap_add=["net_raw"])["process"]["capabilities"]
    assert caps == {k: ["CAP_NET_RAW"] for k in ("bounding", "effective", "permitted")}
    assert apply(cap_drop=["all"])["process"]["capabilities"]["bounding"] == []


def test_cap_add_all_is_the_hosts_set():
    caps = apply(cap_add=["ALL"])["process"]["capabilities"]["bounding"]
    assert caps == ss.host_capabilities() and "CAP_SYS_ADMIN" in caps


def test_non_root_user_gets_only_added_caps():
    caps = apply(uid=1000, cap_add=["net_raw"])["process"]["capabilities"]
    assert caps["bounding"] == sorted(DEFAULT + ["CAP_NET_RAW"])
    for k in ("effective", "inheritable", "permitted", "ambient"):
        assert caps[k] == ["CAP_NET_RAW"]


@pytest.mark.parametrize("kw,message", [
    ({"cap_add": ["foo"]}, "--cap-add foo: 'CAP_FOO': unknown capability"),
    ({"cap_drop": ["CAP_NOPE"]}, "--cap-drop CAP_NOPE: 'CAP_NOPE': unknown capability"),
    ({"cap_add": ["ALL"], "cap_drop": ["ALL"]}, "cannot be used together"),
    ({"cap_add": ["net_raw"], "cap_drop": ["NET_RAW"]}, "'CAP_NET_RAW' cannot be both dropped and added"),
])
def test_cap_errors(kw, message):
    with pytest.raises(InvalidArgument) as e:
        apply(**kw)
    assert message in str(e.value)


def test_host_capabilities_reads_capbnd(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t0000000000000005\n")
    assert ss.host_capabilities(str(status)) == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]


# ---- privileged, read-only, security options -------------------------------------------

def test_privileged():
    s = apply(privileged=True, security_opt=[])
    linux = s["linux"]
    assert s["process"]["capabilities"]["bounding"] == ss.host_capabilities()
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux and "seccomp" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    paths = {d["path"] for d in linux["devices"]}
    assert "/dev/null" in paths and not any(p.startswith(("/dev/pts/", "/dev/shm/")) for p in paths)
    assert all(0 <= d["fileMode"] <= 0o7777 for d in linux["devices"])
    assert [m["options"] for m in s["mounts"]] == [["nosuid", "rw"], ["rprivate", "rw"]]


def test_read_only_and_no_new_privileges():
    s = apply(read_only=True, security_opt=["no-new-privileges", "seccomp=unconfined"])
    assert s["root"]["readonly"] is True and s["process"]["noNewPrivileges"] is True
    s = apply(security_opt=["no-new-privileges=false", "seccomp=unconfined"])
    assert "noNewPrivileges" not in s["process"] and s["root"]["readonly"] is False


def test_label_apparmor_mask_unmask():
    s = apply(security_opt=["label=disable", "label=type:spc_t", "apparmor=unconfined", "seccomp=unconfined",
                            "mask=/proc/extra", "unmask=/proc/kcore"])
    assert s["linux"]["maskedPaths"] == ["/sys/firmware", "/proc/extra"]
    assert "apparmorProfile" not in s["process"]
    s = apply(security_opt=["unmask=ALL", "seccomp=unconfined"])
    assert "maskedPaths" not in s["linux"] and "readonlyPaths" not in s["linux"]
    s = apply(security_opt=["systempaths=unconfined", "seccomp=unconfined"])
    assert "maskedPaths" not in s["linux"]
    if not os.path.exists("/sys/module/apparmor/parameters/enabled"):
        with pytest.raises(Unsupported, match="apparmor=myprofile: AppArmor is not enabled"):
            apply(security_opt=["apparmor=myprofile"])


@pytest.mark.parametrize("opt", ["foo", "seccomp", "no-new-privileges=maybe", "mask=rel", "label"])
def test_bad_security_opts(opt):
    with pytest.raises(InvalidArgument) as e:
        apply(security_opt=[opt])
    assert opt in str(e.value)


# ---- seccomp -----------------------------------------------------------------------------

def _profile() -> dict:
    if PODMAN_PROFILE is None:
        pytest.skip("no containers seccomp.json (apt-get install golang-github-containers-common)")
    return sp.load(PODMAN_PROFILE)


def test_default_seccomp_matches_podman_for_its_caps():
    """With podman's default caps plus NET_ADMIN minus CHOWN (a set podman 4.3 was run with),
    the converted rules are the 19 podman wrote into config.json, in the same order."""
    prof = _profile()
    caps = sorted(set(DEFAULT + ["CAP_AUDIT_WRITE", "CAP_MKNOD", "CAP_NET_RAW", "CAP_NET_ADMIN"]) - {"CAP_CHOWN"})
    out = sp.convert(prof, caps, machine="x86_64", release="6.1.0-18-amd64")
    Seccomp.parse(out, "linux.seccomp")
    assert out["defaultAction"] == "SCMP_ACT_ERRNO" and out["defaultErrnoRet"] == 38
    assert out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    got = [(r["names"][0], r["action"], len(r["names"]), r.get("errnoRet")) for r in out["syscalls"]]
    assert [g[0] for g in got] == ["bdflush", "_llseek"] + ["personality"] * 5 + [
        "arch_prctl", "modify_ldt", "open_by_handle_at", "bpf", "chroot", "delete_module", "acct", "kcmp",
        "ioperm", "clock_settime", "vhangup", "socket"]
    assert got[1] == ("_llseek", "SCMP_ACT_ALLOW", 374, None)
    assert got[11] == ("chroot", "SCMP_ACT_ALLOW", 1, None)  # CAP_SYS_CHROOT: the allow rule
    assert got[10] == ("bpf", "SCMP_ACT_ERRNO", 8, 1)        # no CAP_SYS_ADMIN: the errno rule
    assert [a["value"] for r in out["syscalls"] if r["names"] == ["personality"] for a in r["args"]] == [
        0, 8, 131072, 131080, 4294967295]
    for r in out["syscalls"]:
        assert set(r) <= {"names", "action", "args", "errnoRet"}
    # every source rule is accounted for: kept, or dropped by a condition
    kept_names = {n for r in out["syscalls"] for n in r["names"]}
    assert "sync_file_range2" not in kept_names and "s390_pci_mmio_read" not in kept_names


def test_seccomp_caps_switch_rules():
    prof = _profile()
    no_caps = sp.convert(prof, [], machine="x86_64")
    admin = sp.convert(prof, ["CAP_SYS_ADMIN", "CAP_AUDIT_WRITE"], machine="x86_64")

    def action(out: dict, name: str) -> list[str]:
        return [r["action"] for r in out["syscalls"] if name in r["names"] and "args" not in r]

    assert action(no_caps, "bpf") == ["SCMP_ACT_ERRNO"] and action(admin, "bpf") == ["SCMP_ACT_ALLOW"]
    assert action(no_caps, "chroot") == ["SCMP_ACT_ERRNO"]
    assert len([r for r in no_caps["syscalls"] if r["names"] == ["socket"]]) == 4
    assert len([r for r in admin["syscalls"] if r["names"] == ["socket"]]) == 1


def test_seccomp_conditions_arch_kernel_and_legacy_forms():
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_AARCH64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"name": "read", "action": "SCMP_ACT_ALLOW"},
                {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
                {"names": ["c"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
                {"names": ["d"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.8"}},
                {"names": ["e"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "x", "errno": "EACCES"},
            ]}
    out = sp.convert(prof, [], machine="aarch64", release="5.4.0")
    assert out["architectures"] == ["SCMP_ARCH_AARCH64"] and out["flags"] == ["SECCOMP_FILTER_FLAG_LOG"]
    assert [r["names"] for r in out["syscalls"]] == [["read"], ["a"], ["d"], ["e"]]
    assert out["syscalls"][3] == {"names": ["e"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
    out = sp.convert(prof, [], machine="x86_64", release="6.1.0")
    assert [r["names"] for r in out["syscalls"]] == [["read"], ["b"], ["c"], ["e"]]


@pytest.mark.parametrize("prof,message", [
    ({"syscalls": []}, "defaultAction is required"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}, "syscalls[0]: no syscall names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "X"}]}, "either 'name' or 'names'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"]}]}, "action is required"),
    ({"defaultAction": "A", "architectures": ["x"], "archMap": [{"architecture": "x"}]}, "both 'architectures' and 'archMap'"),
])
def test_seccomp_profile_errors(prof, message):
    with pytest.raises(InvalidArgument) as e:
        sp.convert(prof, [], source="p.json")
    assert message in str(e.value) and "p.json" in str(e.value)


def test_seccomp_options_in_apply(tmp_path):
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}))
    s = apply(security_opt=[f"seccomp={prof}"])
    assert s["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ALLOW",
                                     "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    with pytest.raises(NotFound, match="opening seccomp profile failed: /nonexist: no such file"):
        apply(security_opt=["seccomp=/nonexist"])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidArgument, match="bad.json is not valid JSON"):
        apply(security_opt=[f"seccomp={tmp_path / 'bad.json'}"])
    assert "seccomp" not in apply(security_opt=["seccomp=unconfined"])["linux"]
    if PODMAN_PROFILE:
        s = apply(security_opt=[])
        Seccomp.parse(s["linux"]["seccomp"], "linux.seccomp")
        assert s["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
        drop_all = apply(security_opt=[], cap_drop=["ALL"])["linux"]["seccomp"]
        assert any(r["names"] == ["chroot"] and r["action"] == "SCMP_ACT_ERRNO" for r in drop_all["syscalls"])


def test_kernel_version():
    assert sp.kernel_version("6.1.0-18-amd64") == (6, 1, 0)
    assert sp.kernel_version("5.15") == (5, 15)
    assert sp.go_arch("x86_64") == "amd64" and sp.native_scmp_arch("aarch64") == "SCMP_ARCH_AARCH64"


# ---- devices -----------------------------------------------------------------------------

def test_device_forms():
    entries, perms = parse_device("/dev/null:/dev/mynull:r")
    st = os.stat("/dev/null")
    assert entries == [{"path": "/dev/mynull", "type": "c", "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                        "fileMode": 0o666, "uid": 0, "gid": 0}] and perms == "r"
    assert parse_device("/dev/null")[0][0]["path"] == "/dev/null" and parse_device("/dev/null")[1] == "rwm"
    assert parse_device("/dev/null:rw") == (parse_device("/dev/null")[0], "rw")
    s = apply(devices=["/dev/null:/dev/mynull:rw", "/dev/zero"])
    assert [d["path"] for d in s["linux"]["devices"]] == ["/dev/mynull", "/dev/zero"]
    rules = s["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    assert rules[1] == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}


def test_device_directory(tmp_path):
    if not os.path.isdir("/dev/net"):
        pytest.skip("no /dev/net on this host")
    entries, _ = parse_device("/dev/net:/dev/cnet")
    assert entries and all(e["path"].startswith("/dev/cnet/") for e in entries)


@pytest.mark.parametrize("value,exc,message", [
    ("/dev/nonexist", NotFound, "stat /dev/nonexist: no such file or directory"),
    ("/dev/null:rel", InvalidArgument, "invalid device mode: 'rel'"),
    ("/dev/null:/dev/x:q", InvalidArgument, "invalid device mode: 'q'"),
    ("/dev/null:/dev/x:rr", InvalidArgument, "invalid device mode: 'rr'"),
    ("/etc/hostname", InvalidArgument, "is not a device node"),
    ("dev/null", InvalidArgument, "must be absolute"),
    ("/a:/b:c:d", InvalidArgument, "invalid device specification"),
])
def test_device_errors(value, exc, message):
    with pytest.raises(exc) as e:
        apply(devices=[value])
    assert message in str(e.value) and f"--device {value}" in str(e.value)


# ---- user namespaces ---------------------------------------------------------------------

def _subfiles(tmp_path, line: str):  # noqa: ANN001, ANN202
    (tmp_path / "subuid").write_text(line)
    (tmp_path / "subgid").write_text(line)
    return {"subuid": str(tmp_path / "subuid"), "subgid": str(tmp_path / "subgid")}


def test_userns_host_and_empty():
    for mode in (None, "", "host"):
        s = base()
        before = copy.deepcopy(s)
        apply_userns(s, mode)
        assert s == before


def test_userns_keep_id_refused_as_root(tmp_path):
    with pytest.raises(InvalidArgument, match="keep-id is only supported in rootless mode"):
        apply_userns(base(), "keep-id", euid=0, egid=0, **_subfiles(tmp_path, "containers:100000:65536\n"))


def test_userns_keep_id_rootless(tmp_path):
    import pwd

    name = pwd.getpwuid(0).pw_name
    files = _subfiles(tmp_path, "1000:200000:65536\n")
    s = base()
    apply_userns(s, "keep-id", euid=1000, egid=1000, **files)
    assert s["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 200000, "size": 1000},
                                         {"containerID": 1000, "hostID": 1000, "size": 1},
                                         {"containerID": 1001, "hostID": 201000, "size": 64536}]
    assert {"type": "user"} in s["linux"]["namespaces"]
    assert s["process"]["user"]["uid"] == 1000 and s["process"]["user"]["gid"] == 1000
    s = base()
    apply_userns(s, "keep-id", user_given=True, euid=1000, egid=1000, **files)
    assert s["process"]["user"]["uid"] == 0
    assert sub_ranges(files["subuid"], name, 1000) == [(200000, 65536)]


def test_userns_auto(tmp_path):
    files = _subfiles(tmp_path, "containers:100000:200000\n")
    s = base()
    apply_userns(s, "auto", euid=0, egid=0, **files)
    assert s["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 100000, "size": 65536}]
    s = base()
    apply_userns(s, "auto:size=1024", euid=0, egid=0, **files)
    assert s["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 100000, "size": 1024}]
    with pytest.raises(NotFound, match="no range of at least 65536 ids for user 'containers'"):
        apply_userns(base(), "auto", euid=0, egid=0, **_subfiles(tmp_path, "other:1:65536\n"))
    s = base()
    apply_userns(s, "auto", euid=1000, egid=1000, **_subfiles(tmp_path, "1000:300000:65536\n"))
    assert s["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1},
                                         {"containerID": 1, "hostID": 300000, "size": 65535}]


def test_userns_ns_path_and_errors():
    s = base()
    apply_userns(s, "ns:/proc/self/ns/user")
    assert s["linux"]["namespaces"] == [{"type": "user", "path": "/proc/self/ns/user"}]
    with pytest.raises(InvalidArgument, match="--userns foo: unrecognized namespace mode"):
        apply_userns(base(), "foo")
    with pytest.raises(InvalidArgument, match="unknown option 'bogus=1'"):
        apply_userns(base(), "auto:bogus=1")
    with pytest.raises(NotFound, match="ns:/nonexist"):
        apply_userns(base(), "ns:/nonexist")
    if os.geteuid() == 0:  # through apply_security, as root
        with pytest.raises(InvalidArgument, match="--userns keep-id: keep-id is only supported"):
            apply(userns="keep-id")
