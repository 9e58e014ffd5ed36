"""Stock documents of the runtime: the ``config.json`` that ``onggi-runtime spec`` writes
(the same content as ``runc spec``, apart from ``ociVersion`` and ``hostname``), its
rootless variant, and the ``features`` document (runtime-spec ``features.md``).

Pure data: nothing here looks at the host. Whoever knows the host (is libseccomp there?
which seccomp flags work?) passes it in.
"""

from __future__ import annotations

from .linux import NAMESPACE_TYPES, SECCOMP_ACTIONS, SECCOMP_FLAGS, SECCOMP_OPS
from .tables import CAPABILITIES

__all__ = ["OCI_VERSION", "OCI_VERSION_MIN", "default_spec", "rootless", "features",
           "SECCOMP_ARCHS", "MOUNT_OPTIONS", "HOOKS"]

OCI_VERSION = "1.1.0"
OCI_VERSION_MIN = "1.0.0"
HOSTNAME = "onggi"

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]

HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# libseccomp 2.5 architecture names, as the spec spells them
SECCOMP_ARCHS = (
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64",
)

# mount(8) options the runtime maps to mount flags or propagation (runc's set, less its
# own ``tmpcopyup`` extension)
MOUNT_OPTIONS = (
    "acl", "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
    "iversion", "lazytime", "loud", "mand", "noacl", "noatime", "nodev", "nodiratime",
    "noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid",
    "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime", "remount",
    "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime",
    "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro", "rrw", "rshared",
    "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable", "rw", "shared", "silent",
    "slave", "strictatime", "suid", "symfollow", "sync", "unbindable",
)


def _mounts() -> list[dict]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": _NOSUID_NOEXEC_NODEV + ["mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": list(_NOSUID_NOEXEC_NODEV)},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": _NOSUID_NOEXEC_NODEV + ["ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": _NOSUID_NOEXEC_NODEV + ["relatime", "ro"]},
    ]


def default_spec() -> dict:
    """A fresh ``config.json`` document for a bundle whose rootfs is ``rootfs``: an
    interactive ``sh`` as root, the three harmless capabilities, a read-only root, the
    usual pseudo-filesystems, new pid/network/ipc/uts/mount namespaces."""
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(_CAPS) for k in ("bounding", "effective", "permitted",
                                                       "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": HOSTNAME,
        "mounts": _mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def _copy(v: object) -> object:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def rootless(spec: dict, uid: int, gid: int) -> dict:
    """``spec`` turned into one an unprivileged user (host ``uid``/``gid``) can run, as
    ``runc spec --rootless`` does: a new user namespace mapping container root to that
    user, no network namespace (no one to set it up), ``/sys`` bind-mounted since sysfs
    cannot be mounted without a network namespace of one's own, no ``uid=``/``gid=``
    mount options (those ids are not mapped), and no cgroup resources. ``spec`` itself is
    left as it was."""
    out: dict = _copy(spec)  # type: ignore[assignment]
    linux: dict = out.get("linux") or {}
    namespaces = [ns for ns in linux.get("namespaces") or []
                  if ns.get("type") not in ("network", "user")]
    namespaces.append({"type": "user"})
    # keep the key order the spec's Go structs write (mappings first, resources gone)
    new_linux: dict = {"uidMappings": _map_root_to(uid), "gidMappings": _map_root_to(gid)}
    for k, v in linux.items():
        if k in ("uidMappings", "gidMappings", "resources"):
            continue
        new_linux[k] = namespaces if k == "namespaces" else v
    if "namespaces" not in new_linux:
        new_linux["namespaces"] = namespaces
    out["linux"] = new_linux

    mounts = []
    for m in out.get("mounts") or []:
        if _clean(m.get("destination", "")) == "/sys":
            mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
            continue
        opts = [o for o in m.get("options") or [] if not o.startswith(("uid=", "gid="))]
        m = dict(m)
        if opts:
            m["options"] = opts
        else:
            m.pop("options", None)
        mounts.append(m)
    out["mounts"] = mounts
    return out


def _map_root_to(host_id: int) -> list[dict]:
    return [{"containerID": 0, "hostID": host_id, "size": 1}]


def _clean(path: str) -> str:
    """Lexical clean of an absolute path (``//sys/./`` -> ``/sys``)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def features(seccomp: bool, *, seccomp_flags: list[str] | None = None,
             annotations: dict[str, str] | None = None) -> dict:
    """The ``features`` document (runtime-spec ``features.md``) for what onggi implements.

    ``seccomp``: whether libseccomp is usable here (the caller checks);
    ``seccomp_flags``: the flags this host's libseccomp and kernel support (default: all
    but ``SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV``, which needs libseccomp 2.6);
    ``annotations``: extra ``org.onggi.*`` / library-version entries to report.
    """
    if seccomp_flags is None:
        seccomp_flags = [f for f in SECCOMP_FLAGS if f != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    sec: dict[str, object] = {"enabled": seccomp}
    if seccomp:
        sec.update(actions=sorted(SECCOMP_ACTIONS), operators=sorted(SECCOMP_OPS),
                   archs=list(SECCOMP_ARCHS), knownFlags=list(SECCOMP_FLAGS),
                   supportedFlags=[f for f in SECCOMP_FLAGS if f in seccomp_flags])
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": list(MOUNT_OPTIONS),
        "linux": {
            "namespaces": sorted(NAMESPACE_TYPES),
            "capabilities": list(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": False},
            "seccomp": sec,
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": dict(annotations or {}),
    }
