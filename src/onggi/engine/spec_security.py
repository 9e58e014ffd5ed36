"""Capabilities, ``--privileged``, ``--read-only``, ``--security-opt``, ``--device`` and
``--userns`` -> config.json, as podman sets them.

- ``--cap-add`` / ``--cap-drop``: names with or without ``CAP_``, any case, or ``ALL``;
  the base is what specgen put in the bounding set. A root process gets the result in its
  bounding, effective and permitted sets; a non-root one keeps it as its bounding set and
  gets only the ``--cap-add`` ones in the others (and ambient), as podman does.
- ``--privileged``: every capability the host has, every host device, no masked or
  read-only paths, no seccomp filter, /sys and the cgroup mount read-write.
- ``--read-only``: a read-only root (the tmpfs mounts come from spec_mounts).
- ``--security-opt``: ``no-new-privileges[=true|false]``, ``seccomp=unconfined|PATH``
  (default: podman's profile, converted for this container's capabilities),
  ``label=...`` (accepted; no SELinux here), ``apparmor=unconfined|PROFILE`` (a profile
  needs AppArmor on the host), ``mask=P1:P2``, ``unmask=ALL|P1:P2``,
  ``systempaths=unconfined``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidArgument, Unsupported
from ..oci.tables import CAPABILITIES
from . import seccomp_profile
from .options import RunOptions, SpecContext
from .spec_devices import add_devices, host_devices, parse_device
from .spec_userns import apply_userns

__all__ = ["apply_security", "SecurityOpts", "parse_security_opts", "normalize_cap", "merge_caps",
           "host_capabilities"]

_SETS = ("bounding", "effective", "permitted")


@dataclass
class SecurityOpts:
    no_new_privileges: bool = False
    seccomp: str | None = None          # None: the default profile; "unconfined"; a path
    apparmor: str | None = None
    mask: list[str] = field(default_factory=list)
    unmask: list[str] = field(default_factory=list)


def _truth(value: str, opt: str) -> bool:
    if value in ("", "true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidArgument(f"--security-opt {opt}: {value!r} is not true or false")


def parse_security_opts(values: list[str]) -> SecurityOpts:
    out = SecurityOpts()
    for i, opt in enumerate(values):
        key, eq, value = opt.partition("=")
        if not eq:
            key, _, value = opt.partition(":")  # docker's old no-new-privileges:true
        if key == "no-new-privileges":
            out.no_new_privileges = _truth(value, opt)
        elif key == "seccomp" and value:
            out.seccomp = value
        elif key == "label" and value:
            pass  # disable, type:, level:, user:, role:, nested ... : no SELinux on this host
        elif key == "apparmor" and value:
            out.apparmor = value
        elif key in ("mask", "unmask") and value:
            items = [p for p in value.split(":") if p]
            for p in items:
                if not p.startswith("/") and not (key == "unmask" and p == "ALL"):
                    raise InvalidArgument(f"--security-opt {opt}: {p!r} is not an absolute path")
            (out.mask if key == "mask" else out.unmask).extend(items)
        elif key == "systempaths" and value == "unconfined":
            out.unmask.append("ALL")
        else:
            raise InvalidArgument(f"invalid --security-opt {i + 1}: {opt!r}")
    return out


def normalize_cap(name: str, flag: str) -> str:
    n = name.strip().upper()
    if n == "ALL":
        return n
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in CAPABILITIES:
        raise InvalidArgument(f"{flag} {name}: {n!r}: unknown capability")
    return n


def host_capabilities(status: str = "/proc/self/status") -> list[str]:
    """The capabilities of this process's bounding set (what a container can be given)."""
    try:
        with open(status) as f:
            line = next((ln for ln in f if ln.startswith("CapBnd:")), None)
    except OSError:
        line = None
    if line is None:
        return sorted(CAPABILITIES)
    mask = int(line.split()[1], 16)
    return sorted(n for n, bit in CAPABILITIES.items() if mask >> bit & 1)


def merge_caps(base: list[str], add: list[str], drop: list[str]) -> list[str]:
    """podman's rules: ALL in drop keeps only the additions; ALL in add starts from every
    capability of the host; a name both added and dropped is an error."""
    if "ALL" in drop:
        if "ALL" in add:
            raise InvalidArgument("--cap-add ALL and --cap-drop ALL cannot be used together")
        return sorted(set(add))
    if "ALL" in add:
        base, add = host_capabilities(), []
    both = sorted(set(add) & set(drop))
    if both:
        raise InvalidArgument(f"capability {both[0]!r} cannot be both dropped and added")
    caps = [c for c in base if c not in drop] + [c for c in add if c not in base]
    return sorted(set(caps))


