"""Unpacked layers (snapshots) and container layers: the containerd overlay snapshotter's
role. It never mounts: :meth:`Snapshotter.prepare` and :meth:`~Snapshotter.mounts` return
mount descriptions (:mod:`onggi.image.snapshots_mount`), which a caller mounts.

On disk, under the store's ``ROOT``::

    snapshots/<hex>/fs          one layer, unpacked on its own (never flattened); <hex> is
                                the hex of its chain ID
    snapshots/<hex>/meta.json   {"chain_id", "parent", "diff_id", "link", "created"}
    snapshots/tmp-<hex>-<rnd>   an unpack in progress (or left by a crash)
    snapshots/del-<hex>-<rnd>   a snapshot being removed
    l/<link>                    -> ../snapshots/<hex>/fs: short names for long overlay stacks
    locks/<hex>.lock            the chain's lock
    containers/<id>/            upper/, work/, merged/, meta.json {"parent", "image", ...}
    containers/tmp-*, del-*     the same two transitions for container layers

The chain ID of a stack is the spec's: ``chainID(L0) = diffID(L0)``,
``chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln))``.

Crash safety: a snapshot is unpacked in a ``tmp-`` directory, its ``meta.json`` written and
fsync'ed, then the directory is renamed into place, so a visible snapshot is always whole.
Removal renames to ``del-`` first. The ``l/`` links are derived data, re-made when missing.
(The unpacked files themselves are not fsync'ed one by one: a process crash loses nothing,
a power loss may; ``check`` verifies records and links, not layer contents.)
Concurrency: an unpack holds its chain's lock exclusively (a second process unpacking the
same chain waits, then reuses the result) and its parent's shared (so the collector, which
needs it exclusively, cannot remove the parent meanwhile). Container records change only
under the store lock, which the collector holds for its whole run.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Sequence

from ..errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound
from ..oci.digest import Digest, DigestMismatch, parse
from .locks import FileLock, Lease, atomic_write, claim, fsync_dir, random_id
from .snapshots_mount import Mount, plan

__all__ = ["Snapshotter", "SnapshotInfo", "ContainerLayer", "ApplyLayer", "chain_ids",
           "chain_id", "Mount"]

ApplyLayer = Callable[..., object]  # apply_layer(stream, dest, *, compression="auto")
OpenLayer = Callable[[], "BinaryIO | io.RawIOBase"]  # a fresh stream of a layer blob


def _takes_lowers(fn: ApplyLayer) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "lowers" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def chain_id(parent: str | None, diff_id: str) -> Digest:
    """The chain ID of layer ``diff_id`` on top of the chain ``parent``."""
    d = parse(diff_id, "diff ID")
    if parent is None:
        return d
    return Digest("sha256:" + hashlib.sha256(f"{parent} {d}".encode()).hexdigest())


def chain_ids(diff_ids: Sequence[str]) -> list[Digest]:
    """The chain ID of every prefix of a layer stack, bottom first."""
    out: list[Digest] = []
    for d in diff_ids:
        out.append(chain_id(out[-1] if out else None, d))
    return out


def _is_key(name: str) -> bool:
    return (0 < len(name) <= 128 and name[0].isalnum() and name[:4] not in ("tmp-", "del-")
            and all(c.isalnum() or c in "_.-" for c in name) and name.isascii())


@dataclass(frozen=True)
class SnapshotInfo:
    chain_id: Digest
    parent: Digest | None
    diff_id: Digest
    path: str        # the unpacked layer (read-only use)
    link: str        # its short name under ROOT/l
    created: float


@dataclass(frozen=True)
class ContainerLayer:
    id: str
    parent: Digest | None  # the chain ID under the container's layer
    image: str | None      # the image ID the container was made from, when said
    readonly: bool
    path: str              # ROOT/containers/<id>: upper/, work/, merged/
    created: float

    @property
    def upper(self) -> str:
        return os.path.join(self.path, "upper")

    @property
    def merged(self) -> str:
        """A directory to mount on (nothing is mounted there by the snapshotter)."""
        return os.path.join(self.path, "merged")


class Snapshotter:
    """Snapshots and container layers of the store at ``root``; ``apply_layer`` unpacks a
    layer stream into a directory (:mod:`onggi.image.apply`)."""

    def __init__(self, root: str, apply_layer: ApplyLayer | None = None) -> None:
        self.root = root
        self.apply_layer = apply_layer
        self.dir = os.path.join(root, "snapshots")
        self.links = os.path.join(root, "l")
        self.locks = os.path.join(root, "locks")
        self.containers_dir = os.path.join(root, "containers")
        for d in (self.dir, self.links, self.locks, self.containers_dir):
            os.makedirs(d, exist_ok=True)

    def store_lock(self) -> FileLock:
        return FileLock(os.path.join(self.root, "lock"))

    def chain_lock(self, chain: str) -> FileLock:
        return FileLock(os.path.join(self.locks, parse(chain, "chain ID").hex + ".lock"))

    # ---- snapshots ----------------------------------------------------------------------

    def exists(self, chain: str) -> bool:
        return os.path.isfile(os.path.join(self.dir, parse(chain, "chain ID").hex, "meta.json"))

    def get(self, chain: str) -> SnapshotInfo:
        c = parse(chain, "chain ID")
        d = os.path.join(self.dir, c.hex)
        try:
            with open(os.path.join(d, "meta.json"), "rb") as f:
                m = json.load(f)
            return SnapshotInfo(parse(m["chain_id"]), parse(m["parent"]) if m["parent"] else None,
                                parse(m["diff_id"]), os.path.join(d, "fs"), str(m["link"]),
                                float(m["created"]))
        except FileNotFoundError:
            raise NotFound(f"snapshot {c} does not exist") from None
        except (ValueError, KeyError, TypeError, InvalidArgument) as e:
            raise FailedPrecondition(f"snapshot {c}: unreadable {d}/meta.json: {e}") from e

    def list(self) -> list[SnapshotInfo]:
        """Every committed snapshot (an unreadable one is skipped; :mod:`check` reports it)."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if len(name) in (64, 128) and all(c in "0123456789abcdef" for c in name):
                try:
                    out.append(self.get(("sha256:" if len(name) == 64 else "sha512:") + name))
                except (NotFound, FailedPrecondition):
                    continue
        return out

    def lowers(self, chain: str) -> builtins.list[SnapshotInfo]:
        """The stack whose top is ``chain``, top first."""
        out: list[SnapshotInfo] = []
        cur: str | None = chain
        while cur is not None:
            if len(out) > 4096:
                raise FailedPrecondition(f"snapshot {chain}: parent links loop")
            out.append(self.get(cur))
            cur = out[-1].parent
        return out

    def claim(self, chain: str, lease: Lease | None) -> bool:
        """Whether the snapshot exists, protecting it by ``lease`` first (see
        :func:`onggi.image.locks.claim`)."""
        return claim(self.root, lease, parse(chain, "chain ID"), lambda: self.exists(chain))

    def unpack(self, parent: str | None, diff_id: str, open_layer: OpenLayer, *,
               compression: str = "auto", lease: Lease | None = None) -> SnapshotInfo:
        """The snapshot of layer ``diff_id`` on ``parent`` (None: a base layer), unpacked
        from ``open_layer()`` (a stream of the layer blob, opened only when needed; when it
        has ``finish()``, as a :class:`~onggi.image.blobs.BlobReader` has, the blob's
        digest is checked before the snapshot becomes visible). When ``apply_layer`` returns
        a digest (or an object with ``diff_id``), it must equal ``diff_id``."""
        chain = chain_id(parent, diff_id)
        if self.claim(chain, lease):
            return self.get(chain)
        if self.apply_layer is None:
            raise FailedPrecondition(f"snapshot {chain}: no layer apply function configured")
        plock = self.chain_lock(parent) if parent else None
        lock = self.chain_lock(chain)
        if plock is not None:
            plock.acquire(shared=True)
        try:
            lock.acquire()
            if parent is not None and not self.exists(parent):
                raise FailedPrecondition(f"snapshot {chain}: parent snapshot {parent} is missing")
            if self.exists(chain):  # another process unpacked it while we waited
                return self.get(chain)
            return self._unpack_locked(chain, parent, parse(diff_id), open_layer, compression)
        finally:
            lock.release()
            if plock is not None:
                plock.release()

    def _unpack_locked(self, chain: Digest, parent: str | None, diff_id: Digest,
                       open_layer: OpenLayer, compression: str) -> SnapshotInfo:
        for name in os.listdir(self.dir):  # leftovers of a crashed unpack of this chain
            if name.startswith(f"tmp-{chain.hex}-"):
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
        tmp = os.path.join(self.dir, f"tmp-{chain.hex}-{random_id(6)}")
        os.makedirs(os.path.join(tmp, "fs"))
        try:
            stream = open_layer()
            try:
                assert self.apply_layer is not None
                kw: dict = {"compression": compression}
                if parent is not None and _takes_lowers(self.apply_layer):
                    # a hard link may name a file of a lower layer: the apply copies it up
                    kw["lowers"] = [i.path for i in self.lowers(parent)]
                result = self.apply_layer(stream, os.path.join(tmp, "fs"), **kw)
                finish = getattr(stream, "finish", None)
                if callable(finish):
                    finish()
            finally:
                stream.close()
            got = result if isinstance(result, str) else getattr(result, "diff_id", None)
            if isinstance(got, str) and got != diff_id:
                raise DigestMismatch(f"layer {diff_id}: unpacked content has diff ID {got}")
            meta = {"chain_id": chain, "parent": parent, "diff_id": diff_id,
                    "link": self._choose_link(chain), "created": time.time()}
            atomic_write(os.path.join(tmp, "meta.json"), json.dumps(meta).encode())
            final = os.path.join(self.dir, chain.hex)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(self.dir)
        info = self.get(chain)
        self.ensure_link(info)
        return info

    def _choose_link(self, chain: Digest) -> str:
        """A short link name from the chain's hash: 12 base32 letters, longer on a clash."""
        name = base64.b32encode(bytes.fromhex(chain.hex)).decode()
        for n in (12, 16, 20, 26, len(name.rstrip("="))):
            link = os.path.join(self.links, name[:n])
            try:
                if os.readlink(link) != self._link_target(chain.hex):
                    continue  # another snapshot's (or a dangling) link
            except FileNotFoundError:
                pass
            except OSError:
                continue  # something that is not a link
            return name[:n]
        raise Conflict(f"snapshot {chain}: no free short link name")  # pragma: no cover

    @staticmethod
    def _link_target(hexname: str) -> str:
        return f"../snapshots/{hexname}/fs"

    def ensure_link(self, info: SnapshotInfo) -> None:
        """Make ``l/<link>`` of a snapshot when it is missing (it is derived data)."""
        path = os.path.join(self.links, info.link)
        want = self._link_target(info.chain_id.hex)
        try:
            os.symlink(want, path)
        except FileExistsError:
            if os.readlink(path) != want:
                raise Conflict(f"short link {path} names another snapshot") from None

    def remove(self, chain: str) -> None:
        """Remove one snapshot; ``Conflict`` while a snapshot or a container is on it."""
        c = parse(chain, "chain ID")
        with self.store_lock(), self.chain_lock(c):
            info = self.get(c)
            if any(s.parent == c for s in self.list()):
                raise Conflict(f"snapshot {c} is the parent of another snapshot")
            users = [k.id for k in self.containers() if k.parent == c]
            if users:
                raise Conflict(f"snapshot {c} is used by container(s) {', '.join(users)}")
            self.delete_locked(info)

    def delete_locked(self, info: SnapshotInfo) -> None:
        """Remove a snapshot, its link and its lock file; the caller holds the store lock
        and the chain's lock. Renamed out first, so it vanishes at once and whole."""
        gone = os.path.join(self.dir, f"del-{info.chain_id.hex}-{random_id(6)}")
        os.rename(os.path.join(self.dir, info.chain_id.hex), gone)
        fsync_dir(self.dir)
        link = os.path.join(self.links, info.link)
        try:
            if os.readlink(link) == self._link_target(info.chain_id.hex):
                os.unlink(link)
        except (FileNotFoundError, OSError):
            pass
        shutil.rmtree(gone, ignore_errors=True)

    # ---- container layers ---------------------------------------------------------------

    def prepare(self, key: str, parent: str | None, *, readonly: bool = False,
                image: str | None = None) -> builtins.list[Mount]:
        """Make container ``key``'s layer (upper/work under ``ROOT/containers/<key>``) on
        the stack ``parent`` and return its mounts. ``AlreadyExists`` when it is taken."""
        if not _is_key(key):
            raise InvalidArgument(f"container key {key!r}: letters, digits, '_.-', at most "
                                  f"128, not starting with tmp- or del-")
        with self.store_lock():
            final = os.path.join(self.containers_dir, key)
            if os.path.exists(final):
                raise AlreadyExists(f"container layer {key} already exists")
            if parent is not None:
                self.lowers(parse(parent, "parent chain ID"))  # NotFound when incomplete
            tmp = os.path.join(self.containers_dir, f"tmp-{key}-{random_id(6)}")
            try:
                for sub in ("upper", "work", "merged"):
                    os.makedirs(os.path.join(tmp, sub))
                meta = {"id": key, "parent": parent, "image": image, "readonly": readonly,
                        "created": time.time()}
                atomic_write(os.path.join(tmp, "meta.json"), json.dumps(meta).encode())
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            fsync_dir(self.containers_dir)
        return self.mounts(key)

    def container(self, key: str) -> ContainerLayer:
        path = os.path.join(self.containers_dir, key)
        if not _is_key(key):
            raise NotFound(f"container layer {key!r} does not exist")
        try:
            with open(os.path.join(path, "meta.json"), "rb") as f:
                m = json.load(f)
            return ContainerLayer(key, parse(m["parent"]) if m["parent"] else None, m.get("image"),
                                  bool(m["readonly"]), path, float(m["created"]))
        except FileNotFoundError:
            raise NotFound(f"container layer {key} does not exist") from None
        except (ValueError, KeyError, TypeError, InvalidArgument) as e:
            raise FailedPrecondition(f"container layer {key}: unreadable meta.json: {e}") from e

    def containers(self) -> builtins.list[ContainerLayer]:
        out = []
        for name in sorted(os.listdir(self.containers_dir)):
            if _is_key(name):
                try:
                    out.append(self.container(name))
                except (NotFound, FailedPrecondition):
                    continue
        return out

    def mounts(self, key: str) -> builtins.list[Mount]:
        """The mounts of container ``key``: its stack under its upper directory."""
        c = self.container(key)
        lowers = self.lowers(c.parent) if c.parent else []
        mounts = plan(self.root, [(s.path, s.link) for s in lowers], c.upper,
                      os.path.join(c.path, "work"), readonly=c.readonly)
        if any(m.cwd for m in mounts):
            for s in lowers:
                self.ensure_link(s)
        return mounts

    def remove_container(self, key: str) -> None:
        """Remove container ``key``'s layer (its changes are lost); ``Conflict`` while
        something is mounted on its ``merged`` directory."""
        with self.store_lock():
            c = self.container(key)
            if os.path.ismount(c.merged):
                raise Conflict(f"container layer {key}: {c.merged} is still mounted")
            gone = os.path.join(self.containers_dir, f"del-{key}-{random_id(6)}")
            os.rename(c.path, gone)
            fsync_dir(self.containers_dir)
        shutil.rmtree(gone, ignore_errors=True)
