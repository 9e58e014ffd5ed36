"""The line protocol between the runtime and the processes it forks (stage-1, init,
exec'd process), over a pair of pipes. Messages are ``WORD [ARG...]`` lines; an error
travels as ``error CATEGORY MESSAGE`` and is raised again on the other side."""

from __future__ import annotations

import os

from .. import errors


class Channel:
    __slots__ = ("rfd", "wfd", "_buf")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = b""

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        """(parent side, child side)."""
        a_r, b_w = os.pipe2(os.O_CLOEXEC)
        b_r, a_w = os.pipe2(os.O_CLOEXEC)
        return cls(a_r, a_w), cls(b_r, b_w)

    def send(self, *words: object) -> None:
        data = (" ".join(str(w) for w in words).replace("\n", " ") + "\n").encode()
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]

    def send_error(self, e: BaseException) -> None:
        cat = e.category if isinstance(e, errors.OnggiError) else "unknown"
        msg = str(e)
        if isinstance(e, OSError) and not isinstance(e, errors.OnggiError):
            msg = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
        self.send("error", cat, msg)

    def recv(self) -> list[str]:
        """The next message's words; [] at end of file."""
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 4096)
            if not chunk:
                return []
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode().split(" ")

    def expect(self, word: str, who: str) -> list[str]:
        """Receive a message that must be ``word``; raise the peer's error otherwise."""
        msg = self.recv()
        if not msg:
            raise errors.FailedPrecondition(f"{who} exited before it was ready")
        if msg[0] == "error":
            raise rebuild_error(msg)
        if msg[0] != word:
            raise errors.OnggiError(f"{who}: protocol error: expected {word!r}, got {msg[0]!r}")
        return msg[1:]

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.rfd = self.wfd = -1

    def close_read(self) -> None:
        if self.rfd >= 0:
            os.close(self.rfd)
            self.rfd = -1


_BY_CATEGORY = {c.category: c for c in (
    errors.NotFound, errors.AlreadyExists, errors.InvalidArgument, errors.FailedPrecondition,
    errors.Conflict, errors.PermissionDenied, errors.Unavailable, errors.Unsupported)}


def rebuild_error(msg: list[str]) -> errors.OnggiError:
    cls = _BY_CATEGORY.get(msg[1] if len(msg) > 1 else "", errors.OnggiError)
    return cls(" ".join(msg[2:]))
