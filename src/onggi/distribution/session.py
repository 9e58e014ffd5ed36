"""The HTTP session with one registry: one keep-alive ``httpx.Client``, the scheme found
by the ``/v2/`` ping, authentication, retries with exponential back-off, and error
mapping. :class:`onggi.distribution.client.RegistryClient` builds on it.

Retries: a connection failure (refused, reset, timeout, a body cut short) and the
statuses 429, 500, 502, 503 and 504 are retried up to ``RetryPolicy.attempts`` tries in
all, waiting ``initial * factor**n`` seconds (at most ``maximum``, or what ``Retry-After``
asks up to ``maximum``), when the request may be repeated: its body is bytes or a
factory called once per try. TLS failures are not retried (they do not heal), but with
``allow_http`` the ping goes on to ``http://``. A 401 is answered once per request by the
authenticator (a new token or Basic credentials), then it is ``PermissionDenied``.

The ``Authorization`` header is sent to the registry's own host only; httpx drops it
when a redirect leaves that host (blob downloads redirected to a storage service).
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, Iterable, Mapping, Union

import httpx

from .. import __version__
from ..errors import Unavailable
from .auth import Authenticator, Challenge, parse_challenges
from .credentials import Credentials
from .errors import error_for, transport_error
from .tls import TLSConfig

__all__ = ["Session", "RetryPolicy", "Ping", "Body", "RETRY_STATUS", "USER_AGENT", "next_link"]

USER_AGENT = f"onggi/{__version__}"
RETRY_STATUS = frozenset((429, 500, 502, 503, 504))
Body = Union[bytes, Callable[[], Union[bytes, Iterable[bytes]]], None]
CredentialsArg = Union[Credentials, Callable[[str], Union[Credentials, None]], None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    initial: float = 0.25
    maximum: float = 10.0
    factor: float = 2.0

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        d = min(self.maximum, self.initial * self.factor ** retry)
        d += random.uniform(0, d / 10)
        if retry_after:
            try:
                asked = float(retry_after)
            except ValueError:
                try:
                    asked = parsedate_to_datetime(retry_after).timestamp() - time.time()
                except (TypeError, ValueError):
                    asked = 0.0
            d = max(d, min(asked, self.maximum))
        return d


@dataclass(frozen=True)
class Ping:
    """The ``/v2/`` answer: the base URL chosen, its status (200 or 401), the auth
    challenges and the ``Docker-Distribution-API-Version`` header."""

    base_url: str
    status: int
    challenges: tuple[Challenge, ...] = ()
    api_version: str | None = None


def next_link(resp: httpx.Response) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (pagination), if any."""
    for value in resp.headers.get_list("link"):
        for part in value.split(","):
            url, _, params = part.partition(";")
            url = url.strip()
            rels = [p.strip().replace('"', "") for p in params.split(";")]
            if url.startswith("<") and url.endswith(">") and "rel=next" in rels:
                return url[1:-1]
    return None


def _tls_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLError):
            return True
        todo += [e.__cause__, e.__context__, *e.args]
    return False


