"""onggi.oci.digest: parsing, and verification of digest and size while streaming."""

from __future__ import annotations

import hashlib
import io

import pytest

from onggi.errors import FailedPrecondition, InvalidArgument
from onggi.oci import digest as D

DATA = b"onggi jar\n" * 1000
SHA256 = "sha256:" + hashlib.sha256(DATA).hexdigest()
SHA512 = "sha512:" + hashlib.sha512(DATA).hexdigest()


@pytest.mark.parametrize("value", [SHA256, SHA512])
def test_parse_valid(value: str) -> None:
    d = D.parse(value)
    assert d == value and d.algorithm == value.split(":")[0] and d.hex == value.split(":")[1]


@pytest.mark.parametrize("value, words", [
    ("sha256", "algorithm:hex"),
    ("md5:" + "0" * 32, "unsupported digest algorithm 'md5'"),
    ("sha256:" + "0" * 63, "64 lower-case hex"),
    ("sha256:" + "A" * 64, "64 lower-case hex"),
    ("sha512:" + "0" * 64, "128 lower-case hex"),
    (5, "expected a digest string"),
])
def test_parse_invalid_names_the_value(value: object, words: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        D.parse(value, "manifest.config.digest")
    assert str(ei.value).startswith("manifest.config.digest: ") and words in str(ei.value)


def test_compute_and_of_bytes() -> None:
    assert D.compute(io.BytesIO(DATA), chunk=7) == (SHA256, len(DATA))
    assert D.compute(io.BytesIO(DATA), "sha512") == (SHA512, len(DATA))
    assert D.of_bytes(DATA) == SHA256


@pytest.mark.parametrize("digest", [SHA256, SHA512])
def test_verifier_accepts_the_right_content(digest: str) -> None:
    v = D.Verifier(digest, len(DATA), "layer")
    for i in range(0, len(DATA), 999):
        v.update(DATA[i:i + 999])
    assert v.finish() == digest


def test_verifier_size_unknown() -> None:
    v = D.Verifier(SHA256, None)
    v.update(DATA)
    assert v.finish() == SHA256


def test_verifier_too_long_fails_early() -> None:
    v = D.Verifier(SHA256, len(DATA) - 1, "layer X")
    with pytest.raises(D.DigestMismatch) as ei:
        v.update(DATA)
    assert "layer X" in str(ei.value) and str(len(DATA) - 1) in str(ei.value)
    assert isinstance(ei.value, FailedPrecondition)


def test_verifier_short_and_corrupt() -> None:
    v = D.Verifier(SHA256, len(DATA), "blob b")
    v.update(DATA[:-1])
    with pytest.raises(D.DigestMismatch, match="declares"):
        v.finish()
    v = D.Verifier(SHA256, len(DATA), "blob b")
    v.update(DATA[:-1] + b"X")
    with pytest.raises(D.DigestMismatch, match="digest mismatch: expected " + SHA256):
        v.finish()


def test_verifier_copy_state_resumes() -> None:
    v = D.Verifier(SHA256, len(DATA))
    v.update(DATA[:100])
    w = v.copy_state()
    w.update(DATA[100:])
    assert w.finish() == SHA256
    v.update(b"x")  # the original is independent
    assert v.seen == 101
