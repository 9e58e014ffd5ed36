"""Scope parsing, challenge text and access rules."""

from __future__ import annotations

import pytest

from onggi.errors import InvalidArgument
from onggi.registry.auth import Access
from onggi.registry.auth.rules import AccessRules, granted_actions, parse_rules
from onggi.registry.auth.scopes import (access_detail, basic_challenge, bearer_challenge,
                                        decode_basic, parse_scope, parse_scopes,
                                        split_authorization)


def acc(name: str, *actions: str, rtype: str = "repository") -> Access:
    return Access(rtype, name, frozenset(actions))


@pytest.mark.parametrize("text, expected", [
    ("repository:foo:pull", acc("foo", "pull")),
    ("repository:team/sub/app:pull,push", acc("team/sub/app", "pull", "push")),
    ("repository:localhost:5000/foo/bar:pull", acc("localhost:5000/foo/bar", "pull")),
    ("repository(plugin):vieux/sshfs:pull", acc("vieux/sshfs", "pull")),
    ("registry:catalog:*", acc("catalog", "*", rtype="registry")),
    ("repository:foo:push,,pull", acc("foo", "pull", "push")),
])
def test_parse_scope(text: str, expected: Access) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize("text, why", [
    ("repository", "expected TYPE:NAME:ACTIONS"),
    ("repository:foo", "expected TYPE:NAME:ACTIONS"),
    ("repository::pull", "bad resource name"),
    (":foo:pull", "bad resource type"),
    ("Repo$:foo:pull", "bad resource type"),
    ("repository:foo:", "bad actions"),
    ("repository:foo:pull;rm", "bad actions"),
    ("(x):foo:pull", "malformed resource class"),
    ('repository:fo"o:pull', "bad resource name"),
])
def test_malformed_scope_names_the_scope(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why) as ei:
        parse_scope(text)
    assert repr(text) in str(ei.value)


def test_parse_scopes_splits_and_merges() -> None:
    got = parse_scopes(["repository:a:pull repository:b:push", "repository:a:push",
                        "registry:catalog:*"])
    assert got == [acc("a", "pull", "push"), acc("b", "push"), acc("catalog", "*", rtype="registry")]
    assert parse_scopes([]) == [] and parse_scopes([""]) == []


def test_challenges() -> None:
    assert basic_challenge('my "realm"') == r'Basic realm="my \"realm\""'
    ch = bearer_challenge("http://127.0.0.1:5000/token", "onggi-registry",
                          [acc("foo", "push", "pull"), acc("bar", "pull")], "invalid_token")
    assert ch == ('Bearer realm="http://127.0.0.1:5000/token",service="onggi-registry",'
                  'scope="repository:foo:pull,push repository:bar:pull",error="invalid_token"')
    assert bearer_challenge("http://h/t", "s") == 'Bearer realm="http://h/t",service="s"'
    assert access_detail([acc("foo", "push", "pull")]) == [
        {"Type": "repository", "Name": "foo", "Action": "pull"},
        {"Type": "repository", "Name": "foo", "Action": "push"}]


def test_authorization_header_parts() -> None:
    assert split_authorization(None) == ("", "")
    assert split_authorization("BASIC  abc ") == ("basic", "abc")
    assert split_authorization("Bearer x.y.z") == ("bearer", "x.y.z")
    assert decode_basic("dTpwOnc=") == ("u", "p:w")
    with pytest.raises(InvalidArgument, match="base64"):
        decode_basic("***")
    with pytest.raises(InvalidArgument, match="':'"):
        decode_basic("dXNlcg==")


RULES = [
    {"account": "alice", "name": "alice/*", "actions": ["pull", "push", "delete"]},
    {"account": "mallory", "name": "*", "actions": []},
    {"account": "admin", "name": "lib/?", "actions": ["*"]},
    {"account": "*", "name": "${account}/*", "actions": ["pull", "push"]},
    {"account": "*", "name": "*", "actions": ["pull"]},
    {"account": "", "name": "public/*", "actions": ["pull"]},
    {"account": ["admin", "ops"], "type": "registry", "name": "catalog", "actions": ["*"]},
    {"account": "admin", "name": "lib/*", "actions": ["delete"]},  # never reached
]


def test_rules_first_match_wins() -> None:
    r = parse_rules(RULES)
    assert r.allowed("alice", "repository", "alice/deep/app") == {"pull", "push", "delete"}
    assert r.allowed("alice", "repository", "bob/app") == {"pull"}
    assert r.allowed("bob", "repository", "bob/app") == {"pull", "push"}  # ${account}
    assert r.allowed("bob", "repository", "bobby/app") == {"pull"}
    assert r.allowed("mallory", "repository", "public/x") == frozenset()  # an early deny
    assert r.allowed(None, "repository", "public/x") == {"pull"}
    assert r.allowed(None, "repository", "alice/x") == frozenset()  # "*" is not anonymous
    assert r.allowed("ops", "registry", "catalog") == {"*"}
    assert r.allowed("bob", "registry", "catalog") == frozenset()
    assert r.allowed("admin", "repository", "lib/a") == {"*"}
    assert r.allowed("admin", "repository", "lib/ab") == {"pull"}
    assert r.permits("alice", [acc("alice/x", "push"), acc("other", "pull")])
    assert not r.permits("alice", [acc("alice/x", "push"), acc("other", "push")])
    assert r.grant("alice", acc("other", "pull", "push")) == acc("other", "pull")
    assert r.grants_anonymous()


def test_regex_characters_in_names_are_literal() -> None:
    r = parse_rules([{"account": "a.b", "name": "${account}/x.y", "actions": ["pull"]}])
    assert r.allowed("a.b", "repository", "a.b/x.y") == {"pull"}
    assert r.allowed("a.b", "repository", "a.b/xzy") == frozenset()
    assert r.allowed("a.b", "repository", "a.b/x.y/more") == frozenset()


def test_no_rules_means_authenticated_may_do_everything() -> None:
    r = AccessRules(None)
    assert r.allowed("anyone", "repository", "x") == {"*"}
    assert r.allowed(None, "repository", "x") == frozenset()
    assert r.permits("anyone", [acc("catalog", "*", rtype="registry")])
    assert not r.grants_anonymous()
    assert granted_actions(frozenset({"*"}), frozenset({"pull", "push"})) == {"pull", "push"}
    assert granted_actions(frozenset({"pull"}), frozenset({"*"})) == frozenset()


@pytest.mark.parametrize("value, msg", [
    ({"account": "a"}, r"auth.access: expected a list"),
    (["x"], r"auth.access\[0\]: expected a mapping"),
    ([{"name": "x", "actions": ["pull"]}], r"auth.access\[0\]: 'account' is required"),
    ([{"account": "a", "actions": ["pul"]}], r"auth.access\[0\].actions: unknown \['pul'\]"),
    ([{"account": "a", "type": "blob"}], r"auth.access\[0\].type: 'blob'"),
    ([{"account": "a", "name": ""}], r"auth.access\[0\].name"),
    ([{"account": 3}], r"auth.access\[0\].account: expected a string"),
    ([{"account": "a", "action": ["pull"]}], r"unknown keys \['action'\]"),
])
def test_bad_rules_are_named(value, msg: str) -> None:
    with pytest.raises(InvalidArgument, match=msg):
        parse_rules(value)
