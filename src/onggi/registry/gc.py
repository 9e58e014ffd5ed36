"""Garbage collection: mark every blob that a manifest of any repository references (the
manifests themselves, configs, layers, index children), then sweep the rest.

With ``delete_untagged`` a repository keeps only the manifests reachable from its tags
(through index children and referrers whose subject is kept); the others are removed
first, as the reference registry's ``--delete-untagged`` does. The sweep also removes
repository links to swept blobs, upload sessions older than ``upload_age`` and ``.tmp-``
leftovers of crashed writes. Like the reference, it is meant to run while the server is
stopped or read-only; ``grace`` (seconds) spares blobs written that recently.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

from ..oci import digest as D
from . import manifests as M
from .layout import TMP_PREFIX
from .storage import RegistryStorage

__all__ = ["Report", "collect"]


@dataclass
class Report:
    marked: set[str] = field(default_factory=set)
    blobs: list[tuple[str, int]] = field(default_factory=list)  # (digest, size) swept
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repo, digest) removed
    uploads: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def freed(self) -> int:
        return sum(s for _, s in self.blobs)


def _kept_manifests(st: RegistryStorage, repo: str, everything: list[str]) -> set[str]:
    """Manifests of ``repo`` reachable from its tags (index children, referrers)."""
    present = set(everything)
    keep: set[str] = set()
    todo = [d for t in st.tags(repo) if (d := st.tag_digest(repo, t)) in present]
    while todo:
        d = todo.pop()
        if d in keep:
            continue
        keep.add(d)
        try:
            data, _ = st.read_manifest(repo, d)
        except Exception:
            continue
        todo += [c for c in M.references(data) if c in present]
        todo += [r["digest"] for r in st.referrers(repo, d) if r.get("digest") in present]
    return keep


def _mark(st: RegistryStorage, report: Report, delete_untagged: bool) -> None:
    for repo in st.repositories():
        everything = st.manifest_digests(repo)
        keep = _kept_manifests(st, repo, everything) if delete_untagged else set(everything)
        for d in everything:
            if d not in keep:
                report.manifests.append((repo, d))
                continue
            report.marked.add(d)
            try:
                data, _ = st.read_manifest(repo, d)
            except Exception:
                continue
            report.marked.update(M.references(data))


def _blob_files(st: RegistryStorage):  # noqa: ANN202
    for alg in D.ALGORITHMS:
        base = os.path.join(st.layout.blobs, alg)
        for dirpath, _, files in os.walk(base):
            for f in files:
                yield alg, dirpath, f


def collect(st: RegistryStorage, dry_run: bool = False, delete_untagged: bool = False,
            grace: float = 0.0, upload_age: float = 24 * 3600, tmp_age: float = 3600) -> Report:
    """Mark and sweep ``st``; with ``dry_run`` report what would go and change nothing."""
    now = time.time()
    report = Report(dry_run=dry_run)
    _mark(st, report, delete_untagged)
    if not dry_run:
        for repo, d in report.manifests:
            st.delete_manifest(repo, d)
    for alg, dirpath, f in _blob_files(st):
        path = os.path.join(dirpath, f)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue
        if f.startswith(TMP_PREFIX):
            if now - info.st_mtime > tmp_age:
                report.leftovers.append(path)
            continue
        digest = f"{alg}:{f}"
        if digest in report.marked or now - info.st_mtime < grace:
            continue
        report.blobs.append((digest, info.st_size))
    report.blobs.sort()
    try:
        sessions = sorted(os.listdir(st.layout.uploads))
    except FileNotFoundError:
        sessions = []
    for uid in sessions:
        p = os.path.join(st.layout.uploads, uid)
        try:
            if now - os.stat(p).st_mtime > upload_age:
                report.uploads.append(uid)
        except FileNotFoundError:
            pass
    if dry_run:
        return report
    for digest, _ in report.blobs:
        try:
            os.unlink(st.layout.blob(digest))
        except FileNotFoundError:
            pass
    for path in report.leftovers:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    for uid in report.uploads:
        shutil.rmtree(os.path.join(st.layout.uploads, uid), ignore_errors=True)
    _prune_links(st)
    return report


def _prune_links(st: RegistryStorage) -> None:
    """Drop repository links to blobs that are gone, and stale ``.tmp-`` link files."""
    for repo in st.repositories():
        base = os.path.join(st.layout.repo(repo), "_blobs")
        for alg in os.listdir(base) if os.path.isdir(base) else []:
            d = os.path.join(base, alg)
            for h in os.listdir(d):
                if h.startswith(TMP_PREFIX) or not st.has_blob(f"{alg}:{h}"):
                    try:
                        os.unlink(os.path.join(d, h))
                    except FileNotFoundError:
                        pass
