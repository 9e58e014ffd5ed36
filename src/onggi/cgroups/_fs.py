"""Small cgroupfs helpers shared by the v1 and v2 managers.

Every kernel refusal is turned into an onggi error that names the spec field (when
there is one), the value and the cgroup file, e.g.::

    linux.resources.memory.limit: cannot write 4096 to
    /sys/fs/cgroup/memory/c1/memory.limit_in_bytes: Device or resource busy

Files are opened without ``O_CREAT``: a missing file means the kernel lacks the
controller or the feature, and is reported as such (fake trees in tests pre-create the
files the kernel would show). Imports stay at ``os``/``errno`` and onggi's errors: this
runs on every container start.
"""

from __future__ import annotations

import errno
import os

from ..errors import (FailedPrecondition, InvalidArgument, NotFound, OnggiError,
                      PermissionDenied, Unavailable, Unsupported)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Controllers of cgroup v1 that can appear in a cgroup mount's super options.
V1_CONTROLLERS = frozenset((
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
    "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc", "debug",
))

ENOTSUPP = 524  # the kernel-internal "not supported" that leaks out of some cgroup files

_WRITE_FLAGS = os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC


def error(err: OSError, what: str, field: str | None = None) -> OnggiError:
    """Map an OSError of a cgroup operation to an onggi error category.

    ``what`` describes the operation and names the file ("cannot write 5 to /x/pids.max").
    """
    code = err.errno
    msg = f"{what}: {os.strerror(code) if code else err}"
    if code == ENOTSUPP:
        msg = f"{what}: Operation not supported by this kernel"
    if field:
        msg = f"{field}: {msg}"
    if code in (errno.EINVAL, errno.EBUSY, errno.ERANGE, errno.EOVERFLOW, errno.ENOSPC):
        return InvalidArgument(msg)
    if code in (errno.ENOENT, errno.EOPNOTSUPP, ENOTSUPP, errno.ENODEV, errno.ENOSYS):
        return Unsupported(msg)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDenied(msg)
    if code in (errno.EAGAIN, errno.EINTR):
        return Unavailable(msg)
    return FailedPrecondition(msg)


def write(path: str, value: str | int, field: str | None = None) -> None:
    """Write ``value`` to the cgroup file ``path`` in one write(2)."""
    data = str(value).encode()
    try:
        fd = os.open(path, _WRITE_FLAGS)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise error(e, f"cannot write {value} to {path}", field) from None


