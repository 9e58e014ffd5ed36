"""TLS settings per registry: certs.d directories, ``tls_verify`` and insecure registries.

Certificate directories (containers-certs.d(5)): for ``HOST[:PORT]`` the first existing
one of ``${XDG_CONFIG_HOME:-$HOME/.config}/containers/certs.d/HOST[:PORT]``,
``/etc/containers/certs.d/HOST[:PORT]`` and ``/etc/docker/certs.d/HOST[:PORT]`` is used
(or an explicit directory, as ``skopeo --cert-dir``). In it, every ``*.crt`` is a CA
trusted in addition to the system's, and ``NAME.cert`` with ``NAME.key`` is a client
certificate (the first pair by name; a half pair is an error).

Verification and plain HTTP, as containers/image decides them: ``tls_verify=False``
(``--tls-verify=false``), or no explicit choice and the registry ``insecure`` in
registries.conf, turns certificate checks off and lets the client fall back to
``http://`` when HTTPS cannot be reached; ``tls_verify=True`` forces checked HTTPS even
for an insecure registry.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..errors import InvalidArgument

__all__ = ["TLSConfig", "certs_dirs", "read_cert_dir", "for_registry"]


@dataclass(frozen=True)
class TLSConfig:
    """How to talk to one registry. ``allow_http``: try ``http://`` after ``https://``."""

    verify: bool = True
    ca_files: tuple[str, ...] = ()
    client_cert: tuple[str, str] | None = None  # (certificate, key)
    allow_http: bool = False
    cert_dir: str | None = None

    def schemes(self) -> tuple[str, ...]:
        """URL schemes to try, in order."""
        return ("https", "http") if self.allow_http else ("https",)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context: the system CAs plus ``ca_files``, the client certificate,
        and no checks at all when ``verify`` is False."""
        if self.verify:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        else:  # nothing to verify against: skip loading the system's CA bundle (~30 ms)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        for ca in self.ca_files:
            try:
                ctx.load_verify_locations(cafile=ca)
            except (OSError, ssl.SSLError) as e:
                raise InvalidArgument(f"{ca}: cannot load CA certificate: {e}") from None
        if self.client_cert is not None:
            cert, key = self.client_cert
            try:
                ctx.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as e:
                raise InvalidArgument(f"{cert} / {key}: cannot load client certificate: {e}") from None
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def certs_dirs(env: Mapping[str, str] | None = None) -> list[str]:
    """The certs.d base directories, in the order they are searched."""
    e = os.environ if env is None else env
    home = e.get("HOME") or os.path.expanduser("~")
    xdg = e.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return [os.path.join(xdg, "containers", "certs.d"), "/etc/containers/certs.d", "/etc/docker/certs.d"]


def read_cert_dir(path: str) -> tuple[tuple[str, ...], tuple[str, str] | None]:
    """(CA files, client certificate pair) found in one host directory."""
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return (), None
    except OSError as e:
        raise InvalidArgument(f"{path}: cannot read certificate directory: {e.strerror}") from None
    cas = tuple(os.path.join(path, n) for n in names if n.endswith(".crt"))
    certs = {n[:-5] for n in names if n.endswith(".cert")}
    keys = {n[:-4] for n in names if n.endswith(".key")}
    for base in sorted(certs ^ keys):
        have, missing = (f"{base}.cert", f"{base}.key") if base in certs else (f"{base}.key", f"{base}.cert")
        raise InvalidArgument(f"{path}: {have} has no matching {missing} (a client certificate "
                              f"needs both)")
    pairs = sorted(certs)
    client = None
    if pairs:
        client = (os.path.join(path, pairs[0] + ".cert"), os.path.join(path, pairs[0] + ".key"))
    return cas, client


def for_registry(host: str, tls_verify: bool | None = None, insecure: bool = False,
                 cert_dir: str | None = None, dirs: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> TLSConfig:
    """The TLS settings for ``host`` (``HOST[:PORT]``). ``insecure`` comes from
    registries.conf; ``tls_verify`` (None: not given) overrides it; ``cert_dir`` replaces
    the certs.d search; ``dirs`` replaces :func:`certs_dirs`."""
    if cert_dir is None:
        for base in certs_dirs(env) if dirs is None else dirs:
            candidate = os.path.join(base, host)
            if os.path.isdir(candidate):
                cert_dir = candidate
                break
    cas, client = read_cert_dir(cert_dir) if cert_dir else ((), None)
    relaxed = (not tls_verify) if tls_verify is not None else insecure
    return TLSConfig(verify=not relaxed, ca_files=cas, client_cert=client, allow_http=relaxed,
                     cert_dir=cert_dir)
