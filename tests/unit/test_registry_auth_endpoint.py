"""The built-in token server's handlers on a real loopback aiohttp server, and the
``auth:`` config section."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, Awaitable, Callable

import bcrypt
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from onggi.errors import InvalidArgument, NotFound
from onggi.registry.auth import Access, AllowAll, AuthError, from_config
from onggi.registry.auth.basic import BasicAuthorizer
from onggi.registry.auth.bearer import BearerAuthorizer

RULES = [
    {"account": "alice", "name": "alice/*", "actions": ["pull", "push", "delete"]},
    {"account": "*", "name": "*", "actions": ["pull"]},
    {"account": "", "name": "public/*", "actions": ["pull"]},
]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def auth(tmp_path) -> BearerAuthorizer:
    hp = tmp_path / "htpasswd"
    hp.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}\n"
                          for u, p in (("alice", "a"), ("bob", "b"))))
    a = from_config({"token": {"realm": "http://127.0.0.1:1/token", "service": "reg",
                               "htpasswd": str(hp)}, "access": RULES}, str(tmp_path))
    assert isinstance(a, BearerAuthorizer)
    return a


def serve(auth: BearerAuthorizer, body: Callable[[TestClient], Awaitable[None]]) -> None:
    async def run() -> None:
        app = web.Application()
        app.add_routes(auth.routes())
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await body(client)
    asyncio.run(run())


def grants(auth: BearerAuthorizer, doc: dict[str, Any]) -> list[dict[str, Any]]:
    return jwt.decode(doc["token"], options={"verify_signature": False})["access"]


def test_get_grants_the_intersection(auth: BearerAuthorizer) -> None:
    async def body(c: TestClient) -> None:
        r = await c.get("/token", params=[("service", "reg"), ("account", "alice"),
                                          ("scope", "repository:alice/app:pull,push"),
                                          ("scope", "repository:bob/app:pull,push,delete"),
                                          ("scope", "repository:zed/x:delete")],
                        headers=basic("alice", "a"))
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        doc = await r.json()
        assert doc["token"] == doc["access_token"] and doc["expires_in"] == 300
        assert abs(time.mktime(time.strptime(doc["issued_at"], "%Y-%m-%dT%H:%M:%SZ"))
                   - time.mktime(time.gmtime())) < 5
        assert "refresh_token" not in doc
        assert grants(auth, doc) == [
            {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "bob/app", "actions": ["pull"]}]
        hdr = "Bearer " + doc["token"]
        assert auth.authorize(hdr, [Access("repository", "alice/app", frozenset({"push"}))]) == "alice"
        with pytest.raises(AuthError):
            auth.authorize(hdr, [Access("repository", "bob/app", frozenset({"push"}))])
    serve(auth, body)


def test_get_anonymous_and_refusals(auth: BearerAuthorizer) -> None:
    async def body(c: TestClient) -> None:
        r = await c.get("/token", params=[("service", "reg"), ("scope", "repository:public/x:pull,push"),
                                          ("scope", "repository:alice/app:pull")])
        doc = await r.json()
        assert r.status == 200
        assert grants(auth, doc) == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]
        assert jwt.decode(doc["token"], options={"verify_signature": False})["sub"] == ""
        r = await c.get("/token", params={"service": "reg", "scope": "repository:alice/app:push"})
        assert r.status == 200 and grants(auth, await r.json()) == []
        r = await c.get("/token", params={"service": "reg"}, headers=basic("alice", "wrong"))
        assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="reg"'
        assert (await r.json())["errors"][0]["code"] == "UNAUTHORIZED"
        r = await c.get("/token", params={"service": "other"})
        assert r.status == 400 and "service 'other'" in (await r.json())["errors"][0]["message"]
        r = await c.get("/token", params={"scope": "repository:nope"})
        assert r.status == 400 and (await r.json())["error"] == "invalid_scope"
        r = await c.get("/token", params={"account": "bob"}, headers=basic("alice", "a"))
        assert r.status == 400 and "does not match" in (await r.text())
        r = await c.get("/token", headers={"Authorization": "Basic %%%"})
        assert r.status == 401
        r = await c.get("/token", headers={"Authorization": "Bearer x"})
        assert r.status == 401
    serve(auth, body)


def test_offline_token_and_post_grants(auth: BearerAuthorizer) -> None:
    async def body(c: TestClient) -> None:
        r = await c.get("/token", params={"service": "reg", "offline_token": "true",
                                          "client_id": "docker"}, headers=basic("bob", "b"))
        refresh = (await r.json())["refresh_token"]
        r = await c.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                         "service": "reg", "client_id": "onggi",
                                         "scope": "repository:bob/x:pull,push repository:q:pull"})
        doc = await r.json()
        assert r.status == 200 and doc["scope"] == "repository:bob/x:pull repository:q:pull"
        assert "refresh_token" not in doc
        assert auth.authorize("Bearer " + doc["access_token"],
                              [Access("repository", "q", frozenset({"pull"}))]) == "bob"
        r = await c.post("/token", data={"grant_type": "password", "username": "alice",
                                         "password": "a", "client_id": "onggi",
                                         "access_type": "offline", "service": "reg",
                                         "scope": "repository:alice/z:push"})
        doc = await r.json()
        assert r.status == 200 and doc["scope"] == "repository:alice/z:push" and doc["refresh_token"]
        for form, status, error in [
            ({"grant_type": "password", "username": "alice", "password": "x"}, 401, "invalid_grant"),
            ({"grant_type": "password", "password": "x"}, 400, "invalid_request"),
            ({"grant_type": "refresh_token", "refresh_token": doc["access_token"]}, 401, "invalid_grant"),
            ({"grant_type": "refresh_token"}, 400, "invalid_request"),
            ({"grant_type": "authorization_code", "code": "c"}, 400, "unsupported_grant_type"),
        ]:
            r = await c.post("/token", data=form)
            assert (r.status, (await r.json())["error"]) == (status, error), form
        r = await c.post("/token", json={"grant_type": "password"})
        assert r.status == 400 and "x-www-form-urlencoded" in await r.text()
    serve(auth, body)


def test_token_endpoint_remembers_credentials(auth: BearerAuthorizer) -> None:
    async def body(c: TestClient) -> None:
        r = await c.get("/token", params={"service": "reg"}, headers=basic("alice", "a"))
        assert r.status == 200
        t = time.perf_counter()
        for _ in range(20):
            r = await c.get("/token", params={"service": "reg"}, headers=basic("alice", "a"))
            assert r.status == 200
        assert (time.perf_counter() - t) / 20 < 0.05  # remembered: no bcrypt per request
    serve(auth, body)


def test_config_builds_each_mode(tmp_path) -> None:
    hp = tmp_path / "htpasswd"
    hp.write_text(f"u:{bcrypt.hashpw(b'p', bcrypt.gensalt(4)).decode()}\n")
    assert isinstance(from_config(None, str(tmp_path)), AllowAll)
    assert isinstance(from_config({}, str(tmp_path)), AllowAll)
    b = from_config({"htpasswd": {"realm": "basic-realm", "path": str(hp)}}, str(tmp_path))
    assert isinstance(b, BasicAuthorizer) and b.challenge == 'Basic realm="basic-realm"'
    t = from_config({"token": {"realm": "https://auth.example/v1/token", "htpasswd": str(hp)}},
                    str(tmp_path))
    assert isinstance(t, BearerAuthorizer) and t.path == "/v1/token"
    assert [r.path for r in t.routes()] == ["/v1/token", "/v1/token"]  # type: ignore[attr-defined]
    assert (tmp_path / "auth" / "token.key").exists()


@pytest.mark.parametrize("section, err, msg", [
    ("nope", InvalidArgument, "auth: expected a mapping"),
    ({"silly": {}}, InvalidArgument, r"unsupported \['silly'\]"),
    ({"htpasswd": {"realm": "r"}}, InvalidArgument, "auth.htpasswd.path: required"),
    ({"htpasswd": {"path": "HP", "extra": 1}}, InvalidArgument, r"unknown keys \['extra'\]"),
    ({"htpasswd": {"path": "/nonexistent/htpasswd"}}, NotFound, "htpasswd -Bbc"),
    ({"htpasswd": {"path": "HP"}, "token": {}}, InvalidArgument, "not both"),
    ({"access": []}, InvalidArgument, "need htpasswd or token"),
    ({"token": {}}, InvalidArgument, "rules for the anonymous account"),
    ({"token": {"htpasswd": "HP", "expiration": 10}}, InvalidArgument, "expiration: expected whole seconds, 60"),
    ({"token": {"htpasswd": "HP", "realm": "/token"}}, InvalidArgument, "not an absolute http"),
    ({"token": {"htpasswd": "HP", "realm": "http://h/v2/token"}}, InvalidArgument, "under /v2/"),
    ({"token": {"htpasswd": "HP", "rootcertbundle": "/c.pem"}}, InvalidArgument, "external token server"),
    ({"token": {"htpasswd": "HP", "service": ""}}, InvalidArgument, "auth.token.service"),
])
def test_config_errors_name_the_key(tmp_path, section, err, msg: str) -> None:
    hp = tmp_path / "htpasswd"
    hp.write_text(f"u:{bcrypt.hashpw(b'p', bcrypt.gensalt(4)).decode()}\n")

    def fill(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        return str(hp) if v == "HP" else v

    with pytest.raises(err, match=msg):
        from_config(fill(section), str(tmp_path))