def read(path: str, field: str | None = None) -> str:
    """The whole text of a cgroup file, stripped; a missing file is NotFound."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise NotFound(f"{field + ': ' if field else ''}{path} does not exist") from None
    except OSError as e:
        raise error(e, f"cannot read {path}", field) from None
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
    except OSError as e:
        raise error(e, f"cannot read {path}", field) from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace").strip()


def read_or(path: str, default: str = "") -> str:
    """Like ``read`` but ``default`` when the file is missing or unreadable (stats)."""
    try:
        return read(path)
    except OnggiError:
        return default


def to_int(text: str, maximum: int = 0) -> int:
    """A cgroup number; ``max`` (v2 unlimited) reads as ``maximum``; junk reads as 0."""
    if text == "max":
        return maximum
    try:
        return int(text)
    except ValueError:
        return 0


def keyed(text: str) -> dict[str, int]:
    """Parse ``key value`` lines (memory.stat, cpu.stat, memory.events ...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k:
            out[k] = to_int(v.strip())
    return out


def exists(path: str) -> bool:
    return os.path.exists(path)


def mkdir_p(path: str) -> None:
    # a parent removed meanwhile (an engine prunes its empty parent cgroup when its last
    # container goes) is made again
    for attempt in range(3):
        try:
            os.makedirs(path, exist_ok=True)
            return
        except FileNotFoundError as e:
            if attempt == 2:
                raise error(e, f"cannot create cgroup {path}") from None
        except OSError as e:
            raise error(e, f"cannot create cgroup {path}") from None


def rmdir(path: str) -> None:
    """Remove one cgroup directory (indirection so tests can fake the kernel's rmdir)."""
    os.rmdir(path)


def range_list(text: str) -> list[int]:
    """Expand a cpuset list such as ``0-3,8`` into ``[0, 1, 2, 3, 8]``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out


def rdma_lines(rdma: dict[str, Any], field: str) -> list[str]:
    """``linux.resources.rdma`` ({dev: {hcaHandles, hcaObjects}}) as rdma.max lines."""
    out = []
    for dev, lim in rdma.items():
        if not isinstance(lim, dict):
            raise InvalidArgument(f"{field}.{dev}: expected an object")
        parts = [dev]
        for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
            v = lim.get(key)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise InvalidArgument(f"{field}.{dev}.{key}: expected a non-negative integer")
                parts.append(f"{name}={v}")
        if len(parts) > 1:
            out.append(" ".join(parts))
    return out


# -- mountinfo --------------------------------------------------------------------------

def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


class Mount:
    """One cgroup filesystem mount: where, which hierarchy root, and its controllers
    (v1: ``["cpu", "cpuacct"]`` or ``["name=systemd"]``; cgroup2: ``[]``)."""

    __slots__ = ("point", "root", "fstype", "controllers")

    def __init__(self, point: str, root: str, fstype: str, controllers: list[str]) -> None:
        self.point = point
        self.root = root
        self.fstype = fstype
        self.controllers = controllers

    def __repr__(self) -> str:
        return f"Mount({self.point!r}, {self.root!r}, {self.fstype!r}, {self.controllers!r})"


def cgroup_mounts(mountinfo: str, root: str) -> list[Mount]:
    """The cgroup and cgroup2 mounts at or under ``root``, in mount order."""
    root = os.path.normpath(root)
    prefix = root.rstrip("/") + "/"
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as e:
        raise error(e, f"cannot read {mountinfo}") from None
    mounts: list[Mount] = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        tail = post.split(" ")
        fstype = tail[0]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        head = pre.split(" ")
        if len(head) < 5:
            continue
        point = _unescape(head[4])
        if point != root and not point.startswith(prefix):
            continue
        ctrls: list[str] = []
        if fstype == "cgroup" and len(tail) > 2:
            ctrls = [o for o in tail[2].split(",") if o in V1_CONTROLLERS or o.startswith("name=")]
        mounts.append(Mount(point, _unescape(head[3]), fstype, ctrls))
    return mounts


def version_of(mounts: list[Mount], root: str) -> str:
    """``v2`` when cgroup2 is mounted at ``root`` itself; ``v1`` when v1 hierarchies are
    mounted under it (legacy or hybrid); Unsupported otherwise."""
    root = os.path.normpath(root)
    at_root = [m for m in mounts if m.point == root]
    if at_root and at_root[-1].fstype == "cgroup2":
        return "v2"
    if any(m.fstype == "cgroup" for m in mounts):
        return "v1"
    raise Unsupported(f"no cgroup filesystem is mounted at {root}")


def cgroup_path(cgroups_path: str | None, container_id: str) -> str:
    """Normalise ``linux.cgroupsPath`` to an absolute path inside every hierarchy.

    Absolute paths are relative to the hierarchy root; relative ones are taken relative
    to the root too (runc's default when the runtime sits in the root cgroup); no path
    means ``/<id>``. ``..`` is refused so a config cannot reach outside the hierarchy.
    """
    if cgroups_path is None or cgroups_path == "":
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidArgument(f"container id {container_id!r} cannot name a cgroup")
        return "/" + container_id
    parts = [p for p in cgroups_path.split("/") if p and p != "."]
    if ".." in parts:
        raise InvalidArgument(f"linux.cgroupsPath: {cgroups_path!r} must not contain '..'")
    if not parts:
        raise InvalidArgument(f"linux.cgroupsPath: {cgroups_path!r} names the root cgroup")
    return "/" + "/".join(parts)
