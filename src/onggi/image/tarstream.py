"""A streaming reader of tar headers (ustar, POSIX pax, GNU), written for layer apply.

Why not :mod:`tarfile`: its streaming mode reads through several buffering layers and
builds a ``TarInfo`` per member with work apply does not need; this reader keeps one
buffer filled 1 MiB at a time, parses a 512-byte header with slices, and writes a member's
content straight from that buffer to a file descriptor (``os.write`` of memoryview slices,
no copy). Walking the headers of an 8,200-entry layer (reading past the content) takes
about 0.06 s here against 0.6 s with ``tarfile``'s ``r|`` mode (1 MiB buffer). It never
extracts anything: :mod:`onggi.image.apply` does that.

Understood: ustar (name + prefix), GNU (``L`` long name, ``K`` long link name, base-256
numbers, ``D`` dump dirs read as directories), POSIX pax ``x`` headers (``path``,
``linkpath``, ``size``, ``uid``, ``gid``, ``mtime``, ``atime`` with fractions,
``SCHILY.xattr.NAME`` and ``LIBARCHIVE.xattr.NAME``) and ``g`` global headers.
Refused with :class:`TarError`: bad header checksums, truncated streams, special headers
over 1 MiB (as Go's archive/tar limits them), negative sizes, GNU sparse files and
multi-volume archives. Other unknown entry types come through with their type letter;
the caller decides (apply skips them). Names are decoded from UTF-8 with
``surrogateescape``, so any byte string round-trips into ``os`` calls unchanged.

If ``hasher`` is given, every byte of the stream goes through it, up to the end of the
stream (past the end-of-archive blocks): with ``sha256`` that is the layer's diff ID.
"""

from __future__ import annotations

import base64
import os
import struct
import urllib.parse
from typing import Any, Iterator

from ..errors import InvalidArgument, Unsupported

__all__ = ["TarEntry", "TarError", "TarReader", "FILE", "HARDLINK", "SYMLINK", "CHAR",
           "BLOCK", "DIR", "FIFO"]

FILE, HARDLINK, SYMLINK, CHAR, BLOCK, DIR, FIFO = "0", "1", "2", "3", "4", "5", "6"
_CHUNK = 1 << 20
_MAX_SPECIAL = 1 << 20  # pax / GNU long-name payloads
_ZERO = bytes(512)
# name mode uid gid size mtime chksum type linkname magic+version (uname gname) devmajor devminor prefix
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s8s64x8s8s155s12x")
_HEADER_ONLY = frozenset((HARDLINK, SYMLINK, CHAR, BLOCK, DIR, FIFO))
_TYPES = {b"0": FILE, b"\0": FILE, b"7": FILE, b"1": HARDLINK, b"2": SYMLINK, b"3": CHAR,
          b"4": BLOCK, b"5": DIR, b"6": FIFO, b"D": DIR}


class TarError(InvalidArgument):
    """The stream is not a well-formed tar archive."""


class TarEntry:
    """One member. ``mode`` holds the permission bits only (incl. set-id and sticky);
    times are integer nanoseconds; ``xattrs`` maps names to raw values."""

    __slots__ = ("name", "type", "size", "mode", "uid", "gid", "mtime_ns", "atime_ns",
                 "linkname", "devmajor", "devminor", "xattrs")

    def __init__(self, name: str, type: str, size: int, mode: int, uid: int, gid: int,
                 mtime_ns: int, atime_ns: int | None, linkname: str, devmajor: int,
                 devminor: int, xattrs: dict[str, bytes]) -> None:
        self.name, self.type, self.size, self.mode = name, type, size, mode
        self.uid, self.gid, self.mtime_ns, self.atime_ns = uid, gid, mtime_ns, atime_ns
        self.linkname, self.devmajor, self.devminor = linkname, devmajor, devminor
        self.xattrs = xattrs

    def __repr__(self) -> str:
        return f"TarEntry({self.name!r}, type={self.type!r}, size={self.size})"


def _str(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _num(field: bytes) -> int:
    """An octal number field (NUL- or space-terminated), or GNU base-256."""
    if field[0] & 0x80:  # GNU base-256: 0x80 positive, 0xff negative
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    s = field.split(b"\0", 1)[0]
    try:
        return int(s or b"0", 8)  # int() itself allows surrounding spaces
    except ValueError:
        if s.strip():
            raise
        return 0  # all spaces


def _pax_time(v: bytes) -> int:
    """A pax time ("1700000000.5", "-1.25") as integer nanoseconds, without float rounding."""
    s = v.decode("ascii").strip()
    neg = s.startswith("-")
    whole, _, frac = s.lstrip("+-").partition(".")
    ns = int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9])
    return -ns if neg else ns


