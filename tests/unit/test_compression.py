"""Layer (de)compression (onggi.image.compression) and the apply read-ahead: round trips,
detection, multi-member / multi-frame streams, and clear errors for truncated, corrupt and
mislabelled streams. No root needed."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
import zlib

import pytest
import zstandard

from onggi.errors import InvalidArgument
from onggi.image import compression as C
from onggi.image.apply_stream import ReadAhead

DATA = os.urandom(300_000) + b"onggi layer " * 200_000 + bytes(3 << 20)


def compress(data: bytes, kind: str, **kw) -> bytes:  # noqa: ANN003
    out = io.BytesIO()
    w = C.open_writer(out, kind, **kw)
    for i in range(0, len(data), 1 << 20):
        w.write(data[i:i + (1 << 20)])
    w.close()
    assert not out.closed, "close() of the writer must leave the stream open"
    return out.getvalue()


def read_all(blob: bytes, kind: str = "auto", n: int = C.CHUNK, what: str = "layer sha256:x") -> bytes:
    r = C.open_reader(io.BytesIO(blob), kind, what=what)
    parts = []
    while True:
        b = r.read(n)
        if not b:
            return b"".join(parts)
        assert len(b) <= n
        parts.append(b)


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("size", [0, 1, 511, 1 << 20, len(DATA)])
def test_round_trip(kind: str, size: int) -> None:
    data = DATA[:size]
    blob = compress(data, kind)
    assert read_all(blob, kind) == data
    if size:  # "auto" needs the magic bytes; an empty plain stream is just empty
        assert read_all(blob, "auto") == data


def test_small_reads_and_read_all() -> None:
    blob = compress(DATA[:200_000], "gzip")
    assert read_all(blob, "gzip", n=1000) == DATA[:200_000]
    assert C.open_reader(io.BytesIO(blob), "gzip").read(-1) == DATA[:200_000]
    assert C.open_reader(io.BytesIO(compress(DATA[:5000], "zstd")), "zstd").read(-1) == DATA[:5000]


def test_detect() -> None:
    assert C.detect(b"\x1f\x8b\x08\x00") == "gzip"
    assert C.detect(b"\x28\xb5\x2f\xfd") == "zstd"
    assert C.detect(b"./\0\0") == "none"
    assert C.detect(b"") == "none"
    assert C.detect(compress(b"x", "gzip")) == "gzip"
    assert C.detect(compress(b"x", "zstd")) == "zstd"


def test_interop_with_stdlib_and_zstandard() -> None:
    data = DATA[:2_000_000]
    assert gzip.decompress(compress(data, "gzip")) == data
    assert read_all(gzip.compress(data, 6)) == data
    assert zstandard.ZstdDecompressor().decompress(compress(data, "zstd"), max_output_size=len(data)) == data
    assert read_all(zstandard.ZstdCompressor(level=19).compress(data)) == data


def test_deterministic_output_and_levels() -> None:
    data = DATA[:1_000_000]
    for kind in ("gzip", "zstd"):
        assert compress(data, kind) == compress(data, kind)
    text = b"the quick brown fox jumps over the lazy dog " * 50_000
    assert len(compress(text, "gzip", level=9)) <= len(compress(text, "gzip", level=1))
    assert len(compress(text, "zstd", level=19)) <= len(compress(text, "zstd", level=1))
    assert C.DEFAULT_LEVELS == {"gzip": 5, "zstd": 3}
    with pytest.raises(InvalidArgument, match="gzip compression level 0"):
        C.open_writer(io.BytesIO(), "gzip", level=0)
    with pytest.raises(InvalidArgument, match="zstd compression level 23"):
        C.open_writer(io.BytesIO(), "zstd", level=23)
    with pytest.raises(InvalidArgument, match="bzip2"):
        C.open_writer(io.BytesIO(), "bzip2")
    with pytest.raises(InvalidArgument, match="bzip2"):
        C.open_reader(io.BytesIO(b""), "bzip2")


def test_writer_close_twice_and_write_after_close() -> None:
    out = io.BytesIO()
    w = C.open_writer(out, "gzip")
    w.write(b"abc")
    w.close()
    w.close()
    with pytest.raises(ValueError):
        w.write(b"more")
    assert gzip.decompress(out.getvalue()) == b"abc"


def test_multi_member_gzip_and_zero_padding() -> None:
    a, b = DATA[:100_000], DATA[100_000:300_000]
    two = compress(a, "gzip") + gzip.compress(b)
    assert read_all(two) == a + b
    assert read_all(two + bytes(1000)) == a + b  # padding after the last member


def test_trailing_garbage_after_gzip() -> None:
    with pytest.raises(C.CompressionError, match="trailing data after gzip member 1"):
        read_all(compress(b"abc", "gzip") + b"garbage")


def test_multi_frame_and_skippable_zstd() -> None:
    a, b = DATA[:100_000], DATA[100_000:200_000]
    skippable = b"\x50\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"hello"
    blob = compress(a, "zstd") + skippable + zstandard.ZstdCompressor().compress(b)
    assert read_all(blob) == a + b
    assert read_all(blob, "zstd", n=4096) == a + b


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_truncated(kind: str) -> None:
    blob = compress(DATA, kind)
    for cut in (len(blob) - 1, len(blob) - 4, len(blob) // 2, 10, 3):
        with pytest.raises(C.CompressionError, match=f"layer sha256:x: truncated {kind} stream"):
            read_all(blob[:cut], kind)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_corrupt(kind: str) -> None:
    blob = bytearray(compress(DATA[:1_000_000], kind))
    blob[len(blob) // 2] ^= 0x5A
    with pytest.raises(C.CompressionError, match=f"layer sha256:x: corrupt {kind} data"):
        read_all(bytes(blob), kind)


def test_gzip_crc_mismatch() -> None:
    blob = bytearray(compress(b"hello world" * 100, "gzip"))
    blob[-8] ^= 0xFF  # the CRC32 in the trailer
    with pytest.raises(C.CompressionError, match="corrupt gzip data"):
        read_all(bytes(blob), "gzip")


def test_empty_and_mislabelled_streams() -> None:
    with pytest.raises(C.CompressionError, match="empty gzip stream"):
        read_all(b"", "gzip")
    with pytest.raises(C.CompressionError, match="empty zstd stream"):
        read_all(b"", "zstd")
    with pytest.raises(C.CompressionError, match="not gzip data"):
        read_all(b"plain tar bytes" * 100, "gzip")
    with pytest.raises(C.CompressionError, match="no zstd frame magic"):
        read_all(b"plain tar bytes" * 100, "zstd")
    assert read_all(b"") == b""  # auto: nothing is plain nothing


def test_errors_are_invalid_argument_and_value_error() -> None:
    with pytest.raises(C.CompressionError) as ei:
        read_all(b"\x1f\x8b\x08\x00\x00", "gzip")
    assert isinstance(ei.value, InvalidArgument) and isinstance(ei.value, ValueError)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_bomb_reads_stay_bounded(kind: str) -> None:
    """64 MiB of zeros compress to next to nothing; each read still returns <= n bytes."""
    zeros = bytes(64 << 20)
    blob = compress(zeros, kind)
    assert len(blob) < (1 << 20)
    r = C.open_reader(io.BytesIO(blob), kind)
    total = 0
    while b := r.read(1 << 20):
        assert len(b) <= 1 << 20
        total += len(b)
    assert total == len(zeros)


def test_gzip_reader_without_isal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard library fallback decodes the same streams with the same errors."""
    monkeypatch.setattr(C, "_isal", None)
    blob = compress(DATA[:500_000], "gzip")  # written while isal may be present: any deflate
    assert read_all(blob, "gzip") == DATA[:500_000]
    with pytest.raises(C.CompressionError, match="truncated gzip stream"):
        read_all(blob[:-3], "gzip")
    out = io.BytesIO()
    w = C.open_writer(out, "gzip", level=6)
    w.write(b"fallback")
    w.close()
    assert zlib.decompress(out.getvalue(), 31) == b"fallback"


