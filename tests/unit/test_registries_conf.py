"""registries.conf v2: parsing, drop-in merging, prefix matching, mirrors, blocked
registries, short names; the file search order with a temporary HOME."""

from __future__ import annotations

import os
import textwrap

import pytest

from onggi.distribution import registries_conf as RC
from onggi.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from onggi.oci.reference import parse

D = "sha256:" + "b" * 64

EXAMPLE = """
unqualified-search-registries = ["example.com", "quay.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "example.com/foo"
location = "internal.example.net/bar"

[[registry.mirror]]
location = "mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "mirror-1.local:5000/mirrors/foo"
insecure = true

[[registry]]
location = "registry.com"
[[registry.mirror]]
location = "digest-mirror.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tag-mirror.local"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "bad.example.com"
location = "bad.example.com"
blocked = true

[[registry]]
prefix = "*.wild.io"
insecure = true
[[registry.mirror]]
location = "wild-mirror.local"

[[registry]]
prefix = "docker.io/library/busybox"
location = "hub-cache.local/library/busybox"
mirror-by-digest-only = true
[[registry.mirror]]
location = "busybox-mirror.local/bb"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"tools/x" = "quay.io/tools/x"
"""


def conf(text: str = EXAMPLE) -> RC.RegistriesConf:
    part = RC.parse_text(textwrap.dedent(text), "test.conf")
    return RC.RegistriesConf(part.get("search", ()), part.get("mode", "permissive"),
                             tuple(part.get("registries", ())), part.get("aliases", {}))


def hosts(eps: list[RC.Endpoint]) -> list[str]:
    return [str(e.reference) for e in eps]


def test_manpage_example_order() -> None:
    eps = conf().lookup(parse("example.com/foo/image:latest"))
    assert hosts(eps) == ["mirror-0.local/mirror-for-foo/image:latest",
                          "mirror-1.local:5000/mirrors/foo/image:latest",
                          "internal.example.net/bar/image:latest"]
    assert [e.mirror for e in eps] == [True, True, False]
    assert [e.insecure for e in eps] == [False, True, False]
    assert eps[1].host == "mirror-1.local:5000"


def test_push_uses_primary_only() -> None:
    eps = conf().lookup(parse("example.com/foo/image:1"), push=True)
    assert hosts(eps) == ["internal.example.net/bar/image:1"]


def test_prefix_needs_a_boundary() -> None:
    c = conf()
    assert c.find(parse("example.com/foobar/x")) is None
    assert c.find(parse("example.com/foo:tag")) is not None
    eps = c.lookup(parse("example.com/foobar/x"))
    assert hosts(eps) == ["example.com/foobar/x:latest"] and not eps[0].mirror


def test_pull_from_mirror_filters() -> None:
    c = conf()
    assert hosts(c.lookup(parse("registry.com/a:1"))) == ["tag-mirror.local/a:1", "registry.com/a:1"]
    assert hosts(c.lookup(parse(f"registry.com/a@{D}"))) == [f"digest-mirror.local/a@{D}", f"registry.com/a@{D}"]


def test_mirror_by_digest_only_and_docker_library() -> None:
    c = conf()
    assert hosts(c.lookup(parse("busybox"))) == ["hub-cache.local/library/busybox:latest"]
    assert hosts(c.lookup(parse(f"busybox@{D}"))) == [f"busybox-mirror.local/bb@{D}",
                                                      f"hub-cache.local/library/busybox@{D}"]
    # docker.io/library/busybox does not cover docker.io/busyboxes/...
    assert c.find(parse("busyboxes/x")) is None


def test_blocked_names_the_registry() -> None:
    with pytest.raises(PermissionDenied) as e:
        conf().lookup(parse("bad.example.com/x:1"))
    assert "bad.example.com" in str(e.value) and "blocked" in str(e.value) and "test.conf" in str(e.value)


def test_wildcard() -> None:
    c = conf()
    eps = c.lookup(parse("a.b.wild.io/x/y:1"))
    assert hosts(eps) == ["wild-mirror.local/x/y:1", "a.b.wild.io/x/y:1"]
    assert eps[1].insecure and not eps[0].insecure
    assert c.find(parse("wild.io/x")) is None
    assert c.insecure("x.wild.io") and not c.insecure("quay.io")
    assert c.insecure("mirror-1.local:5000")


def test_longest_prefix_wins() -> None:
    c = conf("""
    [[registry]]
    location = "r.io"
    insecure = true
    [[registry]]
    prefix = "r.io/team"
    location = "other.io/t"
    """)
    assert hosts(c.lookup(parse("r.io/team/app:1"))) == ["other.io/t/app:1"]
    assert hosts(c.lookup(parse("r.io/app:1"))) == ["r.io/app:1"]
    assert c.lookup(parse("r.io/app:1"))[0].insecure


def test_short_names() -> None:
    c = conf()
    r = c.resolve_short_name("fedora:39")
    assert [str(x) for x in r.candidates] == ["registry.fedoraproject.org/fedora:39"] and r.alias == "fedora"
    r = c.resolve_short_name(f"tools/x@{D}")
    assert [str(x) for x in r.candidates] == [f"quay.io/tools/x@{D}"]
    r = c.resolve_short_name("app")
    assert [str(x) for x in r.candidates] == ["example.com/app:latest", "quay.io/app:latest"]
    assert r.needs_choice and r.mode == "enforcing"
    r = c.resolve_short_name("quay.io/a/b")
    assert [str(x) for x in r.candidates] == ["quay.io/a/b:latest"] and not r.needs_choice
    with pytest.raises(FailedPrecondition, match="no unqualified-search registries"):
        RC.RegistriesConf().resolve_short_name("app")
    one = RC.RegistriesConf(("docker.io",), "enforcing")
    r = one.resolve_short_name("busybox")
    assert [str(x) for x in r.candidates] == ["docker.io/library/busybox:latest"] and not r.needs_choice


