"""config.json for a container: podman's defaults, the image's config, the options of
``onggi run`` and what the lifecycle prepared (:class:`SpecContext`). Pure apart from
reading the rootfs's /etc/passwd and /etc/group (through the secure join) to resolve user
and group names; no root needed to test it.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidArgument, NotFound
from .options import RunOptions, SpecContext
from .paths import Paths

__all__ = ["build_spec", "process_args", "resolve_user", "build_env", "DEFAULT_CAPS", "DEFAULT_PATH"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# podman 4's default_capabilities (containers.conf)
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
                "CAP_SYS_CHROOT"]
MASKED = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/fs/selinux",
          "/sys/dev/block"]
READONLY = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
INIT_PATH = "/run/onggi-init"
_NSD = ["nosuid", "noexec", "nodev"]


def _mounts() -> list[dict]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": list(_NSD)},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": _NSD + ["ro"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": list(_NSD)},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": _NSD + ["mode=1777", "size=65536k"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["rprivate"] + _NSD + ["relatime", "ro"]},
    ]


def process_args(opts: RunOptions, image_config: dict) -> list[str]:
    """podman's rules: the entrypoint (``--entrypoint`` or the image's; ``""`` clears it),
    then the command (the arguments, or the image's Cmd unless an entrypoint was given)."""
    cfg = image_config.get("config") or {}
    entrypoint = opts.entrypoint if opts.entrypoint is not None else list(cfg.get("Entrypoint") or [])
    command = list(opts.command or [])
    if not command and opts.entrypoint is None:
        command = list(cfg.get("Cmd") or [])
    args = [a for a in entrypoint] if entrypoint != [""] else []
    args += command
    if not args:
        raise InvalidArgument("no command or entrypoint provided, and no CMD or ENTRYPOINT from image")
    return args


def _read_db(rootfs: str, path: str) -> list[list[str]]:
    """Lines of a colon file (/etc/passwd, /etc/group) inside the rootfs, split."""
    from ..sys.securejoin import open_in_root

    try:
        root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        fd = open_in_root(root, path, os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, NotFound):
        return []
    finally:
        os.close(root)
    with os.fdopen(fd, "r", errors="replace") as f:
        return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]


def resolve_user(user: str | None, rootfs: str) -> tuple[dict[str, Any], str]:
    """``USER[:GROUP]`` (names or ids) -> (process.user, home directory)."""
    spec_user = user or "0"
    name, _, group = spec_user.partition(":")
    passwd = _read_db(rootfs, "/etc/passwd")
    groups = _read_db(rootfs, "/etc/group")
    entry = None
    if name.isdigit():
        uid = int(name)
        entry = next((p for p in passwd if len(p) >= 6 and p[2] == name), None)
        gid = int(entry[3]) if entry and entry[3].isdigit() else 0
    else:
        entry = next((p for p in passwd if len(p) >= 6 and p[0] == name), None)
        if entry is None:
            raise NotFound(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((x for x in groups if len(x) >= 3 and x[0] == group), None)
            if g is None:
                raise NotFound(f"unable to find group {group}: no matching entries in group file")
            gid = int(g[2])
    home = entry[5] if entry else "/"
    uname = entry[0] if entry else None
    extra = []
    if uname is not None and not group:
        for g in groups:
            if len(g) >= 4 and uname in g[3].split(",") and g[2].isdigit() and int(g[2]) != gid:
                extra.append(int(g[2]))
    out: dict[str, Any] = {"uid": uid, "gid": gid}
    if extra:
        out["additionalGids"] = sorted(set(extra))
    return out, home


def _env_files(files: list[str]) -> list[str]:
    out = []
    for path in files:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise InvalidArgument(f"--env-file {path}: {e.strerror}") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def build_env(opts: RunOptions, image_config: dict, hostname: str, home: str) -> list[str]:
    """The environment: defaults, the image's, --env-file, -e (later wins; ``-e KEY``
    takes the host's value, or is dropped when the host has none)."""
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "TERM": "xterm", "container": "podman"}
    for e in (image_config.get("config") or {}).get("Env") or []:
        k, _, v = e.partition("=")
        env[k] = v
    for e in _env_files(opts.env_files) + list(opts.env):
        if "=" in e:
            k, _, v = e.partition("=")
            if not k:
                raise InvalidArgument(f"--env {e!r}: the name is empty")
            env[k] = v
        elif e.endswith("*"):
            for k, v in os.environ.items():
                if k.startswith(e[:-1]):
                    env[k] = v
        elif e in os.environ:
            env[e] = os.environ[e]
    env.setdefault("HOSTNAME", hostname)
    env.setdefault("HOME", home or "/")
    return [f"{k}={v}" for k, v in env.items()]


def build_spec(opts: RunOptions, image_config: dict, ctx: SpecContext, paths: Paths) -> dict:
    """config.json (as a dict) for one container."""
    cfg = image_config.get("config") or {}
    hostname = opts.hostname or ctx.container_id[:12]
    user, home = resolve_user(opts.user or cfg.get("User") or None, ctx.rootfs)
    args = process_args(opts, image_config)
    mounts = _mounts()
    if opts.init:
        if not ctx.init_path:
            raise NotFound("--init: catatonit is not installed (apt-get install catatonit)")
        args = [INIT_PATH, "--"] + args
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": ctx.init_path,
                       "options": ["bind", "ro", "nosuid", "nodev"]})
    caps = list(DEFAULT_CAPS)
    process: dict[str, Any] = {
        "terminal": bool(opts.tty),
        "user": user,
        "args": args,
        "env": build_env(opts, image_config, hostname, home),
        "cwd": opts.workdir or cfg.get("WorkingDir") or "/",
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
    }
    if user["uid"] != 0:
        process["capabilities"]["effective"] = []
        process["capabilities"]["permitted"] = []
    namespaces: list[dict[str, str]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if ctx.netns is None:
        pass  # the host's network
    elif ctx.netns == "":
        namespaces.append({"type": "network"})
    else:
        namespaces.append({"type": "network", "path": ctx.netns})
    for typ, path in ctx.share_namespaces.items():
        namespaces = [n for n in namespaces if n["type"] != typ] + [{"type": typ, "path": path}]
    annotations = dict(opts.annotations)
    annotations.setdefault("io.container.manager", "onggi")
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": False},
        "hostname": hostname if "uts" not in ctx.share_namespaces else "",  # a joined UTS keeps its own
        "mounts": mounts,
        "annotations": annotations,
        "linux": {
            "cgroupsPath": f"/{ctx.cgroup_parent}/{ctx.container_id}",
            "namespaces": namespaces,
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }
    from .spec_mounts import apply_mounts
    from .spec_resources import apply_resources
    from .spec_security import apply_security

    volumes = list((image_config.get("config") or {}).get("Volumes") or {})
    ctx.anonymous_volumes = list(apply_mounts(spec, opts, ctx, paths, image_volumes=volumes) or [])
    apply_resources(spec, opts)
    apply_security(spec, opts, ctx)
    return spec
