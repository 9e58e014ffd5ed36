"""``docker://REGISTRY/NAME[:TAG|@DIGEST]`` — an image in a registry, through
:class:`onggi.distribution.RegistryClient`.

References are normalised as skopeo does (``docker://busybox`` is
``docker.io/library/busybox:latest``); registries.conf decides the endpoints (mirrors
first when reading, blocked registries refused) and which hosts are insecure; credentials
come from ``--creds`` or the auth files, TLS from certs.d or ``--tls-verify``.

Reading tries each endpoint in turn until one has the manifest. Blobs stream straight from
the registry, verified and resumed with Range requests when a connection drops. Writing
pushes blobs (skipping those the registry has, mounting from the source repository when it
is on the same registry), each image manifest by digest, and the top-level one under the
tag at ``commit``.
"""

from __future__ import annotations

from typing import BinaryIO, Callable, Iterator

from ..errors import InvalidArgument, NotFound, Unavailable
from ..oci.reference import Reference, parse
from .base import Descriptor, ImageDestination, ImageSource, Transport

DOCKER_HUB_API = "registry-1.docker.io"


class Options:
    """What the CLI can set per side of a copy (skopeo's --src-* / --dest-* flags)."""

    __slots__ = ("creds", "tls_verify", "auth_file", "cert_dir", "registries_conf")

    def __init__(self, creds: str | None = None, tls_verify: bool | None = None,
                 auth_file: str | None = None, cert_dir: str | None = None,
                 registries_conf: str | None = None) -> None:
        self.creds = creds
        self.tls_verify = tls_verify
        self.auth_file = auth_file
        self.cert_dir = cert_dir
        self.registries_conf = registries_conf


def _api_host(domain: str) -> str:
    return DOCKER_HUB_API if domain == "docker.io" else domain


def _credentials(creds: str | None):  # noqa: ANN202
    if creds is None:
        return None
    from ..distribution.credentials import Credentials

    user, sep, password = creds.partition(":")
    if not user:
        raise InvalidArgument("--creds: expected USERNAME[:PASSWORD]")
    return Credentials(user, password, source="--creds")


def client_for(host: str, insecure: bool, opts: Options):  # noqa: ANN201
    from ..distribution import RegistryClient

    fixed = _credentials(opts.creds)
    c = RegistryClient.from_config(_api_host(host), insecure=insecure, tls_verify=opts.tls_verify,
                                   auth_file=opts.auth_file, cert_dir=opts.cert_dir)
    if fixed is not None:
        c.close()
        from ..distribution.tls import for_registry

        tls = for_registry(_api_host(host), tls_verify=opts.tls_verify, insecure=insecure,
                           cert_dir=opts.cert_dir)
        c = RegistryClient(_api_host(host), fixed, tls)
    return c


def endpoints(ref: Reference, opts: Options, push: bool = False) -> list:
    from ..distribution import registries_conf

    conf = registries_conf.load([opts.registries_conf] if opts.registries_conf else None)
    return conf.lookup(ref, push=push)


