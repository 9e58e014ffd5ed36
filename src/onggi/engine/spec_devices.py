"""``--device HOST[:CTR[:PERMS]]`` and ``--privileged``'s host devices -> ``linux.devices``
(the nodes the runtime creates: type, major and minor read from the host node) and the
device cgroup rules that allow them.

A directory as HOST adds every device under it (at the same relative place under CTR).
PERMS is a combination of r, w, m (default rwm); a second field that is not an absolute
path is taken as PERMS, as podman does (``--device /dev/fuse:rw``).
"""

from __future__ import annotations

import os
import stat
from typing import Any

from ..errors import InvalidArgument, NotFound

__all__ = ["parse_device", "host_devices", "add_devices", "device_entry"]

# what --privileged does not copy from the host's /dev (podman's list)
_SKIP_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
_SKIP_FILES = {"console"}


def device_entry(host: str, ctr: str, st: os.stat_result | None = None) -> dict[str, Any] | None:
    """The ``linux.devices`` entry for the host node ``host`` at ``ctr``; None if it is not
    a device node."""
    st = st or os.stat(host)
    if stat.S_ISCHR(st.st_mode):
        t = "c"
    elif stat.S_ISBLK(st.st_mode):
        t = "b"
    else:
        return None
    return {"path": ctr, "type": t, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def _walk(host_dir: str, ctr_dir: str, skip_top: bool) -> list[dict[str, Any]]:
    out = []
    for top, dirs, files in os.walk(host_dir):
        rel = os.path.relpath(top, host_dir)
        if skip_top and rel == ".":
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
            files = [f for f in files if f not in _SKIP_FILES]
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            try:
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            entry = device_entry(path, os.path.normpath(os.path.join(ctr_dir, rel, name)), st)
            if entry is not None:
                out.append(entry)
    return out


def parse_device(value: str) -> tuple[list[dict[str, Any]], str]:
    """``HOST[:CTR[:PERMS]]`` -> (device entries, permissions)."""
    flag = f"--device {value}"
    parts = value.split(":")
    if len(parts) > 3 or not parts[0]:
        raise InvalidArgument(f"{flag}: invalid device specification, want HOST[:CONTAINER[:PERMISSIONS]]")
    host = parts[0]
    ctr, perms = host, "rwm"
    if len(parts) >= 2:
        if parts[1].startswith("/"):
            ctr = parts[1]
            if len(parts) == 3:
                perms = parts[2]
        elif len(parts) == 2:
            perms = parts[1]
        else:
            raise InvalidArgument(f"{flag}: container path {parts[1]!r} must be absolute")
    if not perms or any(c not in "rwm" for c in perms) or len(set(perms)) != len(perms):
        raise InvalidArgument(f"{flag}: invalid device mode: {perms!r} (a combination of r, w, m)")
    if not host.startswith("/"):
        raise InvalidArgument(f"{flag}: host path {host!r} must be absolute")
    try:
        st = os.stat(host)
    except FileNotFoundError:
        raise NotFound(f"{flag}: stat {host}: no such file or directory") from None
    if stat.S_ISDIR(st.st_mode):
        entries = _walk(host, ctr, skip_top=False)
        if not entries:
            raise InvalidArgument(f"{flag}: {host} holds no device nodes")
        return entries, perms
    entry = device_entry(host, ctr, st)
    if entry is None:
        raise InvalidArgument(f"{flag}: {host} is not a device node")
    return [entry], perms


def host_devices() -> list[dict[str, Any]]:
    """Every device node of the host's /dev (for ``--privileged``)."""
    return _walk("/dev", "/dev", skip_top=True)


def add_devices(spec: dict, entries: list[dict[str, Any]], perms: str) -> None:
    """Add nodes (replacing any at the same path) and their allow rules."""
    linux = spec.setdefault("linux", {})
    devs = [d for d in linux.get("devices") or [] if d["path"] not in {e["path"] for e in entries}]
    linux["devices"] = devs + entries
    rules = linux.setdefault("resources", {}).setdefault("devices", [])
    for e in entries:
        rules.append({"allow": True, "type": e["type"], "major": e["major"], "minor": e["minor"],
                      "access": perms})
