"""``linux``: namespaces, id mappings, devices, seccomp and the rest of the Linux section
of the runtime spec."""

from __future__ import annotations

from . import _fields as f
from .model import Model
from .resources import Resources

__all__ = ["Linux", "Namespace", "IDMapping", "Device", "Seccomp", "SyscallRule",
           "NAMESPACE_TYPES"]

# spec name -> the name of its file under /proc/PID/ns
NAMESPACE_TYPES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}

SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                   "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
                   "SCMP_ACT_NOTIFY")
SECCOMP_OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
               "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SECCOMP_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")


class Namespace(Model):
    __slots__ = ("type", "path")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Namespace":
        t = f.string(d, "type", p, required=True)
        if t not in NAMESPACE_TYPES:
            raise f.bad(f"{p}.type", f"unknown namespace type {t!r} (one of {', '.join(NAMESPACE_TYPES)})")
        path = f.string(d, "path", p)
        if path is not None and not path.startswith("/"):
            raise f.bad(f"{p}.path", f"{path!r} is not an absolute path")
        return cls(type=t, path=path or None)


class IDMapping(Model):
    __slots__ = ("container_id", "host_id", "size")

    @classmethod
    def parse(cls, d: dict, p: str) -> "IDMapping":
        return cls(container_id=f.integer(d, "containerID", p, required=True, lo=0, hi=2**32 - 1),
                   host_id=f.integer(d, "hostID", p, required=True, lo=0, hi=2**32 - 1),
                   size=f.integer(d, "size", p, required=True, lo=1, hi=2**32 - 1))


class Device(Model):
    __slots__ = ("type", "path", "major", "minor", "file_mode", "uid", "gid")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Device":
        t = f.string(d, "type", p, required=True)
        if t not in ("c", "b", "u", "p"):
            raise f.bad(f"{p}.type", f"{t!r} is not one of c, b, u, p")
        path = f.string(d, "path", p, required=True) or ""
        if not path.startswith("/dev/") and path != "/dev":
            if not path.startswith("/"):
                raise f.bad(f"{p}.path", f"{path!r} is not an absolute path")
        need = t != "p"
        return cls(type=t, path=path, major=f.integer(d, "major", p, required=need, lo=0),
                   minor=f.integer(d, "minor", p, required=need, lo=0),
                   file_mode=f.integer(d, "fileMode", p, lo=0, hi=0o7777),
                   uid=f.integer(d, "uid", p, lo=0), gid=f.integer(d, "gid", p, lo=0))


class SyscallRule(Model):
    __slots__ = ("names", "action", "errno_ret", "args")

    @classmethod
    def parse(cls, d: dict, p: str) -> "SyscallRule":
        names = f.strings(d, "names", p, required=True)
        if not names:
            raise f.bad(f"{p}.names", "is empty")
        action = f.string(d, "action", p, required=True)
        if action not in SECCOMP_ACTIONS:
            raise f.bad(f"{p}.action", f"unknown seccomp action {action!r}")
        args = []
        for a, ap in f.items(d, "args", p):
            op = f.string(a, "op", ap, required=True)
            if op not in SECCOMP_OPS:
                raise f.bad(f"{ap}.op", f"unknown seccomp operator {op!r}")
            args.append((f.integer(a, "index", ap, required=True, lo=0, hi=5),
                         f.integer(a, "value", ap, default=0, lo=0, hi=2**64 - 1),
                         f.integer(a, "valueTwo", ap, default=0, lo=0, hi=2**64 - 1), op))
        return cls(names=names, action=action, errno_ret=f.integer(d, "errnoRet", p, lo=0), args=args)


class Seccomp(Model):
    __slots__ = ("default_action", "default_errno_ret", "architectures", "flags", "listener_path",
                 "listener_metadata", "syscalls")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Seccomp":
        action = f.string(d, "defaultAction", p, required=True)
        if action not in SECCOMP_ACTIONS:
            raise f.bad(f"{p}.defaultAction", f"unknown seccomp action {action!r}")
        flags = f.strings(d, "flags", p)
        for fl in flags:
            if fl not in SECCOMP_FLAGS:
                raise f.bad(f"{p}.flags", f"unknown seccomp flag {fl!r}")
        rules = [SyscallRule.parse(x, xp) for x, xp in f.items(d, "syscalls", p)]
        listener = f.string(d, "listenerPath", p)
        uses_notify = action == "SCMP_ACT_NOTIFY" or any(r.action == "SCMP_ACT_NOTIFY" for r in rules)
        if uses_notify and not listener:
            raise f.bad(f"{p}.listenerPath", "is required when an action is SCMP_ACT_NOTIFY")
        return cls(default_action=action, default_errno_ret=f.integer(d, "defaultErrnoRet", p, lo=0),
                   architectures=f.strings(d, "architectures", p), flags=flags, listener_path=listener,
                   listener_metadata=f.string(d, "listenerMetadata", p) or "", syscalls=rules)


