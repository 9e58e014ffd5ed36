"""The monitor's attach protocol: frames of one type byte, a 4-byte big-endian length
and the payload, over a unix stream socket.

From the monitor: ``o`` stdout bytes, ``e`` stderr bytes, ``s`` started (the container's
pid), ``x`` exited (the exit code, as text), ``E`` an error (``category\\0message``).
From a client: ``i`` stdin bytes, ``c`` close stdin, ``w`` window size (``rows cols``).
The monitor's socket is ``<container run dir>/attach``; its path may be longer than a
socket address allows, so both sides reach it through ``/proc/self/fd/<dir fd>/attach``.
"""

from __future__ import annotations

import os
import socket
import struct

__all__ = ["pack", "Reader", "connect", "listen"]

_HEAD = struct.Struct(">cI")


def pack(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


class Reader:
    """Splits a byte stream into frames."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= _HEAD.size:
            kind, n = _HEAD.unpack_from(self.buf)
            if len(self.buf) < _HEAD.size + n:
                break
            out.append((kind, self.buf[_HEAD.size:_HEAD.size + n]))
            self.buf = self.buf[_HEAD.size + n:]
        return out


def _via_dir(path: str) -> tuple[int, str]:
    d = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return d, f"/proc/self/fd/{d}/{os.path.basename(path)}"


def listen(path: str) -> socket.socket:
    d, short = _via_dir(path)
    try:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.bind(short)
        s.listen(16)
        return s
    finally:
        os.close(d)


def connect(path: str) -> socket.socket:
    d, short = _via_dir(path)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(short)
        except OSError:
            s.close()
            raise
        return s
    finally:
        os.close(d)
