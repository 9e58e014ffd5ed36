"""The CLI's side of an attached container (``run`` without -d, ``attach``, ``start -a``):
copy the monitor's frames to our stdout/stderr, our stdin to the container (-i), the
terminal raw and its size followed (-t), and our signals to the container (without -t).
Returns the container's exit code."""

from __future__ import annotations

import os
import select
import socket

from .frames import Reader, connect, pack
from .paths import Paths

__all__ = ["stream", "attach_socket"]

_PROXIED = (1, 2, 3, 10, 12, 15)  # HUP INT QUIT USR1 USR2 TERM


def attach_socket(paths: Paths, cid: str) -> socket.socket:
    from ..errors import FailedPrecondition

    try:
        return connect(os.path.join(paths.container_run_dir(cid), "attach"))
    except OSError as e:
        raise FailedPrecondition(f"cannot attach to container {cid}: its monitor is not listening "
                                 f"({e.strerror})") from None


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


def stream(sock: socket.socket, pid: int, *, interactive: bool, tty: bool, sig_proxy: bool = True,
           pending: list[tuple[bytes, bytes]] | None = None, reader: Reader | None = None) -> int | None:
    """Pump until the exit frame; its code, or None when the monitor went away first."""
    import _signal

    reader = reader or Reader()
    saved = None
    if tty and interactive and os.isatty(0):
        import termios
        import tty as ttymod

        saved = termios.tcgetattr(0)
        ttymod.setraw(0)
    if sig_proxy and not tty:
        def forward(signum: int, _frame: object) -> None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

        for s in _PROXIED:
            _signal.signal(s, forward)
    if tty and os.isatty(0):
        def resize(_s: int, _f: object) -> None:
            _send_size(sock)

        _signal.signal(28, resize)
        _send_size(sock)
    try:
        for kind, payload in pending or []:
            code = _handle(kind, payload)
            if code is not None:
                return code
        fds = [sock.fileno()] + ([0] if interactive else [])
        while True:
            try:
                r, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if 0 in r:
                data = os.read(0, 65536)
                try:
                    sock.sendall(pack(b"i", data) if data else pack(b"c"))
                except OSError:
                    pass
                if not data:
                    fds.remove(0)
            if sock.fileno() in r:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return None
                for kind, payload in reader.feed(data):
                    code = _handle(kind, payload)
                    if code is not None:
                        return code
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        for s in _PROXIED:
            _signal.signal(s, _signal.SIG_DFL)
        sock.close()


def _handle(kind: bytes, payload: bytes) -> int | None:
    if kind == b"o":
        _write_all(1, payload)
    elif kind == b"e":
        _write_all(2, payload)
    elif kind == b"x":
        return int(payload)
    elif kind == b"E":
        from .lifecycle import _error_from

        raise _error_from(payload)
    return None


def _send_size(sock: socket.socket) -> None:
    import fcntl
    import struct
    import termios

    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
        sock.sendall(pack(b"w", f"{rows} {cols}".encode()))
    except OSError:
        pass
