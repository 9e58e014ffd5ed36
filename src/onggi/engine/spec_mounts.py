"""The mounts of config.json from ``-v``, ``--mount``, ``--tmpfs``, ``--read-only``, the
image's VOLUMEs and the files the lifecycle prepared (/etc/hosts, /etc/resolv.conf,
/etc/hostname), with podman's default options:

=============  =====================================================================
bind           rw (unless ro), rprivate (unless a propagation), rbind (unless bind)
volume         bind of the volume's ``_data`` as above, plus nosuid, nodev
tmpfs          rw, rprivate, nosuid, nodev, tmpcopyup (podman 4 adds no noexec)
--read-only    tmpfs on /tmp, /var/tmp and /run (podman's ``--read-only-tmpfs``)
=============  =====================================================================

A user mount replaces a default mount at the same place (/dev/shm, ...) and stops the
lifecycle's hosts/resolv.conf/hostname file from being mounted there; /proc, /sys and
/dev themselves cannot be replaced. Mounts are sorted so a parent comes before what is
mounted under it.

Named volumes are made on first use; anonymous ones (``-v /dst``, ``--mount type=volume``
without a source, the image's VOLUMEs) are made for the container and their names
returned, so the lifecycle can remove them with the container (``rm -v``, ``--rm``).
A new volume gets the image's content at its path (copy-up) and its owner; ``U`` chowns
the source to the container's user.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..errors import InvalidArgument, NotFound
from . import volumes
from .mount_parse import MountRequest, clean_dest, parse_mount, parse_tmpfs, parse_volume
from .options import RunOptions, SpecContext
from .paths import Paths

__all__ = ["apply_mounts", "requests", "sort_mounts", "READ_ONLY_TMPFS"]

READ_ONLY_TMPFS = ("/tmp", "/var/tmp", "/run")
_FORBIDDEN = ("/proc", "/sys", "/dev")
_TMPFS_DEFAULTS = ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
# host directories ``U`` never chowns (podman refuses these too)
_NO_CHOWN = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media",
             "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
             "/var"}


def requests(opts: RunOptions, image_volumes: Sequence[str] = ()) -> list[MountRequest]:
    """Every mount the user asked for (parsed and checked), then the read-only tmpfs
    mounts and the image's VOLUMEs that no user mount covers."""
    reqs = ([parse_volume(v) for v in opts.volumes] + [parse_mount(m) for m in opts.mounts]
            + [parse_tmpfs(t) for t in opts.tmpfs])
    seen: dict[str, MountRequest] = {}
    for r in reqs:
        if r.dest in _FORBIDDEN:
            raise InvalidArgument(f"{r.flag}: {r.dest} cannot be replaced by a mount")
        if r.dest in seen:
            raise InvalidArgument(f"{r.flag}: {r.dest}: duplicate mount destination "
                                  f"(also in {seen[r.dest].flag})")
        seen[r.dest] = r
    if opts.read_only and getattr(opts, "read_only_tmpfs", True):
        for d in READ_ONLY_TMPFS:
            if d not in seen:
                reqs.append(MountRequest(kind="tmpfs", dest=d, flag="--read-only"))
                seen[d] = reqs[-1]
    for v in image_volumes:
        d = clean_dest(v, f"the image's VOLUME {v}")
        if d not in seen and d not in _FORBIDDEN:
            reqs.append(MountRequest(kind="volume", dest=d, flag=f"the image's VOLUME {v}"))
            seen[d] = reqs[-1]
    return reqs


def _with_defaults(options: list[str], defaults: list[str]) -> list[str]:
    """``options`` followed by each default that no given option overrides."""
    out = list(options)
    groups = (("ro", "rw"), ("suid", "nosuid"), ("dev", "nodev"), ("exec", "noexec"), ("bind", "rbind"),
              ("tmpcopyup", "notmpcopyup"),
              ("private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"))
    for d in defaults:
        group = next((g for g in groups if d in g), (d,))
        if not any(o in group for o in out):
            out.append(d)
    return [o for o in out if o != "notmpcopyup"]


def _process_ids(spec: dict) -> tuple[int, int]:
    user = (spec.get("process") or {}).get("user") or {}
    return int(user.get("uid", 0)), int(user.get("gid", 0))


def _bind(req: MountRequest, spec: dict) -> dict[str, Any]:
    src = req.source
    try:
        os.stat(src)
    except FileNotFoundError:
        raise NotFound(f"{req.flag}: statfs {src}: no such file or directory") from None
    except OSError as e:
        raise InvalidArgument(f"{req.flag}: {src}: {e.strerror}") from None
    if req.chown:
        if os.path.realpath(src) in _NO_CHOWN:
            raise InvalidArgument(f"{req.flag}: chowning host path {src!r} is not allowed")
        from .volume_copyup import chown_tree

        chown_tree(src, *_process_ids(spec), recursive=True)
    return {"destination": req.dest, "type": "bind", "source": src,
            "options": _with_defaults(req.options, ["rw", "rprivate", "rbind"])}


