"""``--userns``: which user namespace a container gets, as podman's modes:

- ``""`` / ``host``: none of its own (the host's ids);
- ``keep-id`` (rootless only, as podman): the user's uid and gid are the same inside and
  outside; the ids below and above come from the user's /etc/subuid and /etc/subgid
  ranges; the process runs as that uid/gid unless ``--user`` says otherwise;
- ``auto[:size=N]``: a new namespace mapping N ids (default 65536): as root from the
  ranges of the ``containers`` user in /etc/subuid and /etc/subgid (podman's), rootless
  container root is the user and the rest comes from the user's ranges. The rootfs is not
  chowned, so image files owned by host root appear as ``nobody`` inside;
- ``ns:PATH``: join the user namespace at PATH.
"""

from __future__ import annotations

import os
import pwd
from typing import Any

from ..errors import InvalidArgument, NotFound

__all__ = ["apply_userns", "sub_ranges"]

AUTO_SIZE = 65536


def sub_ranges(path: str, user: str, uid: int | None = None) -> list[tuple[int, int]]:
    """(start, count) ranges of ``user`` (or its uid) in an /etc/subuid-style file."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or line.startswith("#"):
            continue
        if parts[0] == user or (uid is not None and parts[0] == str(uid)):
            try:
                out.append((int(parts[1]), int(parts[2])))
            except ValueError:
                continue
    return out


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _need(ranges: list[tuple[int, int]], size: int, what: str) -> tuple[int, int]:
    for start, count in ranges:
        if count >= size:
            return start, count
    raise NotFound(f"--userns: no range of at least {size} ids for {what}")


def _maps(euid: int, egid: int, mode: str, size: int, subuid: str, subgid: str) -> tuple[list, list, int, int]:
    """(uid mappings, gid mappings, process uid, process gid; -1: keep)."""
    if euid == 0:
        if mode == "keep-id":
            raise InvalidArgument("--userns keep-id: keep-id is only supported in rootless mode")
        u = _need(sub_ranges(subuid, "containers"), size, f"user 'containers' in {subuid}")
        g = _need(sub_ranges(subgid, "containers"), size, f"user 'containers' in {subgid}")
        return ([{"containerID": 0, "hostID": u[0], "size": size}],
                [{"containerID": 0, "hostID": g[0], "size": size}], -1, -1)
    name = _user_name(euid)
    u = _need(sub_ranges(subuid, name, euid), 1, f"user {name!r} in {subuid}")
    g = _need(sub_ranges(subgid, name, euid), 1, f"user {name!r} in {subgid}")
    if mode == "keep-id":
        uids, gids = [], []
        for ids, host_id, (start, count) in ((uids, euid, u), (gids, egid, g)):
            if count < host_id:
                raise NotFound(f"--userns keep-id: the subordinate range ({count} ids) is smaller "
                               f"than the id {host_id} to keep")
            if host_id > 0:
                ids.append({"containerID": 0, "hostID": start, "size": host_id})
            ids.append({"containerID": host_id, "hostID": host_id, "size": 1})
            if count - host_id > 0:
                ids.append({"containerID": host_id + 1, "hostID": start + host_id, "size": count - host_id})
        return uids, gids, euid, egid
    usize, gsize = min(size - 1, u[1]), min(size - 1, g[1])
    return ([{"containerID": 0, "hostID": euid, "size": 1}, {"containerID": 1, "hostID": u[0], "size": usize}],
            [{"containerID": 0, "hostID": egid, "size": 1}, {"containerID": 1, "hostID": g[0], "size": gsize}],
            -1, -1)


def apply_userns(spec: dict, mode: str | None, *, user_given: bool = False, euid: int | None = None,
                 egid: int | None = None, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid") -> None:
    """Add the user namespace (and id mappings) ``mode`` asks for to ``spec``."""
    mode = (mode or "").strip()
    if mode in ("", "host"):
        return
    linux: dict[str, Any] = spec.setdefault("linux", {})
    namespaces = [n for n in linux.get("namespaces") or [] if n.get("type") != "user"]
    if mode.startswith("ns:"):
        path = mode[3:]
        if not path.startswith("/"):
            raise InvalidArgument(f"--userns {mode}: the namespace path must be absolute")
        if not os.path.exists(path):
            raise NotFound(f"--userns {mode}: {path}: no such file or directory")
        linux["namespaces"] = namespaces + [{"type": "user", "path": path}]
        return
    base, _, rest = mode.partition(":")
    if base not in ("keep-id", "auto"):
        raise InvalidArgument(f"--userns {mode}: unrecognized namespace mode (host, keep-id, auto, ns:PATH)")
    size = AUTO_SIZE
    for opt in rest.split(",") if rest else []:
        k, _, v = opt.partition("=")
        if base == "auto" and k == "size" and v.isdigit() and int(v) > 0:
            size = int(v)
        else:
            raise InvalidArgument(f"--userns {mode}: unknown option {opt!r}")
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    uids, gids, puid, pgid = _maps(euid, egid, base, size, subuid, subgid)
    linux["namespaces"] = namespaces + [{"type": "user"}]
    linux["uidMappings"] = uids
    linux["gidMappings"] = gids
    if puid >= 0 and not user_given:
        user = spec.setdefault("process", {}).setdefault("user", {})
        user["uid"], user["gid"] = puid, pgid
