"""htpasswd parsing, bcrypt verification with its memory, re-reading, and Basic auth."""

from __future__ import annotations

import base64
import logging
import os
import time

import bcrypt
import pytest

from onggi.errors import InvalidArgument, NotFound
from onggi.registry.auth import Access, AuthError
from onggi.registry.auth.basic import BasicAuthorizer
from onggi.registry.auth.htpasswd import Htpasswd, parse_htpasswd
from onggi.registry.auth.rules import parse_rules

# made by `htpasswd -nbB alice secret` (Apache writes $2y$)
ALICE_2Y = "alice:$2y$05$7nX6/tUyYmDcVEqFuDeCpe9i9lWQpH60MkMI/nyZaVbNe/E.yhVfa"


def line(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


PULL = Access("repository", "team/app", frozenset({"pull"}))
PUSH = Access("repository", "team/app", frozenset({"pull", "push"}))


def test_parse_keeps_bcrypt_and_refuses_other_formats(caplog: pytest.LogCaptureFixture) -> None:
    text = "\n".join([
        "# a comment", "", ALICE_2Y, "   ",
        line("bob", "pw"),
        "carol:$apr1$abc$0123456789012345678901",
        "dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        "erin:plaintext",
        "no-colon-here",
        line("alice", "other"),
    ])
    with caplog.at_level(logging.WARNING, logger="onggi.registry.auth"):
        entries = parse_htpasswd(text, "/x/htpasswd")
    assert sorted(entries) == ["alice", "bob"]
    assert entries["alice"].startswith(b"$2y$05$7nX6")  # the first alice line wins
    msgs = caplog.text
    assert "/x/htpasswd line 6: user 'carol' has a Apache MD5 ($apr1$) hash" in msgs
    assert "'dave' has a SHA-1 ({SHA}) hash" in msgs
    assert "'erin' has a crypt or plain text hash" in msgs
    assert "line 9: not USER:HASH" in msgs
    assert "line 10: user 'alice' listed again" in msgs


def test_file_without_bcrypt_entries_is_an_error(tmp_path) -> None:
    p = tmp_path / "htpasswd"
    p.write_text("carol:$apr1$abc$0123456789012345678901\n")
    with pytest.raises(InvalidArgument, match="no bcrypt entry"):
        Htpasswd(str(p))
    with pytest.raises(NotFound, match="does not exist"):
        Htpasswd(str(tmp_path / "missing"))


def test_verify_2y_and_2b(tmp_path) -> None:
    p = tmp_path / "htpasswd"
    p.write_text(ALICE_2Y + "\n" + line("bob", "pw:with:colons") + "\n")
    hp = Htpasswd(str(p))
    assert hp.verify("alice", "secret")
    assert not hp.verify("alice", "Secret")
    assert hp.verify("bob", "pw:with:colons")
    assert not hp.verify("nobody", "secret")
    assert hp.users() == ["alice", "bob"] and "bob" in hp and "zed" not in hp


def test_success_is_remembered_without_the_password(tmp_path, monkeypatch) -> None:
    p = tmp_path / "htpasswd"
    p.write_text(line("bob", "pw") + "\n")
    hp = Htpasswd(str(p))
    calls = []
    real = bcrypt.checkpw

    def counting(pw: bytes, h: bytes) -> bool:
        calls.append(1)
        return real(pw, h)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    assert not hp.cached("bob", "pw")
    for _ in range(5):
        assert hp.verify("bob", "pw")
    assert len(calls) == 1 and hp.cached("bob", "pw")
    assert not hp.verify("bob", "wrong") and len(calls) == 2  # failures are not remembered
    memory = repr(hp._cache)
    assert "pw" not in memory.replace("bob", "")


def test_reread_when_the_file_changes(tmp_path) -> None:
    p = tmp_path / "htpasswd"
    p.write_text(line("bob", "old") + "\n")
    hp = Htpasswd(str(p), recheck=0)
    assert hp.verify("bob", "old")
    gen = hp.generation
    p.write_text(line("bob", "new") + "\n" + line("carl", "c") + "\n")
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert not hp.verify("bob", "old")  # the remembered success died with the old hash
    assert hp.verify("bob", "new") and hp.verify("carl", "c")
    assert hp.generation > gen
    p.unlink()
    assert not hp.verify("bob", "new") and hp.users() == []


def authorizer(tmp_path, access=None) -> BasicAuthorizer:
    p = tmp_path / "htpasswd"
    p.write_text(line("alice", "a") + "\n" + line("bob", "b") + "\n")
    return BasicAuthorizer("my realm", Htpasswd(str(p)), parse_rules(access))


def test_basic_without_rules_lets_any_user_do_anything(tmp_path) -> None:
    auth = authorizer(tmp_path)
    assert auth.authorize(basic("alice", "a"), [PUSH]) == "alice"
    assert auth.authorize(basic("bob", "b"), [Access("registry", "catalog", frozenset("*"))]) == "bob"
    assert auth.authorize(basic("alice", "a"), []) == "alice"  # ping
    for header in (None, basic("alice", "wrong"), basic("eve", "a"), "Basic !!notbase64",
                   "Basic " + base64.b64encode(b"nocolon").decode(), "Bearer abc.def.ghi",
                   basic("", "")):
        with pytest.raises(AuthError) as ei:
            auth.authorize(header, [PULL])
        assert ei.value.status == 401 and ei.value.code == "UNAUTHORIZED"
        assert ei.value.challenge == 'Basic realm="my realm"'
    with pytest.raises(AuthError) as ei:
        auth.authorize(None, [])
    assert ei.value.status == 401  # the ping tells anonymous clients the scheme


def test_basic_with_rules(tmp_path) -> None:
    auth = authorizer(tmp_path, [
        {"account": "alice", "name": "alice/*", "actions": ["pull", "push", "delete"]},
        {"account": "*", "name": "*", "actions": ["pull"]},
        {"account": "", "name": "public/*", "actions": ["pull"]},
    ])
    a = basic("alice", "a")
    assert auth.authorize(a, [Access("repository", "alice/x", frozenset({"push", "delete"}))]) == "alice"
    assert auth.authorize(a, [PULL]) == "alice"
    with pytest.raises(AuthError) as ei:
        auth.authorize(a, [PUSH])
    assert (ei.value.status, ei.value.code, ei.value.challenge) == (403, "DENIED", None)
    assert "repository:team/app:pull,push" in ei.value.message
    assert auth.authorize(None, [Access("repository", "public/x", frozenset({"pull"}))]) is None
    assert auth.authorize(basic("", ""), [Access("repository", "public/x", frozenset({"pull"}))]) is None
    with pytest.raises(AuthError) as ei:
        auth.authorize(None, [Access("repository", "public/x", frozenset({"push"}))])
    assert ei.value.status == 401
    assert ei.value.detail == [{"Type": "repository", "Name": "public/x", "Action": "push"}]


def test_basic_header_memory_follows_the_file(tmp_path) -> None:
    auth = authorizer(tmp_path)
    auth.htpasswd._recheck = 0
    h = basic("alice", "a")
    assert auth.authorize(h, [PULL]) == "alice"
    p = tmp_path / "htpasswd"
    p.write_text(line("bob", "b") + "\n")
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
    with pytest.raises(AuthError):
        auth.authorize(h, [PULL])


def test_may_block_only_before_the_first_success(tmp_path) -> None:
    auth = authorizer(tmp_path)
    h = basic("alice", "a")
    assert not auth.may_block(None)
    assert auth.may_block(h)
    auth.authorize(h, [PULL])
    assert not auth.may_block(h)
    assert auth.may_block(basic("alice", "other"))


def test_unknown_users_cost_a_bcrypt_too(tmp_path, monkeypatch) -> None:
    p = tmp_path / "htpasswd"
    p.write_text(line("bob", "pw") + "\n")
    hp = Htpasswd(str(p))
    seen: list[bytes] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: seen.append(h[:7]) or real(pw, h))
    assert not hp.verify("nobody", "pw")
    assert seen == [b"$2b$04$"]  # the same cost as the file's entries
