"""The read side and content management of the spec: manifests, blobs, tags, catalog,
referrers. Each handler takes the request context and the matched route and returns a
response or raises :class:`RegistryError`; uploads are in :mod:`.upload_handlers`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

from aiohttp import web

from ..errors import NotFound
from .config import ServerConfig
from .errors import RegistryError
from .manifests import MAX_MANIFEST
from .names import check_digest, check_tag, is_digest, valid_tag
from .routes import Route
from .storage import RegistryStorage
from .uploads import Uploads

__all__ = ["Ctx", "body_chunks", "manifest", "blob", "tags", "catalog", "referrers"]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
PAGE_MAX = 10000


@dataclass
class Ctx:
    cfg: ServerConfig
    storage: RegistryStorage
    uploads: Uploads

    async def off_loop(self, fn: Any, *args: Any) -> Any:
        """Run a blocking storage call (fsyncs) on the thread pool."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def body_chunks(request: web.Request, timeout: float) -> AsyncIterator[bytes]:
    """The request body as it arrives; a gap of ``timeout`` seconds ends the request."""
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await request.content.readany()
        except TimeoutError:
            raise RegistryError("BLOB_UPLOAD_INVALID", f"no request body data for {timeout:g} "
                                "seconds", status=408) from None
        if not chunk:
            return
        yield chunk


def _not_deletable(ctx: Ctx) -> None:
    if not ctx.cfg.delete_enabled:
        raise RegistryError("UNSUPPORTED", "deletes are disabled on this registry "
                            "(storage.delete.enabled: false)", headers={"Allow": "GET, HEAD"})


# -- manifests -------------------------------------------------------------------------

async def manifest(ctx: Ctx, request: web.Request, route: Route) -> web.StreamResponse:
    name, ref, method = route.name, route.ref, request.method
    if method in ("GET", "HEAD"):
        return _get_manifest(ctx, name, ref)
    if method == "PUT":
        return await _put_manifest(ctx, request, name, ref)
    _not_deletable(ctx)
    try:
        if is_digest(ref):
            await ctx.off_loop(ctx.storage.delete_manifest, name, str(check_digest(ref)))
        else:
            check_tag(ref, "MANIFEST_UNKNOWN")
            await ctx.off_loop(ctx.storage.delete_tag, name, ref)
    except NotFound as e:
        raise RegistryError("MANIFEST_UNKNOWN", str(e), detail={"reference": ref}) from None
    return web.Response(status=202)


def _get_manifest(ctx: Ctx, name: str, ref: str) -> web.Response:
    st = ctx.storage
    if is_digest(ref):
        digest = str(check_digest(ref))
    else:
        digest = (st.tag_digest(name, ref) if valid_tag(ref) else None) or ""
        if not digest:
            raise _manifest_unknown(ctx, name, ref)
    try:
        data, media_type = st.read_manifest(name, digest)
    except NotFound:
        raise _manifest_unknown(ctx, name, ref) from None
    return web.Response(body=data, headers={"Content-Type": media_type, "Docker-Content-Digest": digest,
                                            "ETag": f'"{digest}"'})


def _manifest_unknown(ctx: Ctx, name: str, ref: str) -> RegistryError:
    if not ctx.storage.repo_exists(name):
        return RegistryError("NAME_UNKNOWN", f"repository {name} is not known to the registry",
                             detail={"name": name})
    return RegistryError("MANIFEST_UNKNOWN", f"manifest {ref} is not in repository {name}",
                         detail={"name": name, "reference": ref})


async def _read_limited(request: web.Request, limit: int, timeout: float) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RegistryError("MANIFEST_INVALID", f"manifest of {request.content_length} bytes exceeds "
                            f"the {limit} byte limit", status=413)
    parts, n = [], 0
    async for chunk in body_chunks(request, timeout):
        n += len(chunk)
        if n > limit:
            raise RegistryError("MANIFEST_INVALID", f"manifest exceeds the {limit} byte limit", status=413)
        parts.append(chunk)
    return b"".join(parts)


