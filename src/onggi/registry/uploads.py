"""Blob upload sessions: staged under ``ROOT/uploads/<uuid>/``, verified, then committed
into the content store by a rename (see :meth:`RegistryStorage.commit_blob`).

A session's offset is the size of its ``data`` file, so any worker process can serve the
next request of a session. The running hash is kept in the process that wrote the bytes
(keyed by uuid and offset); when another process finishes the session, it hashes the
file again. A digest mismatch cancels the session and commits nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid as uuidlib
from typing import AsyncIterator

from ..oci import digest as D
from .errors import RegistryError
from .storage import RegistryStorage

__all__ = ["Uploads"]

Chunks = AsyncIterator[bytes]


class Uploads:
    """Upload sessions of one storage. ``max_blob``: refuse blobs larger (0: no limit)."""

    def __init__(self, storage: RegistryStorage, max_blob: int = 0) -> None:
        self.storage = storage
        self.layout = storage.layout
        self.max_blob = max_blob
        self._hash: dict[str, tuple[int, "hashlib._Hash"]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def start(self, repo: str) -> str:
        uid = uuidlib.uuid4().hex
        d = self.layout.upload(uid)
        os.makedirs(d)
        with open(os.path.join(d, "repo"), "w") as f:
            f.write(repo)
        open(os.path.join(d, "data"), "wb").close()
        if len(self._hash) > 4096:  # abandoned sessions: the running hashes are only a shortcut
            self._hash.clear()
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        self._hash[uid] = (0, hashlib.sha256())
        return uid

    def _dir(self, repo: str, uid: str) -> str:
        if len(uid) != 32 or not all(c in "0123456789abcdef" for c in uid):
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {uid[:100]!r} is unknown",
                                detail={"uuid": uid[:100]})
        d = self.layout.upload(uid)
        try:
            with open(os.path.join(d, "repo")) as f:
                owner = f.read()
        except FileNotFoundError:
            owner = None
        if owner != repo:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {uid} is unknown to repository {repo}",
                                detail={"uuid": uid})
        return d

    def offset(self, repo: str, uid: str) -> int:
        """Bytes received so far (BLOB_UPLOAD_UNKNOWN for no such session)."""
        try:
            return os.stat(os.path.join(self._dir(repo, uid), "data")).st_size
        except FileNotFoundError:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {uid} is unknown") from None

    def _lock(self, uid: str) -> asyncio.Lock:
        lock = self._locks.get(uid)
        if lock is None:
            lock = self._locks[uid] = asyncio.Lock()
        return lock

    async def append(self, repo: str, uid: str, chunks: Chunks,
                     content_range: tuple[int, int] | None = None) -> int:
        """Write the request body at the session's end; returns the new offset. A
        ``Content-Range`` that does not start at the end is a 416 (nothing written)."""
        async with self._lock(uid):
            d = self._dir(repo, uid)
            path = os.path.join(d, "data")
            start = os.stat(path).st_size
            if content_range is not None and content_range[0] != start:
                raise RegistryError("BLOB_UPLOAD_INVALID", f"chunk starts at {content_range[0]}, but the "
                                    f"upload has {start} bytes", status=416,
                                    headers={"Range": f"0-{max(start - 1, 0)}",
                                             "Location": f"/v2/{repo}/blobs/uploads/{uid}"})
            known = self._hash.get(uid)
            h = known[1] if known and known[0] == start else None
            end = start
            try:
                with open(path, "r+b") as f:
                    f.seek(start)
                    async for chunk in chunks:
                        end += len(chunk)
                        if self.max_blob and end > self.max_blob:
                            raise RegistryError("SIZE_INVALID", f"blob exceeds the registry's limit "
                                                f"of {self.max_blob} bytes", status=413)
                        f.write(chunk)
                        if h is not None:
                            h.update(chunk)
                    if content_range is not None and content_range[1] - content_range[0] + 1 != end - start:
                        raise RegistryError("SIZE_INVALID", f"Content-Range {content_range[0]}-"
                                            f"{content_range[1]} does not match the {end - start} "
                                            "bytes sent")
            except BaseException:
                os.truncate(path, start)  # the session stays as it was before this request
                self._hash.pop(uid, None)
                raise
            if h is not None:
                self._hash[uid] = (end, h)
            else:
                self._hash.pop(uid, None)
            return end

    async def finish(self, repo: str, uid: str, digest: str, chunks: Chunks | None = None,
                     content_range: tuple[int, int] | None = None) -> str:
        """Take the last chunk (if any), verify against ``digest`` and commit."""
        want = D.parse(digest)
        if chunks is not None:
            await self.append(repo, uid, chunks, content_range)
        async with self._lock(uid):
            d = self._dir(repo, uid)
            path = os.path.join(d, "data")
            size = os.stat(path).st_size
            known = self._hash.pop(uid, None)
            if known and known[0] == size and want.algorithm == "sha256":
                got = f"sha256:{known[1].hexdigest()}"
            else:
                got = await asyncio.get_running_loop().run_in_executor(None, _hash_file, path,
                                                                       want.algorithm)
            if got != want:
                self._remove(uid)
                raise RegistryError("DIGEST_INVALID", f"uploaded content has digest {got}, not "
                                    f"{want}", detail={"digest": str(want)})
            if self.storage.durable:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self.storage.commit_blob(path, str(want))
            self.storage.link_blob(repo, str(want))
            self._remove(uid)
            return str(want)

    def cancel(self, repo: str, uid: str) -> None:
        self._dir(repo, uid)
        self._remove(uid)

    def _remove(self, uid: str) -> None:
        self._hash.pop(uid, None)
        self._locks.pop(uid, None)
        shutil.rmtree(self.layout.upload(uid), ignore_errors=True)

    async def monolithic(self, repo: str, digest: str, chunks: Chunks) -> str:
        """POST ?digest=: the whole blob in one request."""
        uid = self.start(repo)
        try:
            return await self.finish(repo, uid, digest, chunks)
        finally:
            self._remove(uid)


def _hash_file(path: str, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return f"{algorithm}:{h.hexdigest()}"
