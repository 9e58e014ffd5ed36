"""The registry's HTTP application in-process: error bodies and statuses, auth hooks
(with a small test authorizer), read-only and delete-disabled modes, HEAD, /metrics and
the access log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import replace
from typing import Any, Awaitable, Callable, Sequence

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from onggi.oci import mediatypes as MT
from onggi.registry import app as app_mod
from onggi.registry.auth import Access, AuthError
from onggi.registry.config import ServerConfig
from onggi.registry.observe import AccessLog
from test_registry_storage import sha

D = sha(b"blob")


class OneUser:
    """Basic-ish auth for the test: the header "Secret alice" is alice, who may pull and
    push "mine/*" only; no header is a 401 with a challenge."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def authorize(self, authorization: str | None, wanted: Sequence[Access],
                  base_url: str | None = None) -> str | None:
        self.seen.append([a.scope() for a in wanted])
        self.base_url = base_url
        if authorization != "Secret alice":
            raise AuthError(401, "UNAUTHORIZED", "authentication required", 'Basic realm="test"')
        for a in wanted:
            if a.type == "repository" and not a.name.startswith("mine/"):
                raise AuthError(403, "DENIED", f"alice may not access {a.name}", detail={"name": a.name})
        return "alice"

    def may_block(self, authorization: str | None) -> bool:
        return False

    def routes(self) -> list[web.RouteDef]:
        async def token(request: web.Request) -> web.Response:
            return web.json_response({"token": "t"})
        return [web.get("/token", token)]


def run(cfg: ServerConfig, body: Callable[[TestClient], Awaitable[Any]], authorizer: Any = None,
        monkeypatch: pytest.MonkeyPatch | None = None, log: io.StringIO | None = None) -> Any:
    if authorizer is not None:
        monkeypatch.setattr(app_mod, "from_config", lambda section, root, base_url=None: authorizer)

    async def go() -> Any:
        app = app_mod.build_app(cfg)
        cls = type("L", (AccessLog,), {"metrics": app[app_mod.METRICS], "sink": log})
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(access_log_class=cls, access_log=logging.getLogger("t"))
        async with TestClient(server) as client:
            return await body(client)

    return asyncio.run(go())


@pytest.fixture
def cfg(tmp_path) -> ServerConfig:  # noqa: ANN001
    return ServerConfig(root=str(tmp_path / "reg"), durable=False)


async def errors_of(resp: Any) -> list[dict]:
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    return (await resp.json())["errors"]


