"""Token issue and verification, the signing key file, and the Bearer authorizer."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time

import jwt
import pytest

from onggi.errors import InvalidArgument
from onggi.registry.auth import Access, AuthError, from_config
from onggi.registry.auth.bearer import BearerAuthorizer
from onggi.registry.auth.tokens import InvalidToken, TokenIssuer, TokenVerifier, load_secret

SECRET = b"k" * 64
PULL = Access("repository", "team/app", frozenset({"pull"}))
PUSH = Access("repository", "team/app", frozenset({"push"}))


def pair(secret: bytes = SECRET, issuer: str = "onggi", service: str = "reg") -> tuple[TokenIssuer, TokenVerifier]:
    return TokenIssuer(secret, issuer, service, 300), TokenVerifier(SECRET, "onggi", "reg")


def b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def test_issue_and_verify_claims() -> None:
    iss, ver = pair()
    tok = iss.issue("alice", [Access("repository", "team/app", frozenset({"pull", "push"}))])
    claims = jwt.decode(tok.token, SECRET, algorithms=["HS256"], audience="reg")
    assert claims["iss"] == "onggi" and claims["sub"] == "alice" and claims["aud"] == "reg"
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"] and claims["jti"]
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    v = ver.verify(tok.token)
    assert v.account == "alice"
    assert v.covers([PULL, PUSH]) and v.covers([])
    assert not v.covers([Access("repository", "team/app", frozenset({"delete"}))])
    assert not v.covers([Access("repository", "other", frozenset({"pull"}))])
    wild = ver.verify(iss.issue("bob", [Access("registry", "catalog", frozenset({"*"}))]).token)
    assert wild.covers([Access("registry", "catalog", frozenset({"*"}))])


@pytest.mark.parametrize("what, make, why", [
    ("wrong audience", lambda: pair(service="other")[0].issue("a", [PULL]).token, "(?i)audience"),
    ("wrong issuer", lambda: pair(issuer="evil")[0].issue("a", [PULL]).token, "issuer"),
    ("bad signature", lambda: pair(secret=b"x" * 40)[0].issue("a", [PULL]).token, "Signature"),
    ("expired", lambda: pair()[0].issue("a", [PULL], now=time.time() - 400).token, "expired"),
    ("not yet valid", lambda: pair()[0].issue("a", [PULL], now=time.time() + 60).token, "not yet valid"),
    ("garbage", lambda: "not-a-jwt", "Not enough segments"),
])
def test_bad_tokens_are_refused(what: str, make, why: str) -> None:
    with pytest.raises(InvalidToken, match=why):
        pair()[1].verify(make())


def test_tampered_payload_and_none_alg() -> None:
    iss, ver = pair()
    head, _, sig = iss.issue("alice", [PULL]).token.split(".")
    now = int(time.time())
    forged = {"iss": "onggi", "sub": "alice", "aud": "reg", "exp": now + 300, "nbf": now,
              "iat": now, "access": [{"type": "repository", "name": "team/app", "actions": ["*"]}]}
    with pytest.raises(InvalidToken, match="Signature"):
        ver.verify(f"{head}.{b64(forged)}.{sig}")
    none_tok = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(forged)}."
    with pytest.raises(InvalidToken, match="alg"):
        ver.verify(none_tok)
    hs512 = jwt.encode(forged, SECRET, algorithm="HS512")
    with pytest.raises(InvalidToken, match="alg"):
        ver.verify(hs512)
    bad_access = jwt.encode({**forged, "access": {"x": 1}}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match="access claim"):
        ver.verify(bad_access)


def test_verified_tokens_are_cached_until_expiry(monkeypatch) -> None:
    iss, ver = pair()
    issued = int(time.time()) - 298  # expires in one to two seconds
    tok = iss.issue("alice", [PULL], now=issued).token
    ver.verify(tok)
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: pytest.fail("decoded again"))
    assert ver.verify(tok).account == "alice"
    time.sleep(max(0.0, issued + 300 - time.time()) + 0.05)
    with pytest.raises(InvalidToken, match="expired"):
        ver.verify(tok)


def test_cache_is_bounded() -> None:
    iss, _ = pair()
    ver = TokenVerifier(SECRET, "onggi", "reg", cache_size=8)
    for i in range(30):
        ver.verify(iss.issue(f"u{i}", [PULL]).token)
    assert len(ver._cache) <= 8


def test_refresh_tokens_are_not_access_tokens() -> None:
    iss, ver = pair()
    rt = iss.refresh_token("alice")
    assert iss.check_refresh(rt) == "alice"
    with pytest.raises(InvalidToken, match="Signature"):
        ver.verify(rt)
    with pytest.raises(InvalidToken):
        iss.check_refresh(iss.issue("alice", [PULL]).token)


def test_generated_key_is_private_and_kept(tmp_path) -> None:
    root = str(tmp_path / "root")
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(load_secret(None, root))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results[0]) == 64
    path = os.path.join(root, "auth", "token.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(os.path.join(root, "auth")) == ["token.key"]  # no temporaries left
    assert load_secret(None, root) == results[0]


def test_configured_key_file(tmp_path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"abc\n")
    with pytest.raises(InvalidArgument, match="needs 32 at least"):
        load_secret(str(short), str(tmp_path))
    with pytest.raises(InvalidArgument, match="cannot read"):
        load_secret(str(tmp_path / "missing"), str(tmp_path))
    good = tmp_path / "good"
    good.write_bytes(b"z" * 48 + b"\n")
    assert load_secret(str(good), str(tmp_path)) == b"z" * 48


def bearer(tmp_path, **token) -> BearerAuthorizer:
    auth = from_config({"token": {"key": str(keyfile(tmp_path)), "service": "reg", **token},
                        "access": [{"account": "", "name": "*", "actions": ["pull"]}]}, str(tmp_path))
    assert isinstance(auth, BearerAuthorizer)
    return auth


def keyfile(tmp_path):
    p = tmp_path / "key"
    p.write_bytes(SECRET)
    return p


def test_bearer_authorize(tmp_path) -> None:
    auth = bearer(tmp_path, realm="http://127.0.0.1:5000/token")
    good = "Bearer " + auth.tokens.issue("alice", [PULL]).token
    assert auth.authorize(good, [PULL]) == "alice"
    assert auth.authorize("Bearer " + auth.tokens.issue("", [PULL]).token, [PULL]) is None
    with pytest.raises(AuthError) as ei:
        auth.authorize(None, [PULL, PUSH])
    e = ei.value
    assert (e.status, e.code) == (401, "UNAUTHORIZED")
    assert e.challenge == ('Bearer realm="http://127.0.0.1:5000/token",service="reg",'
                           'scope="repository:team/app:pull,push"')
    with pytest.raises(AuthError) as ei:
        auth.authorize(good, [PUSH])
    assert ei.value.status == 401 and ei.value.challenge.endswith(
        'scope="repository:team/app:push",error="insufficient_scope"')
    for bad in ("Bearer nonsense", "Bearer " + pair(secret=b"q" * 40)[0].issue("a", [PULL]).token,
                "Bearer " + auth.tokens.issue("alice", [PULL], now=time.time() - 1000).token):
        with pytest.raises(AuthError) as ei:
            auth.authorize(bad, [PULL])
        assert ei.value.status == 401 and ei.value.challenge.endswith(',error="invalid_token"')
    with pytest.raises(AuthError) as ei:
        auth.authorize("Basic YTpi", [])
    assert ei.value.challenge == 'Bearer realm="http://127.0.0.1:5000/token",service="reg"'


def test_realm_from_the_request_or_start_up(tmp_path, caplog) -> None:
    auth = bearer(tmp_path)
    with pytest.raises(AuthError) as ei:
        auth.authorize(None, [], base_url="http://127.0.0.1:41234")
    assert ei.value.challenge.startswith('Bearer realm="http://127.0.0.1:41234/token"')
    with pytest.raises(AuthError) as ei:
        auth.authorize(None, [])
    assert 'realm="http://localhost:5000/token"' in ei.value.challenge
    assert "auth.token.realm is not set" in caplog.text
    started = from_config({"token": {"key": str(keyfile(tmp_path))},
                           "access": [{"account": "", "actions": ["pull"]}]},
                          str(tmp_path), base_url="https://reg.example:8443")
    with pytest.raises(AuthError) as ei:
        started.authorize(None, [])
    assert ei.value.challenge.startswith('Bearer realm="https://reg.example:8443/token"')