class TarReader:
    """Iterate :class:`TarEntry` items of ``stream``; between two ``next()`` the current
    member's content may be written out with :meth:`copy_to` (else it is skipped)."""

    def __init__(self, stream: Any, *, hasher: Any = None, what: str = "tar") -> None:
        self._src = stream
        self._hash = hasher
        self.what = what
        self._buf = b""
        self._pos = 0
        self._left = 0  # content bytes of the current member not consumed yet
        self._pad = 0  # padding after it
        self._globals: dict[str, bytes] = {}
        self.offset = 0  # stream offset of the current header, for messages
        self._next = 0  # and of the next one

    # --- the buffer -------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        b = self._src.read(n)
        if b and self._hash is not None:
            self._hash.update(b)
        return b  # type: ignore[no-any-return]

    def _fill(self, n: int) -> bool:
        """Make ``n`` bytes available at ``_pos``; False if the stream ends first."""
        have = len(self._buf) - self._pos
        if have >= n:
            return True
        parts = [self._buf[self._pos:]]
        while have < n:
            b = self._read(max(_CHUNK, n - have))
            if not b:
                self._buf, self._pos = b"".join(parts), 0
                return False
            parts.append(b)
            have += len(b)
        self._buf, self._pos = b"".join(parts), 0
        return True

    def _take(self, n: int) -> bytes:
        if not self._fill(n):
            raise TarError(f"{self.what}: truncated tar stream (in the member at offset {self.offset})")
        b = self._buf[self._pos:self._pos + n]
        self._pos += n
        return b

    def _discard(self, n: int) -> None:
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
            return
        n -= have
        self._buf, self._pos = b"", 0
        while n:
            b = self._read(_CHUNK)
            if not b:
                raise TarError(f"{self.what}: truncated tar stream (member content ends early)")
            if len(b) > n:
                self._buf, self._pos = b, n
                return
            n -= len(b)

    # --- content ----------------------------------------------------------------------
    def copy_to(self, fd: int) -> int:
        """Write the current member's (remaining) content to ``fd``; return the count."""
        left, done = self._left, 0
        while left:
            have = len(self._buf) - self._pos
            if not have:
                b = self._read(_CHUNK)
                if not b:
                    raise TarError(f"{self.what}: truncated tar stream (content of the member at "
                                   f"offset {self.offset} ends early)")
                self._buf, self._pos, have = b, 0, len(b)
            k = min(have, left)
            view = memoryview(self._buf)[self._pos:self._pos + k]
            while view:
                view = view[os.write(fd, view):]
            self._pos += k
            left -= k
            done += k
        self._left = 0
        return done

    def read_content(self, limit: int = _MAX_SPECIAL) -> bytes:
        if self._left > limit:
            raise TarError(f"{self.what}: special tar header at offset {self.offset} is "
                           f"{self._left} bytes (more than {limit})")
        b = self._take(self._left)
        self._left = 0
        return b

    # --- headers ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[TarEntry]:
        return self

    def __next__(self) -> TarEntry:
        e = self.next()
        if e is None:
            raise StopIteration
        return e

    def next(self) -> TarEntry | None:
        """The next entry, or None at the end of the archive (the stream is then read to
        its end, so that ``hasher`` has seen all of it)."""
        self._discard(self._left)
        if not self._fill(self._pad):
            # the last member's padding (and the end blocks) are missing: some writers
            # (umoci's, for one) stop right after the content; take that as the end
            if len(self._buf) - self._pos == 0:
                self._left = self._pad = 0
                return self._end()
            raise TarError(f"{self.what}: truncated tar stream (padding after the member at "
                           f"offset {self.offset})")
        self._pos += self._pad
        self._left = self._pad = 0
        pax: dict[str, bytes] = {}
        longname = longlink = None
        while True:
            self.offset = self._next
            if not self._fill(512):
                if len(self._buf) - self._pos:
                    raise TarError(f"{self.what}: truncated tar header at the end of the stream")
                if pax or longname is not None or longlink is not None:
                    raise TarError(f"{self.what}: the stream ends after an extended header")
                return self._end()
            hdr = self._take(512)
            if hdr == _ZERO:
                return self._end()
            self._check(hdr)
            tflag = hdr[156:157]
            try:
                size = _num(hdr[124:136])
            except ValueError:
                raise TarError(f"{self.what}: malformed size in the tar header at offset "
                               f"{self.offset}") from None
            if size < 0:
                raise TarError(f"{self.what}: negative size in the tar header at offset {self.offset}")
            if tflag in (b"x", b"g", b"L", b"K"):
                self._left, self._pad = size, -size % 512
                data = self.read_content()
                self._discard(self._pad)
                self._pad = 0
                self._next = self.offset + 512 + size + (-size % 512)
                if tflag == b"x":
                    pax.update(self._pax(data))
                elif tflag == b"g":
                    self._globals.update(self._pax(data))
                elif tflag == b"L":
                    longname = _str(data)
                else:
                    longlink = _str(data)
                continue
            if self._globals:
                pax = {**self._globals, **pax}
            return self._entry(hdr, tflag, size, pax, longname, longlink)

    def _end(self) -> None:
        while self._read(_CHUNK):  # the second zero block, padding, anything after
            pass
        self._buf, self._pos = b"", 0
        return None

    def _check(self, hdr: bytes) -> None:
        try:
            want = _num(hdr[148:156])
        except ValueError:
            want = -1
        s = sum(hdr) - sum(hdr[148:156]) + 8 * 32
        if want != s and want != s - 256 * sum(1 for c in hdr if c > 127):  # signed sums (old tars)
            raise TarError(f"{self.what}: bad tar header checksum at offset {self.offset} "
                           f"(not a tar archive, or a corrupt one)")

    def _pax(self, data: bytes) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        pos = 0
        while pos < len(data):
            sp = data.find(b" ", pos)
            try:
                n = int(data[pos:sp])
            except ValueError:
                n = 0
            rec = data[pos:pos + n]
            if sp < 0 or n <= sp - pos or len(rec) != n or not rec.endswith(b"\n") or b"=" not in rec:
                raise TarError(f"{self.what}: malformed pax record in the header at offset {self.offset}")
            key, _, value = rec[sp - pos + 1:-1].partition(b"=")
            out[key.decode("utf-8", "surrogateescape")] = value
            pos += n
        return out

    def _entry(self, hdr: bytes, tflag: bytes, size: int, pax: dict[str, bytes],
               longname: str | None, longlink: str | None) -> TarEntry:
        (name_b, mode_b, uid_b, gid_b, _size, mtime_b, _sum, _t, link_b, magic,
         major_b, minor_b, prefix_b) = _HEADER.unpack(hdr)
        try:
            mode, uid, gid = _num(mode_b), _num(uid_b), _num(gid_b)
            mtime_ns = _num(mtime_b) * 1_000_000_000
            major = minor = 0
            if tflag in (b"3", b"4") and magic[:5] == b"ustar":
                major, minor = _num(major_b), _num(minor_b)
        except ValueError:
            raise TarError(f"{self.what}: malformed number in the tar header at offset "
                           f"{self.offset}") from None
        if longname is not None:
            name = longname
        else:
            name = _str(name_b)
            if magic[:6] == b"ustar\0" and prefix_b[0]:  # POSIX ustar: a prefix
                name = _str(prefix_b) + "/" + name
        linkname = longlink if longlink is not None else _str(link_b) if link_b[0] else ""
        atime_ns = None
        xattrs: dict[str, bytes] = {}
        if pax:
            try:
                for key, value in pax.items():
                    if key == "path":
                        name = value.decode("utf-8", "surrogateescape")
                    elif key == "linkpath":
                        linkname = value.decode("utf-8", "surrogateescape")
                    elif key == "size":
                        size = int(value)
                    elif key == "uid":
                        uid = int(value)
                    elif key == "gid":
                        gid = int(value)
                    elif key == "mtime":
                        mtime_ns = _pax_time(value)
                    elif key == "atime":
                        atime_ns = _pax_time(value)
                    elif key.startswith("SCHILY.xattr."):
                        xattrs[key[13:]] = value
                    elif key.startswith("LIBARCHIVE.xattr."):
                        xattrs[urllib.parse.unquote(key[17:], errors="surrogateescape")] = \
                            base64.b64decode(value + b"=" * (-len(value) % 4))
                    elif key.startswith("GNU.sparse."):
                        raise Unsupported(f"{self.what}: {name!r} is a GNU sparse file, which "
                                          f"layer apply does not support")
            except (ValueError, UnicodeDecodeError):
                raise TarError(f"{self.what}: malformed pax value in the header at offset "
                               f"{self.offset}") from None
        if tflag in (b"S", b"M"):
            raise Unsupported(f"{self.what}: {name!r}: GNU sparse or multi-volume tar entries are "
                              f"not supported")
        if size < 0:
            raise TarError(f"{self.what}: negative size for {name!r}")
        etype = _TYPES.get(tflag, tflag.decode("latin-1"))
        if tflag == b"\0" and name.endswith("/"):
            etype = DIR  # pre-POSIX archives mark directories with a trailing slash only
        if etype in _HEADER_ONLY and tflag != b"D":
            size = 0  # as GNU tar and Go read them: no content follows, whatever "size" says
        self._left, self._pad = size, -size % 512
        self._next = self.offset + 512 + size + self._pad
        return TarEntry(name, etype, size, mode & 0o7777, uid, gid, mtime_ns, atime_ns, linkname,
                        major, minor, xattrs)
