"""Layer (de)compression: gzip, zstd or none, streamed in 1 MiB chunks with bounded memory.

Readers::

    plain = open_reader(blob, "auto", what=f"layer {digest}")   # or "gzip", "zstd", "none"
    while chunk := plain.read(CHUNK):
        ...

``"auto"`` looks at the first bytes (gzip ``1f 8b``, zstd ``28 b5 2f fd``; anything else is
taken as an uncompressed tar). gzip is decoded with ISA-L (``isal``'s zlib-compatible
``decompressobj``, several times faster than zlib) when it is installed, else with the
standard library's ``zlib``; concatenated gzip members and zero padding after the last one
are accepted, other trailing bytes are not. zstd uses ``zstandard``'s streaming reader across
frames (skippable frames included). Every ``read(n)`` returns at most ``n`` bytes, however
well the input compresses, so a "compression bomb" costs time, not memory.

A truncated or corrupt stream raises :class:`CompressionError` (an ``InvalidArgument`` and a
``ValueError``) naming ``what``: zlib and ISA-L check the gzip CRC and length; zstd frames
are followed header by header (see :class:`_ZstdFrames`) because ``zstandard``'s reader
reports a stream cut in the middle of a frame as a clean end.

Writers::

    w = open_writer(out, "gzip")          # level: DEFAULT_LEVELS unless given
    w.write(data) ...
    w.close()                             # ends the stream; ``out`` stays open

The defaults follow containers/image (podman ``--compression-level``): gzip level 5 on zlib's
1-9 scale, zstd level 3. ISA-L has levels 0-3; the zlib scale maps onto it as 1 -> 0,
2-4 -> 1, 5-7 -> 2 (ISA-L's own default), 8-9 -> 3. Output is deterministic (gzip header
mtime 0, no file name; zstd with a content checksum), so the same input gives the same digest.
"""

from __future__ import annotations

import zlib
from typing import Any, BinaryIO, Callable, Protocol

from ..errors import InvalidArgument

try:  # ISA-L: fast deflate; optional at run time, pinned in pyproject
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - exercised only where isal is missing
    _isal = None  # type: ignore[assignment]

__all__ = ["CHUNK", "COMPRESSIONS", "DEFAULT_LEVELS", "GZIP_MAGIC", "ZSTD_MAGIC",
           "CompressionError", "Reader", "Writer", "detect", "open_reader", "open_writer",
           "have_isal"]

CHUNK = 1 << 20
COMPRESSIONS = ("gzip", "zstd", "none")
DEFAULT_LEVELS = {"gzip": 5, "zstd": 3}
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_WBITS = 31  # 16 + 15: a gzip container, 32 KiB window


class CompressionError(InvalidArgument, ValueError):
    """A compressed stream that is truncated, corrupt or not of the declared format."""


class Reader(Protocol):
    def read(self, n: int = ...) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...


def have_isal() -> bool:
    """Whether gzip goes through ISA-L (else the standard library's zlib)."""
    return _isal is not None