def _overlay(req: MountRequest, ctx: SpecContext, index: int) -> dict[str, Any]:
    if not os.path.isdir(req.source):
        raise NotFound(f"{req.flag}: {req.source}: an overlay needs an existing host directory")
    base = os.path.join(ctx.bundle, "overlay-volumes", str(index))
    upper, work = os.path.join(base, "upper"), os.path.join(base, "work")
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    keep = [o for o in req.options if o not in ("bind", "rbind")]
    return {"destination": req.dest, "type": "overlay", "source": "overlay",
            "options": [f"lowerdir={req.source}", f"upperdir={upper}", f"workdir={work}"]
            + _with_defaults(keep, ["rw", "rprivate"])}


def _volume(req: MountRequest, spec: dict, ctx: SpecContext, paths: Paths, made: list[str]) -> dict[str, Any]:
    if req.source:
        if not volumes.valid_name(req.source):
            raise InvalidArgument(f"{req.flag}: volume name {req.source!r}: names must match "
                                  f"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
        vol = volumes.create(paths, req.source, req.volume_labels, req.volume_options, ignore_existing=True)
    else:
        vol = volumes.create(paths, None, req.volume_labels, req.volume_options, anonymous=True)
        made.append(vol.name)
    vol = volumes.attach(paths, vol.name, ctx.container_id)
    ctx.volume_paths[vol.name] = vol.mountpoint
    if vol.options.get("type"):
        o = [x for x in vol.options.get("o", "").split(",") if x]
        return {"destination": req.dest, "type": vol.options["type"], "source": vol.options["device"],
                "options": _with_defaults(req.options + o, ["rw", "rprivate", "nosuid", "nodev"])}
    _prepare(vol, req, spec, ctx, paths)
    return {"destination": req.dest, "type": "bind", "source": vol.mountpoint,
            "options": _with_defaults(req.options, ["rw", "rprivate", "nosuid", "nodev", "rbind"])}


def _prepare(vol: volumes.Volume, req: MountRequest, spec: dict, ctx: SpecContext, paths: Paths) -> None:
    """First use of a volume: copy the image's content up and take its owner (or the
    container user's); ``U`` chowns it to the container's user every time."""
    import fcntl

    from .volume_copyup import chown_tree, copy_up

    uid, gid = _process_ids(spec)
    # one container at a time prepares a volume (two first users must not both copy)
    lock = os.open(os.path.dirname(vol.mountpoint), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        vol = volumes.get(paths, vol.name)
        copied = chowned = False
        if vol.needs_copy_up and req.copy and not os.listdir(vol.mountpoint):
            copied = copy_up(ctx.rootfs, req.dest, vol.mountpoint)
        if vol.needs_chown and not copied:
            chown_tree(vol.mountpoint, uid, gid, recursive=False)
            chowned = True
        if req.chown:
            chown_tree(vol.mountpoint, uid, gid, recursive=True)
        if vol.needs_copy_up or vol.needs_chown:
            volumes.mark_populated(paths, vol.name, copied_up=True, chowned=chowned or copied)
    finally:
        os.close(lock)


def sort_mounts(mounts: list[dict]) -> list[dict]:
    """Parents before children: a stable sort by the number of path components."""
    def depth(m: dict) -> int:
        d = m.get("destination", "/").rstrip("/")
        return d.count("/")

    return sorted(mounts, key=depth)


def apply_mounts(spec: dict, opts: RunOptions, ctx: SpecContext, paths: Paths, *,
                 image_volumes: Sequence[str] = ()) -> list[str]:
    """Add the container's mounts to ``spec["mounts"]`` (see the module's docstring).
    ``image_volumes``: the image config's ``Volumes`` keys. Returns the names of the
    anonymous volumes made. On an error, the volumes made are removed again."""
    reqs = requests(opts, image_volumes)
    made: list[str] = []
    user_mounts: list[dict[str, Any]] = []
    try:
        for i, r in enumerate(reqs):
            if r.kind == "bind":
                user_mounts.append(_bind(r, spec))
            elif r.kind == "overlay":
                user_mounts.append(_overlay(r, ctx, i))
            elif r.kind == "volume":
                user_mounts.append(_volume(r, spec, ctx, paths, made))
            elif r.kind == "tmpfs":
                user_mounts.append({"destination": r.dest, "type": "tmpfs", "source": "tmpfs",
                                    "options": _with_defaults(r.options, _TMPFS_DEFAULTS)})
            else:  # devpts
                user_mounts.append({"destination": r.dest, "type": "devpts", "source": "devpts",
                                    "options": r.options or ["nosuid", "noexec", "newinstance",
                                                             "ptmxmode=0666", "mode=0620"]})
    except BaseException:
        volumes.release(paths, ctx.container_id, remove_anonymous=made)
        raise
    taken = {m["destination"] for m in user_mounts}
    mounts = [m for m in spec.get("mounts") or [] if clean_dest(m.get("destination", "/"), "mount") not in taken]
    mounts += user_mounts
    extra = ["ro", "nosuid", "noexec", "nodev"] if opts.read_only else []
    for dest, src in (("/etc/hosts", ctx.hosts_file), ("/etc/resolv.conf", ctx.resolv_conf),
                      ("/etc/hostname", ctx.hostname_file)):
        if src and dest not in taken:
            mounts.append({"destination": dest, "type": "bind", "source": src,
                           "options": ["bind", "rprivate"] + extra})
    spec["mounts"] = sort_mounts(mounts)
    return made
