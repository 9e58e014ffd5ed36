"""onggi.oci.spec.Spec.parse (with oci/linux.py, oci/resources.py, oci/_fields.py): a
runc-style config parses into models; each malformed or spec-violating input is an
InvalidArgument whose message names the field's path."""

from __future__ import annotations

import pytest

from onggi.errors import InvalidArgument
from onggi.oci import defaults
from onggi.oci.linux import Device, IDMapping, Linux, Namespace, Seccomp
from onggi.oci.resources import Memory, Resources
from onggi.oci.spec import Hooks, Mount, Process, Rlimit, Root, Spec, User


def base() -> dict:
    return defaults.default_spec()  # a fresh document on every call


def with_ns(doc: dict, *types: str) -> dict:
    have = {ns["type"] for ns in doc["linux"]["namespaces"]}
    doc["linux"]["namespaces"] += [{"type": t} for t in types if t not in have]
    return doc


def parse_error(doc: object) -> str:
    with pytest.raises(InvalidArgument) as ei:
        Spec.parse(doc)
    msg = str(ei.value)
    assert msg.startswith("config.json: "), msg
    return msg


# ---- valid documents -----------------------------------------------------------------

def test_default_spec_parses() -> None:
    s = Spec.parse(base())
    assert s.oci_version == defaults.OCI_VERSION
    assert s.root == Root(path="rootfs", readonly=True)
    assert s.hostname == "onggi"
    assert s.process.args == ["sh"]
    assert s.process.cwd == "/"
    assert s.process.terminal is True
    assert s.process.no_new_privileges is True
    assert s.process.user.uid == 0 and s.process.user.gid == 0
    assert s.process.capabilities.bounding == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert s.process.capabilities.inheritable == []
    assert s.process.rlimits == [Rlimit(type="RLIMIT_NOFILE", hard=1024, soft=1024)]
    assert [m.destination for m in s.mounts] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert s.mounts[1].options == ["nosuid", "strictatime", "mode=755", "size=65536k"]
    assert [ns.type for ns in s.linux.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert s.linux.namespace("uts") == Namespace(type="uts", path=None)
    assert s.linux.namespace("user") is None
    assert s.linux.resources.devices[0].allow is False
    assert s.linux.resources.devices[0].access == "rwm"
    assert "/proc/kcore" in s.linux.masked_paths
    assert "/proc/sys" in s.linux.readonly_paths
    assert s.hooks == Hooks.parse({})
    assert s.raw["ociVersion"] == defaults.OCI_VERSION


def test_rootless_spec_parses() -> None:
    s = Spec.parse(defaults.rootless(base(), 1000, 1000))
    assert s.linux.namespace("user") is not None
    assert s.linux.namespace("network") is None
    assert s.linux.uid_mappings == [IDMapping(container_id=0, host_id=1000, size=1)]
    assert s.linux.gid_mappings == [IDMapping(container_id=0, host_id=1000, size=1)]


def test_full_document_parses() -> None:
    d = with_ns(base(), "user", "time", "cgroup")
    d["process"]["user"] = {"uid": 1000, "gid": 1000, "umask": 0o22, "additionalGids": [5, 6],
                            "username": "u"}
    d["process"]["consoleSize"] = {"height": 24, "width": 80}
    d["process"]["oomScoreAdj"] = -500
    d["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    d["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    d["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    d["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    d["linux"]["timeOffsets"] = {"monotonic": {"secs": 10, "nanosecs": 5}, "boottime": {"secs": -3}}
    d["linux"]["devices"] = [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229,
                              "fileMode": 0o666, "uid": 0, "gid": 0},
                             {"type": "p", "path": "/dev/myfifo"}]
    d["linux"]["cgroupsPath"] = "/onggi/test"
    d["linux"]["rootfsPropagation"] = "rslave"
    d["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    d["linux"]["personality"] = {"domain": "LINUX32"}
    d["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"], "listenerPath": "/run/seccomp.sock",
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"},
        ]}
    d["linux"]["resources"] = {
        "memory": {"limit": 1 << 30, "swap": 2 << 30, "swappiness": 60},
        "cpu": {"shares": 1024, "quota": -1, "period": 100000, "cpus": "0-1"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3,
                                                         "access": "rw"}],
        "network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 1}]},
        "unified": {"memory.high": "max"},
    }
    d["hooks"] = {"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}],
                  "poststop": [{"path": "/bin/false"}]}
    d["annotations"] = {"org.example": "x"}
    d["domainname"] = "example.org"
    s = Spec.parse(d)
    p = s.process
    assert p.user == User(uid=1000, gid=1000, umask=0o22, additional_gids=[5, 6], username="u")
    assert p.console_size == (24, 80)
    assert p.scheduler["policy"] == "SCHED_BATCH" and p.scheduler["nice"] == 5
    assert p.io_priority == ("IOPRIO_CLASS_BE", 4)
    assert s.linux.time_offsets == {"monotonic": (10, 5), "boottime": (-3, 0)}
    assert s.linux.devices[0] == Device(type="c", path="/dev/fuse", major=10, minor=229,
                                        file_mode=0o666, uid=0, gid=0)
    assert s.linux.devices[1].major is None
    assert s.linux.rootfs_propagation == "rslave"
    assert s.linux.personality == "LINUX32"
    assert s.linux.seccomp.syscalls[1].args == [(0, 8, 0, "SCMP_CMP_EQ")]
    assert s.linux.seccomp.listener_path == "/run/seccomp.sock"
    r = s.linux.resources
    assert r.memory.limit == 1 << 30 and r.memory.swappiness == 60
    assert r.cpu.quota == -1 and r.cpu.cpus == "0-1"
    assert r.pids_limit == 100
    assert r.block_io.throttle_read_bps_device[0].rate == 1000
    assert r.network_priorities == [("eth0", 1)]
    assert r.unified == {"memory.high": "max"}
    assert [h.path for h in s.hooks.prestart] == ["/bin/true"]
    assert s.hooks.prestart[0].timeout == 5
    assert s.hooks.create_runtime == []
    assert s.domainname == "example.org"