def _capabilities(spec: dict, opts: RunOptions) -> list[str]:
    process = spec.setdefault("process", {})
    current = process.get("capabilities") or {}
    base = list(current.get("bounding") or [])
    add = [normalize_cap(c, "--cap-add") for c in opts.cap_add]
    drop = [normalize_cap(c, "--cap-drop") for c in opts.cap_drop]
    caps = host_capabilities() if opts.privileged else merge_caps(base, add, drop)
    if opts.privileged and add:
        caps = sorted(set(caps) | {c for c in add if c != "ALL"})
    uid = int((process.get("user") or {}).get("uid", 0))
    if uid == 0:
        process["capabilities"] = {k: list(caps) for k in _SETS}
    else:
        mine = sorted(c for c in (host_capabilities() if "ALL" in add else add) if c in caps)
        process["capabilities"] = {"bounding": list(caps), "effective": mine, "inheritable": list(mine),
                                   "permitted": list(mine), "ambient": list(mine)}
    return caps


def _privileged(spec: dict) -> None:
    linux = spec.setdefault("linux", {})
    linux.pop("maskedPaths", None)
    linux.pop("readonlyPaths", None)
    for m in spec.get("mounts") or []:
        if m.get("destination") in ("/sys", "/sys/fs/cgroup") and m.get("type") in ("sysfs", "cgroup", "cgroup2"):
            m["options"] = [("rw" if o == "ro" else o) for o in m.get("options") or []]
    existing = {d["path"] for d in linux.get("devices") or []}
    add_devices(spec, [d for d in host_devices() if d["path"] not in existing], "rwm")
    # one rule allowing everything, not one per node
    linux.setdefault("resources", {})["devices"] = [{"allow": True, "access": "rwm"}]


def _paths(spec: dict, sec: SecurityOpts) -> None:
    linux = spec.setdefault("linux", {})
    masked = list(linux.get("maskedPaths") or [])
    readonly = list(linux.get("readonlyPaths") or [])
    if "ALL" in sec.unmask:
        masked, readonly = [], []
    else:
        masked = [p for p in masked if p not in sec.unmask]
        readonly = [p for p in readonly if p not in sec.unmask]
    masked += [p for p in sec.mask if p not in masked]
    for key, value in (("maskedPaths", masked), ("readonlyPaths", readonly)):
        if value:
            linux[key] = value
        else:
            linux.pop(key, None)


def _apparmor(spec: dict, profile: str | None) -> None:
    if not profile or profile == "unconfined":
        return
    from ..runtime.lsm import apparmor_enabled

    if not apparmor_enabled():
        raise Unsupported(f"--security-opt apparmor={profile}: AppArmor is not enabled on this host")
    spec.setdefault("process", {})["apparmorProfile"] = profile


def _seccomp(spec: dict, setting: str | None, caps: list[str]) -> None:
    linux = spec.setdefault("linux", {})
    if setting == "unconfined":
        linux.pop("seccomp", None)
        return
    path = setting or seccomp_profile.default_profile_path()
    if path is None:
        linux.pop("seccomp", None)  # no profile installed: podman's built-in one is not shipped
        return
    linux["seccomp"] = seccomp_profile.convert(seccomp_profile.load(path), caps, source=path)


def apply_security(spec: dict, opts: RunOptions, ctx: SpecContext) -> None:
    """Apply the security options of ``opts`` to ``spec`` (see the module's docstring)."""
    sec = parse_security_opts(list(opts.security_opt))
    caps = _capabilities(spec, opts)
    if opts.privileged:
        _privileged(spec)
    else:
        _paths(spec, sec)
    if opts.read_only:
        spec.setdefault("root", {})["readonly"] = True
    if sec.no_new_privileges:
        spec.setdefault("process", {})["noNewPrivileges"] = True
    _apparmor(spec, sec.apparmor)
    for d in opts.devices:
        entries, perms = parse_device(d)
        add_devices(spec, entries, perms)
    apply_userns(spec, opts.userns, user_given=bool(opts.user))
    if opts.privileged:
        spec.setdefault("linux", {}).pop("seccomp", None)
    else:
        _seccomp(spec, sec.seccomp, caps)
