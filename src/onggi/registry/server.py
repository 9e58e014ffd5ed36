"""Serving the application: the listening socket (bound once, before any worker starts,
so a busy port is reported at once), TLS, worker processes and clean shutdown.

With ``workers > 1`` the parent forks that many processes that share the one listening
socket and serve it independently (storage is safe across processes, see
:mod:`.storage`); SIGTERM or SIGINT to the parent stops them all, and a worker whose
parent has gone exits by itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
from typing import Any

from .config import ServerConfig, parse_addr

__all__ = ["serve", "bind"]

log = logging.getLogger("onggi.registry")


def bind(addr: str) -> socket.socket:
    host, port = parse_addr(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _ssl(cfg: ServerConfig) -> ssl.SSLContext | None:
    if not cfg.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return ctx


async def _run(cfg: ServerConfig, sock: socket.socket, parent: int | None) -> None:
    from aiohttp import web

    from .app import METRICS, build_app
    from .observe import AccessLog, metrics_handler

    app = build_app(cfg)
    sink: Any = None
    if cfg.access_log:  # block-buffered (stderr is line-buffered): flushed twice a second
        sink = open(cfg.access_log_path or os.dup(2), "a", buffering=1 << 16)
    logger_cls = type("BoundAccessLog", (AccessLog,), {"metrics": app[METRICS], "sink": sink})
    runner = web.AppRunner(app, access_log_class=logger_cls, access_log=logging.getLogger("onggi.access"),
                           handle_signals=False, keepalive_timeout=75)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=_ssl(cfg)).start()
    extra = None
    if cfg.metrics_addr:
        mapp = web.Application()
        mapp.router.add_get("/metrics", metrics_handler(app[METRICS]))
        extra = web.AppRunner(mapp, access_log=None)
        await extra.setup()
        host, port = parse_addr(cfg.metrics_addr)
        await web.TCPSite(extra, host, port, reuse_port=cfg.workers > 1).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    flusher = asyncio.ensure_future(_flush_every(sink, 0.5)) if sink is not None else None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if parent is not None:
        async def orphan_watch() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(1)
            stop.set()
        watch = asyncio.ensure_future(orphan_watch())
    await stop.wait()
    if parent is not None:
        watch.cancel()
    await runner.cleanup()
    if extra is not None:
        await extra.cleanup()
    if flusher is not None:
        flusher.cancel()
        sink.close()


async def _flush_every(sink: Any, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            sink.flush()
        except (OSError, ValueError):
            pass


def _worker(cfg: ServerConfig, sock: socket.socket, parent: int | None) -> None:
    # asyncio's own loop, not uvloop: only asyncio's gives aiohttp loop.sendfile (blob GETs
    # ran at 1.3 GB/s under uvloop, 3.2 GB/s with sendfile; manifest GETs stay ~5-9x the
    # reference registry either way; bench/registry_bench.py)
    asyncio.run(_run(cfg, sock, parent))


def serve(cfg: ServerConfig) -> None:
    """Serve until SIGTERM/SIGINT. Raises OSError when the address cannot be bound."""
    level = {"warn": "WARNING"}.get(cfg.log_level.lower(), cfg.log_level.upper())
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    os.makedirs(cfg.root, exist_ok=True)
    sock = bind(cfg.addr)
    scheme = "https" if cfg.tls_cert else "http"
    log.info("onggi registry serving %s://%s from %s (%d worker%s%s)", scheme, cfg.addr, cfg.root,
             cfg.workers, "" if cfg.workers == 1 else "s", ", read-only" if cfg.read_only else "")
    if cfg.workers == 1:
        _worker(cfg, sock, None)
        return
    mdir = tempfile.mkdtemp(prefix="onggi-registry-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = mdir
    parent = os.getpid()
    children: list[int] = []
    try:
        for _ in range(cfg.workers):
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    _worker(cfg, sock, parent)
                except BaseException:
                    log.exception("worker failed")
                    code = 1
                os._exit(code)
            children.append(pid)
        _supervise(children)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        shutil.rmtree(mdir, ignore_errors=True)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


def _supervise(children: list[int]) -> None:
    """Wait for a signal or for any worker to end, then return (the caller stops all)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _raise_stop)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except _Stop:
            return
        except ChildProcessError:
            return
        if pid in children:
            children.remove(pid)
            log.error("worker %d exited (status %d); stopping", pid, status)
            return
