"""The registry client (OCI distribution spec v1.1 / Docker Registry HTTP API v2).

One :class:`RegistryClient` per registry host holds one keep-alive HTTP client (see
:mod:`.session` for auth, retries and errors); repositories are arguments, so one
client serves every repository of its host::

    with RegistryClient.from_config("127.0.0.1:5000", tls_verify=False) as c:
        m = c.get_manifest("app", "v1")          # raw bytes, media type, digest of the bytes
        c.get_blob("app", layer_digest, out, size=layer_size)
        c.put_blob("copy", data, digest)         # HEAD, mount, then upload
        c.put_manifest("copy", "v1", m.raw, m.media_type)

Manifests: GET sends ``Accept`` with every type onggi reads, refuses bodies over
``max_manifest_size`` (4 MiB by default, as containers/image) before reading them whole,
verifies the bytes against the digest when fetched by digest, and always returns the
digest of the exact bytes received. Pushing a manifest with a ``subject`` to a registry
that does not answer ``OCI-Subject`` updates the referrers tag (see :mod:`.referrers`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import httpx

from ..errors import InvalidArgument, Unsupported
from ..oci import digest as _digest
from ..oci import image as _image
from ..oci import mediatypes as MT
from ..oci import reference as _ref
from ..oci.digest import Digest, DigestMismatch, Verifier
from . import referrers as _referrers
from .blobs import BlobOps
from .credentials import resolver
from .errors import transport_error
from .session import USER_AGENT, CredentialsArg, Ping, RetryPolicy, Session, next_link
from .tls import TLSConfig, for_registry

__all__ = ["RegistryClient", "RemoteManifest", "ManifestInfo", "MAX_MANIFEST_SIZE"]

MAX_MANIFEST_SIZE = 4 << 20
_SCHEMA1 = (MT.DOCKER_MANIFEST_V1, MT.DOCKER_MANIFEST_V1_SIGNED)


@dataclass(frozen=True)
class RemoteManifest:
    raw: bytes
    media_type: str
    digest: Digest

    @property
    def size(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class ManifestInfo:
    digest: Digest
    media_type: str | None
    size: int | None


class RegistryClient(BlobOps):
    """Talks to the registry ``host`` (``HOST[:PORT]``). ``credentials``: fixed
    credentials, or ``repo -> credentials`` (:func:`.credentials.resolver`)."""

    def __init__(self, host: str, credentials: CredentialsArg = None, tls: TLSConfig | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 60.0,
                 max_manifest_size: int = MAX_MANIFEST_SIZE, user_agent: str = USER_AGENT,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        _ref.check_domain(host, "registry host")
        self.host = host
        self.max_manifest_size = max_manifest_size
        self.session = Session(host, credentials, tls, retry=retry, timeout=timeout,
                               user_agent=user_agent, transport=transport, sleep=sleep)

    @classmethod
    def from_config(cls, host: str, insecure: bool = False, tls_verify: bool | None = None,
                    auth_file: str | None = None, cert_dir: str | None = None,
                    env: Mapping[str, str] | None = None, **kw: object) -> "RegistryClient":
        """A client with credentials from the auth files and TLS from certs.d;
        ``insecure`` is the registries.conf flag for ``host``."""
        tls = for_registry(host, tls_verify=tls_verify, insecure=insecure, cert_dir=cert_dir, env=env)
        return cls(host, resolver(host, auth_file, env), tls, **kw)  # type: ignore[arg-type]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- helpers -------------------------------------------------------------------------

    def _target(self, repo: str, ref: str | None = None) -> str:
        if ref is None:
            return f"{self.host}/{repo}"
        sep = "@" if ":" in ref else ":"
        return f"{self.host}/{repo}{sep}{ref}"

    def _check(self, repo: str, ref: str | None = None) -> tuple[str | None, bool]:
        """Validate a repository and a tag or digest; (ref, is_digest)."""
        _ref.check_path(repo, f"repository {self.host}/{repo}")
        if ref is None:
            return None, False
        if ":" in ref:
            return _digest.parse(ref, f"{self.host}/{repo}@{ref}"), True
        return _ref.check_tag(ref, f"{self.host}/{repo}:{ref}"), False

    def _json(self, resp: httpx.Response, what: str) -> object:
        try:
            return json.loads(resp.content)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidArgument(f"{what}: the registry sent invalid JSON: {e}") from None

    # ---- API -------------------------------------------------------------------------------

    def ping(self) -> Ping:
        """``GET /v2/``: reachability, scheme and auth challenge."""
        return self.session.ping()

    def get_manifest(self, repo: str, ref: str,
                     accept: Sequence[str] = MT.MANIFEST_ACCEPT) -> RemoteManifest:
        """The manifest or index tagged ``ref`` or with digest ``ref``."""
        ref, by_digest = self._check(repo, ref)
        target = self._target(repo, ref)
        tries = 0
        while True:
            tries += 1
            resp = self.session.request("GET", f"/v2/{repo}/manifests/{ref}", stream=True,
                                        headers={"Accept": ", ".join(accept)},
                                        scopes=(f"repository:{repo}:pull",),
                                        action="reading manifest", target=target)
            try:
                raw = self._read_bounded(resp, target)
                break
            except httpx.TransportError as e:
                if tries >= self.session.retry.attempts:
                    raise transport_error(e, action="reading manifest", target=target, tries=tries) from e
                self.session.backoff(tries - 1)
            finally:
                resp.close()
        media_type = _image.detect(raw, resp.headers.get("content-type"), what=f"manifest {target}")
        if media_type in _SCHEMA1:
            raise Unsupported(f"manifest {target}: {media_type} (Docker v2 schema 1) is deprecated "
                              f"and not supported")
        if by_digest:
            v = Verifier(ref, None, f"manifest {target}")  # type: ignore[arg-type]
            v.update(raw)
            dg = v.finish()
        else:
            dg = _digest.of_bytes(raw)
        return RemoteManifest(raw, media_type, dg)

    def _read_bounded(self, resp: httpx.Response, target: str) -> bytes:
        limit = self.max_manifest_size
        cl = resp.headers.get("content-length")
        if cl and cl.isdigit() and int(cl) > limit:
            raise InvalidArgument(f"manifest {target}: {cl} bytes, more than the {limit} allowed")
        buf = bytearray()
        for chunk in resp.iter_bytes():
            buf += chunk
            if len(buf) > limit:
                raise InvalidArgument(f"manifest {target}: more than the {limit} bytes allowed")
        return bytes(buf)

    def head_manifest(self, repo: str, ref: str) -> ManifestInfo | None:
        """Digest, type and size of a manifest without its body; None when absent. A
        registry that sends no ``Docker-Content-Digest`` for a tag costs a GET."""
        ref, by_digest = self._check(repo, ref)
        target = self._target(repo, ref)
        resp = self.session.request("HEAD", f"/v2/{repo}/manifests/{ref}", ok=(200, 404),
                                    headers={"Accept": ", ".join(MT.MANIFEST_ACCEPT)},
                                    scopes=(f"repository:{repo}:pull",),
                                    action="checking manifest", target=target)
        if resp.status_code == 404:
            return None
        ct = (resp.headers.get("content-type") or "").partition(";")[0].strip() or None
        cl = resp.headers.get("content-length")
        size = int(cl) if cl and cl.isdigit() else None
        header = resp.headers.get("docker-content-digest")
        if by_digest:
            return ManifestInfo(ref, ct, size)  # type: ignore[arg-type]
        if header:
            return ManifestInfo(_digest.parse(header, f"Docker-Content-Digest of {target}"), ct, size)
        m = self.get_manifest(repo, ref)  # type: ignore[arg-type]
        return ManifestInfo(m.digest, m.media_type, m.size)

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str,
                     update_referrers: bool = True) -> Digest:
        """Store ``raw`` under a tag or its digest; returns its digest. With a
        ``subject`` and no ``OCI-Subject`` answer, the referrers tag is updated too."""
        ref, by_digest = self._check(repo, ref)
        target = self._target(repo, ref)
        if len(raw) > self.max_manifest_size:
            raise InvalidArgument(f"manifest {target}: {len(raw)} bytes, more than the "
                                  f"{self.max_manifest_size} allowed")
        if by_digest:
            v = Verifier(ref, len(raw), f"manifest {target}")  # type: ignore[arg-type]
            v.update(raw)
            dg = v.finish()
        else:
            dg = _digest.of_bytes(raw)
        resp = self.session.request("PUT", f"/v2/{repo}/manifests/{ref}", content=raw,
                                    headers={"Content-Type": media_type}, ok=(201, 200, 204),
                                    scopes=(f"repository:{repo}:pull,push",),
                                    action="pushing manifest", target=target)
        got = resp.headers.get("docker-content-digest")
        if got and got.startswith(dg.algorithm + ":") and got != dg:
            raise DigestMismatch(f"pushing manifest {target}: the registry computed {got}, "
                                 f"the bytes sent are {dg}")
        if update_referrers and not resp.headers.get("oci-subject"):
            _referrers.after_push(self, repo, raw, media_type, dg)
        return dg

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete a manifest by digest (registries delete tags with their manifest)."""
        dg, by_digest = self._check(repo, digest)
        if not by_digest:
            raise InvalidArgument(f"deleting manifest {self._target(repo, dg)}: give a digest, "
                                  f"not a tag (the distribution API deletes by digest)")
        self.session.request("DELETE", f"/v2/{repo}/manifests/{dg}", ok=(202, 200, 204),
                             scopes=(f"repository:{repo}:delete",), action="deleting manifest",
                             target=self._target(repo, dg))

    def _pages(self, path: str, params: dict[str, str], key: str, scopes: tuple[str, ...],
               action: str, target: str) -> Iterator[str]:
        url: str | None = path
        while url is not None:
            resp = self.session.request("GET", url, params=params, scopes=scopes,
                                        action=action, target=target)
            doc = self._json(resp, f"{action} {target}")
            items = doc.get(key) if isinstance(doc, dict) else None
            if items is None and isinstance(doc, dict):
                items = []
            if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
                raise InvalidArgument(f"{action} {target}: {key!r} is not a list of strings")
            yield from items
            url, params = next_link(resp), {}

    def iter_tags(self, repo: str, page_size: int | None = None) -> Iterator[str]:
        """The repository's tags, page by page (``n``; ``Link: <...>; rel="next"``)."""
        self._check(repo)
        params = {"n": str(page_size)} if page_size else {}
        return self._pages(f"/v2/{repo}/tags/list", params, "tags", (f"repository:{repo}:pull",),
                           "listing tags of", self._target(repo))

    def list_tags(self, repo: str, page_size: int | None = None) -> list[str]:
        return list(self.iter_tags(repo, page_size))

    def catalog(self, page_size: int | None = None) -> list[str]:
        """Every repository (``GET /v2/_catalog``, if the registry allows it)."""
        params = {"n": str(page_size)} if page_size else {}
        return list(self._pages("/v2/_catalog", params, "repositories", ("registry:catalog:*",),
                                "listing repositories of", self.host))

    def referrers(self, repo: str, digest: str,
                  artifact_type: str | None = None) -> list[_image.Descriptor]:
        """The manifests whose ``subject`` is ``digest`` (see :mod:`.referrers`)."""
        dg, by_digest = self._check(repo, digest)
        if not by_digest:
            raise InvalidArgument(f"referrers of {self._target(repo, dg)}: give a digest")
        return _referrers.list_referrers(self, repo, dg, artifact_type)  # type: ignore[arg-type]