def test_have_isal() -> None:
    assert C.have_isal() is True  # pinned in pyproject and installed in the venv


# --- the apply read-ahead (onggi.image.apply_stream) -------------------------------------

def test_readahead_passes_everything_and_hashes_it() -> None:
    data = DATA[:3_000_000]
    h = hashlib.sha256()
    with ReadAhead(io.BytesIO(data), hasher=h, chunk=100_000, depth=2) as ra:
        got = []
        while b := ra.read(77_777):
            assert len(b) <= 77_777
            got.append(b)
    assert b"".join(got) == data
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def test_readahead_raises_the_producer_error() -> None:
    blob = compress(DATA, "gzip")[:100_000]
    ra = ReadAhead(C.open_reader(io.BytesIO(blob), "gzip", what="layer L"))
    with pytest.raises(C.CompressionError, match="layer L: truncated gzip stream"):
        while ra.read(1 << 20):
            pass
    ra.close()


def test_readahead_close_early_stops_reading() -> None:
    class Endless:
        reads = 0

        def read(self, n: int) -> bytes:
            Endless.reads += 1
            return b"x" * n

    src = Endless()
    ra = ReadAhead(src, chunk=1000, depth=2)
    assert ra.read(10) == b"x" * 10
    ra.close()
    n = Endless.reads
    assert not any(t.name == "onggi-layer-readahead" and t.is_alive() for t in threading.enumerate())
    assert Endless.reads == n  # nothing reads the source after close()
