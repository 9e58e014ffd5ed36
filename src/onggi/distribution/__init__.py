"""The registry client (OCI distribution spec v1.1 / Docker Registry HTTP API v2) and the
configuration files that steer it.

Modules (imported lazily: ``import onggi.distribution`` costs nothing until used)::

    registries_conf   registries.conf v2: endpoints (mirrors, rewrites), insecure,
                      blocked, short-name aliases and search registries
    credentials       containers auth.json / Docker config.json: get, set, remove
    tls               certs.d CAs and client certificates, tls_verify, insecure -> http
    session           one keep-alive httpx client per registry: ping, retries, errors
    auth              WWW-Authenticate challenges, Basic, Bearer tokens (cached)
    errors            registry error bodies and statuses -> onggi error categories
    blobs             blob HEAD/GET (resumable, verified), mount, monolithic and
                      chunked uploads
    referrers         the referrers API and its tag-schema fallback
    client            RegistryClient: manifests, tags, catalog, referrers + blobs

Typical use, from a reference to a client::

    from onggi.oci.reference import parse
    from onggi.distribution import registries_conf, RegistryClient

    ref = parse("127.0.0.1:5000/app:v1")
    for ep in registries_conf.load().lookup(ref):      # mirrors first, then the primary
        with RegistryClient.from_config(ep.host, insecure=ep.insecure) as c:
            m = c.get_manifest(ep.reference.path, ep.reference.identifier)
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

# httpx imports its own command line (httpx._main: click, rich, pygments) when it is
# imported, about 70 ms here, and onggi never runs it: an empty stand-in module makes
# httpx fall back to its stub (its __init__ catches the ImportError). Only before httpx
# is first imported, and only if nothing registered the real one.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))

__all__ = ["RegistryClient", "RemoteManifest", "ManifestInfo", "BlobInfo", "BlobPush",
           "Credentials", "TLSConfig", "RetryPolicy", "Ping", "RegistriesConf", "Endpoint"]

_WHERE = {
    "RegistryClient": "client", "RemoteManifest": "client", "ManifestInfo": "client",
    "BlobInfo": "blobs", "BlobPush": "blobs", "Credentials": "credentials",
    "TLSConfig": "tls", "RetryPolicy": "session", "Ping": "session",
    "RegistriesConf": "registries_conf", "Endpoint": "registries_conf",
}

if TYPE_CHECKING:
    from .blobs import BlobInfo, BlobPush
    from .client import ManifestInfo, RegistryClient, RemoteManifest
    from .credentials import Credentials
    from .registries_conf import Endpoint, RegistriesConf
    from .session import Ping, RetryPolicy
    from .tls import TLSConfig


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
