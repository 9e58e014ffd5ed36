"""The registry's filesystem storage (layout in :mod:`.layout`): blobs shared by all
repositories, per-repository links, manifests, tags and the referrers index.

Every method is synchronous and safe to call from any thread or worker process: files
are replaced whole (temp + fsync + rename), so a reader sees the old file or the new one,
and a write's order (blob, then manifest link, then referrer entry, then tag) means a
crash at any moment leaves every committed image readable and the rest for GC.

Errors: ``onggi.errors.NotFound`` for what is absent; :class:`RegistryError` for a
manifest the spec refuses. Manifest bytes are cached by digest (content never changes
under its digest; the per-repository link is read every time, so deletes show at once
in every process).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from ..errors import NotFound
from ..files import atomic_write, fsync_dir
from ..oci import digest as D
from ..oci import mediatypes as MT
from . import manifests as M
from .errors import RegistryError
from .layout import TMP_PREFIX, Layout, is_repo_dir
from .names import is_digest, valid_name, valid_tag

__all__ = ["RegistryStorage"]

_CACHE_BYTES = 64 << 20


def _safe(repo: str | None, digest: str | None = None) -> None:
    """NotFound for a name or digest that could not have been stored (and must not
    become a path): the web page and other callers pass text from requests."""
    if repo is not None and not valid_name(repo):
        raise NotFound(f"repository {repo[:300]!r} is not known to the registry (invalid name)")
    if digest is not None:
        try:
            D.parse(digest)
        except Exception:
            raise NotFound(f"{digest[:200]!r} is not a valid digest") from None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


class RegistryStorage:
    """Storage under ``root`` (created if missing)."""

    def __init__(self, root: str, durable: bool = True) -> None:
        self.layout = Layout(root)
        self.root = self.layout.root
        self.durable = durable
        for d in (self.layout.blobs, self.layout.repos, self.layout.uploads):
            os.makedirs(d, exist_ok=True)
        self._cache: dict[str, bytes] = {}
        self._cached = 0
        self._lock = threading.Lock()

    # -- writing helpers ---------------------------------------------------------------

    def _write(self, path: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, data, durable=self.durable)

    # -- blobs -------------------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return self.layout.blob(digest)

    def blob_size(self, digest: str) -> int:
        _safe(None, digest)
        try:
            return os.stat(self.layout.blob(digest)).st_size
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"blob {digest} is not in the registry") from None

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.layout.blob(digest))

    def repo_has_blob(self, repo: str, digest: str) -> bool:
        return os.path.exists(self.layout.blob_link(repo, digest)) and self.has_blob(digest)

    def link_blob(self, repo: str, digest: str) -> None:
        """Record that ``repo`` holds ``digest`` (after a push or a mount)."""
        link = self.layout.blob_link(repo, digest)
        if not os.path.exists(link):
            self._write(link, digest.encode())

    def commit_blob(self, src: str, digest: str) -> None:
        """Move the complete, verified (and fsynced) file ``src`` to its place. When the
        blob is already there (a concurrent upload of the same content), ``src`` goes."""
        dst = self.layout.blob(digest)
        if os.path.exists(dst):
            os.unlink(src)
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)  # same content under the same name: a race is harmless
        if self.durable:
            fsync_dir(os.path.dirname(dst))

    def put_blob_bytes(self, data: bytes, digest: str) -> None:
        path = self.layout.blob(digest)
        if not os.path.exists(path):
            self._write(path, data)

    def delete_blob(self, repo: str, digest: str) -> None:
        """Unlink ``digest`` from ``repo`` (the content stays until GC)."""
        try:
            os.unlink(self.layout.blob_link(repo, digest))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"blob {digest} is not in repository {repo}") from None

    # -- repositories and tags ---------------------------------------------------------

    def repo_exists(self, repo: str) -> bool:
        return is_repo_dir(self.layout.repo(repo))

    def repositories(self) -> list[str]:
        out: list[str] = []
        base = self.layout.repos
        for dirpath, dirnames, _ in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            if rel != "." and is_repo_dir(dirpath) and valid_name(rel):
                out.append(rel)
            dirnames[:] = [d for d in dirnames if not d.startswith(("_", "."))]
        return sorted(out)

    def tags(self, repo: str) -> list[str]:
        if not valid_name(repo) or not self.repo_exists(repo):
            raise NotFound(f"repository {repo} is not known to the registry")
        try:
            names = os.listdir(self.layout.tags_dir(repo))
        except FileNotFoundError:
            return []
        return sorted(t for t in names if valid_tag(t))

    def tag_digest(self, repo: str, tag: str) -> str | None:
        raw = _read(self.layout.tag(repo, tag))
        return raw.decode() if raw else None

    def resolve(self, repo: str, reference: str) -> str:
        """The digest of a tag, or the digest itself when the repository has it."""
        _safe(repo)
        if is_digest(reference):
            _safe(None, reference)
            if not os.path.exists(self.layout.manifest_link(repo, reference)):
                raise NotFound(f"manifest {reference} is not in repository {repo}")
            return reference
        d = self.tag_digest(repo, reference) if valid_tag(reference) else None
        if d is None or not os.path.exists(self.layout.manifest_link(repo, d)):
            raise NotFound(f"tag {reference} is not in repository {repo}")
        return d

    def delete_tag(self, repo: str, tag: str) -> None:
        try:
            os.unlink(self.layout.tag(repo, tag))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"tag {tag} is not in repository {repo}") from None

    # -- manifests ---------------------------------------------------------------------

    def manifest_type(self, repo: str, digest: str) -> str | None:
        raw = _read(self.layout.manifest_link(repo, digest))
        return raw.decode() if raw else None

    def _manifest_bytes(self, digest: str) -> bytes | None:
        data = self._cache.get(digest)
        if data is None:
            data = _read(self.layout.blob(digest))
            if data is not None and len(data) <= 1 << 20:
                with self._lock:
                    if self._cached + len(data) > _CACHE_BYTES:
                        self._cache.clear()
                        self._cached = 0
                    self._cache[digest] = data
                    self._cached += len(data)
        return data

    def read_manifest(self, repo: str, digest: str) -> tuple[bytes, str]:
        """(bytes, media type) of a manifest of ``repo``; NotFound when it has none."""
        _safe(repo, digest)
        mt = self.manifest_type(repo, digest)
        data = self._manifest_bytes(digest) if mt else None
        if data is None or mt is None:
            raise NotFound(f"manifest {digest} is not in repository {repo}")
        return data, mt

    def put_manifest(self, repo: str, reference: str, data: bytes,
                     content_type: str | None) -> tuple[str, str | None]:
        """Validate and store a manifest under a tag or digest reference; returns
        (digest, subject digest or None). Refusals are RegistryErrors of the spec."""
        parsed = M.parse(data, content_type)
        if is_digest(reference):
            want = D.parse(reference)
            got = D.of_bytes(data, want.algorithm)
            if got != want:
                raise RegistryError("DIGEST_INVALID", f"manifest digest is {got}, not {want} as "
                                    "the reference says", detail={"digest": reference})
            digest = str(want)
        else:
            digest = str(D.of_bytes(data))
        for d, foreign in parsed.blobs:
            if not foreign and not self.repo_has_blob(repo, d):
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"blob {d} is not in repository {repo}",
                                    detail={"digest": d})
        for d in parsed.manifests:
            if self.manifest_type(repo, d) is None:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"manifest {d} is not in repository "
                                    f"{repo}", detail={"digest": d})
        self.put_blob_bytes(data, digest)
        link = self.layout.manifest_link(repo, digest)
        if self.manifest_type(repo, digest) != parsed.media_type:
            self._write(link, parsed.media_type.encode())
        if parsed.subject:
            desc: dict[str, Any] = {"mediaType": parsed.media_type, "digest": digest, "size": len(data)}
            if parsed.artifact_type:
                desc["artifactType"] = parsed.artifact_type
            if parsed.annotations:
                desc["annotations"] = parsed.annotations
            self._write(self.layout.referrer(repo, parsed.subject, digest), json.dumps(desc).encode())
        if not is_digest(reference) and self.tag_digest(repo, reference) != digest:
            self._write(self.layout.tag(repo, reference), digest.encode())
        return digest, parsed.subject

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Remove a manifest from ``repo``: its tags, its link, its referrers entry."""
        mt = self.manifest_type(repo, digest)
        if mt is None:
            raise NotFound(f"manifest {digest} is not in repository {repo}")
        data = self._manifest_bytes(digest)
        for t in self.tags(repo):
            if self.tag_digest(repo, t) == digest:
                self._unlink(self.layout.tag(repo, t))
        subject = M.subject_of(data) if data else None
        if subject:
            self._unlink(self.layout.referrer(repo, subject, digest))
        self._unlink(self.layout.manifest_link(repo, digest))

    @staticmethod
    def _unlink(path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def manifest_digests(self, repo: str) -> list[str]:
        """Every manifest digest of ``repo`` (tagged or not)."""
        out = []
        base = self.layout.manifests_dir(repo)
        for alg in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            if alg in D.ALGORITHMS:
                out += [f"{alg}:{h}" for h in os.listdir(os.path.join(base, alg))
                        if not h.startswith(TMP_PREFIX)]
        return out

    # -- referrers ---------------------------------------------------------------------

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> list[dict]:
        """Descriptors of the manifests of ``repo`` whose subject is ``digest``."""
        _safe(repo, digest)
        base = self.layout.referrers_dir(repo, digest)
        try:
            names = sorted(os.listdir(base))
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for n in names:
            if n.startswith(TMP_PREFIX):
                continue
            raw = _read(os.path.join(base, n))
            try:
                desc = json.loads(raw) if raw else None
            except ValueError:
                continue
            if not isinstance(desc, dict) or self.manifest_type(repo, desc.get("digest", "")) is None:
                continue
            if artifact_type is None or desc.get("artifactType") == artifact_type:
                out.append(desc)
        return out

    def referrers_index(self, repo: str, digest: str, artifact_type: str | None = None) -> bytes:
        return json.dumps({"schemaVersion": 2, "mediaType": MT.OCI_INDEX,
                           "manifests": self.referrers(repo, digest, artifact_type)}).encode()