def test_minimal_document() -> None:
    s = Spec.parse({"ociVersion": "1.0.2", "root": {"path": "/abs/rootfs"}})
    assert s.process is None
    assert s.mounts == []
    assert s.linux == Linux.parse({})
    assert s.linux.resources == Resources.empty()
    assert s.root.readonly is False


def test_float_integers_are_accepted() -> None:
    d = base()
    d["process"]["user"]["uid"] = 1000.0  # what a JSON writer in another language may emit
    assert Spec.parse(d).process.user.uid == 1000


# ---- models compare by value ---------------------------------------------------------

def test_models_compare_by_value() -> None:
    a, b = Spec.parse(base()), Spec.parse(base())
    assert a is not b
    assert a == b
    assert a.process == b.process and a.linux == b.linux and a.mounts == b.mounts
    d = base()
    d["process"]["args"] = ["ls"]
    c = Spec.parse(d)
    assert c != a
    assert c.linux == a.linux
    assert Mount.parse({"destination": "/x"}, "m") == Mount.parse({"destination": "/x"}, "m")
    assert Mount.parse({"destination": "/x"}, "m") != Mount.parse({"destination": "/y"}, "m")
    # same fields, different class: not equal
    assert Root(path="p", readonly=False) != Namespace(type="p", path=None)
    assert Root(path="p") != ("p", None)
    assert "Root(path='p', readonly=None)" == repr(Root(path="p"))


def test_models_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Root(path="p"))


# ---- malformed documents: (mutation, the path the message must name) -----------------

def _set(path: str, value: object):  # noqa: ANN202
    """A mutation: set ``a.b[2].c`` of the document to ``value``."""
    def mutate(d: dict) -> None:
        keys: list = []
        for part in path.split("."):
            name, _, idx = part.partition("[")
            keys.append(name)
            if idx:
                keys.append(int(idx.rstrip("]")))
        cur = d
        for k in keys[:-1]:
            if isinstance(k, str) and k not in cur:
                cur[k] = {}
            cur = cur[k]
        if isinstance(cur, list) and keys[-1] == len(cur):
            cur.append(value)
        else:
            cur[keys[-1]] = value
    return mutate


def _del(path: str):  # noqa: ANN202
    def mutate(d: dict) -> None:
        *parents, last = path.split(".")
        cur = d
        for k in parents:
            cur = cur[k]
        del cur[last]
    return mutate


