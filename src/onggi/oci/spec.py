"""The OCI runtime spec's ``config.json`` (v1.x), parsed and validated into read-only
models. Parsing never touches the host: checks that need the filesystem (rootfs exists,
namespace path of the right type) belong to the runtime."""

from __future__ import annotations

from . import _fields as f
from .linux import Linux
from .model import Model
from .tables import CAPABILITIES, IOPRIO_CLASSES, RLIMITS, SCHED_FLAGS, SCHED_POLICIES

__all__ = ["Spec", "Root", "Mount", "Process", "User", "Capabilities", "Rlimit", "Hook", "Hooks",
           "HOOK_NAMES"]

HOOK_NAMES = {  # wire name -> attribute
    "prestart": "prestart", "createRuntime": "create_runtime", "createContainer": "create_container",
    "startContainer": "start_container", "poststart": "poststart", "poststop": "poststop",
}


class Root(Model):
    __slots__ = ("path", "readonly")


class Mount(Model):
    __slots__ = ("destination", "type", "source", "options", "uid_mappings", "gid_mappings")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Mount":
        dest = f.string(d, "destination", p, required=True) or ""
        if not dest.startswith("/"):
            raise f.bad(f"{p}.destination", f"{dest!r} is not an absolute path")
        return cls(destination=dest, type=f.string(d, "type", p), source=f.string(d, "source", p),
                   options=f.strings(d, "options", p), uid_mappings=d.get("uidMappings") or [],
                   gid_mappings=d.get("gidMappings") or [])


class User(Model):
    __slots__ = ("uid", "gid", "umask", "additional_gids", "username")

    @classmethod
    def parse(cls, d: dict, p: str) -> "User":
        return cls(uid=f.integer(d, "uid", p, required=True, lo=0, hi=2**32 - 2),
                   gid=f.integer(d, "gid", p, required=True, lo=0, hi=2**32 - 2),
                   umask=f.integer(d, "umask", p, lo=0, hi=0o777),
                   additional_gids=f.ints(d, "additionalGids", p), username=f.string(d, "username", p))


class Capabilities(Model):
    __slots__ = ("bounding", "effective", "inheritable", "permitted", "ambient")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Capabilities":
        sets = {}
        for name in cls.__slots__:
            caps = f.strings(d, name, p)
            for c in caps:
                if c not in CAPABILITIES:
                    raise f.bad(f"{p}.{name}", f"unknown capability {c!r}")
            sets[name] = caps
        return cls(**sets)


class Rlimit(Model):
    __slots__ = ("type", "hard", "soft")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Rlimit":
        t = f.string(d, "type", p, required=True)
        if t not in RLIMITS:
            raise f.bad(f"{p}.type", f"unknown rlimit {t!r}")
        hard = f.integer(d, "hard", p, required=True, lo=0, hi=2**64 - 1)
        soft = f.integer(d, "soft", p, required=True, lo=0, hi=2**64 - 1)
        if soft > hard:  # type: ignore[operator]
            raise f.bad(f"{p}.soft", f"{t} soft limit {soft} is above its hard limit {hard}")
        return cls(type=t, hard=hard, soft=soft)