class _Stream:
    """A file-like reader over the client's verified chunk iterator. ``read(n)`` returns
    at most ``n`` bytes, as soon as some arrived (a raw stream's short reads: joining
    64 KiB chunks into 1 MiB reads would copy every byte again). ``verified``: the
    iterator raises before its end when digest or size is wrong, so a destination need
    not hash the bytes a second time."""

    def __init__(self, chunks: Iterator[bytes], verified: bool = True,
                 reopen: Callable[[int], Iterator[bytes]] | None = None) -> None:
        self.chunks = chunks
        self.buf = b""
        self.verified = verified
        self._reopen = reopen

    def open_at(self, offset: int) -> "_Stream":
        """The blob from ``offset`` on, with a range request (this stream is closed): the
        store resumes a partial ingest with it. Those bytes are counted, not hashed."""
        if self._reopen is None:
            raise InvalidArgument("this blob stream cannot be reopened at an offset")
        self.close()
        return _Stream(self._reopen(offset), verified=False)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            out, self.buf = self.buf + b"".join(self.chunks), b""
            return out
        if not self.buf:
            b = next(self.chunks, None)
            if b is None:
                return b""
            if len(b) <= n:
                return b
            self.buf = b
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class DockerSource(ImageSource):
    def __init__(self, ref: str, opts: Options | None = None) -> None:
        self.ref = parse(ref)
        self.reference = f"docker://{self.ref}"
        self.opts = opts or Options()
        self.client = None
        errors: list[str] = []
        for ep in endpoints(self.ref, self.opts):
            c = client_for(ep.host, ep.insecure, self.opts)
            try:
                m = c.get_manifest(ep.reference.path, ep.reference.identifier)
            except (NotFound, Unavailable) as e:
                c.close()
                errors.append(str(e))
                if not ep.mirror:
                    raise
                continue
            except BaseException:
                c.close()
                raise
            self.client, self.repo, self.top = c, ep.reference.path, m
            break
        if self.client is None:
            raise NotFound(f"{self.reference}: not found on any endpoint: {'; '.join(errors)}")

    def get_manifest(self, instance: str | None = None) -> tuple[bytes, str]:
        if instance is None:
            return self.top.raw, self.top.media_type
        m = self.client.get_manifest(self.repo, instance)  # type: ignore[union-attr]
        return m.raw, m.media_type

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        client, repo = self.client, self.repo
        chunks = client.iter_blob(repo, desc.digest, desc.size)  # type: ignore[union-attr]
        return _Stream(chunks, reopen=lambda offset: client.iter_blob(  # type: ignore[union-attr, return-value]
            repo, desc.digest, desc.size, start=offset))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class DockerDestination(ImageDestination):
    concurrent_blobs = True
    verifies_blobs = True  # the registry checks the digest of every upload

    def __init__(self, ref: str, opts: Options | None = None) -> None:
        self.ref = parse(ref)
        self.reference = f"docker://{self.ref}"
        self.opts = opts or Options()
        ep = endpoints(self.ref, self.opts, push=True)[-1]
        self.repo = ep.reference.path
        self.target = ep.reference
        self.client = client_for(ep.host, ep.insecure, self.opts)
        self.mount_from: list[str] = []  # repositories on the same registry to mount from
        self._top: tuple[bytes, str] | None = None

    def has_blob(self, desc: Descriptor) -> bool:
        return self.client.blob_exists(self.repo, desc.digest)

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        self.client.put_blob(self.repo, stream, desc.digest, desc.size, mount_from=self.mount_from,
                             check_exists=False)

    def put_manifest(self, raw: bytes, media_type: str, instance: str | None = None) -> None:
        if instance is not None:
            self.client.put_manifest(self.repo, instance, raw, media_type)
        else:
            self._top = (raw, media_type)

    def commit(self) -> None:
        if self._top is None:
            raise InvalidArgument(f"{self.reference}: commit without a manifest")
        raw, media_type = self._top
        self.client.put_manifest(self.repo, self.target.identifier, raw, media_type)

    def close(self) -> None:
        self.client.close()


class DockerTransport(Transport):
    name = "docker"

    def validate(self, ref: str) -> None:
        parse(ref)

    def source(self, ref: str, ctx: object = None) -> DockerSource:
        return DockerSource(ref, ctx if isinstance(ctx, Options) else None)

    def destination(self, ref: str, ctx: object = None) -> DockerDestination:
        return DockerDestination(ref, ctx if isinstance(ctx, Options) else None)


def list_tags(ref: str, opts: Options | None = None) -> dict:
    """skopeo list-tags' document for ``REGISTRY/NAME``."""
    r = parse(ref, default_tag=None)
    if r.digest is not None or r.tag is not None:
        raise InvalidArgument(f"docker://{ref}: list-tags takes a repository, without a tag or digest")
    opts = opts or Options()
    ep = endpoints(r, opts)[-1]
    with client_for(ep.host, ep.insecure, opts) as c:
        return {"Repository": r.name, "Tags": c.list_tags(ep.reference.path)}


def delete(ref: str, opts: Options | None = None) -> str:
    """Delete the manifest a tag or digest names; returns its digest."""
    r = parse(ref)
    opts = opts or Options()
    ep = endpoints(r, opts, push=True)[-1]
    with client_for(ep.host, ep.insecure, opts) as c:
        info = c.head_manifest(ep.reference.path, ep.reference.identifier)
        if info is None:
            raise NotFound(f"docker://{r}: no such manifest")
        c.delete_manifest(ep.reference.path, info.digest)
        return info.digest