@pytest.mark.parametrize("text, words", [
    ("short-name-mode = 'strict'", "short-name-mode"),
    ("unqualified-search-registries = ['quay.io/ns']", "host[:port]"),
    ("unqualified-search-registries = 'quay.io'", "expected a list"),
    ("[[registry]]\ninsecure = true", "prefix or location is required"),
    ("[[registry]]\nlocation = 'a.io'\ninsecure = 'yes'", "insecure: expected a bool"),
    ("[[registry]]\nlocation = 'a.io'\n[[registry]]\nlocation = 'a.io'", "more than once"),
    ("[[registry]]\nprefix = '*.a.io/x'", "wildcard"),
    ("[[registry]]\nprefix = '*.a.io'\nlocation = 'b.io'", "cannot have a location"),
    ("[[registry]]\nlocation = 'A_B'", "not a valid registry domain"),
    ("[[registry]]\nlocation = 'a.io'\n[[registry.mirror]]\nlocation = 'm.io'\npull-from-mirror = 'some'",
     "pull-from-mirror"),
    ("[[registry]]\nlocation = 'a.io'\nmirror-by-digest-only = true\n[[registry.mirror]]\n"
     "location = 'm.io'\npull-from-mirror = 'tag-only'", "mirror-by-digest-only"),
    ("[aliases]\n'quay.io/x' = 'quay.io/x'", "short name"),
    ("[aliases]\n'x:1' = 'quay.io/x'", "short name"),
    ("[aliases]\n'x' = 'x/y'", "fully-qualified"),
    ("[aliases]\n'x' = 'quay.io/x:1'", "fully-qualified"),
    ("this is = not toml", "not valid TOML"),
    ("[registries.search]\nregistries = ['a.io']\n[[registry]]\nlocation = 'b.io'", "mixes"),
])
def test_invalid(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        RC.parse_text(text, "bad.conf")
    assert words in str(e.value) and "bad.conf" in str(e.value)


def test_version1_format() -> None:
    c = conf("""
    [registries.search]
    registries = ['r1.io', 'r2.io']
    [registries.insecure]
    registries = ['r3.io']
    [registries.block]
    registries = ['evil.io']
    """)
    assert c.unqualified_search_registries == ("r1.io", "r2.io")
    assert c.lookup(parse("r3.io/x"))[0].insecure
    with pytest.raises(PermissionDenied, match="evil.io"):
        c.lookup(parse("evil.io/x"))


def write(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    return path


def test_dropins_merge(tmp_path) -> None:  # noqa: ANN001
    main = write(str(tmp_path / "registries.conf"), """
        unqualified-search-registries = ["a.io"]
        [[registry]]
        location = "a.io"
        insecure = true
        [[registry]]
        location = "b.io"
        [aliases]
        "x" = "a.io/x"
        "y" = "a.io/y"
        """)
    d1 = write(str(tmp_path / "d" / "10-first.conf"), """
        unqualified-search-registries = ["b.io", "c.io"]
        [[registry]]
        location = "a.io"
        blocked = true
        [aliases]
        "y" = ""
        "z" = "b.io/z"
        """)
    c = RC.load([main, d1])
    assert c.unqualified_search_registries == ("b.io", "c.io")
    a = c.find(parse("a.io/q"))
    assert a is not None and a.blocked and not a.insecure  # the table was replaced whole
    assert c.find(parse("b.io/q")) is not None
    assert dict(c.aliases) == {"x": "a.io/x", "z": "b.io/z"}
    assert c.sources == (main, d1)
    v1 = write(str(tmp_path / "d" / "20-v1.conf"), "[registries.search]\nregistries = ['q.io']\n")
    with pytest.raises(InvalidArgument, match="version 2"):
        RC.load([main, v1])
    with pytest.raises(InvalidArgument, match="cannot read"):
        RC.load([str(tmp_path / "missing.conf")])


def test_default_paths(tmp_path) -> None:  # noqa: ANN001
    etc = tmp_path / "etc"
    home = tmp_path / "home"
    sysmain = write(str(etc / "registries.conf"), "")
    sysd = write(str(etc / "registries.conf.d" / "01.conf"), "")
    write(str(etc / "registries.conf.d" / "02.txt"), "")  # not a .conf: ignored
    userd = write(str(home / ".config" / "containers" / "registries.conf.d" / "00.conf"), "")
    env = {"HOME": str(home)}
    assert RC.default_paths(env, etc=str(etc)) == [sysmain, sysd, userd]
    usermain = write(str(home / ".config" / "containers" / "registries.conf"), "")
    assert RC.default_paths(env, etc=str(etc)) == [usermain, userd]
    xdg = tmp_path / "xdg"
    env2 = {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}
    assert RC.default_paths(env2, etc=str(etc)) == [sysmain, sysd]
    custom = write(str(tmp_path / "custom.conf"), "")
    env3 = {"HOME": str(home), "CONTAINERS_REGISTRIES_CONF": custom}
    assert RC.default_paths(env3, etc=str(etc))[0] == custom


def test_load_with_env(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    home = tmp_path / "home"
    write(str(home / ".config" / "containers" / "registries.conf"),
          "unqualified-search-registries = ['me.io']\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    assert RC.load().unqualified_search_registries == ("me.io",)
    assert RC.load([]).unqualified_search_registries == ()