def _all(*mutations):  # noqa: ANN202, ANN002
    def mutate(d: dict) -> None:
        for m in mutations:
            m(d)
    return mutate


def _add_ns(*types: str):  # noqa: ANN202
    return lambda d: with_ns(d, *types)


_MAPS = [{"containerID": 0, "hostID": 1000, "size": 1}]

BAD = [
    # -- the top level and root
    ("ociVersion missing", _del("ociVersion"), "ociVersion: is required"),
    ("ociVersion wrong type", _set("ociVersion", 1.1), "ociVersion: expected a string"),
    ("ociVersion 2.x", _set("ociVersion", "2.0.0"), "ociVersion: unsupported version '2.0.0'"),
    ("ociVersion 0.x", _set("ociVersion", "0.5.0"), "ociVersion: unsupported"),
    ("ociVersion empty", _set("ociVersion", ""), "ociVersion: unsupported"),
    ("root missing", _del("root"), "root: is required"),
    ("root not an object", _set("root", "rootfs"), "root: expected an object"),
    ("root.path missing", _set("root", {}), "root.path: is required"),
    ("root.path empty", _set("root.path", ""), "root.path: is empty"),
    ("root.readonly string", _set("root.readonly", "yes"), "root.readonly: expected true or false"),
    ("annotations not strings", _set("annotations", {"a": 1}), "annotations: expected an object of strings"),
    ("annotation key empty", _set("annotations", {"": "x"}), "annotations: an annotation key is empty"),
    ("hostname wrong type", _set("hostname", 5), "hostname: expected a string"),
    # -- mounts
    ("mounts not a list", _set("mounts", {}), "mounts: expected a list"),
    ("mount not an object", _set("mounts[2]", "/dev/pts"), "mounts[2]: expected an object"),
    ("mount destination relative", _set("mounts[2].destination", "dev/pts"),
     "mounts[2].destination: 'dev/pts' is not an absolute path"),
    ("mount destination missing", lambda d: d["mounts"][3].pop("destination"),
     "mounts[3].destination: is required"),
    ("mount destination wrong type", _set("mounts[0].destination", ["/proc"]),
     "mounts[0].destination: expected a string"),
    ("mount options not strings", _set("mounts[1].options", ["ro", 1]),
     "mounts[1].options: expected a list of strings"),
    # -- process
    ("process not an object", _set("process", []), "process: expected an object"),
    ("args empty", _set("process.args", []), "process.args: is required"),
    ("args not strings", _set("process.args", ["sh", None]), "process.args: expected a list of strings"),
    ("cwd relative", _set("process.cwd", "tmp"), "process.cwd: 'tmp' is not an absolute path"),
    ("cwd missing", _del("process.cwd"), "process.cwd: is required"),
    ("env without =", _set("process.env", ["PATH=/bin", "FOO"]), "process.env: 'FOO' is not of the form KEY=value"),
    ("terminal not bool", _set("process.terminal", 1), "process.terminal: expected true or false"),
    ("uid wrong type", _set("process.user.uid", "0"), "process.user.uid: expected an integer"),
    ("uid bool", _set("process.user.uid", True), "process.user.uid: expected an integer"),
    ("uid negative", _set("process.user.uid", -1), "process.user.uid: -1 is below the minimum 0"),
    ("uid too large", _set("process.user.uid", 2**32), "process.user.uid: 4294967296 is above the maximum"),
    ("uid fractional", _set("process.user.uid", 1.5), "process.user.uid: expected an integer"),
    ("gid missing", _del("process.user.gid"), "process.user.gid: is required"),
    ("umask too large", _set("process.user.umask", 0o1000), "process.user.umask:"),
    ("additionalGids not ints", _set("process.user.additionalGids", ["5"]),
     "process.user.additionalGids: expected a list of integers"),
    ("unknown capability", _set("process.capabilities.bounding", ["CAP_KILL", "CAP_FLY"]),
     "process.capabilities.bounding: unknown capability 'CAP_FLY'"),
    ("capability without CAP_", _set("process.capabilities.ambient", ["KILL"]),
     "process.capabilities.ambient: unknown capability 'KILL'"),
    ("rlimits not a list", _set("process.rlimits", {}), "process.rlimits: expected a list"),
    ("unknown rlimit", _set("process.rlimits[0].type", "RLIMIT_FOO"),
     "process.rlimits[0].type: unknown rlimit 'RLIMIT_FOO'"),
    ("rlimit soft > hard", _set("process.rlimits[0].soft", 2048),
     "process.rlimits[0].soft: RLIMIT_NOFILE soft limit 2048 is above its hard limit 1024"),
    ("rlimit hard missing", lambda d: d["process"]["rlimits"][0].pop("hard"),
     "process.rlimits[0].hard: is required"),
    ("rlimit twice", _set("process.rlimits[1]", {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}),
     "process.rlimits: an rlimit type appears twice"),
    ("oomScoreAdj out of range", _set("process.oomScoreAdj", 1001), "process.oomScoreAdj: 1001 is above"),
    ("consoleSize width missing", _set("process.consoleSize", {"height": 1}),
     "process.consoleSize.width: is required"),
    ("scheduler policy unknown", _set("process.scheduler", {"policy": "SCHED_FAST"}),
     "process.scheduler.policy: unknown scheduler policy"),
    ("scheduler nice out of range", _set("process.scheduler", {"policy": "SCHED_OTHER", "nice": 20}),
     "process.scheduler.nice: 20 is above the maximum 19"),
    ("scheduler flag unknown", _set("process.scheduler", {"policy": "SCHED_OTHER", "flags": ["X"]}),
     "process.scheduler.flags: unknown scheduler flag 'X'"),
    ("ioPriority class unknown", _set("process.ioPriority", {"class": "IOPRIO_CLASS_X"}),
     "process.ioPriority.class: unknown io priority class"),
    ("ioPriority priority too high", _set("process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 8}),
     "process.ioPriority.priority: 8 is above the maximum 7"),
    # -- hooks
    ("unknown hook kind", _set("hooks", {"prestart": [], "preStop": []}), "hooks: unknown hook kind 'preStop'"),
    ("hooks kind not a list", _set("hooks", {"poststart": {"path": "/bin/true"}}),
     "hooks.poststart: expected a list"),
    ("hook path relative", _set("hooks", {"createRuntime": [{"path": "/bin/true"}, {"path": "true"}]}),
     "hooks.createRuntime[1].path: 'true' is not an absolute path"),
    ("hook timeout zero", _set("hooks", {"poststop": [{"path": "/bin/true", "timeout": 0}]}),
     "hooks.poststop[0].timeout: 0 is below the minimum 1"),
    # -- namespaces and hostnames
    ("namespaces not a list", _set("linux.namespaces", {"type": "pid"}), "linux.namespaces: expected a list"),
    ("unknown namespace type", _set("linux.namespaces[1].type", "net"),
     "linux.namespaces[1].type: unknown namespace type 'net'"),
    ("namespace type missing", _set("linux.namespaces[1]", {"path": "/proc/1/ns/net"}),
     "linux.namespaces[1].type: is required"),
    ("duplicate namespace", _set("linux.namespaces[4]", {"type": "pid"}),
     "linux.namespaces[4].type: namespace type 'pid' appears twice"),
    ("namespace path relative", _set("linux.namespaces[0].path", "proc/1/ns/pid"),
     "linux.namespaces[0].path: 'proc/1/ns/pid' is not an absolute path"),
    ("hostname without uts", _set("linux.namespaces", [{"type": "pid"}, {"type": "mount"}]),
     "hostname: setting a hostname needs a uts namespace"),
    ("hostname in a joined uts", _set("linux.namespaces", [{"type": "mount"}, {"type": "uts", "path": "/proc/1/ns/uts"}]),
     "hostname: cannot be set in the uts namespace joined from /proc/1/ns/uts"),
    ("domainname without uts", _all(_del("hostname"), _set("domainname", "x"),
                                    _set("linux.namespaces", [{"type": "mount"}])),
     "domainname: setting a domainname needs a uts namespace"),
    ("uidMappings without user ns", _set("linux.uidMappings", _MAPS),
     "linux.uidMappings: id mappings need a user namespace"),
    ("gidMappings without user ns", _set("linux.gidMappings", _MAPS),
     "linux.gidMappings: id mappings need a user namespace"),
    ("new user ns without gidMappings", _all(_add_ns("user"), _set("linux.uidMappings", _MAPS)),
     "linux.gidMappings: a new user namespace needs uidMappings and gidMappings"),
    ("id mapping size 0", _all(_add_ns("user"), _set("linux.uidMappings", [{"containerID": 0, "hostID": 1, "size": 0}]),
                               _set("linux.gidMappings", _MAPS)),
     "linux.uidMappings[0].size: 0 is below the minimum 1"),
    ("id mapping hostID missing", _all(_add_ns("user"), _set("linux.uidMappings", _MAPS),
                                       _set("linux.gidMappings", [{"containerID": 0, "size": 1}])),
     "linux.gidMappings[0].hostID: is required"),
    ("timeOffsets without time ns", _set("linux.timeOffsets", {"monotonic": {"secs": 1}}),
     "linux.timeOffsets: needs a time namespace"),
    ("timeOffsets unknown clock", _all(_add_ns("time"), _set("linux.timeOffsets", {"realtime": {"secs": 1}})),
     "linux.timeOffsets: unknown clock 'realtime'"),
    ("timeOffsets nanosecs too big", _all(_add_ns("time"),
                                          _set("linux.timeOffsets", {"boottime": {"nanosecs": 10**9}})),
     "linux.timeOffsets.boottime.nanosecs: 1000000000 is above"),
    # -- devices
    ("device with bad type", _set("linux.devices", [{"type": "x", "path": "/dev/x", "major": 1, "minor": 1}]),
     "linux.devices[0].type: 'x' is not one of c, b, u, p"),
    ("device type missing", _set("linux.devices", [{"path": "/dev/x", "major": 1, "minor": 1}]),
     "linux.devices[0].type: is required"),
    ("device major missing", _set("linux.devices", [{"type": "c", "path": "/dev/x", "minor": 1}]),
     "linux.devices[0].major: is required"),
    ("device path relative", _set("linux.devices", [{"type": "p", "path": "/dev/p"},
                                                    {"type": "b", "path": "sda", "major": 8, "minor": 0}]),
     "linux.devices[1].path: 'sda' is not an absolute path"),
    ("device fileMode too big", _set("linux.devices", [{"type": "c", "path": "/dev/x", "major": 1,
                                                        "minor": 1, "fileMode": 0o10000}]),
     "linux.devices[0].fileMode:"),
    # -- seccomp
    ("seccomp defaultAction missing", _set("linux.seccomp", {}), "linux.seccomp.defaultAction: is required"),
    ("unknown seccomp default action", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_PERMIT"}),
     "linux.seccomp.defaultAction: unknown seccomp action 'SCMP_ACT_PERMIT'"),
    ("unknown seccomp rule action", _set("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "ALLOW"}]}),
     "linux.seccomp.syscalls[1].action: unknown seccomp action 'ALLOW'"),
    ("unknown seccomp op", _set("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                               {"index": 1, "value": 1, "op": "SCMP_CMP_EQUAL"}]}]}),
     "linux.seccomp.syscalls[0].args[1].op: unknown seccomp operator 'SCMP_CMP_EQUAL'"),
    ("seccomp arg index too big", _set("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]}),
     "linux.seccomp.syscalls[0].args[0].index: 6 is above the maximum 5"),
    ("seccomp rule names empty", _set("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
     "linux.seccomp.syscalls[0].names: is empty"),
    ("unknown seccomp flag", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                                    "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "FLAG_X"]}),
     "linux.seccomp.flags: unknown seccomp flag 'FLAG_X'"),
    ("notify without listenerPath", _set("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}),
     "linux.seccomp.listenerPath: is required when an action is SCMP_ACT_NOTIFY"),
    ("notify default without listenerPath", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_NOTIFY"}),
     "linux.seccomp.listenerPath: is required"),
    # -- the rest of linux
    ("rootfsPropagation unknown", _set("linux.rootfsPropagation", "recursive"),
     "linux.rootfsPropagation: unknown propagation 'recursive'"),
    ("personality unknown", _set("linux.personality", {"domain": "WIN32"}),
     "linux.personality.domain: unknown personality 'WIN32'"),
    ("sysctl values not strings", _set("linux.sysctl", {"kernel.shmmax": 1}),
     "linux.sysctl: expected an object of strings"),
    ("maskedPaths not a list", _set("linux.maskedPaths", "/proc/kcore"),
     "linux.maskedPaths: expected a list of strings"),
    ("linux not an object", _set("linux", []), "linux: expected an object"),
    # -- resources
    ("swappiness above 100", _set("linux.resources.memory", {"swappiness": 101}),
     "linux.resources.memory.swappiness: 101 is above 100"),
    ("swappiness negative", _set("linux.resources.memory", {"swappiness": -1}),
     "linux.resources.memory.swappiness: -1 is below the minimum 0"),
    ("swappiness wrong type", _set("linux.resources.memory", {"swappiness": "60"}),
     "linux.resources.memory.swappiness: expected an integer"),
    ("memory limit below -1", _set("linux.resources.memory", {"limit": -2}),
     "linux.resources.memory.limit: -2 is below the minimum -1"),
    ("swap below limit", _set("linux.resources.memory", {"limit": 2000, "swap": 1000}),
     "linux.resources.memory.swap: memory+swap limit 1000 is below the memory limit 2000"),
    ("cpu shares wrong type", _set("linux.resources.cpu", {"shares": "1024"}),
     "linux.resources.cpu.shares: expected an integer"),
    ("pids limit missing", _set("linux.resources.pids", {}), "linux.resources.pids.limit: is required"),
    ("blkio throttle rate missing", _set("linux.resources.blockIO", {
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0}]}),
     "linux.resources.blockIO.throttleWriteIOPSDevice[0].rate: is required"),
    ("device rule type bad", _set("linux.resources.devices", [{"allow": True, "type": "p"}]),
     "linux.resources.devices[0].type: 'p' is not one of a, b, c"),
    ("device rule access bad", _set("linux.resources.devices", [{"allow": True, "access": "rwx"}]),
     "linux.resources.devices[0].access: 'rwx' is not a combination of r, w, m"),
    ("device rule allow missing", _set("linux.resources.devices", [{"allow": False}, {"access": "r"}]),
     "linux.resources.devices[1].allow: is required"),
    ("hugepage pageSize missing", _set("linux.resources.hugepageLimits", [{"limit": 1}]),
     "linux.resources.hugepageLimits[0].pageSize: is required"),
    ("unified key without controller", _set("linux.resources.unified", {"max": "1"}),
     "linux.resources.unified: 'max' is not a cgroup v2 file name"),
    ("unified key with slash", _set("linux.resources.unified", {"../memory.max": "1"}),
     "linux.resources.unified: '../memory.max' is not a cgroup v2 file name"),
    ("network priority name missing", _set("linux.resources.network", {"priorities": [{"priority": 1}]}),
     "linux.resources.network.priorities[0].name: is required"),
]


@pytest.mark.parametrize("mutate,expect", [(m, e) for _, m, e in BAD], ids=[n for n, _, _ in BAD])
def test_malformed(mutate, expect: str) -> None:  # noqa: ANN001
    d = base()
    mutate(d)
    msg = parse_error(d)
    assert expect in msg, msg


@pytest.mark.parametrize("doc", [None, [], "config", 1, True])
def test_top_level_not_an_object(doc: object) -> None:
    assert "(top level): expected an object" in parse_error(doc)


def test_null_is_the_same_as_absent() -> None:
    d = base()
    d["hooks"] = None
    d["linux"]["seccomp"] = None
    s = Spec.parse(d)
    assert s.hooks == Hooks.parse({})
    assert s.linux.seccomp is None


def test_user_namespace_with_path_needs_no_mappings() -> None:
    d = base()
    d["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    assert Spec.parse(d).linux.namespace("user").path == "/proc/1/ns/user"


def test_parse_does_not_modify_its_input() -> None:
    d = base()
    before = defaults.default_spec()
    Spec.parse(d)
    assert d == before


def test_submodels_parse_alone() -> None:
    assert Process.parse({"args": ["a"], "cwd": "/"}).user == User(uid=0, gid=0, additional_gids=[])
    assert Memory.parse({"limit": -1}, "m").limit == -1
    with pytest.raises(InvalidArgument, match=r"^config\.json: r\.memory\.kernelTCP: expected an integer$"):
        Resources.parse({"memory": {"kernelTCP": []}}, "r")
    assert Seccomp.parse({"defaultAction": "SCMP_ACT_KILL_PROCESS"}, "s").syscalls == []
    assert Linux.parse({"namespaces": [{"type": "time"}], "timeOffsets": {}}).time_offsets == {}
