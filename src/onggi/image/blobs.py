"""The content-addressed blob store (the containerd content store's role). Under ``ROOT``::

    blobs/<alg>/<hex>      committed blobs, mode 0444: a name here is always checked content
    ingest/<ref>.part      a blob being written; <ref> is <alg>-<hex> when its digest is
                           known (resumable), tmp-<random> when not (dropped on failure)
    ingest/<ref>.lock      flock'ed by the process writing <ref>

Writing (:meth:`BlobStore.writer`; :meth:`~BlobStore.fetch` and :meth:`~BlobStore.ingest`
around it): bytes go to the ``.part`` file through a :class:`~onggi.oci.digest.Verifier`
(or a plain hash when the digest is unknown); :meth:`BlobWriter.commit` fsyncs, checks,
renames into ``blobs/`` and fsyncs that directory. Only the rename makes a blob visible,
so a crash leaves nothing or a whole, checked blob. A writer that stops without a commit
keeps a known digest's partial: the next writer of that digest re-hashes it (nothing on
disk is trusted across processes) and goes on from its end, so a retried pull fetches only
the rest. Two writers of one digest take turns on its lock; the second finds the blob
committed (``AlreadyExists``; ``fetch``/``ingest`` then just return the digest).

Reading (:meth:`BlobStore.open`) checks the digest, and the size when given, as the bytes
are read. Errors: ``NotFound``; ``DigestMismatch`` (a ``FailedPrecondition``: the content
is not what its name or descriptor says); ``Conflict`` (an ingest lock not had in time).
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import stat
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import BinaryIO, Callable

from ..errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from ..oci.digest import ALGORITHMS, Digest, DigestMismatch, Verifier, parse
from .locks import FileLock, Lease, claim, fsync_dir, random_id, try_lock

__all__ = ["BlobStore", "BlobWriter", "BlobReader", "BlobInfo", "IngestInfo"]

CHUNK = 1 << 20


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int
    mtime: float


@dataclass(frozen=True)
class IngestInfo:
    ref: str
    digest: Digest | None  # None for a tmp- ingest (digest not known up front)
    offset: int            # bytes written so far
    mtime: float           # time of the last write
    active: bool           # a live process holds its lock


class BlobReader(io.RawIOBase):
    """A blob's bytes, checked against its digest (and size) while they are read: the read
    that reaches the end raises ``DigestMismatch`` when they differ."""

    def __init__(self, f: io.RawIOBase, verifier: Verifier | None) -> None:
        super().__init__()
        self._f = f
        self._v = verifier
        self.verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._f.readinto(b) or 0
        if n:
            if self._v is not None:
                self._v.update(bytes(memoryview(b)[:n]))
        elif len(b) and not self.verified:
            if self._v is not None:
                self._v.finish()
            self.verified = True
        return n

    def finish(self) -> None:
        """Read what is left (for consumers that stop early, as a tar reader does before
        the archive's padding) and check the whole blob."""
        buf = bytearray(CHUNK)
        while self.readinto(buf):
            continue

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


class BlobWriter:
    """One open ingest, holding its lock until :meth:`commit` or :meth:`close`."""

    def __init__(self, store: "BlobStore", ref: str, lock: FileLock, digest: Digest | None,
                 size: int | None, lease: Lease | None) -> None:
        self.store, self.ref, self._lock, self.lease = store, ref, lock, lease
        self.digest, self.size, self.offset, self._broken = digest, size, 0, False
        self.part = os.path.join(store.ingest_dir, ref + ".part")
        self._f: BinaryIO | None = open(self.part, "ab+")
        self._v: Verifier | None = None
        self._h = hashlib.sha256()
        if digest is not None:
            self._resume()

    def _resume(self) -> None:
        """Re-hash what an earlier writer left; a partial longer than the blob is dropped."""
        assert self._f is not None and self.digest is not None
        self._v = Verifier(self.digest, self.size, f"blob {self.digest}")
        self._f.seek(0)
        try:
            while chunk := self._f.read(CHUNK):
                self._v.update(chunk)
        except DigestMismatch:
            self._f.truncate(0)
            self._v = Verifier(self.digest, self.size, f"blob {self.digest}")
        self.offset = self._v.seen
        self._f.seek(self.offset)
        self._f.truncate(self.offset)

    def write(self, data: bytes) -> None:
        if self._f is None or self._broken:
            raise InvalidArgument(f"ingest {self.ref}: write after commit, close or an error")
        try:
            if self._v is not None:
                self._v.update(data)  # raises as soon as more than the size arrives
            else:
                self._h.update(data)
            self._f.write(data)
        except DigestMismatch:
            self.discard()
            raise
        except BaseException:
            self._broken = True  # hash and file may disagree now; a resume re-hashes
            raise
        self.offset += len(data)

    def copy_from(self, stream: BinaryIO, chunk: int = CHUNK) -> int:
        """Write all of ``stream``; returns the number of bytes copied."""
        start = self.offset
        while data := stream.read(chunk):
            self.write(data)
        return self.offset - start

    def commit(self) -> Digest:
        """Check, then make the blob visible; the partial and the lock go."""
        if self._f is None or self._broken:
            raise InvalidArgument(f"ingest {self.ref}: commit after close or an error")
        self._f.flush()
        os.fsync(self._f.fileno())
        try:
            if self._v is not None:
                digest = self._v.finish()
            else:
                digest = Digest(f"sha256:{self._h.hexdigest()}")
                if self.size is not None and self.offset != self.size:
                    raise DigestMismatch(f"blob {digest}: {self.offset} bytes, but "
                                         f"{self.size} were expected")
        except DigestMismatch:
            self.discard()
            raise
        if self.lease is not None:
            self.lease.add(digest)  # before the rename: a collector then always sees it
        final = self.store.path(digest)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.chmod(self._f.fileno(), 0o444)
        self._f.close()
        self._f = None
        os.rename(self.part, final)
        fsync_dir(os.path.dirname(final))
        self._lock.unlink()
        return digest

    def discard(self) -> None:
        """Drop the partial content and end the ingest."""
        if self._f is not None:
            self._f.close()
            self._f = None
        if self._lock.held:
            _unlink(self.part)
            self._lock.unlink()

    def close(self) -> None:
        """End without committing: a known digest's partial stays for a later resume."""
        if self._f is not None and self.digest is None:
            self.discard()
        elif self._f is not None:
            self._f.close()  # flushes: the bytes are in the kernel's hands for a resume
            self._f = None
            self._lock.release()

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlobStore:
    """Blobs under ``root/blobs``, ingests under ``root/ingest`` (see the module doc)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs_dir = os.path.join(root, "blobs")
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(self.blobs_dir, exist_ok=True)
        os.makedirs(self.ingest_dir, exist_ok=True)

    def path(self, digest: str) -> str:
        """Where the blob is (or would be). Read-only: never write there."""
        d = parse(digest)
        return os.path.join(self.blobs_dir, d.algorithm, d.hex)

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self.path(digest))

    def info(self, digest: str) -> BlobInfo:
        try:
            st = os.stat(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store") from None
        return BlobInfo(parse(digest), st.st_size, st.st_mtime)

    def size(self, digest: str) -> int:
        return self.info(digest).size

    def list(self) -> list[BlobInfo]:
        """Every committed blob (names that are not a valid digest are skipped)."""
        out = []
        for alg in sorted(os.listdir(self.blobs_dir)):
            if alg not in ALGORITHMS:
                continue
            with os.scandir(os.path.join(self.blobs_dir, alg)) as it:
                for e in it:
                    try:
                        d = parse(f"{alg}:{e.name}")
                        st = e.stat(follow_symlinks=False)
                    except (InvalidArgument, FileNotFoundError):
                        continue
                    if stat.S_ISREG(st.st_mode):
                        out.append(BlobInfo(d, st.st_size, st.st_mtime))
        return out

    def open(self, digest: str, size: int | None = None, *, verify: bool = True) -> BlobReader:
        """A reader of the blob; with ``verify`` (the default) the digest, and ``size``
        when given, are checked as it is read (see :class:`BlobReader`)."""
        d = parse(digest)
        try:
            f = open(self.path(d), "rb", buffering=0)
        except FileNotFoundError:
            raise NotFound(f"blob {d} is not in the store") from None
        return BlobReader(f, Verifier(d, size, f"blob {d}") if verify else None)

    def read_bytes(self, digest: str, size: int | None = None) -> bytes:
        """The whole blob, checked (for manifests and configs, which are small)."""
        with self.open(digest, size) as r:
            return r.read()

    def writer(self, digest: str | None = None, size: int | None = None, *,
               lease: Lease | None = None, timeout: float | None = None) -> BlobWriter:
        """Open an ingest. With ``digest`` it is resumable: ``writer.offset`` says how many
        verified-so-far bytes an earlier attempt left (ask the source for the rest). Waits
        up to ``timeout`` seconds (None: for ever) for another writer of the same digest;
        raises ``AlreadyExists`` when the blob is (or meanwhile became) committed."""
        if digest is None:
            ref, d = f"tmp-{random_id(12)}", None
        else:
            d = parse(digest, "expected digest")
            if self.exists(d):
                raise AlreadyExists(f"blob {d} is already in the store")
            ref = f"{d.algorithm}-{d.hex}"
        lock = FileLock(os.path.join(self.ingest_dir, ref + ".lock"))
        if not lock.acquire(timeout=timeout):
            raise Conflict(f"blob {d}: another process is writing it (ingest {ref})")
        if d is not None and self.exists(d):  # committed by the writer we waited for
            lock.unlink()
            raise AlreadyExists(f"blob {d} is already in the store")
        try:
            return BlobWriter(self, ref, lock, d, size, lease)
        except BaseException:
            lock.release()
            raise

    def claim(self, digest: str, lease: Lease | None) -> bool:
        """Whether the blob is stored, protecting it by ``lease`` first (see
        :func:`onggi.image.locks.claim`): use this, not :meth:`exists`, before relying on
        a blob that no image references yet."""
        return claim(self.root, lease, parse(digest), lambda: self.exists(digest))

    def fetch(self, open_at: Callable[[int], BinaryIO], digest: str, size: int | None = None,
              *, lease: Lease | None = None, timeout: float | None = None) -> Digest:
        """Store the blob ``digest`` (when not stored already), reading it from
        ``open_at(offset)``: a stream of the blob's bytes from ``offset`` on (an HTTP range
        request, say), closed here. A partial ingest is resumed; when a resumed blob fails
        its check, the partial is dropped and the blob is fetched once more from 0."""
        d = parse(digest)
        retried = False
        while True:
            if self.claim(d, lease):
                return d
            try:
                w = self.writer(d, size, lease=lease, timeout=timeout)
            except AlreadyExists:
                continue  # committed meanwhile by another writer: claim it
            with w:
                resumed = w.offset
                if size is None or w.offset < size:
                    src = open_at(w.offset)
                    try:
                        w.copy_from(src)
                    finally:
                        src.close()
                try:
                    return w.commit()
                except DigestMismatch:
                    if not resumed or retried:
                        raise
                    retried = True

    def ingest(self, stream: BinaryIO, digest: str | None = None, size: int | None = None, *,
               lease: Lease | None = None, timeout: float | None = None) -> Digest:
        """Store the blob read from ``stream`` (from its first byte); returns its digest.
        With ``digest`` a partial ingest is resumed: the stream is sought (or read) past
        the bytes already there, or, when it has ``open_at(offset)``, asked for the rest
        (a registry source makes a range request). When the blob is already stored, the
        stream is not read."""
        if digest is None:
            with self.writer(None, size, lease=lease) as w:
                w.copy_from(stream)
                return w.commit()
        start = stream.tell() if getattr(stream, "seekable", lambda: False)() else None
        calls: list[int] = []

        def open_at(offset: int) -> BinaryIO:
            reopen = getattr(stream, "open_at", None)
            if reopen is not None and (offset or calls):  # e.g. an HTTP range request
                calls.append(offset)
                return reopen(offset)
            if start is not None:
                stream.seek(start + offset)
            elif calls:
                raise DigestMismatch(f"blob {digest}: a resumed partial ingest was corrupt and "
                                     f"was dropped, and the stream cannot be read again: retry")
            else:
                while offset and (b := stream.read(min(offset, CHUNK))):
                    offset -= len(b)
            calls.append(offset)
            return SimpleNamespace(read=stream.read, close=lambda: None)  # type: ignore[return-value]

        return self.fetch(open_at, digest, size, lease=lease, timeout=timeout)

    def put(self, data: bytes, digest: str | None = None, *, lease: Lease | None = None) -> Digest:
        """Store bytes in memory (a manifest, a config)."""
        return self.ingest(io.BytesIO(data), digest, len(data) if digest else None, lease=lease)

    def delete(self, digest: str) -> None:
        if not _unlink(self.path(digest)):
            raise NotFound(f"blob {digest} is not in the store")

    def ingests(self) -> builtins.list[IngestInfo]:
        """Partial ingests, with whether a live process is writing each."""
        out = []
        for name in sorted(os.listdir(self.ingest_dir)):
            if not name.endswith(".part"):
                continue
            ref = name[:-5]
            try:
                st = os.stat(os.path.join(self.ingest_dir, name))
            except FileNotFoundError:
                continue  # committed or aborted meanwhile
            alg, _, hexpart = ref.partition("-")
            lock = try_lock(os.path.join(self.ingest_dir, ref + ".lock"))
            if lock is not None:
                lock.release()
            out.append(IngestInfo(ref, Digest(f"{alg}:{hexpart}") if alg in ALGORITHMS else None,
                                  st.st_size, st.st_mtime, lock is None))
        return out

    def abort(self, ref: str, *, min_age: float = 0.0) -> bool:
        """Remove the ingest ``ref`` (and a stray lock file) unless a process holds it or
        its last write is younger than ``min_age`` seconds; True when removed."""
        if "/" in ref or ref.startswith("."):
            raise InvalidArgument(f"ingest ref {ref!r}")
        lock = try_lock(os.path.join(self.ingest_dir, ref + ".lock"))
        if lock is None:
            return False
        part = os.path.join(self.ingest_dir, ref + ".part")
        if os.path.exists(part) and time.time() - os.path.getmtime(part) < min_age:
            lock.release()
            return False
        _unlink(part)
        lock.unlink()
        return True


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
