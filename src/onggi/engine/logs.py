"""Container logs in the k8s-file format (what podman's conmon writes)::

    2024-05-01T10:00:00.123456789+02:00 stdout F a whole line
    2024-05-01T10:00:00.123456789+02:00 stderr P part of a line with no newline yet

The writer (in the monitor) rotates by size: past ``max_size`` bytes the file moves to
``ctr.log.1`` (replacing an older one) and a new one starts. The reader (``onggi logs``)
reads the rotated file first, filters by time and tail, and can follow.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterator

__all__ = ["LogWriter", "LogLine", "read_lines", "format_time", "parse_time"]


def format_time(ns: int) -> str:
    """RFC 3339 with nanoseconds and the local offset."""
    secs, frac = divmod(ns, 1_000_000_000)
    lt = time.localtime(secs)
    off = lt.tm_gmtoff
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", lt) + f".{frac:09d}{sign}{off // 3600:02d}:{off % 3600 // 60:02d}")


def parse_time(text: str) -> float:
    """A k8s-file timestamp (or RFC 3339 / a Unix time / a duration like ``10m`` for
    --since/--until, meaning that long ago) -> Unix time."""
    from ..errors import InvalidArgument

    t = text.strip()
    units = {"s": 1, "m": 60, "h": 3600}
    if t and t[-1] in units and t[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(t[:-1]) * units[t[-1]]
    try:
        return float(t)
    except ValueError:
        pass
    import datetime

    try:
        main, _, rest = t.partition(".")
        frac = ""
        tz = ""
        if rest:
            i = 0
            while i < len(rest) and rest[i].isdigit():
                i += 1
            frac, tz = rest[:i], rest[i:]
        else:
            for sep in ("+", "Z"):
                if sep in main[10:]:
                    j = main.index(sep, 10)
                    main, tz = main[:j], main[j:]
                    break
            if "-" in main[10:]:
                j = main.index("-", 10)
                main, tz = main[:j], main[j:]
        dt = datetime.datetime.fromisoformat(main + (tz.replace("Z", "+00:00") if tz else ""))
        if dt.tzinfo is None:
            dt = dt.astimezone()
        return dt.timestamp() + (float("0." + frac) if frac else 0.0)
    except ValueError:
        raise InvalidArgument(f"invalid time {text!r}: expected RFC 3339, a Unix time or a duration "
                              f"like 10m") from None


class LogWriter:
    """Appends a stream's bytes to the log, a line per record (``P`` for a part)."""

    def __init__(self, path: str, max_size: int = -1) -> None:
        self.path = path
        self.max_size = max_size
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        if not data:
            return
        stamp = format_time(time.time_ns()).encode()
        tag = stream.encode()
        out = []
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line:
                break
            out.append(b"%s %s %s %s\n" % (stamp, tag, b"P" if last else b"F", line))
        blob = b"".join(out)
        if self.max_size > 0 and self.size + len(blob) > self.max_size and self.size > 0:
            self.rotate()
        os.write(self.fd, blob)
        self.size += len(blob)

    def rotate(self) -> None:
        os.close(self.fd)
        os.replace(self.path, self.path + ".1")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class LogLine:
    time: float
    stamp: str
    stream: str
    partial: bool
    text: bytes


def _parse(line: bytes) -> LogLine | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp = parts[0].decode(errors="replace")
    try:
        t = parse_time(stamp)
    except Exception:
        return None
    return LogLine(t, stamp, parts[1].decode(), parts[2] == b"P", parts[3] if len(parts) > 3 else b"")


def _records(path: str) -> list[LogLine]:
    out = []
    for p in (path + ".1", path):
        try:
            with open(p, "rb") as f:
                for line in f:
                    rec = _parse(line)
                    if rec is not None:
                        out.append(rec)
        except FileNotFoundError:
            continue
    return out


def read_lines(path: str, since: float | None = None, until: float | None = None,
               tail: int = -1) -> list[LogLine]:
    """The log's records, partial ones joined to their line, filtered."""
    joined: list[LogLine] = []
    pending: LogLine | None = None
    for rec in _records(path):
        if pending is not None and pending.stream == rec.stream:
            rec = LogLine(pending.time, pending.stamp, rec.stream, rec.partial, pending.text + rec.text)
            pending = None
        if rec.partial:
            pending = rec
            continue
        rec.text += b"\n"
        joined.append(rec)
    if pending is not None:
        joined.append(pending)
    if since is not None:
        joined = [r for r in joined if r.time >= since]
    if until is not None:
        joined = [r for r in joined if r.time <= until]
    if tail >= 0:
        joined = joined[len(joined) - tail:] if tail else []
    return joined


def follow(path: str, offset: int, alive) -> Iterator[LogLine]:  # noqa: ANN001
    """Records appended after byte ``offset`` of the live file, until ``alive()`` is
    false and nothing more comes."""
    buf = b""
    ino = None
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and ino is not None and st.st_ino != ino:
            offset = 0  # rotated
        if st is not None:
            ino = st.st_ino
            if st.st_size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    rec = _parse(line)
                    if rec is not None:
                        if not rec.partial:
                            rec.text += b"\n"
                        yield rec
                continue
        if not alive():
            return
        time.sleep(0.1)