async def _put_manifest(ctx: Ctx, request: web.Request, name: str, ref: str) -> web.Response:
    if is_digest(ref):
        check_digest(ref)
    else:
        check_tag(ref)
    data = await _read_limited(request, MAX_MANIFEST, ctx.cfg.body_timeout)
    digest, subject = await ctx.off_loop(ctx.storage.put_manifest, name, ref, data,
                                         request.headers.get("Content-Type"))
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
    if subject:
        headers["OCI-Subject"] = subject
    return web.Response(status=201, headers=headers)


# -- blobs -----------------------------------------------------------------------------

async def blob(ctx: Ctx, request: web.Request, route: Route) -> web.StreamResponse:
    name = route.name
    digest = str(check_digest(route.ref))
    if request.method == "DELETE":
        _not_deletable(ctx)
        try:
            await ctx.off_loop(ctx.storage.delete_blob, name, digest)
        except NotFound as e:
            raise RegistryError("BLOB_UNKNOWN", str(e), detail={"digest": digest}) from None
        return web.Response(status=202, headers={"Docker-Content-Digest": digest})
    if not ctx.storage.repo_has_blob(name, digest):
        raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in repository {name}",
                            detail={"digest": digest})
    return web.FileResponse(ctx.storage.blob_path(digest), chunk_size=1 << 20, headers={
        "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest,
        "Accept-Ranges": "bytes", "Cache-Control": "max-age=31536000"})


# -- listings --------------------------------------------------------------------------

def _page(request: web.Request, items: list[str]) -> tuple[list[str], int | None]:
    """Apply ``last`` and ``n`` (sorted lexically, as the spec says)."""
    last = request.query.get("last")
    if last:
        items = [i for i in items if i > last]
    n_raw = request.query.get("n")
    if n_raw is None or n_raw == "":
        return items, None
    if not n_raw.isdigit() or int(n_raw) > PAGE_MAX:
        raise RegistryError("PAGINATION_NUMBER_INVALID", f"n={n_raw[:20]!r}: expected 0..{PAGE_MAX}",
                            detail={"n": n_raw[:20]})
    n = int(n_raw)
    return items[:n], (n if len(items) > n and n > 0 else None)


def _json(doc: Any, headers: dict[str, str] | None = None, content_type: str = "application/json") -> web.Response:
    return web.Response(body=json.dumps(doc).encode(), headers={"Content-Type": content_type, **(headers or {})})


async def tags(ctx: Ctx, request: web.Request, route: Route) -> web.Response:
    try:
        all_tags = ctx.storage.tags(route.name)
    except NotFound:
        raise RegistryError("NAME_UNKNOWN", f"repository {route.name} is not known to the registry",
                            detail={"name": route.name}) from None
    page, n = _page(request, all_tags)
    headers = {}
    if n is not None and page:
        headers["Link"] = f'</v2/{route.name}/tags/list?last={page[-1]}&n={n}>; rel="next"'
    return _json({"name": route.name, "tags": page}, headers)


async def catalog(ctx: Ctx, request: web.Request, route: Route) -> web.Response:
    repos = await ctx.off_loop(ctx.storage.repositories)
    page, n = _page(request, repos)
    headers = {}
    if n is not None and page:
        headers["Link"] = f'</v2/_catalog?last={page[-1]}&n={n}>; rel="next"'
    return _json({"repositories": page}, headers)


async def referrers(ctx: Ctx, request: web.Request, route: Route) -> web.Response:
    digest = str(check_digest(route.ref))
    at = request.query.get("artifactType") or None
    body = ctx.storage.referrers_index(route.name, digest, at)
    headers = {"OCI-Filters-Applied": "artifactType"} if at else {}
    return web.Response(body=body, headers={"Content-Type": OCI_INDEX, **headers})