class Session:
    """HTTP with one registry (``host`` is ``HOST[:PORT]``); thread-safe."""

    def __init__(self, host: str, credentials: CredentialsArg = None, tls: TLSConfig | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 60.0,
                 user_agent: str = USER_AGENT, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.host = host
        self.tls = tls or TLSConfig()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        if credentials is None or isinstance(credentials, Credentials):
            fixed = credentials
            self._creds: Callable[[str], Credentials | None] = lambda repo: fixed
        else:
            self._creds = credentials
        self._client = httpx.Client(
            verify=self.tls.ssl_context(), timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
            headers={"User-Agent": user_agent}, follow_redirects=False, transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
        self.auth = Authenticator(host, self._creds, self._send_plain)
        self._base: str | None = None
        self._lock = threading.Lock()

    # ---- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``scheme://host`` (pings the registry the first time)."""
        if self._base is None:
            with self._lock:
                if self._base is None:
                    self.ping()
        return self._base  # type: ignore[return-value]

    def credentials_note(self, scopes: tuple[str, ...]) -> str:
        """Whether credentials were used, for PermissionDenied messages."""
        creds = self.auth.credentials_for(scopes)
        if creds and creds.username:
            src = f" from {creds.source}" if creds.source else ""
            return f"credentials for user {creds.username!r}{src} were sent"
        if creds:
            return "an identity token was sent"
        return f"no credentials were sent (none configured for {self.host})"

    # ---- sending -------------------------------------------------------------------------

    def ping(self) -> Ping:
        """``GET /v2/`` over each allowed scheme in turn; remembers the first that answers
        200 or 401 and the challenges it sent."""
        failures = []
        for scheme in self.tls.schemes():
            url = f"{scheme}://{self.host}/v2/"
            try:
                resp, tries = self._send(lambda: self._client.build_request("GET", url),
                                         stream=False, follow=True, retry=True,
                                         action="pinging", target=self.host)
            except Unavailable as e:
                failures.append(f"{url}: {str(e).removeprefix(f'pinging {self.host}: ')}")
                continue
            if resp.status_code not in (200, 401):
                raise error_for(resp.status_code, resp.content, action="pinging",
                                target=f"{self.host} (not a registry API v2 endpoint?)")
            challenges = tuple(parse_challenges(resp.headers.get_list("www-authenticate")))
            self.auth.set_challenges(list(challenges))
            self._base = f"{scheme}://{self.host}"
            return Ping(self._base, resp.status_code, challenges,
                        resp.headers.get("docker-distribution-api-version"))
        raise Unavailable(f"pinging {self.host}: cannot reach the registry: " + "; ".join(failures))

    def _send_plain(self, req: httpx.Request) -> httpx.Response:
        """Send without registry auth (token requests), with the retries."""
        resp, _ = self._send(lambda: req, stream=False, follow=True, retry=True,
                             action="requesting a token from", target=str(req.url.copy_with(query=None)))
        return resp

    def _send(self, build: Callable[[], httpx.Request], *, stream: bool, follow: bool,
              retry: bool, action: str, target: str) -> tuple[httpx.Response, int]:
        """One logical request with the retries; the final response (any status) and the
        number of tries. Non-streamed responses are read (a cut body is retried too)."""
        tries = 0
        while True:
            tries += 1
            can_retry = retry and tries < self.retry.attempts
            try:
                resp = self._client.send(build(), stream=True, follow_redirects=follow)
            except httpx.TransportError as e:
                if not can_retry or _tls_failure(e):
                    raise transport_error(e, action=action, target=target, tries=tries) from e
                self.backoff(tries - 1)
                continue
            if resp.status_code in RETRY_STATUS and can_retry:
                after = resp.headers.get("retry-after")
                resp.close()
                self.backoff(tries - 1, after)
                continue
            if not stream or resp.status_code >= 300:
                try:
                    resp.read()
                except httpx.TransportError as e:
                    resp.close()
                    if not can_retry:
                        raise transport_error(e, action=action, target=target, tries=tries) from e
                    self.backoff(tries - 1)
                    continue
                finally:
                    if not stream:
                        resp.close()
            return resp, tries

    def backoff(self, retry: int, retry_after: str | None = None) -> None:
        """Wait before retry number ``retry`` (0-based) as the policy says."""
        self._sleep(self.retry.delay(retry, retry_after))

    def url(self, path: str) -> str:
        """An absolute URL for a ``/v2/...`` path or an absolute/relative Location."""
        if path.startswith(("http://", "https://")):
            return path
        return str(httpx.URL(self.base_url + "/").join(path))

    def request(self, method: str, path: str, *, action: str, target: str,
                scopes: tuple[str, ...] = (), ok: Iterable[int] = (200,),
                headers: Mapping[str, str] | None = None, content: Body = None,
                params: Mapping[str, str] | None = None, stream: bool = False,
                follow_redirects: bool = False, retry: bool = True) -> httpx.Response:
        """Send ``method path`` with auth and retries; the response when its status is in
        ``ok`` (open when ``stream``: close it), else the mapped onggi error. ``params`` are
        merged into the URL's query (a Location's ``_state`` is kept)."""
        url = httpx.URL(self.url(path))
        if params:
            url = url.copy_merge_params(dict(params))
        same_host = url.netloc == httpx.URL(self.base_url).netloc
        ok = frozenset(ok)

        def build() -> httpx.Request:
            h = dict(headers or {})
            if same_host:
                a = self.auth.authorization(scopes)
                if a:
                    h["Authorization"] = a
            body = content() if callable(content) else content
            return self._client.build_request(method, url, headers=h, content=body)

        replayable = content is None or isinstance(content, bytes) or callable(content)
        auth_retried = False
        while True:
            resp, tries = self._send(build, stream=stream, follow=follow_redirects,
                                     retry=retry and replayable, action=action, target=target)
            if resp.status_code == 401 and same_host and not auth_retried:
                resp.close()
                new = self.auth.unauthorized(resp, scopes)
                if new is not None:
                    scopes, auth_retried = new, True
                    continue
            break
        if resp.status_code in ok:
            return resp
        resp.close()
        err = error_for(resp.status_code, resp.content, action=action, target=target,
                        credentials_note=self.credentials_note(scopes))
        if tries > 1:
            err.args = (f"{err.args[0]}, after {tries} tries",)
        raise err
