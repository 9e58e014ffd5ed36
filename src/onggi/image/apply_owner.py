"""Ownership and device nodes during layer apply: the root and the rootless implementation.

:class:`RootOwner` chowns every entry to the archive's uid/gid, mapped through an
:class:`IdMap` when one is given (an image unpacked for a user-namespaced container, the
``--uid-map``/``--gid-map`` of umoci, the ``remap`` of containers-storage); an id the map does
not cover is an error naming the entry. It makes char and block devices with ``mknod``;
where the kernel refuses (inside a user namespace) the device is skipped and recorded, as
containers-storage does there; a refusal outside one is an error.

:class:`RootlessOwner` is for an unprivileged caller (no ``CAP_CHOWN``/``CAP_MKNOD``):
ownership is not applied (everything belongs to the caller, as with ``umoci --rootless``)
and char/block devices are skipped and recorded (rootless podman does the same). FIFOs need
no privilege and are made by both.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..errors import InvalidArgument, PermissionDenied
from .tarstream import BLOCK, CHAR, TarEntry

__all__ = ["IdMap", "RootOwner", "RootlessOwner", "Owner", "choose", "in_user_namespace"]

Skip = Callable[[str, str], None]  # skip(entry name, reason)
_NO_ID = 0xFFFFFFFF  # (uid_t)-1


def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the initial one."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


@dataclass(frozen=True)
class IdMap:
    """Container -> host id ranges, each ``(container_id, host_id, size)`` as in the runtime
    spec's ``uidMappings``/``gidMappings``."""

    uids: tuple[tuple[int, int, int], ...]
    gids: tuple[tuple[int, int, int], ...]

    @classmethod
    def parse(cls, uid_map: Iterable[str], gid_map: Iterable[str]) -> "IdMap":
        """From umoci-style strings ``"container:host:size"``."""
        def one(s: str) -> tuple[int, int, int]:
            try:
                c, h, n = (int(x) for x in s.split(":"))
            except ValueError:
                raise InvalidArgument(f"id mapping {s!r}: expected container:host:size") from None
            if c < 0 or h < 0 or n < 1:
                raise InvalidArgument(f"id mapping {s!r}: ids must be >= 0 and size >= 1")
            return c, h, n
        return cls(tuple(one(s) for s in uid_map), tuple(one(s) for s in gid_map))

    @classmethod
    def from_spec(cls, uid_mappings: Sequence[object], gid_mappings: Sequence[object]) -> "IdMap":
        """From :class:`onggi.oci.linux.IDMapping` objects (``container_id``, ``host_id``, ``size``)."""
        def conv(ms: Sequence[object]) -> tuple[tuple[int, int, int], ...]:
            return tuple((m.container_id, m.host_id, m.size) for m in ms)  # type: ignore[attr-defined]
        return cls(conv(uid_mappings), conv(gid_mappings))

    @staticmethod
    def _map(ranges: tuple[tuple[int, int, int], ...], cid: int) -> int | None:
        for c, h, n in ranges:
            if c <= cid < c + n:
                return h + cid - c
        return None

    def uid(self, cid: int) -> int | None:
        return self._map(self.uids, cid)

    def gid(self, cid: int) -> int | None:
        return self._map(self.gids, cid)


class Owner:
    """What the two implementations share; subclasses decide ids and devices."""

    rootless = False
    #: the xattr that marks an opaque directory in overlay whiteout mode
    opaque_xattr = "trusted.overlay.opaque"

    def ids(self, e: TarEntry, name: str) -> tuple[int, int] | None:
        raise NotImplementedError

    def chown_fd(self, fd: int, e: TarEntry, name: str) -> None:
        ids = self.ids(e, name)
        if ids is not None:
            os.fchown(fd, *ids)

    def chown_at(self, parent: int, base: str, e: TarEntry, name: str) -> None:
        """Chown the entry ``base`` of the directory ``parent`` itself (never a symlink's target)."""
        ids = self.ids(e, name)
        if ids is not None:
            os.chown(base, *ids, dir_fd=parent, follow_symlinks=False)

    def mknod(self, parent: int, base: str, e: TarEntry, name: str, skip: Skip) -> bool:
        """Make a device or FIFO; False when it was skipped (and recorded)."""
        if e.type not in (CHAR, BLOCK):
            os.mkfifo(base, 0o600, dir_fd=parent)
            return True
        return self._device(parent, base, e, name, skip)

    def _device(self, parent: int, base: str, e: TarEntry, name: str, skip: Skip) -> bool:
        raise NotImplementedError


class RootOwner(Owner):
    """Privileged apply: archive ownership (optionally mapped), real device nodes."""

    def __init__(self, id_map: IdMap | None = None, *, what: str = "layer") -> None:
        self.id_map = id_map
        self.what = what
        self._userns: bool | None = None

    def ids(self, e: TarEntry, name: str) -> tuple[int, int]:
        for kind, v in (("uid", e.uid), ("gid", e.gid)):
            if not 0 <= v < _NO_ID:  # -1 would mean "leave unchanged" to chown(2)
                raise InvalidArgument(f"{self.what}: entry {name!r}: {kind} {v} is out of range")
        m = self.id_map
        if m is None:
            return e.uid, e.gid
        uid, gid = m.uid(e.uid), m.gid(e.gid)
        if uid is None or gid is None:
            which = f"uid {e.uid}" if uid is None else f"gid {e.gid}"
            raise InvalidArgument(f"{self.what}: entry {name!r}: {which} is not covered by the id "
                                  f"mapping {list(m.uids if uid is None else m.gids)}")
        if uid >= _NO_ID or gid >= _NO_ID:
            raise InvalidArgument(f"{self.what}: entry {name!r}: the id mapping gives an id out of range")
        return uid, gid

    def _device(self, parent: int, base: str, e: TarEntry, name: str, skip: Skip) -> bool:
        kind = stat.S_IFCHR if e.type == CHAR else stat.S_IFBLK
        try:
            os.mknod(base, kind | 0o600, os.makedev(e.devmajor, e.devminor), dir_fd=parent)
        except PermissionError:
            if self._userns is None:
                self._userns = in_user_namespace()
            if not self._userns:
                raise PermissionDenied(f"{self.what}: entry {name!r}: mknod of a "
                                       f"{'char' if e.type == CHAR else 'block'} device was refused "
                                       f"(no CAP_MKNOD?)") from None
            skip(name, "device node not created: mknod is not allowed in a user namespace")
            return False
        return True


class RootlessOwner(Owner):
    """Unprivileged apply: the caller owns everything; devices are skipped."""

    rootless = True
    opaque_xattr = "user.overlay.opaque"  # overlayfs "userxattr", as rootless overlay mounts use

    def __init__(self, *, what: str = "layer") -> None:
        self.what = what

    def ids(self, e: TarEntry, name: str) -> None:
        return None

    def _device(self, parent: int, base: str, e: TarEntry, name: str, skip: Skip) -> bool:
        skip(name, f"device node {e.devmajor}:{e.devminor} not created: rootless apply cannot mknod")
        return False


def choose(id_map: IdMap | None, rootless: bool | None, what: str) -> Owner:
    """The implementation for a caller: ``rootless`` None means "when not euid 0"."""
    if rootless is None:
        rootless = os.geteuid() != 0
    if rootless:
        if id_map is not None:
            raise InvalidArgument(f"{what}: an id mapping needs a privileged apply (root, or "
                                  f"root in the user namespace that owns the ids); rootless apply "
                                  f"leaves every file owned by the caller")
        return RootlessOwner(what=what)
    return RootOwner(id_map, what=what)

