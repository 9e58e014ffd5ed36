"""Verification (and repair) of the local image store, as ``podman system check`` does for
containers-storage.

Checked: every blob's digest and size (re-read in full unless ``verify_blobs`` is False)
and stray files among the blobs; that every name points at an image record and at a
stored top-level manifest; that every image's manifest, config and layers are stored and
readable; that every snapshot's record is readable and consistent (its chain ID is the one
of its parent and diff ID), that its parent chain exists and its short link is right;
that every container layer's parent chain exists.

With ``repair`` (done under the store lock): corrupt blobs and stray files are removed,
names of missing images dropped, images whose content is missing or corrupt removed (with
their names), broken snapshots removed (and the snapshots above them), short links
re-made. Container layers are reported, never removed: they hold a container's changes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..oci.digest import ALGORITHMS, DigestMismatch, parse
from .locks import FileLock, random_id, try_lock
from .snapshots import SnapshotInfo, chain_id
from .store_refs import walk

if TYPE_CHECKING:
    from .store import ImageStore

__all__ = ["Problem", "CheckReport", "check"]


@dataclass(frozen=True)
class Problem:
    kind: str      # corrupt-blob, stray-file, dangling-name, missing-blob, bad-manifest,
    #                broken-snapshot, missing-link, broken-container
    subject: str   # the digest, name, chain ID or container id involved
    detail: str
    path: str | None = None
    repaired: bool = False


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    blobs_checked: int = 0
    snapshots_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is (still) wrong."""
        return all(p.repaired for p in self.problems)


def check(store: "ImageStore", *, repair: bool = False, verify_blobs: bool = True) -> CheckReport:
    """Check ``store`` (see the module doc); with ``repair``, fix what can be fixed."""
    report = CheckReport()
    lock: FileLock | None = store.lock() if repair else None
    if lock is not None:
        lock.acquire()
    try:
        _check_blobs(store, report, repair, verify_blobs)
        _check_images(store, report, repair)
        good = _check_snapshots(store, report, repair)
        for c in store.snapshots.containers():
            if c.parent is not None and c.parent.hex not in good:
                report.problems.append(Problem("broken-container", c.id, f"its parent "
                                               f"snapshot {c.parent} is missing or broken", c.path))
    finally:
        if lock is not None:
            lock.release()
    return report


def _check_blobs(store: "ImageStore", report: CheckReport, repair: bool, verify: bool) -> None:
    root = store.blobs.blobs_dir
    for alg in sorted(os.listdir(root)):
        d = os.path.join(root, alg)
        names = os.listdir(d) if alg in ALGORITHMS and os.path.isdir(d) else [None]
        for name in names:
            path = d if name is None else os.path.join(d, name)
            try:
                digest = parse(f"{alg}:{name}") if name is not None else None
            except InvalidArgument:
                digest = None
            if digest is None or not os.path.isfile(path) or os.path.islink(path):
                _problem(report, "stray-file", path, "not a blob of a known algorithm", path,
                         repair and _remove(path))
                continue
            report.blobs_checked += 1
            if not verify:
                continue
            try:
                with store.blobs.open(digest) as r:
                    r.finish()
            except DigestMismatch as e:
                _problem(report, "corrupt-blob", digest, str(e), path, repair and _remove(path))


def _check_images(store: "ImageStore", report: CheckReport, repair: bool) -> None:
    db = store._load()
    changed = False
    for name, v in sorted(db["names"].items()):
        if v["image"] not in db["images"]:
            _problem(report, "dangling-name", name, f"image {v['image']} is not recorded", None,
                     repair)
            changed |= repair and db["names"].pop(name, None) is not None
        elif not store.blobs.exists(v["digest"]):
            _problem(report, "missing-blob", name, f"its manifest {v['digest']} is not stored",
                     None, False)
    for image_id, rec in sorted(db["images"].items()):
        w = walk(store.blobs, [rec["manifest"], *rec["digests"]])
        bad = [f"{r.kind} {r.digest} (named by {parent}) is not stored" for parent, r in w.missing]
        bad += [f"{d}: {msg}" for d, msg in w.errors]
        if not bad:
            continue
        names = [n for n, v in db["names"].items() if v["image"] == image_id]
        for msg in bad:
            _problem(report, "missing-blob" if "not stored" in msg else "bad-manifest",
                     image_id, msg, None, repair)
        if repair:
            del db["images"][image_id]
            for n in names:
                del db["names"][n]
            changed = True
        for n in names:  # names of a broken image are broken too
            _problem(report, "missing-blob", n, f"its image {image_id} is incomplete", None, repair)
    if changed:
        store._save(db)


def _check_snapshots(store: "ImageStore", report: CheckReport, repair: bool) -> set[str]:
    """Check every snapshot; returns the hex names of the sound ones."""
    snap = store.snapshots
    good: dict[str, SnapshotInfo] = {}
    broken: dict[str, str] = {}  # hex -> why
    parents: dict[str, str | None] = {}
    for name in sorted(os.listdir(snap.dir)):
        if name.startswith(("tmp-", "del-")):
            continue  # the collector's business
        report.snapshots_checked += 1
        try:
            info = snap.get(("sha256:" if len(name) == 64 else "sha512:") + name)
            if info.chain_id.hex != name:
                raise FailedPrecondition(f"meta.json names chain {info.chain_id}")
            if chain_id(info.parent, info.diff_id) != info.chain_id:
                raise FailedPrecondition("its chain ID is not that of its parent and diff ID")
            if not os.path.isdir(info.path):
                raise FailedPrecondition(f"{info.path} is missing")
            good[name], parents[name] = info, info.parent.hex if info.parent else None
        except (NotFound, FailedPrecondition, InvalidArgument, OSError) as e:  # all "broken"
            broken[name] = str(e)
    changed = True
    while changed:  # a snapshot on a missing or broken parent is broken
        changed = False
        for name, parent in list(parents.items()):
            if parent is not None and parent not in good:
                broken[name] = f"its parent snapshot {parent} is missing or broken"
                del good[name], parents[name]
                changed = True
    for name, why in sorted(broken.items()):
        path = os.path.join(snap.dir, name)
        done = repair and _remove_snapshot(store, name)
        subject = ("sha256:" if len(name) == 64 else "sha512:" if len(name) == 128 else "") + name
        _problem(report, "broken-snapshot", subject, why, path, done)
    for info in good.values():
        link = os.path.join(snap.links, info.link)
        want = f"../snapshots/{info.chain_id.hex}/fs"
        try:
            ok = os.readlink(link) == want
        except OSError:
            ok = False
        if not ok:
            fixed = False
            if repair:
                if os.path.lexists(link):
                    os.unlink(link)
                snap.ensure_link(info)
                fixed = True
            _problem(report, "missing-link", info.chain_id, f"{link} should point to {want}",
                     link, fixed)
    return set(good)


def _remove_snapshot(store: "ImageStore", name: str) -> bool:
    lock = try_lock(os.path.join(store.snapshots.locks, name + ".lock"))
    if lock is None:
        return False  # an unpack holds it
    try:
        gone = os.path.join(store.snapshots.dir, f"del-{name}-{random_id(6)}")
        os.rename(os.path.join(store.snapshots.dir, name), gone)
        shutil.rmtree(gone, ignore_errors=True)
        return True
    finally:
        lock.unlink()


def _remove(path: str) -> bool:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)
    return True


def _problem(report: CheckReport, kind: str, subject: str, detail: str, path: str | None,
             repaired: bool) -> None:
    report.problems.append(Problem(kind, str(subject), detail, path, bool(repaired)))
