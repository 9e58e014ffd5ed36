"""Blob operations of :class:`onggi.distribution.client.RegistryClient` (a mixin over its
:class:`~onggi.distribution.session.Session`).

Download (``GET /v2/<name>/blobs/<digest>``, redirects followed, no content decoding):
every byte goes through a :class:`~onggi.oci.digest.Verifier` (digest and size). When
the connection drops, or the body ends short of a known size, the download goes on with
``Range: bytes=<received>-`` from the byte already received, with the hash state kept;
a server that ignores the range (200) has the bytes already received skipped. A caller
that kept a partial download continues it with ``resume=`` (a Verifier that has seen the
bytes it holds; its state is copied, never changed). ``start=`` instead asks for the bytes
from that offset on with no digest check here: for a caller that hashes them itself (the
local store, which re-hashed its partial ingest).

Upload, in the order the distribution spec describes:

1. ``HEAD`` the blob (skip when the registry has it);
2. for each ``mount_from`` repository, ``POST uploads/?mount=<digest>&from=<repo>``:
   201 means mounted; 202 means the registry opened an upload session instead, used next;
3. ``POST uploads/`` opens a session (202 + ``Location``, relative or absolute; every
   later ``Location`` replaces it, keeping its query such as ``_state``);
4. monolithic: ``PUT <location>?digest=<digest>`` with the whole body; chunked:
   ``PATCH <location>`` per chunk with ``Content-Range: <start>-<end>`` (202), then an
   empty ``PUT ?digest=``. A failed monolithic upload restarts from step 3 when the
   source can be re-read; a failed chunk asks the session's offset (``GET <location>``,
   204 + ``Range: 0-<last>``) and resends from there.

What is sent is verified against the digest and size given, and a mismatch cancels the
upload (``DELETE <location>``) before the registry could commit anything.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Sequence

import httpx

from ..errors import InvalidArgument, OnggiError, Unavailable
from ..oci import digest as _digest
from ..oci.digest import Digest, Verifier
from .errors import transport_error
from .session import Session

__all__ = ["BlobInfo", "BlobPush", "BlobOps", "CHUNK"]

CHUNK = 1 << 20
_OCTET = "application/octet-stream"


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int | None
    media_type: str | None = None


@dataclass(frozen=True)
class BlobPush:
    """How a blob got there: ``"exists"``, ``"mounted"`` or ``"uploaded"``."""

    digest: Digest
    size: int | None
    how: str


def _scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


class _Counted:
    """A Verifier's interface that counts bytes from an offset and checks only the size
    (for ``iter_blob(start=...)``, whose caller hashes the bytes)."""

    def __init__(self, digest: Digest, size: int | None, start: int, what: str) -> None:
        self.digest, self.size, self.seen, self.what = digest, size, start, what

    def update(self, data: bytes) -> None:
        self.seen += len(data)
        if self.size is not None and self.seen > self.size:
            raise _digest.DigestMismatch(f"{self.what}: more than the {self.size} bytes its "
                                         f"descriptor declares (digest {self.digest})")

    def finish(self) -> Digest:
        if self.size is not None and self.seen != self.size:
            raise _digest.DigestMismatch(f"{self.what}: {self.seen} bytes, but its descriptor "
                                         f"declares {self.size} (digest {self.digest})")
        return self.digest


class BlobOps:
    session: Session
    host: str

    def _target(self, repo: str, ref: str) -> str:
        raise NotImplementedError

    # ---- reading ---------------------------------------------------------------------------

    def head_blob(self, repo: str, digest: str) -> BlobInfo | None:
        """The blob's size (and type) when the registry has it, else None."""
        dg = _digest.parse(digest, f"blob digest in {self.host}/{repo}")
        resp = self.session.request("HEAD", f"/v2/{repo}/blobs/{dg}", ok=(200, 404),
                                    scopes=(_scope(repo, "pull"),), follow_redirects=True,
                                    action="checking blob", target=self._target(repo, dg))
        if resp.status_code == 404:
            return None
        cl = resp.headers.get("content-length")
        return BlobInfo(dg, int(cl) if cl and cl.isdigit() else None, resp.headers.get("content-type"))

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.head_blob(repo, digest) is not None

    def iter_blob(self, repo: str, digest: str, size: int | None = None,
                  resume: Verifier | None = None, start: int = 0) -> Iterator[bytes]:
        """The blob's bytes (after those ``resume`` has seen), verified: the generator
        raises ``DigestMismatch`` at the end instead of finishing when they are wrong.
        With ``start``: the bytes from that offset, their count checked, not their digest."""
        dg = _digest.parse(digest, f"blob digest in {self.host}/{repo}")
        target = self._target(repo, dg)
        if resume is not None:
            if resume.digest != dg:
                raise InvalidArgument(f"reading blob {target}: resume state is for {resume.digest}")
            v = resume.copy_state()
        elif start:
            v = _Counted(dg, size, start, f"blob {target}")  # type: ignore[assignment]
        else:
            v = Verifier(dg, size, f"blob {target}")
        size = v.size
        drops = 0
        while size is None or v.seen < size:
            headers = {"Accept-Encoding": "identity"}
            if v.seen:
                headers["Range"] = f"bytes={v.seen}-"
            resp = self.session.request("GET", f"/v2/{repo}/blobs/{dg}", ok=(200, 206), stream=True,
                                        follow_redirects=True, headers=headers,
                                        scopes=(_scope(repo, "pull"),), action="reading blob", target=target)
            try:
                skip = v.seen if resp.status_code == 200 else self._range_start(resp, v.seen, target)
                for chunk in resp.iter_raw():  # as received: a buffered chunk would be lost on a drop
                    if skip:
                        n = min(skip, len(chunk))
                        chunk, skip = chunk[n:], skip - n
                        if not chunk:
                            continue
                    v.update(chunk)
                    yield chunk
            except httpx.TransportError as e:
                drops += 1
                if drops >= self.session.retry.attempts:
                    raise transport_error(e, action="reading blob", target=target, tries=drops) from e
                self.session.backoff(drops - 1)
                continue
            finally:
                resp.close()
            if size is None or v.seen >= size:
                break
            drops += 1  # a clean end short of the size: as good as a drop
            if drops >= self.session.retry.attempts:
                break
        v.finish()

    @staticmethod
    def _range_start(resp: httpx.Response, want: int, target: str) -> int:
        cr = resp.headers.get("content-range", "")
        unit, _, rest = cr.partition(" ")
        try:
            start = int(rest.split("-", 1)[0])
        except ValueError:
            start = -1
        if unit != "bytes" or start != want:
            raise InvalidArgument(f"reading blob {target}: asked for bytes from {want}, the registry "
                                  f"sent Content-Range {cr!r}")
        return 0

    def get_blob(self, repo: str, digest: str, out: BinaryIO, size: int | None = None,
                 resume: Verifier | None = None,
                 progress: Callable[[int], None] | None = None) -> Digest:
        """Stream the blob into ``out`` (anything with ``write``), verified; returns its
        digest. On a mismatch ``out`` holds the bad bytes: the caller discards them."""
        seen = resume.seen if resume is not None else 0
        for chunk in self.iter_blob(repo, digest, size, resume):
            out.write(chunk)
            seen += len(chunk)
            if progress is not None:
                progress(seen)
        return _digest.parse(digest)

    def delete_blob(self, repo: str, digest: str) -> None:
        dg = _digest.parse(digest, f"blob digest in {self.host}/{repo}")
        self.session.request("DELETE", f"/v2/{repo}/blobs/{dg}", ok=(202, 200, 204),
                             scopes=(_scope(repo, "delete"),), action="deleting blob",
                             target=self._target(repo, dg))

    # ---- writing ---------------------------------------------------------------------------

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool | str:
        """Cross-repository mount: True when mounted, else the Location of the upload
        session the registry opened instead."""
        dg = _digest.parse(digest, f"blob digest for {self.host}/{repo}")
        resp = self.session.request(
            "POST", f"/v2/{repo}/blobs/uploads/", params={"mount": dg, "from": from_repo},
            ok=(201, 202), scopes=(_scope(repo, "pull,push"), _scope(from_repo, "pull")),
            action=f"mounting blob from {from_repo} into", target=self._target(repo, dg))
        return True if resp.status_code == 201 else self._location(resp, repo, dg)

    def put_blob(self, repo: str, data: bytes | BinaryIO, digest: str, size: int | None = None,
                 mount_from: str | Sequence[str] = (), chunk_size: int | None = None,
                 check_exists: bool = True,
                 progress: Callable[[int], None] | None = None) -> BlobPush:
        """Push a blob (bytes or a binary file read from its current position) unless the
        registry has it or can mount it; ``chunk_size`` picks the chunked protocol."""
        dg = _digest.parse(digest, f"blob digest for {self.host}/{repo}")
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            if size is not None and size != len(data):
                raise InvalidArgument(f"pushing blob {self._target(repo, dg)}: {len(data)} bytes given, "
                                      f"size says {size}")
            size = len(data)
        if check_exists:
            info = self.head_blob(repo, dg)
            if info is not None:
                return BlobPush(dg, info.size if info.size is not None else size, "exists")
        location: str | None = None
        for frm in [mount_from] if isinstance(mount_from, str) else mount_from:
            if frm and frm != repo:
                got = self.mount_blob(repo, dg, frm)
                if got is True:
                    return BlobPush(dg, size, "mounted")
                location = got  # type: ignore[assignment]
                break
        src = io.BytesIO(data) if isinstance(data, bytes) else data
        start = src.tell() if src.seekable() else None
        tries = 0
        while True:
            tries += 1
            if location is None:
                location = self._open_upload(repo, dg)
            try:
                if chunk_size:
                    self._upload_chunked(repo, dg, size, src, location, chunk_size, progress)
                else:
                    self._upload_whole(repo, dg, size, src, location, progress)
                return BlobPush(dg, size, "uploaded")
            except Unavailable:
                self._cancel(location)
                if chunk_size or start is None or tries >= self.session.retry.attempts:
                    raise
                src.seek(start)
                location = None
                self.session.backoff(tries - 1)
            except BaseException:
                self._cancel(location)
                raise

    def _location(self, resp: httpx.Response, repo: str, dg: str) -> str:
        loc = resp.headers.get("location")
        if not loc:
            raise InvalidArgument(f"uploading blob {self._target(repo, dg)}: the registry sent no "
                                  f"Location for the upload session (HTTP {resp.status_code})")
        return str(httpx.URL(str(resp.url)).join(loc))

    def _open_upload(self, repo: str, dg: str) -> str:
        resp = self.session.request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,),
                                    scopes=(_scope(repo, "pull,push"),),
                                    action="starting upload of blob", target=self._target(repo, dg))
        return self._location(resp, repo, dg)

    def _cancel(self, location: str | None) -> None:
        if location is None:
            return
        try:
            self.session.request("DELETE", location, ok=(204, 200, 202, 404), retry=False,
                                 action="cancelling upload", target=self.host)
        except OnggiError:
            pass  # the registry expires abandoned sessions

    def _upload_whole(self, repo: str, dg: Digest, size: int | None, src: BinaryIO,
                      location: str, progress: Callable[[int], None] | None) -> None:
        target = self._target(repo, dg)
        start = src.tell() if src.seekable() else None
        calls = 0

        def body() -> Iterator[bytes]:
            v = Verifier(dg, size, f"blob {target} (upload source)")
            sent = 0
            while True:
                b = src.read(CHUNK)
                if not b:
                    break
                v.update(b)
                yield b
                sent += len(b)
                if progress is not None:
                    progress(sent)
            v.finish()

        def content() -> Iterator[bytes]:
            # called again only when a 401 made the session resend with new credentials
            nonlocal calls
            calls += 1
            if calls > 1:
                if start is None:
                    raise Unavailable(f"uploading blob {target}: the registry asked for credentials "
                                      f"again and the source cannot be read twice")
                src.seek(start)
            return body()

        headers = {"Content-Type": _OCTET}
        if size is not None:
            headers["Content-Length"] = str(size)
        self.session.request("PUT", location, params={"digest": dg}, content=content,
                             headers=headers, ok=(201, 204), retry=False,
                             scopes=(_scope(repo, "pull,push"),), action="uploading blob", target=target)

    def _upload_chunked(self, repo: str, dg: Digest, size: int | None, src: BinaryIO,
                        location: str, chunk_size: int,
                        progress: Callable[[int], None] | None) -> None:
        target = self._target(repo, dg)
        scopes = (_scope(repo, "pull,push"),)
        v = Verifier(dg, size, f"blob {target} (upload source)")
        offset, fails = 0, 0
        chunk = src.read(chunk_size)
        while chunk:
            v.update(chunk)
            while chunk:
                headers = {"Content-Type": _OCTET, "Content-Length": str(len(chunk)),
                           "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
                try:
                    resp = self.session.request("PATCH", location, content=chunk, headers=headers,
                                                ok=(202, 204), retry=False, scopes=scopes,
                                                action="uploading a chunk of blob", target=target)
                except Unavailable:
                    fails += 1
                    if fails >= self.session.retry.attempts:
                        raise
                    self.session.backoff(fails - 1)
                    have = self._upload_offset(location, offset, scopes, target)
                    if not offset <= have <= offset + len(chunk):
                        raise
                    chunk, offset = chunk[have - offset:], have
                    continue
                location = self._location(resp, repo, dg)
                offset += len(chunk)
                chunk = b""
                if progress is not None:
                    progress(offset)
            chunk = src.read(chunk_size)
        v.finish()
        self.session.request("PUT", location, params={"digest": dg}, content=b"",
                             headers={"Content-Type": _OCTET}, ok=(201, 204), scopes=scopes,
                             action="completing upload of blob", target=target)

    def _upload_offset(self, location: str, ours: int, scopes: tuple[str, ...], target: str) -> int:
        """Bytes the upload session holds (``GET <location>``: ``Range: 0-<last>``)."""
        resp = self.session.request("GET", location, ok=(204, 200), scopes=scopes,
                                    action="checking upload of blob", target=target)
        rng = resp.headers.get("range", "")
        try:
            last = int(rng.split("-", 1)[1])
        except (IndexError, ValueError):
            return 0
        # "0-0" is ambiguous (distribution writes it for an empty session too)
        return (1 if ours >= 1 else 0) if last == 0 else last + 1
