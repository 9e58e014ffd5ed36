"""The push side of the spec: upload sessions (POST, PATCH, PUT, GET, DELETE), the
monolithic ``POST ?digest=`` and cross-repository mounts (``?mount=&from=``, falling
back to a new session when the source does not hold the blob)."""

from __future__ import annotations

import re

from aiohttp import web

from .errors import RegistryError
from .handlers import Ctx, body_chunks
from .names import check_digest, valid_name
from .routes import Route

__all__ = ["upload"]

_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)")


def _content_range(request: web.Request) -> tuple[int, int] | None:
    raw = request.headers.get("Content-Range")
    if raw is None:
        return None
    m = _RANGE.fullmatch(raw.strip())
    if not m or int(m.group(2)) < int(m.group(1)):
        raise RegistryError("BLOB_UPLOAD_INVALID", f"Content-Range {raw[:100]!r}: expected START-END",
                            status=416)
    return int(m.group(1)), int(m.group(2))


def _has_body(request: web.Request) -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"


def _session_headers(name: str, uid: str, offset: int) -> dict[str, str]:
    return {"Location": f"/v2/{name}/blobs/uploads/{uid}", "Range": f"0-{max(offset - 1, 0)}",
            "Docker-Upload-UUID": uid}


def _committed(name: str, digest: str) -> web.Response:
    return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                             "Docker-Content-Digest": digest})


async def upload(ctx: Ctx, request: web.Request, route: Route) -> web.Response:
    name, uid, method = route.name, route.ref, request.method
    if method == "POST":
        if uid:
            raise RegistryError("UNSUPPORTED", "POST goes to /v2/<name>/blobs/uploads/",
                                headers={"Allow": "PATCH, PUT, GET, DELETE"})
        return await _post(ctx, request, name)
    if not uid:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", "no upload session in the path")
    up = ctx.uploads
    if method == "GET":
        return web.Response(status=204, headers=_session_headers(name, uid, up.offset(name, uid)))
    if method == "DELETE":
        up.cancel(name, uid)
        return web.Response(status=204)
    timeout = ctx.cfg.body_timeout
    if method == "PATCH":
        offset = await up.append(name, uid, body_chunks(request, timeout), _content_range(request))
        return web.Response(status=202, headers=_session_headers(name, uid, offset))
    # PUT: close the session, with an optional last chunk
    digest = request.query.get("digest")
    if not digest:
        up.offset(name, uid)  # BLOB_UPLOAD_UNKNOWN first, when it is unknown
        raise RegistryError("DIGEST_INVALID", "PUT closing an upload needs ?digest=")
    d = str(check_digest(digest))
    chunks = body_chunks(request, timeout) if _has_body(request) else None
    done = await up.finish(name, uid, d, chunks, _content_range(request) if chunks else None)
    return _committed(name, done)


async def _post(ctx: Ctx, request: web.Request, name: str) -> web.Response:
    q = request.query
    digest = q.get("digest")
    if digest:
        d = str(check_digest(digest))
        done = await ctx.uploads.monolithic(name, d, body_chunks(request, ctx.cfg.body_timeout))
        return _committed(name, done)
    mount, src = q.get("mount"), q.get("from")
    if mount and src:
        d = str(check_digest(mount))
        if valid_name(src) and ctx.storage.repo_has_blob(src, d):
            await ctx.off_loop(ctx.storage.link_blob, name, d)
            return _committed(name, d)
    uid = ctx.uploads.start(name)
    return web.Response(status=202, headers={**_session_headers(name, uid, 0), "Content-Length": "0"})