class Linux(Model):
    __slots__ = ("namespaces", "uid_mappings", "gid_mappings", "time_offsets", "devices",
                 "cgroups_path", "resources", "rootfs_propagation", "masked_paths", "readonly_paths",
                 "mount_label", "sysctl", "seccomp", "personality", "intel_rdt")

    @classmethod
    def parse(cls, d: dict, p: str = "linux") -> "Linux":
        nss = [Namespace.parse(x, xp) for x, xp in f.items(d, "namespaces", p)]
        seen: set[str] = set()
        for i, ns in enumerate(nss):
            if ns.type in seen:
                raise f.bad(f"{p}.namespaces[{i}].type", f"namespace type {ns.type!r} appears twice")
            seen.add(ns.type)
        uidm = [IDMapping.parse(x, xp) for x, xp in f.items(d, "uidMappings", p)]
        gidm = [IDMapping.parse(x, xp) for x, xp in f.items(d, "gidMappings", p)]
        user = next((n for n in nss if n.type == "user"), None)
        if (uidm or gidm) and user is None:
            raise f.bad(f"{p}.{'uidMappings' if uidm else 'gidMappings'}",
                        "id mappings need a user namespace in linux.namespaces")
        if user is not None and user.path is None and (not uidm or not gidm):
            raise f.bad(f"{p}.{'gidMappings' if uidm else 'uidMappings'}",
                        "a new user namespace needs uidMappings and gidMappings")
        offsets = {}
        to = f.child(d, "timeOffsets", p)
        if to is not None:
            if "time" not in seen:
                raise f.bad(f"{p}.timeOffsets", "needs a time namespace in linux.namespaces")
            for clock, o in to.items():
                if clock not in ("monotonic", "boottime"):
                    raise f.bad(f"{p}.timeOffsets", f"unknown clock {clock!r} (monotonic or boottime)")
                o = f.obj(o, f"{p}.timeOffsets.{clock}")
                offsets[clock] = (f.integer(o, "secs", f"{p}.timeOffsets.{clock}", default=0),
                                  f.integer(o, "nanosecs", f"{p}.timeOffsets.{clock}", default=0, lo=0,
                                            hi=999_999_999))
        prop = f.string(d, "rootfsPropagation", p)
        if prop not in (None, "", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                        "unbindable", "runbindable"):
            raise f.bad(f"{p}.rootfsPropagation", f"unknown propagation {prop!r}")
        res = f.child(d, "resources", p)
        sc = f.child(d, "seccomp", p)
        pers = f.child(d, "personality", p)
        personality = None
        if pers is not None:
            dom = f.string(pers, "domain", f"{p}.personality", required=True)
            if dom not in ("LINUX", "LINUX32"):
                raise f.bad(f"{p}.personality.domain", f"unknown personality {dom!r} (LINUX or LINUX32)")
            personality = dom
        cpath = f.string(d, "cgroupsPath", p)
        return cls(
            namespaces=nss, uid_mappings=uidm, gid_mappings=gidm, time_offsets=offsets,
            devices=[Device.parse(x, xp) for x, xp in f.items(d, "devices", p)],
            cgroups_path=cpath or None,
            resources=Resources.parse(res, f"{p}.resources") if res is not None else Resources.empty(),
            rootfs_propagation=prop or None,
            masked_paths=f.strings(d, "maskedPaths", p), readonly_paths=f.strings(d, "readonlyPaths", p),
            mount_label=f.string(d, "mountLabel", p), sysctl=f.str_map(d, "sysctl", p),
            seccomp=Seccomp.parse(sc, f"{p}.seccomp") if sc is not None else None,
            personality=personality, intel_rdt=f.child(d, "intelRdt", p),
        )

    def namespace(self, ns_type: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None
