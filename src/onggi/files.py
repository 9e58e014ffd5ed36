"""Replacing a file all at once: written to a temporary name beside it, renamed over it
when complete, removed when not. Readers see the old content or the new, never a part.
Like :mod:`onggi.errors`, this module imports nothing of onggi, so every layer may use it.

``durable`` adds the fsyncs (file, then directory) that make the new content survive a
power loss, not only a crash of the process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import BinaryIO, Iterator

__all__ = ["replacing", "atomic_write", "fsync_dir"]


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str, mode: int = 0o644, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write the new content of ``path`` into; it replaces ``path`` when
    the block ends normally. The temporary is ``.tmp-NAME-RANDOM`` in the same directory
    (the store's garbage collection recognises that prefix)."""
    d = os.path.dirname(path) or "."
    tmp = os.path.join(d, f".tmp-{os.path.basename(path)}-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f  # type: ignore[misc]
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)  # whatever the umask took away
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(d)


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (see :func:`replacing`)."""
    with replacing(path, mode, durable) as f:
        f.write(data)
