"""Locks, leases and atomic files of the local image store.

Every lock is an ``fcntl.flock`` on a file, so it is released by the kernel when its holder
dies (``kill -9`` included), and two processes, or two threads with their own
:class:`FileLock`, exclude each other. The store uses three kinds:

- the store lock ``ROOT/lock``: held exclusively for metadata writes (the image db,
  container records) and for the whole of a garbage collection;
- one lock per ingest ``ROOT/ingest/<ref>.lock``, held by the process writing that blob;
- one lock per snapshot chain ``ROOT/locks/<hex>.lock``, held exclusively while that chain
  is unpacked (or removed) and shared while it is the parent of a chain being unpacked.

Lock files may be deleted, but only by a holder of the exclusive lock; :meth:`FileLock.acquire`
checks after locking that the path still names the inode it locked, and starts again when
not, so a deleted lock file never lets two holders in.

A :class:`Lease` protects content that is not yet referenced (blobs and snapshots of a pull
that has not tagged its image yet) from garbage collection: a file ``ROOT/leases/<id>``,
locked by its owner for its lifetime, holding one digest a line. A lease file whose lock
nobody holds is dead and the collector removes it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import time
from typing import Callable

from ..errors import Conflict
from ..files import atomic_write, fsync_dir  # noqa: F401  (part of this module's API)

__all__ = ["FileLock", "Lease", "atomic_write", "claim", "fsync_dir", "random_id", "read_lease",
           "try_lock"]


def random_id(nbytes: int = 8) -> str:
    """A random lower-case hex string (``2 * nbytes`` characters)."""
    return secrets.token_hex(nbytes)


class FileLock:
    """An ``flock`` on ``path`` (created when missing). Not re-entrant: one object, one hold."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self, *, shared: bool = False, blocking: bool = True,
                timeout: float | None = None) -> bool:
        """Take the lock. Returns False only when ``blocking`` is False or ``timeout``
        (seconds) ran out and somebody else holds it."""
        if self.fd is not None:
            raise RuntimeError(f"{self.path}: lock already held by this object")
        op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if not self._flock(fd, op, blocking, deadline):
                    os.close(fd)
                    return False
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                self.fd = fd
                return True
            os.close(fd)  # the file was unlinked (and maybe re-made) meanwhile: again

    @staticmethod
    def _flock(fd: int, op: int, blocking: bool, deadline: float | None) -> bool:
        if blocking and deadline is None:
            fcntl.flock(fd, op)
            return True
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                return True
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)  # closing the only descriptor drops the flock

    def unlink(self) -> None:
        """Remove the lock file, then release. Only while holding the lock exclusively."""
        if self.fd is None:
            raise RuntimeError(f"{self.path}: unlink of a lock not held")
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.release()

    def __enter__(self) -> "FileLock":
        if self.fd is None:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def try_lock(path: str, *, shared: bool = False) -> FileLock | None:
    """The lock on ``path`` when nobody else holds it (no waiting), else None."""
    lock = FileLock(path)
    return lock if lock.acquire(shared=shared, blocking=False) else None


class Lease:
    """Digests (blobs, snapshot chain IDs) kept from garbage collection while this object
    is open. Use as a context manager; :meth:`add` before the content becomes visible
    (the collector reads leases after it has listed the content, so an add that precedes
    a commit is always seen)."""

    def __init__(self, leases_dir: str, lease_id: str | None = None) -> None:
        os.makedirs(leases_dir, exist_ok=True)
        self.id = lease_id or random_id(8)
        if not self.id.isalnum():
            raise ValueError(f"lease id {self.id!r}: letters and digits only")
        self.path = os.path.join(leases_dir, self.id)
        self._lock = FileLock(self.path)
        if not self._lock.acquire(blocking=False):
            raise Conflict(f"lease {self.id} is held by another process")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self.digests: set[str] = set()

    def add(self, *digests: str) -> None:
        """Protect ``digests``: one ``write(2)`` each, so a reader sees whole lines."""
        for d in digests:
            if d not in self.digests:
                os.write(self._fd, f"{d}\n".encode())
                self.digests.add(d)

    def close(self) -> None:
        """End the lease: the file goes, and what it protected is collectable again."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._lock.unlink()

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def claim(root: str, lease: Lease | None, digest: str, exists: Callable[[], bool]) -> bool:
    """``exists()``, after adding ``digest`` to ``lease``, under the store lock of ``root``
    taken shared: a garbage collection (which holds it exclusively) then runs wholly
    before (and sees the lease) or wholly after (and ``exists()`` tells whether it removed
    the content). How to rely on content that nothing references yet. Never call it
    while holding the store lock: the shared lock would wait for that exclusive one."""
    if lease is None:
        return exists()
    lock = FileLock(os.path.join(root, "lock"))
    lock.acquire(shared=True)
    try:
        lease.add(digest)
        return exists()
    finally:
        lock.release()


def read_lease(path: str) -> set[str] | None:
    """The digests of a live lease, or None when the lease is dead (nobody holds its lock:
    the file is removed then). Torn or foreign lines are skipped."""
    lock = try_lock(path, shared=True)
    if lock is not None:
        # a shared lock succeeded: the owner (who holds it exclusively) is gone
        lock.release()
        dead = try_lock(path)
        if dead is not None:
            dead.unlink()
            return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    out = set()
    for line in data.split(b"\n"):
        s = line.decode("ascii", "replace").strip()
        if ":" in s and " " not in s:
            out.add(s)
    return out
