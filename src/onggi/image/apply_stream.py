"""Read-ahead: decompress (and hash) a layer on a second thread while apply writes files.

ISA-L's inflate, zstandard and hashlib all release the GIL on large buffers, and so does
``os.write``: with one thread producing 1 MiB chunks of the uncompressed tar (read from the
caller's stream, decompressed, hashed) and the apply thread consuming them, the two halves
of a layer apply run on two cores. Memory stays bounded: at most ``depth`` chunks wait.

The caller's stream is read only by the producer thread, and never after :meth:`close`
returns (``close`` waits for the thread), so the caller may use it again afterwards (to
finish a digest check, say). An exception in the producer is raised by the next
:meth:`ReadAhead.read` in the consumer, unchanged.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from .compression import CHUNK

__all__ = ["ReadAhead"]


class ReadAhead:
    """A reader over ``reader`` (anything with ``read(n)``) that runs ``depth`` chunks ahead
    on a thread; ``hasher`` (``update(bytes)``) sees every byte, read to the very end."""

    def __init__(self, reader: Any, *, hasher: Any = None, chunk: int = CHUNK, depth: int = 4) -> None:
        self._reader = reader
        self._hasher = hasher
        self._chunk = chunk
        self._q: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="onggi-layer-readahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                b = self._reader.read(self._chunk)
                if b and self._hasher is not None:
                    self._hasher.update(b)
                self._put(b)
                if not b:
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(e)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def read(self, n: int = CHUNK) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if self._pos < len(self._buf):
            b = self._buf[self._pos:self._pos + n]
            self._pos += len(b)
            return b
        if self._eof or not n:
            return b""
        item = self._q.get()
        if isinstance(item, BaseException):
            self._eof = True
            raise item
        if not item:
            self._eof = True
            return b""
        if len(item) <= n:
            return item
        self._buf, self._pos = item, n
        return item[:n]

    def close(self) -> None:
        """Stop the producer and wait for it (it may be finishing one read)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __enter__(self) -> "ReadAhead":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
