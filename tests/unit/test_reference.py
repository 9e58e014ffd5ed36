"""Image references: normalisation like Docker / containers/image, validation errors,
the str() round trip and the familiar form."""

from __future__ import annotations

import pytest

from onggi.errors import InvalidArgument
from onggi.oci import reference as R

H = "a" * 64
D = f"sha256:{H}"


@pytest.mark.parametrize("given, full, familiar, qualified", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest", False),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", False),
    ("user/app", "docker.io/user/app:latest", "user/app:latest", False),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", True),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", True),
    ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest", True),
    ("host:5000/a/b:tag", "host:5000/a/b:tag", "host:5000/a/b:tag", True),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest", True),
    ("quay.io/team/app", "quay.io/team/app:latest", "quay.io/team/app:latest", True),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest", True),
    ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest", True),
    (f"name@{D}", f"docker.io/library/name@{D}", f"name@{D}", False),
    (f"name:tag@{D}", f"docker.io/library/name:tag@{D}", f"name:tag@{D}", False),
    ("a.b/c__d/e-f.g_h:T_1.x-y", "a.b/c__d/e-f.g_h:T_1.x-y", "a.b/c__d/e-f.g_h:T_1.x-y", True),
    ("a/b---c", "docker.io/a/b---c:latest", "a/b---c:latest", False),
])
def test_normalise(given: str, full: str, familiar: str, qualified: bool) -> None:
    r = R.parse(given)
    assert str(r) == full
    assert r.familiar() == familiar
    assert r.qualified is qualified
    again = R.parse(str(r))
    assert again == r and str(again) == full and again.qualified


def test_parts_and_identifier() -> None:
    r = R.parse(f"host:5000/ns/app:v1@{D}")
    assert (r.domain, r.path, r.tag, r.digest) == ("host:5000", "ns/app", "v1", D)
    assert r.name == "host:5000/ns/app"
    assert r.identifier == D  # the digest wins
    assert R.parse("host:5000/ns/app:v1").identifier == "v1"
    assert R.parse("busybox").familiar_name() == "busybox"


def test_default_tag_only_without_digest() -> None:
    assert R.parse(f"x@{D}").tag is None
    r = R.parse("x", default_tag=None)
    assert r.tag is None and r.digest is None and str(r) == "docker.io/library/x"


def test_first_component_domain_rule() -> None:
    assert R.is_domain("localhost") and R.is_domain("a.b") and R.is_domain("a:1")
    assert R.is_domain("Upper")  # Docker treats capitals in the first component as a host
    assert not R.is_domain("library")
    # "localhost:5000" alone is the name "localhost" with the tag "5000", as in Docker
    r = R.parse("localhost:5000")
    assert (r.domain, r.path, r.tag) == ("docker.io", "library/localhost", "5000")


def test_with_helpers() -> None:
    r = R.parse("quay.io/a/b:1")
    assert str(r.with_tag("2")) == "quay.io/a/b:2"
    assert str(r.with_digest(D)) == f"quay.io/a/b:1@{D}"
    assert str(r.with_tag(None).with_digest(D)) == f"quay.io/a/b@{D}"
    assert str(r.with_name("mirror.local:5000", "m/a/b")) == "mirror.local:5000/m/a/b:1"
    with pytest.raises(InvalidArgument):
        r.with_tag("-bad")
    with pytest.raises(InvalidArgument):
        r.with_name("mirror.local", "UP")


def test_split_keeps_the_name_as_written() -> None:
    assert R.split("busybox") == ("busybox", None, None)
    assert R.split("host:5000/a:v1") == ("host:5000/a", "v1", None)
    assert R.split(f"a/b:t@{D}") == ("a/b", "t", D)
    assert R.split("host:5000/a") == ("host:5000/a", None, None)


@pytest.mark.parametrize("bad, words", [
    ("", "empty"),
    ("Busybox", "lowercase"),
    ("quay.io/Team/app", "lowercase"),
    ("a//b", "not a valid repository path component"),
    ("a/-b", "not a valid repository path component"),
    ("a/b_", "not a valid repository path component"),
    ("x:", "not a valid tag"),
    ("x:.tag", "not a valid tag"),
    ("x:" + "t" * 129, "not a valid tag"),
    ("x@sha256:12", "64 lower-case hex"),
    ("x@md5:" + "a" * 32, "unsupported digest algorithm"),
    (f"x@{D}@{D}", "more than one '@'"),
    (H, "image ID"),
    ("-host.com/x", "not a valid registry domain"),
    ("host.com:port/x", "not a valid registry domain"),
    (":tag", "no repository name"),
    ("a/" + "b" * 300, "longer than 255"),
])
def test_invalid(bad: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        R.parse(bad)
    assert words in str(e.value)
    assert str(e.value).startswith("invalid reference")


def test_checkers() -> None:
    assert R.check_tag("v1.2-rc_3") == "v1.2-rc_3"
    assert R.check_path("a/b.c/d__e") == "a/b.c/d__e"
    assert R.check_domain("registry.example.com:443") == "registry.example.com:443"
    for bad in ("", "a/", "/a"):
        with pytest.raises(InvalidArgument):
            R.check_path(bad)


def test_hashable_and_equal_ignoring_qualified() -> None:
    a, b = R.parse("busybox"), R.parse("docker.io/library/busybox:latest")
    assert a == b and hash(a) == hash(b) and not a.qualified and b.qualified
    assert len({a, b}) == 1