def detect(head: bytes) -> str:
    """The compression of a stream starting with ``head`` (at least 4 bytes where the
    stream has them): ``"gzip"``, ``"zstd"`` or ``"none"``."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class _Prefixed:
    """``stream`` with ``head`` (bytes already read from it) put back in front."""

    __slots__ = ("_head", "_src")

    def __init__(self, head: bytes, src: Any) -> None:
        self._head = head
        self._src = src

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                b, self._head = self._head + self._src.read(), b""
                return b
            b, self._head = self._head[:n], self._head[n:]
            return b
        return self._src.read(n)


def open_reader(stream: Any, compression: str = "auto", *, what: str = "stream") -> Reader:
    """A reader of the decompressed bytes of ``stream`` (anything with ``read(n)``).

    ``compression`` is ``"gzip"``, ``"zstd"``, ``"none"`` or ``"auto"`` (from the magic
    bytes). ``stream`` is not closed; bytes after the compressed data are left unread only
    for ``"none"`` (which passes the stream through)."""
    if compression == "auto":
        head = b""
        while len(head) < 4:
            b = stream.read(4 - len(head))
            if not b:
                break
            head += b
        compression = detect(head)
        stream = _Prefixed(head, stream)
    if compression == "gzip":
        return _GzipReader(stream, what)
    if compression == "zstd":
        return _ZstdReader(stream, what)
    if compression == "none":
        return stream  # type: ignore[no-any-return]
    raise InvalidArgument(f"{what}: unknown compression {compression!r} "
                          f"(expected one of {', '.join(COMPRESSIONS)} or auto)")


class _GzipReader:
    """gzip members one after the other, each through a zlib-compatible decompressobj."""

    __slots__ = ("_src", "_what", "_new", "_d", "_pending", "_members", "_done")

    def __init__(self, src: Any, what: str) -> None:
        self._src = src
        self._what = what
        self._new: Callable[[int], Any] = _isal.decompressobj if _isal is not None else zlib.decompressobj
        self._d: Any = None  # the current member's decompressor; None between members
        self._pending = b""  # compressed input not yet handed to a decompressor
        self._members = 0
        self._done = False

    def _fail(self, msg: str) -> CompressionError:
        return CompressionError(f"{self._what}: {msg}")

    def read(self, n: int = CHUNK) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        while n and not self._done:
            if not self._pending:
                self._pending = self._src.read(CHUNK)
                if not self._pending:
                    if self._d is not None:
                        raise self._fail(f"truncated gzip stream (it ends inside member "
                                         f"{self._members}, before its end-of-stream marker)")
                    if not self._members:
                        raise self._fail("empty gzip stream")
                    self._done = True
                    break
            if self._d is None and not self._start_member():
                continue
            try:
                out = self._d.decompress(self._pending, n)
            except Exception as e:  # zlib.error / isal_zlib.error: bad data, CRC or length
                raise self._fail(f"corrupt gzip data in member {self._members}: {e}") from None
            if self._d.eof:
                self._pending = self._d.unused_data
                self._d = None
            else:
                self._pending = self._d.unconsumed_tail
            if out:
                return out  # type: ignore[no-any-return]
        return b""

    def _start_member(self) -> bool:
        """Start the next member at ``_pending``; False: more input is needed first."""
        p = self._pending
        if p.startswith(GZIP_MAGIC):
            self._d = self._new(_GZIP_WBITS)
            self._members += 1
            return True
        if self._members and not p.strip(b"\0"):
            self._pending = b""  # zero padding after the last member (as gzip(1) allows)
            return False
        if len(p) == 1 and p == GZIP_MAGIC[:1]:
            more = self._src.read(CHUNK)
            if more:
                self._pending = p + more
                return False
        if self._members:
            raise self._fail(f"{len(p)}+ bytes of trailing data after gzip member {self._members}")
        raise self._fail("not gzip data (no gzip magic 1f 8b at the start)")


class _ZstdFrames:
    """Follows the zstd frame format (RFC 8878) over the compressed bytes, reading only the
    frame and block headers, so that a stream cut inside a frame is caught at its end."""

    __slots__ = ("state", "need", "hdr", "skip", "checksum", "frames")  # frames: begun so far

    # states: what the next header bytes are
    MAGIC, FHD, FRAME_REST, BLOCK, SKIP_SIZE = range(5)

    def __init__(self) -> None:
        self.state = self.MAGIC
        self.need = 4  # header bytes wanted for the current state
        self.hdr = b""
        self.skip = 0  # payload bytes to pass over before the next header
        self.checksum = False
        self.frames = 0

    def at_boundary(self) -> bool:
        return self.state == self.MAGIC and not self.hdr and not self.skip

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self.skip:
                k = min(self.skip, end - pos)
                self.skip -= k
                pos += k
                continue
            k = min(self.need - len(self.hdr), end - pos)
            self.hdr += data[pos:pos + k]
            pos += k
            if len(self.hdr) == self.need:
                h, self.hdr = self.hdr, b""
                self._header(h)

    def _header(self, h: bytes) -> None:
        if self.state == self.MAGIC:
            self.frames += 1
            if h == ZSTD_MAGIC:
                self.state, self.need = self.FHD, 1
            elif h[1:] == b"\x2a\x4d\x18" and h[0] & 0xF0 == 0x50:  # skippable frame
                self.state, self.need = self.SKIP_SIZE, 4
            else:
                raise ValueError(f"no zstd frame magic (got {h.hex()}) at the start of frame {self.frames}")
        elif self.state == self.SKIP_SIZE:
            self.skip = int.from_bytes(h, "little")
            self.state, self.need = self.MAGIC, 4
        elif self.state == self.FHD:
            fhd = h[0]
            single = (fhd >> 5) & 1
            fcs = (0 if not single else 1, 2, 4, 8)[fhd >> 6]
            rest = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
            self.checksum = bool(fhd & 4)
            if rest:
                self.state, self.need = self.FRAME_REST, rest
            else:
                self.state, self.need = self.BLOCK, 3
        elif self.state == self.FRAME_REST:
            self.state, self.need = self.BLOCK, 3
        else:  # BLOCK
            b = int.from_bytes(h, "little")
            last, btype, size = b & 1, (b >> 1) & 3, b >> 3
            if btype == 3:
                raise ValueError("reserved zstd block type")
            self.skip = 1 if btype == 1 else size
            if last:
                self.skip += 4 if self.checksum else 0
                self.state, self.need = self.MAGIC, 4


class _ZstdReader:
    __slots__ = ("_frames", "_r", "_src", "_what", "_done")

    def __init__(self, src: Any, what: str) -> None:
        import zstandard

        self._src = src
        self._what = what
        self._frames = _ZstdFrames()
        self._done = False
        self._r = zstandard.ZstdDecompressor().stream_reader(
            _Tee(src, self._frames, what), read_size=CHUNK, read_across_frames=True, closefd=False)

    def read(self, n: int = CHUNK) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if self._done or not n:
            return b""
        try:
            out = self._r.read(n)
        except CompressionError:
            raise
        except Exception as e:  # zstandard.ZstdError: corrupt frame, checksum mismatch
            raise CompressionError(f"{self._what}: corrupt zstd data: {e}") from None
        if not out:
            self._done = True
            if not self._frames.frames and self._frames.at_boundary():
                raise CompressionError(f"{self._what}: empty zstd stream")
            if not self._frames.at_boundary():
                raise CompressionError(f"{self._what}: truncated zstd stream (it ends inside "
                                       f"frame {max(self._frames.frames, 1)})")
        return out  # type: ignore[no-any-return]


class _Tee:
    """The compressed source, each chunk also shown to the frame follower."""

    __slots__ = ("_src", "_frames", "_what")

    def __init__(self, src: Any, frames: _ZstdFrames, what: str) -> None:
        self._src, self._frames, self._what = src, frames, what

    def read(self, n: int = CHUNK) -> bytes:
        b = self._src.read(n)
        if b:
            try:
                self._frames.feed(b)
            except ValueError as e:
                raise CompressionError(f"{self._what}: corrupt zstd data: {e}") from None
        return b  # type: ignore[no-any-return]


def _isal_level(level: int) -> int:
    return 0 if level <= 1 else 1 if level <= 4 else 2 if level <= 7 else 3


def open_writer(stream: BinaryIO | Any, compression: str, *, level: int | None = None,
                threads: int = 0) -> Writer:
    """A writer compressing into ``stream`` (anything with ``write``); ``close()`` ends the
    compressed stream and leaves ``stream`` open. ``level`` is on zlib's 1-9 scale for gzip
    and zstd's 1-22 for zstd; ``threads`` (zstd only) > 0 compresses on that many threads,
    -1 on all cores (the output then differs from single-threaded output)."""
    if compression == "none":
        return _PlainWriter(stream)
    if compression not in DEFAULT_LEVELS:
        raise InvalidArgument(f"cannot compress with {compression!r} "
                              f"(expected one of {', '.join(COMPRESSIONS)})")
    if level is None:
        level = DEFAULT_LEVELS[compression]
    if compression == "gzip":
        if not 1 <= level <= 9:
            raise InvalidArgument(f"gzip compression level {level}: expected 1-9")
        if _isal is not None:
            c = _isal.compressobj(_isal_level(level), _isal.DEFLATED, _GZIP_WBITS)
        else:  # pragma: no cover
            c = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        return _ObjWriter(stream, c)
    if not 1 <= level <= 22:
        raise InvalidArgument(f"zstd compression level {level}: expected 1-22")
    import zstandard

    cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, threads=threads)
    return _ObjWriter(stream, cctx.compressobj())


class _ObjWriter:
    """Feeds a compressobj, writing what it returns; memory stays at the compressor's."""

    __slots__ = ("_dst", "_c", "closed")

    def __init__(self, dst: Any, c: Any) -> None:
        self._dst, self._c, self.closed = dst, c, False

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed compressing writer")
        out = self._c.compress(data)
        if out:
            self._dst.write(out)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._dst.write(self._c.flush())

    def __enter__(self) -> "_ObjWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PlainWriter(_ObjWriter):
    def __init__(self, dst: Any) -> None:
        super().__init__(dst, None)

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed writer")
        self._dst.write(data)
        return len(data)

    def close(self) -> None:
        self.closed = True
