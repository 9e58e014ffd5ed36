"""What the server tells its operator: one JSON access-log line per request and
Prometheus metrics (requests by method/route/status, bytes in and out, latency).

Both are fed by aiohttp's access-logger hook, which runs after the response is sent, so
the byte counts and durations are the real ones. With several worker processes the
metrics use prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set by
the server before this module is imported).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "AccessLog", "metrics_handler", "ROUTE", "ACCOUNT", "T0"]

# what the request handler leaves on the request for the access log
ROUTE = web.RequestKey("onggi_route", str)
ACCOUNT = web.RequestKey("onggi_account", object)
T0 = web.RequestKey("onggi_t0", float)

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The server's metrics, in a registry of their own (several apps may share a
    process in tests)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        # multiprocess: values go to files, collected per scrape by MultiProcessCollector
        kw: dict[str, Any] = {"registry": None if self.multiprocess else self.registry}
        self.requests = Counter("onggi_registry_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], **kw)
        self.bytes_in = Counter("onggi_registry_http_request_bytes", "request body bytes received",
                                ["route"], **kw)
        self.bytes_out = Counter("onggi_registry_http_response_bytes", "response bytes sent",
                                 ["route"], **kw)
        self.latency = Histogram("onggi_registry_http_request_duration_seconds",
                                 "time from request to the end of the response",
                                 ["method", "route"], buckets=_BUCKETS, **kw)

    def observe(self, method: str, route: str, status: int, n_in: int, n_out: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        if n_in:
            self.bytes_in.labels(route).inc(n_in)
        if n_out:
            self.bytes_out.labels(route).inc(n_out)
        self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            reg = CollectorRegistry()
            multiprocess.MultiProcessCollector(reg)
            return generate_latest(reg)
        return generate_latest(self.registry)


def metrics_handler(metrics: Metrics) -> Any:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
    return handle


class AccessLog(AbstractAccessLogger):
    """aiohttp's hook: JSON lines to ``sink`` (None: only metrics) and the metrics."""

    metrics: Metrics | None = None
    sink: IO[str] | None = sys.stderr

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        route = request.get(ROUTE) or ("web" if not request.path.startswith("/v2") else "unknown")
        n_in = getattr(request.content, "total_bytes", 0) or 0
        n_out = response.body_length
        t0 = request.get(T0)  # measured here, finer than aiohttp's own request start
        if t0 is not None:
            time_ = time.perf_counter() - t0
        m = self.metrics
        if m is not None:
            m.observe(request.method, route, response.status, n_in, n_out, time_)
        sink = self.sink
        if sink is None:
            return
        line = json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z",
            "remote": request.remote, "method": request.method, "path": request.path,
            "route": route, "status": response.status, "bytes": n_out, "bytes_in": n_in,
            "duration_ms": round(time_ * 1000, 3), "user_agent": request.headers.get("User-Agent"),
            "account": request.get(ACCOUNT)})
        try:
            sink.write(line + "\n")  # flushed by the server's flusher task, not per line
        except (OSError, ValueError):
            pass

    @property
    def enabled(self) -> bool:
        return True
