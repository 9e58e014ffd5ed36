"""The server's settings: defaults, then a YAML file in the reference registry's shape
(so an existing config.yml can be reused), then command-line flags.

Keys read from the file (others are accepted and ignored)::

    log.level, log.accesslog.disabled, log.accesslog.path (onggi: a file instead of stderr)
    storage.filesystem.rootdirectory, storage.delete.enabled,
    storage.maintenance.readonly.enabled
    http.addr, http.tls.certificate, http.tls.key, http.debug.addr (metrics listener)
    auth: (passed whole to onggi.registry.auth.from_config)
    onggi.workers, onggi.max_blob_size, onggi.body_timeout, onggi.metrics_addr

Deletes are enabled unless ``storage.delete.enabled: false`` (the reference's default is
off; onggi follows the distribution spec's content-management workflow by default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import InvalidArgument

__all__ = ["ServerConfig", "load", "parse_addr"]


@dataclass(frozen=True)
class ServerConfig:
    addr: str = "127.0.0.1:5000"
    root: str = "/var/lib/onggi/registry"
    tls_cert: str | None = None
    tls_key: str | None = None
    read_only: bool = False
    delete_enabled: bool = True
    log_level: str = "info"
    access_log: bool = True
    access_log_path: str | None = None  # None: stderr
    metrics_addr: str | None = None  # None: /metrics on the main listener
    workers: int = 1
    max_blob_size: int = 0  # 0: no limit
    body_timeout: float = 60.0  # seconds without a byte of a request body
    durable: bool = True  # fsync what is committed
    auth: dict[str, Any] | None = field(default=None, compare=False)


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``, ``:PORT`` = all interfaces) -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"address {addr!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _get(doc: dict[str, Any], path: str, kind: type | tuple[type, ...]) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            raise InvalidArgument(f"config: {path}: {part!r} is under a value that is not a mapping")
        if part not in node or node[part] is None:
            return None
        node = node[part]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(node, kinds) or (isinstance(node, bool) and bool not in kinds):
        want = "/".join(k.__name__ for k in kinds)
        raise InvalidArgument(f"config: {path}: expected {want}, got {type(node).__name__} {node!r}")
    return node


def from_document(doc: Any, base: ServerConfig | None = None) -> ServerConfig:
    """Settings from a parsed YAML document over ``base`` (the defaults)."""
    cfg = base or ServerConfig()
    if doc is None:
        return cfg
    if not isinstance(doc, dict):
        raise InvalidArgument("config: the top level must be a mapping")
    picks = {
        "log_level": ("log.level", str),
        "access_log_path": ("log.accesslog.path", str),
        "root": ("storage.filesystem.rootdirectory", str),
        "delete_enabled": ("storage.delete.enabled", bool),
        "read_only": ("storage.maintenance.readonly.enabled", bool),
        "addr": ("http.addr", str),
        "tls_cert": ("http.tls.certificate", str),
        "tls_key": ("http.tls.key", str),
        "metrics_addr": ("http.debug.addr", str),
        "workers": ("onggi.workers", int),
        "max_blob_size": ("onggi.max_blob_size", int),
        "body_timeout": ("onggi.body_timeout", (int, float)),
    }
    changes: dict[str, Any] = {}
    for name, (path, kind) in picks.items():
        v = _get(doc, path, kind)
        if v is not None:
            changes[name] = v
    disabled = _get(doc, "log.accesslog.disabled", bool)
    if disabled is not None:
        changes["access_log"] = not disabled
    own_metrics = _get(doc, "onggi.metrics_addr", str)
    if own_metrics:
        changes["metrics_addr"] = own_metrics
    auth = doc.get("auth")
    if auth is not None and not isinstance(auth, dict):
        raise InvalidArgument("config: auth: expected a mapping")
    if auth:
        changes["auth"] = auth
    return check(replace(cfg, **changes))


def check(cfg: ServerConfig) -> ServerConfig:
    parse_addr(cfg.addr)
    if cfg.metrics_addr:
        parse_addr(cfg.metrics_addr)
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise InvalidArgument("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
    if cfg.workers < 1:
        raise InvalidArgument(f"workers: {cfg.workers}: at least 1")
    if cfg.max_blob_size < 0 or cfg.body_timeout <= 0:
        raise InvalidArgument("max_blob_size must be >= 0 and body_timeout > 0")
    if cfg.log_level.lower() not in ("debug", "info", "warn", "warning", "error"):
        raise InvalidArgument(f"log.level: {cfg.log_level!r}: one of debug, info, warn, error")
    return cfg


def load(path: str | None = None, **flags: Any) -> ServerConfig:
    """Defaults, then the YAML file at ``path`` (if any), then every flag that is not None."""
    cfg = ServerConfig()
    if path:
        import yaml

        try:
            with open(path) as f:
                doc = yaml.safe_load(f)
        except FileNotFoundError:
            raise InvalidArgument(f"config file {path} does not exist") from None
        except yaml.YAMLError as e:
            raise InvalidArgument(f"config file {path}: not valid YAML: {e}") from None
        cfg = from_document(doc, cfg)
    names = {f.name for f in fields(ServerConfig)}
    unknown = set(flags) - names
    if unknown:
        raise InvalidArgument(f"unknown settings: {', '.join(sorted(unknown))}")
    cfg = replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    if cfg.root:
        cfg = replace(cfg, root=os.path.abspath(cfg.root))
    return check(cfg)
