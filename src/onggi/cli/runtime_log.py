"""runc-style logging: text (``time="..." level=error msg="..."``) or JSON lines, to
stderr or to ``--log FILE`` (where engines such as podman read the error from)."""

from __future__ import annotations

import os
import sys
import time


class Logger:
    __slots__ = ("path", "json", "debug_on")

    def __init__(self, path: str | None, fmt: str, debug: bool) -> None:
        if fmt not in ("text", "json"):
            from ..errors import InvalidArgument

            raise InvalidArgument(f"invalid log format {fmt!r} (text or json)")
        self.path = path
        self.json = fmt == "json"
        self.debug_on = debug

    def _line(self, level: str, msg: str) -> str:
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.json:
            from ..oci import jsonio

            return jsonio.dumps({"level": level, "msg": msg, "time": t}) + "\n"
        return f'time="{t}" level={level} msg={_quote(msg)}\n'

    def _write(self, level: str, msg: str) -> None:
        line = self._line(level, msg)
        if self.path:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            except OSError:
                pass
        if level == "error" or not self.path:
            # errors always reach the caller's stderr, in runc's text form
            sys.stderr.write(line if not self.json or not self.path else self._text(level, msg))
            sys.stderr.flush()

    def _text(self, level: str, msg: str) -> str:
        j, self.json = self.json, False
        try:
            return self._line(level, msg)
        finally:
            self.json = j

    def error(self, msg: str) -> None:
        self._write("error", msg)

    def warning(self, msg: str) -> None:
        self._write("warning", msg)

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self._write("debug", msg)


def _quote(s: str) -> str:
    """A double-quoted string with Go's escapes (what logrus writes for a message)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
