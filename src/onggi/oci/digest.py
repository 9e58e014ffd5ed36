"""Content digests (``algorithm:hex``) of the OCI image spec: parsing, computing and
verifying while streaming.

Only the registered algorithms are accepted: ``sha256`` (64 hex digits) and ``sha512``
(128 hex digits), lower-case hex as the spec requires. Every blob onggi reads or writes goes
through a :class:`Verifier`, which checks both the digest and the size::

    v = Verifier(desc.digest, desc.size, what=f"layer {desc.digest} of {ref}")
    for chunk in stream:
        v.update(chunk)          # raises as soon as more than ``size`` bytes arrive
        out.write(chunk)
    v.finish()                   # raises on a short blob or a digest mismatch

Errors are ``InvalidArgument`` (a malformed digest string) or ``DigestMismatch`` (a
``FailedPrecondition``: the content is not what was promised), naming what was checked.
"""

from __future__ import annotations

import hashlib

from ..errors import FailedPrecondition, InvalidArgument

__all__ = ["ALGORITHMS", "Digest", "DigestMismatch", "Verifier", "parse", "compute", "of_bytes"]

# algorithm -> number of hex digits
ALGORITHMS = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


class DigestMismatch(FailedPrecondition):
    """Content whose digest or size differs from the descriptor that named it."""


class Digest(str):
    """A validated ``algorithm:hex`` string (a ``str``, so it goes straight into JSON)."""

    __slots__ = ()

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        return self.partition(":")[2]

    def hasher(self) -> "hashlib._Hash":
        return hashlib.new(self.algorithm)


def parse(value: object, what: str = "digest") -> Digest:
    """Validate ``value`` as a digest; ``what`` names it in the error."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what}: expected a digest string, got {type(value).__name__}")
    alg, sep, hexpart = value.partition(":")
    if not sep:
        raise InvalidArgument(f"{what}: {value!r} is not a digest (expected algorithm:hex)")
    want = ALGORITHMS.get(alg)
    if want is None:
        raise InvalidArgument(f"{what}: {value!r}: unsupported digest algorithm {alg!r} "
                              f"(supported: {', '.join(ALGORITHMS)})")
    if len(hexpart) != want or not _HEX.issuperset(hexpart):
        raise InvalidArgument(f"{what}: {value!r}: a {alg} digest is {want} lower-case hex digits")
    return Digest(value)


def of_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")


def compute(stream, algorithm: str = "sha256", chunk: int = 1 << 20) -> tuple[Digest, int]:  # noqa: ANN001
    """(digest, size) of a binary file object read to its end."""
    h = hashlib.new(algorithm)
    size = 0
    while True:
        b = stream.read(chunk)
        if not b:
            break
        h.update(b)
        size += len(b)
    return Digest(f"{algorithm}:{h.hexdigest()}"), size


class Verifier:
    """Checks a stream against an expected digest and size (``size`` None: unknown)."""

    __slots__ = ("digest", "size", "what", "_h", "seen")

    def __init__(self, digest: str, size: int | None = None, what: str = "blob") -> None:
        self.digest = parse(digest, what)
        self.size = size
        self.what = what
        self._h = self.digest.hasher()
        self.seen = 0

    def update(self, data: bytes) -> None:
        self.seen += len(data)
        if self.size is not None and self.seen > self.size:
            raise DigestMismatch(f"{self.what}: more than the {self.size} bytes its descriptor "
                                 f"declares (digest {self.digest})")
        self._h.update(data)

    def finish(self) -> Digest:
        """Raise unless exactly ``size`` bytes with the expected digest were seen."""
        if self.size is not None and self.seen != self.size:
            raise DigestMismatch(f"{self.what}: {self.seen} bytes, but its descriptor declares "
                                 f"{self.size} (digest {self.digest})")
        got = f"{self.digest.algorithm}:{self._h.hexdigest()}"
        if got != self.digest:
            raise DigestMismatch(f"{self.what}: digest mismatch: expected {self.digest}, got {got}")
        return self.digest

    def copy_state(self) -> "Verifier":
        """A copy that can go on from here (used to resume a download)."""
        v = Verifier.__new__(Verifier)
        v.digest, v.size, v.what, v.seen = self.digest, self.size, self.what, self.seen
        v._h = self._h.copy()
        return v
