"""The aiohttp application: one ``/v2/...`` entry that matches the endpoint, validates
the name, checks the method, authorizes, refuses writes in read-only mode and calls the
handler; a middleware turns :class:`RegistryError` and :class:`AuthError` into the spec's
JSON error body and adds ``Docker-Distribution-API-Version`` to every answer.

``/metrics`` (unless a separate metrics address is configured) is outside auth. The
read-only web page at ``/`` asks the authorizer what the API would: ``registry:catalog:*``
for the list of repositories, ``repository:NAME:pull`` for a repository's pages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from .auth import AllowAll, AuthError, Authorizer, from_config
from .config import ServerConfig
from .errors import RegistryError, body
from .handlers import Ctx, blob, catalog, manifest, referrers, tags
from .names import check_name
from .observe import ACCOUNT, ROUTE, T0, Metrics, metrics_handler
from .routes import METHODS, WRITES, Route, match, wanted
from .storage import RegistryStorage
from .upload_handlers import upload
from .uploads import Uploads

__all__ = ["build_app", "CTX", "METRICS"]

log = logging.getLogger("onggi.registry")
CTX = web.AppKey("onggi_registry_ctx", Ctx)
METRICS = web.AppKey("onggi_registry_metrics", Metrics)
API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}

Handler = Callable[[Ctx, web.Request, Route], Awaitable[web.StreamResponse]]


async def _ping(ctx: Ctx, request: web.Request, route: Route) -> web.Response:
    return web.Response(body=b"{}", headers={"Content-Type": "application/json"})


HANDLERS: dict[str, Handler] = {
    "ping": _ping, "catalog": catalog, "manifest": manifest, "blob": blob, "upload": upload,
    "tags": tags, "referrers": referrers,
}


def _error(status: int, code: str, message: str, detail: Any = None,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=body(code, message, detail),
                        headers={"Content-Type": "application/json", **API_VERSION, **(headers or {})})


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    request[T0] = time.perf_counter()
    try:
        resp = await handler(request)
    except RegistryError as e:
        return _error(e.status, e.code, e.message, e.detail, e.headers)
    except AuthError as e:
        return _error(e.status, e.code, e.message, e.detail,
                      {"WWW-Authenticate": e.challenge} if e.challenge else None)
    except web.HTTPException as e:
        if not request.path.startswith("/v2"):
            raise
        return _error(e.status, "UNSUPPORTED", e.reason)
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as e:  # a bug: answer 500 in the spec's shape and log the traceback
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(500, "UNKNOWN", f"internal error: {type(e).__name__}")
    resp.headers.update(API_VERSION)
    return resp


class _V2:
    """The ``/v2/`` entry point."""

    def __init__(self, ctx: Ctx, authorizer: Authorizer) -> None:
        self.ctx = ctx
        self.auth = authorizer
        self.cheap_auth = isinstance(authorizer, AllowAll)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route = match(request.match_info.get("rest", ""))
        request[ROUTE] = route.kind or "unknown"
        if not route.kind:
            raise RegistryError("UNSUPPORTED", f"no such endpoint: {request.path[:300]}", status=404)
        if route.name:
            check_name(route.name)
        method = request.method
        allowed = METHODS[route.kind]
        if method not in allowed:
            raise RegistryError("UNSUPPORTED", f"{method} is not supported on this endpoint",
                                headers={"Allow": ", ".join(allowed)})
        if not self.cheap_auth:
            want = wanted(route, method, dict(request.query))
            header = request.headers.get("Authorization")
            base = f"{request.scheme}://{request.host}"  # the token realm when none is configured
            if self.auth.may_block(header):  # bcrypt of credentials not seen before: off the loop
                request[ACCOUNT] = await asyncio.get_running_loop().run_in_executor(
                    None, self.auth.authorize, header, want, base)
            else:
                request[ACCOUNT] = self.auth.authorize(header, want, base)
        if method in WRITES and self.ctx.cfg.read_only:
            raise RegistryError("UNSUPPORTED", "the registry is in read-only mode",
                                headers={"Allow": "GET, HEAD"})
        return await HANDLERS[route.kind](self.ctx, request, route)


def build_app(cfg: ServerConfig, metrics: Metrics | None = None) -> web.Application:
    """The application for ``cfg`` (nothing starts until a runner serves it)."""
    storage = RegistryStorage(cfg.root, durable=cfg.durable)
    ctx = Ctx(cfg, storage, Uploads(storage, cfg.max_blob_size))
    scheme = "https" if cfg.tls_cert else "http"
    authorizer = from_config(cfg.auth, cfg.root, base_url=f"{scheme}://{cfg.addr}")
    app = web.Application(middlewares=[_errors], client_max_size=4 << 20)
    app[CTX] = ctx
    app[METRICS] = metrics or Metrics()
    v2 = _V2(ctx, authorizer).handle
    app.router.add_route("*", "/v2", v2)
    app.router.add_route("*", "/v2/{rest:.*}", v2)
    if cfg.metrics_addr is None:
        app.router.add_get("/metrics", metrics_handler(app[METRICS]))
    extra = getattr(authorizer, "routes", None)
    if callable(extra):
        app.router.add_routes(extra())
    try:
        from . import web as page
    except ImportError:
        page = None  # the web page is optional: without it, / is a 404
    if page is not None:
        app.router.add_routes(page.routes(storage, authorizer))  # the page asks what pull would
    return app
