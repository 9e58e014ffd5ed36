"""Garbage collection of the local image store: mark from the roots, sweep the rest.

Roots: every name's top-level digest, every image record's manifest and digests, every
container layer's parent chain, and the digests of every live lease. From the manifest
roots the walk (:func:`onggi.image.store_refs.walk`) marks index -> manifests -> config +
layers, and the chain IDs of each image's layer stack; a marked snapshot marks its parents.

Swept: unmarked blobs and snapshots; ingests whose writer is gone (no process holds the
lock) and whose last write is older than ``ingest_grace``; ``tmp-`` unpack directories whose
chain lock is free (their unpacker died); ``del-`` directories; container ``tmp-``/``del-``
directories; dangling ``l/`` links; stray lock and temporary files; dead leases.

Safe beside other processes: the whole run holds the store lock (so no tag, rmi, or
container record changes meanwhile); a snapshot is removed only under its chain lock taken
without waiting (an unpack holds its chain exclusively and its parent shared, so neither
goes); an ingest only under its own lock (a live writer holds it). New content: the
content is listed first and the leases read after, and a writer adds to its lease before
the rename that makes a blob or snapshot visible, so whatever the listing saw is leased or
was visible before. Reused content: a pull relies on an existing blob or snapshot only
through ``claim`` (:func:`onggi.image.locks.claim`: lease it, then look, under the store
lock shared), so it either is in a lease this run reads or is looked for after the run.
When a manifest cannot be read, nothing is swept but temporaries (its children are unknown):
``check(repair=True)`` deals with it first.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import Conflict, FailedPrecondition, NotFound
from ..oci.digest import Digest
from .locks import read_lease, try_lock
from .snapshots import SnapshotInfo
from .store_refs import walk

if TYPE_CHECKING:
    from .store import ImageStore

__all__ = ["GCReport", "collect"]


@dataclass
class GCReport:
    blobs: list[Digest] = field(default_factory=list)      # removed blobs
    snapshots: list[Digest] = field(default_factory=list)  # removed snapshots (chain IDs)
    ingests: list[str] = field(default_factory=list)       # removed ingest refs
    temporary: list[str] = field(default_factory=list)     # removed leftovers (paths)
    skipped: list[str] = field(default_factory=list)       # garbage left: busy or unsafe
    errors: list[str] = field(default_factory=list)        # unreadable roots (no sweep)
    freed_bytes: int = 0                                   # by the removed blobs
    dry_run: bool = False


def collect(store: "ImageStore", *, ingest_grace: float = 3600.0, min_age: float = 0.0,
            dry_run: bool = False, timeout: float | None = None) -> GCReport:
    """Collect garbage in ``store``. ``ingest_grace``: seconds an abandoned partial ingest
    is kept for a resume; ``min_age``: blobs and snapshots younger than this many seconds
    are kept even when unreferenced; ``dry_run``: report only; ``timeout``: seconds to
    wait for the store lock (``Conflict`` after)."""
    report = GCReport(dry_run=dry_run)
    lock = store.lock()
    if not lock.acquire(timeout=timeout):
        raise Conflict(f"{store.root}: the store is locked by another process")
    try:
        _sweep_content(store, report, min_age, dry_run)
        _sweep_ingests(store, report, ingest_grace, dry_run)
        _sweep_temporaries(store, report, dry_run)
    finally:
        lock.release()
    return report


def _roots(store: "ImageStore", report: GCReport) -> tuple[set[Digest], set[Digest]]:
    """(blob digests, chain IDs) marked from every root; read after the content listing."""
    db = store._load()
    manifests = [v["digest"] for v in db["names"].values()]
    chains: set[Digest] = set()
    for rec in db["images"].values():
        manifests += [rec["manifest"], *rec["digests"]]
        if rec.get("chain"):
            chains.add(Digest(rec["chain"]))
    w = walk(store.blobs, manifests)
    report.errors += [f"{d}: {msg}" for d, msg in w.errors]
    chains |= w.chains
    blobs = set(w.blobs)
    chains |= {c.parent for c in store.snapshots.containers() if c.parent}
    for name in os.listdir(store.leases_dir):
        leased = read_lease(os.path.join(store.leases_dir, name))
        if leased:
            blobs |= {Digest(d) for d in leased}
            chains |= {Digest(d) for d in leased}
    return blobs, chains


def _sweep_content(store: "ImageStore", report: GCReport, min_age: float, dry_run: bool) -> None:
    blobs = store.blobs.list()                          # 1. list the content,
    snaps = {s.chain_id: s for s in store.snapshots.list()}
    live_blobs, chains = _roots(store, report)          # 2. then read the roots
    if report.errors:
        report.skipped.append("blobs and snapshots: unreadable manifests (run check --repair)")
        return
    todo = list(chains)  # a kept snapshot keeps its parents
    while todo:
        s = snaps.get(todo.pop())
        if s is not None and s.parent and s.parent not in chains:
            chains.add(s.parent)
            todo.append(s.parent)
    now = time.time()
    for b in blobs:
        if b.digest in live_blobs or now - b.mtime < min_age:
            continue
        if not dry_run:
            try:
                store.blobs.delete(b.digest)
            except NotFound:
                continue
        report.blobs.append(b.digest)
        report.freed_bytes += b.size

    def depth(s: SnapshotInfo) -> int:
        n, cur = 0, s.parent
        while cur in snaps and n < 4096:
            n, cur = n + 1, snaps[cur].parent
        return n

    garbage = [s for c, s in snaps.items() if c not in chains and now - s.created >= min_age]
    for s in sorted(garbage, key=depth, reverse=True):  # children before their parents
        lock = try_lock(os.path.join(store.snapshots.locks, s.chain_id.hex + ".lock"))
        if lock is None:
            report.skipped.append(f"snapshot {s.chain_id}: in use by an unpack")
            continue
        try:
            if not dry_run:
                try:
                    store.snapshots.delete_locked(store.snapshots.get(s.chain_id))
                except (NotFound, FailedPrecondition):
                    continue
            report.snapshots.append(s.chain_id)
        finally:
            lock.unlink() if not dry_run else lock.release()


def _sweep_ingests(store: "ImageStore", report: GCReport, grace: float, dry_run: bool) -> None:
    now = time.time()
    for ing in store.blobs.ingests():
        if ing.active or now - ing.mtime < grace:
            continue
        if dry_run or store.blobs.abort(ing.ref, min_age=grace):
            report.ingests.append(ing.ref)
    for name in os.listdir(store.blobs.ingest_dir):  # locks without a partial
        ref = name[:-5]
        if name.endswith(".lock") and not os.path.exists(os.path.join(store.blobs.ingest_dir,
                                                                      ref + ".part")):
            lock = try_lock(os.path.join(store.blobs.ingest_dir, name))
            if lock is not None:
                lock.release() if dry_run else lock.unlink()


def _remove_tree(path: str, report: GCReport, dry_run: bool) -> None:
    if not dry_run:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                return
    report.temporary.append(path)


def _sweep_temporaries(store: "ImageStore", report: GCReport, dry_run: bool) -> None:
    snap = store.snapshots
    for name in os.listdir(snap.dir):
        path = os.path.join(snap.dir, name)
        if name.startswith("del-"):
            _remove_tree(path, report, dry_run)
        elif name.startswith("tmp-"):
            hexname = name[4:].split("-", 1)[0]
            lock = try_lock(os.path.join(snap.locks, hexname + ".lock"))
            if lock is None:
                continue  # its unpacker is alive
            try:
                _remove_tree(path, report, dry_run)
            finally:
                lock.release()
    for name in os.listdir(snap.containers_dir):
        if name.startswith(("tmp-", "del-")):  # made and renamed under the store lock
            _remove_tree(os.path.join(snap.containers_dir, name), report, dry_run)
    for name in os.listdir(snap.links):  # links whose snapshot is gone
        path = os.path.join(snap.links, name)
        if os.path.islink(path) and not os.path.exists(path):
            _remove_tree(path, report, dry_run)
    for name in os.listdir(snap.locks):  # chain locks of no snapshot and no unpack
        hexname = name[:-5]
        if name.endswith(".lock") and not os.path.isdir(os.path.join(snap.dir, hexname)):
            lock = try_lock(os.path.join(snap.locks, name))
            if lock is not None:
                lock.release() if dry_run else lock.unlink()
    for name in os.listdir(store.root):  # atomic_write's temporaries of the image db
        if name.startswith(".tmp-"):
            _remove_tree(os.path.join(store.root, name), report, dry_run)