def test_spec_errors_and_methods(cfg: ServerConfig) -> None:
    async def body(c: TestClient) -> None:
        r = await c.get("/v2/")
        assert r.status == 200 and r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        r = await c.get("/v2/UPPER/tags/list")
        assert r.status == 400 and (await errors_of(r))[0]["code"] == "NAME_INVALID"
        r = await c.get("/v2/nothere/tags/list")
        assert r.status == 404 and (await errors_of(r))[0]["code"] == "NAME_UNKNOWN"
        r = await c.get("/v2/nothere/manifests/latest")
        assert r.status == 404 and (await errors_of(r))[0]["code"] == "NAME_UNKNOWN"
        r = await c.get(f"/v2/a/blobs/{D}")
        assert r.status == 404 and (await errors_of(r))[0]["code"] == "BLOB_UNKNOWN"
        r = await c.head(f"/v2/a/blobs/{D}")
        assert r.status == 404
        r = await c.get("/v2/a/blobs/sha256:short")
        assert r.status == 400 and (await errors_of(r))[0]["code"] == "DIGEST_INVALID"
        r = await c.post(f"/v2/a/manifests/{D}")
        assert r.status == 405 and "PUT" in r.headers["Allow"]
        assert (await errors_of(r))[0]["code"] == "UNSUPPORTED"
        r = await c.get("/v2/a/whatever")
        assert r.status == 404 and (await errors_of(r))[0]["code"] == "UNSUPPORTED"
        r = await c.get("/v2/a/blobs/uploads/" + "0" * 32)
        assert r.status == 404 and (await errors_of(r))[0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        r = await c.put("/v2/a/manifests/latest", data=b"{", headers={"Content-Type": MT.OCI_MANIFEST})
        assert r.status == 400 and (await errors_of(r))[0]["code"] == "MANIFEST_INVALID"
        r = await c.put("/v2/a/manifests/latest", data=b"x" * ((4 << 20) + 1),
                        headers={"Content-Type": MT.OCI_MANIFEST})
        assert r.status == 413 and (await errors_of(r))[0]["code"] == "MANIFEST_INVALID"
        r = await c.get("/v2/_catalog?n=-1")
        assert r.status == 400
        r = await c.get("/metrics")
        text = await r.text()
        assert r.status == 200 and "onggi_registry_http_requests_total" in text
        assert 'route="blob"' in text and "onggi_registry_http_request_duration_seconds_bucket" in text

    run(cfg, body)


def test_head_manifest_and_catalog(cfg: ServerConfig) -> None:
    async def body(c: TestClient) -> None:
        cfg_blob = b"{}"
        r = await c.post(f"/v2/x/y/blobs/uploads/?digest={sha(cfg_blob)}", data=cfg_blob)
        assert r.status == 201
        m = json.dumps({"schemaVersion": 2, "mediaType": MT.OCI_MANIFEST, "layers": [],
                        "config": {"mediaType": MT.OCI_CONFIG, "digest": sha(cfg_blob), "size": 2}}).encode()
        r = await c.put("/v2/x/y/manifests/v1", data=m, headers={"Content-Type": MT.OCI_MANIFEST})
        assert r.status == 201 and r.headers["Docker-Content-Digest"] == sha(m)
        assert r.headers["Location"] == f"/v2/x/y/manifests/{sha(m)}"
        r = await c.head("/v2/x/y/manifests/v1")
        assert r.status == 200 and int(r.headers["Content-Length"]) == len(m)
        assert r.headers["Content-Type"] == MT.OCI_MANIFEST and await r.read() == b""
        r = await c.get(f"/v2/x/y/manifests/{sha(m)}")
        assert await r.read() == m
        r = await c.get("/v2/_catalog")
        assert await r.json() == {"repositories": ["x/y"]}

    run(cfg, body)


def test_auth_hooks(cfg: ServerConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = OneUser()
    log = io.StringIO()

    async def body(c: TestClient) -> None:
        r = await c.get("/v2/")
        assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="test"'
        assert (await errors_of(r))[0]["code"] == "UNAUTHORIZED"
        r = await c.get("/v2/", headers={"Authorization": "Secret alice"})
        assert r.status == 200
        r = await c.get("/v2/theirs/tags/list", headers={"Authorization": "Secret alice"})
        assert r.status == 403
        errs = await errors_of(r)
        assert errs[0]["code"] == "DENIED" and errs[0]["detail"] == {"name": "theirs"}
        r = await c.post(f"/v2/mine/a/blobs/uploads/?mount={D}&from=theirs",
                         headers={"Authorization": "Secret alice"})
        assert r.status == 403  # mounting needs pull on the source as well
        r = await c.get("/token")
        assert r.status == 200 and (await r.json()) == {"token": "t"}

    run(cfg, body, auth, monkeypatch, log)
    assert auth.seen == [[], [], ["repository:theirs:pull"],
                         ["repository:mine/a:pull,push", "repository:theirs:pull"]]
    lines = [json.loads(x) for x in log.getvalue().splitlines()]
    assert [x["account"] for x in lines[:5]] == [None, "alice", None, None, None]
    assert {"time", "remote", "method", "path", "status", "bytes", "duration_ms", "user_agent"} <= set(lines[0])


def test_read_only_and_no_delete(cfg: ServerConfig) -> None:
    async def ro(c: TestClient) -> None:
        for method, path in (("POST", "/v2/a/blobs/uploads/"), ("PUT", "/v2/a/manifests/t"),
                             ("DELETE", f"/v2/a/blobs/{D}")):
            r = await c.request(method, path)
            assert r.status == 405 and r.headers["Allow"] == "GET, HEAD"
            errs = await errors_of(r)
            assert errs[0]["code"] == "UNSUPPORTED" and "read-only" in errs[0]["message"]
        assert (await c.get("/v2/")).status == 200

    run(replace(cfg, read_only=True), ro)

    async def nodel(c: TestClient) -> None:
        r = await c.delete(f"/v2/a/manifests/{D}")
        assert r.status == 405 and "deletes are disabled" in (await errors_of(r))[0]["message"]
        r = await c.post("/v2/a/blobs/uploads/")
        assert r.status == 202  # writes other than delete still work

    run(replace(cfg, delete_enabled=False), nodel)