class Process(Model):
    __slots__ = ("terminal", "console_size", "user", "args", "command_line", "env", "cwd",
                 "capabilities", "rlimits", "no_new_privileges", "apparmor_profile", "oom_score_adj",
                 "scheduler", "selinux_label", "io_priority")

    @classmethod
    def parse(cls, d: dict, p: str = "process") -> "Process":
        cs = f.child(d, "consoleSize", p)
        console_size = None
        if cs is not None:
            console_size = (f.integer(cs, "height", f"{p}.consoleSize", required=True, lo=0, hi=65535),
                            f.integer(cs, "width", f"{p}.consoleSize", required=True, lo=0, hi=65535))
        args = f.strings(d, "args", p)
        cmdline = f.string(d, "commandLine", p)
        if not args and not cmdline:
            raise f.bad(f"{p}.args", "is required and must not be empty")
        cwd = f.string(d, "cwd", p, required=True) or ""
        if not cwd.startswith("/"):
            raise f.bad(f"{p}.cwd", f"{cwd!r} is not an absolute path")
        env = f.strings(d, "env", p)
        for e in env:
            if "=" not in e:
                raise f.bad(f"{p}.env", f"{e!r} is not of the form KEY=value")
        caps = f.child(d, "capabilities", p)
        rlimits = [Rlimit.parse(x, xp) for x, xp in f.items(d, "rlimits", p)]
        names = [r.type for r in rlimits]
        if len(set(names)) != len(names):
            raise f.bad(f"{p}.rlimits", "an rlimit type appears twice")
        sched = f.child(d, "scheduler", p)
        scheduler = None
        if sched is not None:
            sp = f"{p}.scheduler"
            pol = f.string(sched, "policy", sp, required=True)
            if pol not in SCHED_POLICIES:
                raise f.bad(f"{sp}.policy", f"unknown scheduler policy {pol!r}")
            flags = f.strings(sched, "flags", sp)
            for fl in flags:
                if fl not in SCHED_FLAGS:
                    raise f.bad(f"{sp}.flags", f"unknown scheduler flag {fl!r}")
            scheduler = {"policy": pol, "nice": f.integer(sched, "nice", sp, default=0, lo=-20, hi=19),
                         "priority": f.integer(sched, "priority", sp, default=0, lo=0),
                         "flags": flags, "runtime": f.integer(sched, "runtime", sp, default=0, lo=0),
                         "deadline": f.integer(sched, "deadline", sp, default=0, lo=0),
                         "period": f.integer(sched, "period", sp, default=0, lo=0)}
        iop = f.child(d, "ioPriority", p)
        io_priority = None
        if iop is not None:
            cls_name = f.string(iop, "class", f"{p}.ioPriority", required=True)
            if cls_name not in IOPRIO_CLASSES:
                raise f.bad(f"{p}.ioPriority.class", f"unknown io priority class {cls_name!r}")
            io_priority = (cls_name, f.integer(iop, "priority", f"{p}.ioPriority", default=0, lo=0, hi=7))
        user = f.child(d, "user", p)
        return cls(
            terminal=f.boolean(d, "terminal", p), console_size=console_size,
            user=User.parse(user, f"{p}.user") if user is not None else User(uid=0, gid=0, additional_gids=[]),
            args=args, command_line=cmdline, env=env, cwd=cwd,
            capabilities=Capabilities.parse(caps, f"{p}.capabilities") if caps is not None else None,
            rlimits=rlimits, no_new_privileges=f.boolean(d, "noNewPrivileges", p),
            apparmor_profile=f.string(d, "apparmorProfile", p),
            oom_score_adj=f.integer(d, "oomScoreAdj", p, lo=-1000, hi=1000),
            scheduler=scheduler, selinux_label=f.string(d, "selinuxLabel", p), io_priority=io_priority,
        )


class Hook(Model):
    __slots__ = ("path", "args", "env", "timeout")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Hook":
        path = f.string(d, "path", p, required=True) or ""
        if not path.startswith("/"):
            raise f.bad(f"{p}.path", f"{path!r} is not an absolute path")
        return cls(path=path, args=f.strings(d, "args", p), env=f.strings(d, "env", p),
                   timeout=f.integer(d, "timeout", p, lo=1))


class Hooks(Model):
    __slots__ = tuple(HOOK_NAMES.values())

    @classmethod
    def parse(cls, d: dict, p: str = "hooks") -> "Hooks":
        unknown = set(d) - set(HOOK_NAMES)
        if unknown:
            raise f.bad(p, f"unknown hook kind {sorted(unknown)[0]!r}")
        return cls(**{attr: [Hook.parse(x, xp) for x, xp in f.items(d, wire, p)]
                      for wire, attr in HOOK_NAMES.items()})


class Spec(Model):
    __slots__ = ("oci_version", "root", "mounts", "process", "hostname", "domainname", "hooks",
                 "annotations", "linux", "raw")

    @classmethod
    def parse(cls, d: object) -> "Spec":
        d = f.obj(d, "(top level)")
        ver = f.string(d, "ociVersion", "", required=True) or ""
        if not ver.startswith("1."):
            raise f.bad("ociVersion", f"unsupported version {ver!r} (this runtime implements 1.x)")
        root = f.child(d, "root", "")
        if root is None:
            raise f.bad("root", "is required")
        rpath = f.string(root, "path", "root", required=True)
        if not rpath:
            raise f.bad("root.path", "is empty")
        proc = f.child(d, "process", "")
        hooks = f.child(d, "hooks", "")
        linux = f.child(d, "linux", "")
        annotations = f.str_map(d, "annotations", "")
        for k in annotations:
            if not k:
                raise f.bad("annotations", "an annotation key is empty")
        spec = cls(
            oci_version=ver, root=Root(path=rpath, readonly=f.boolean(root, "readonly", "root")),
            mounts=[Mount.parse(x, xp) for x, xp in f.items(d, "mounts", "")],
            process=Process.parse(proc) if proc is not None else None,
            hostname=f.string(d, "hostname", ""), domainname=f.string(d, "domainname", ""),
            hooks=Hooks.parse(hooks) if hooks is not None else Hooks.parse({}),
            annotations=annotations,
            linux=Linux.parse(linux) if linux is not None else Linux.parse({}),
            raw=d,
        )
        uts = spec.linux.namespace("uts")
        for field in ("hostname", "domainname"):
            if not getattr(spec, field):
                continue
            if uts is None:
                raise f.bad(field, f"setting a {field} needs a uts namespace in linux.namespaces")
            if uts.path is not None:
                raise f.bad(field, f"cannot be set in the uts namespace joined from {uts.path}: it would "
                                   f"rename that namespace for every process in it; leave {field} out")
        return spec
