"""``-v`` / ``--volume``, ``--mount`` and ``--tmpfs`` in podman's syntax -> :class:`MountRequest`
(what to mount where, with which options). Pure: nothing here looks at the host apart from
turning a relative ``./dir`` source into an absolute path.

The options follow podman's rules: at most one of ``ro``/``rw``, of each ``[no]exec``,
``[no]dev``, ``[no]suid`` pair, of the propagations and of ``bind``/``rbind``; ``z``/``Z``
(SELinux relabelling) are accepted and dropped, as there is no SELinux here; ``U`` chowns
the source to the container's user; ``O`` mounts the source as the lower layer of an
overlay whose changes are thrown away with the container.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import InvalidArgument, Unsupported

__all__ = ["MountRequest", "parse_volume", "parse_mount", "parse_tmpfs", "clean_dest", "PROPAGATIONS"]

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
                "runbindable")
_PAIRS = (("ro", "rw"), ("exec", "noexec"), ("dev", "nodev"), ("suid", "nosuid"), ("bind", "rbind"),
          ("z", "Z"), ("copy", "nocopy"), ("tmpcopyup", "notmpcopyup"))
_ATIME = ("atime", "noatime", "relatime", "norelatime", "strictatime", "nostrictatime", "diratime",
          "nodiratime")
_TMPFS_KEYS = ("size", "mode", "nr_inodes", "nr_blocks", "uid", "gid")


@dataclass
class MountRequest:
    kind: str                    # bind, volume, tmpfs, devpts, overlay
    dest: str                    # absolute and clean
    source: str = ""             # host path (bind, overlay), volume name ("" : anonymous)
    options: list[str] = field(default_factory=list)   # mount options as written (z/Z/U/O/copy dropped)
    chown: bool = False          # U
    copy: bool = True            # copy the image's content up into a new volume
    volume_options: dict[str, str] = field(default_factory=dict)    # --mount volume-opt=
    volume_labels: dict[str, str] = field(default_factory=dict)     # --mount volume-label=
    flag: str = ""               # the flag and value, for error messages


def clean_dest(path: str, flag: str) -> str:
    """An absolute container path, lexically cleaned (``//a/./b/`` -> ``/a/b``)."""
    if not path.startswith("/"):
        raise InvalidArgument(f"{flag}: invalid container path {path!r}, must be an absolute path")
    from ..sys.securejoin import clean_parts

    return "/" + "/".join(clean_parts(path))


def _check_options(opts: list[str], kind: str, flag: str) -> tuple[list[str], bool, bool, bool]:
    """Validate mount options; returns (options to keep, chown U, overlay O, copy)."""
    keep: list[str] = []
    chown = overlay = False
    copy = True
    seen: dict[tuple[str, str], str] = {}
    prop = None
    for o in opts:
        if not o:
            raise InvalidArgument(f"{flag}: an empty mount option")
        pair = next((p for p in _PAIRS if o in p), None)
        if pair is not None:
            if pair in seen:
                raise InvalidArgument(f"{flag}: invalid options {seen[pair] + ', ' + o!r}, can only "
                                      f"specify 1 {'/'.join(repr(x) for x in pair)} option")
            seen[pair] = o
            if pair == ("bind", "rbind") and kind not in ("bind", "volume"):
                raise InvalidArgument(f"{flag}: option {o!r} is only for bind mounts and volumes")
            if pair == ("tmpcopyup", "notmpcopyup") and kind != "tmpfs":
                raise InvalidArgument(f"{flag}: option {o!r} is only for tmpfs mounts")
            if pair == ("copy", "nocopy"):
                copy = o == "copy"
            elif pair != ("z", "Z"):  # no SELinux: relabelling is a no-op
                keep.append(o)
        elif o in PROPAGATIONS:
            if prop is not None:
                raise InvalidArgument(f"{flag}: invalid options {prop + ', ' + o!r}, can only specify "
                                      f"1 propagation option")
            prop = o
            keep.append(o)
        elif o in _ATIME:
            keep.append(o)
        elif o in ("U", "U=true"):
            chown = True
        elif o == "U=false":
            pass
        elif o == "O":
            if kind != "bind":
                raise InvalidArgument(f"{flag}: the overlay option 'O' needs a host directory as source")
            overlay = True
        elif o == "idmap" or o.startswith("idmap="):
            raise Unsupported(f"{flag}: idmapped mounts are not supported")
        elif kind == "tmpfs" and o.partition("=")[0] in _TMPFS_KEYS and "=" in o:
            key, _, val = o.partition("=")
            if key == "mode" and not (val.isascii() and val.isdigit() and all(c in "01234567" for c in val)):
                raise InvalidArgument(f"{flag}: tmpfs mode {val!r} is not an octal number")
            keep.append(o)
        else:
            raise InvalidArgument(f"{flag}: unknown mount option {o!r}")
    return keep, chown, overlay, copy


def _is_path(src: str) -> bool:
    return src.startswith(("/", "."))


def parse_volume(value: str) -> MountRequest:
    """``-v [SRC:]DST[:OPTS]``: SRC a host path (absolute or ``./relative``) -> bind, a name
    -> named volume; no SRC -> anonymous volume."""
    flag = f"-v {value}"
    parts = value.split(":")
    if len(parts) > 3 or not value:
        raise InvalidArgument(f"{flag}: incorrect volume format, should be [host-dir:]ctr-dir[:option]")
    if len(parts) == 1:
        src, dst, opts = "", parts[0], ""
    elif len(parts) == 2:
        src, dst, opts = parts[0], parts[1], ""
    else:
        src, dst, opts = parts
    if len(parts) > 1 and not src:
        raise InvalidArgument(f"{flag}: the host path or volume name is empty")
    dest = clean_dest(dst, flag)
    kind = "volume" if not src or not _is_path(src) else "bind"
    keep, chown, overlay, copy = _check_options([o for o in opts.split(",")] if opts else [], kind, flag)
    if kind == "bind":
        src = os.path.abspath(src)
        if overlay:
            kind = "overlay"
    return MountRequest(kind=kind, dest=dest, source=src, options=keep, chown=chown, copy=copy, flag=flag)


def _bool(key: str, val: str, flag: str) -> bool:
    if val in ("", "true", "1", "True", "TRUE"):
        return True
    if val in ("false", "0", "False", "FALSE"):
        return False
    raise InvalidArgument(f"{flag}: {key}={val!r} is not true or false")


def parse_mount(value: str) -> MountRequest:
    """``--mount type=bind|volume|tmpfs|devpts,src=...,dst=...,...`` (podman's keys)."""
    flag = f"--mount {value}"
    kind = src = dst = None
    opts: list[str] = []
    vopts: dict[str, str] = {}
    vlabels: dict[str, str] = {}
    for item in value.split(","):
        key, eq, val = item.partition("=")
        key = key.strip()
        if key == "type":
            kind = val
        elif key in ("src", "source"):
            src = val
        elif key in ("dst", "destination", "target"):
            dst = val
        elif key in ("ro", "readonly"):
            opts.append("ro" if _bool(key, val, flag) else "rw")
        elif key == "rw":
            opts.append("rw" if _bool(key, val, flag) else "ro")
        elif key == "bind-propagation":
            if val not in PROPAGATIONS:
                raise InvalidArgument(f"{flag}: bind-propagation {val!r} is not one of {', '.join(PROPAGATIONS)}")
            opts.append(val)
        elif key == "bind-nonrecursive":
            if _bool(key, val, flag):
                opts.append("bind")
        elif key in ("relabel", "consistency"):
            pass  # no SELinux; consistency is a macOS notion
        elif key == "tmpfs-size":
            if not val:
                raise InvalidArgument(f"{flag}: tmpfs-size needs a value")
            opts.append(f"size={val}")
        elif key == "tmpfs-mode":
            opts.append(f"mode={val}")
        elif key in ("U", "chown"):
            if _bool(key, val, flag):
                opts.append("U")
        elif key in ("nocopy", "volume-nocopy"):
            if _bool(key, val, flag):
                opts.append("nocopy")
        elif key in ("volume-opt", "volume-label"):
            k, eq2, v = val.partition("=")
            if not k or not eq2:
                raise InvalidArgument(f"{flag}: {key} needs KEY=VALUE")
            (vopts if key == "volume-opt" else vlabels)[k] = v
        elif not eq and key in ("tmpcopyup", "notmpcopyup", "suid", "nosuid", "dev", "nodev", "exec",
                                "noexec", "z", "Z", "O", "idmap") + PROPAGATIONS:
            opts.append(key)
        else:
            raise InvalidArgument(f"{flag}: unknown option {key!r}")
    if kind is None:
        raise InvalidArgument(f"{flag}: type= is required (bind, volume, tmpfs or devpts)")
    if kind not in ("bind", "volume", "tmpfs", "devpts"):
        raise InvalidArgument(f"{flag}: invalid filesystem type {kind!r} (bind, volume, tmpfs or devpts)")
    if not dst:
        raise InvalidArgument(f"{flag}: must set the destination (dst=)")
    dest = clean_dest(dst, flag)
    if kind in ("tmpfs", "devpts") and src:
        raise InvalidArgument(f"{flag}: a {kind} mount takes no source")
    if kind == "bind":
        if not src:
            raise InvalidArgument(f"{flag}: a bind mount needs a source (src=)")
        if not src.startswith("/"):
            raise InvalidArgument(f"{flag}: bind source {src!r} must be an absolute path")
    if (vopts or vlabels) and kind != "volume":
        raise InvalidArgument(f"{flag}: volume-opt and volume-label are only for type=volume")
    keep, chown, overlay, copy = _check_options(opts, "bind" if kind == "bind" else kind, flag)
    if kind == "devpts":
        keep = [o for o in keep if o not in ("rw",)]
    return MountRequest(kind="overlay" if overlay else kind, dest=dest, source=src or "", options=keep,
                        chown=chown, copy=copy, volume_options=vopts, volume_labels=vlabels, flag=flag)


def parse_tmpfs(value: str) -> MountRequest:
    """``--tmpfs DST[:OPTS]``."""
    flag = f"--tmpfs {value}"
    dst, _, opts = value.partition(":")
    dest = clean_dest(dst, flag)
    keep, _, _, _ = _check_options(opts.split(",") if opts else [], "tmpfs", flag)
    return MountRequest(kind="tmpfs", dest=dest, options=keep, flag=flag)
