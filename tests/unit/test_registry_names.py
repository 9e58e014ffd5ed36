"""Repository names, tags and the /v2 path matcher of the registry server."""

from __future__ import annotations

import pytest

from onggi.registry.errors import RegistryError
from onggi.registry.names import check_digest, check_name, check_tag, valid_name, valid_tag
from onggi.registry.routes import Route, match, wanted


@pytest.mark.parametrize("name", ["a", "library/busybox", "a.b_c__d-e---f/g0", "x/y/z/w", "a" * 255])
def test_valid_names(name: str) -> None:
    assert valid_name(name)
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a/", "/a", "a//b", "..", "a/../b", "a/./b", "_a", "a_", "a-", "-a",
                                  "a___b", "a b", "a\x00b", "a/%2e%2e", "a" * 256, "a..b", ".a"])
def test_invalid_names(name: str) -> None:
    assert not valid_name(name)
    with pytest.raises(RegistryError) as e:
        check_name(name)
    assert e.value.code == "NAME_INVALID" and e.value.status == 400


def test_tags() -> None:
    for t in ("latest", "v1.0", "_x", "A-b_c.d", "a" * 128):
        assert valid_tag(t)
    for t in ("", ".x", "-x", "a/b", "a:b", "a" * 129, "..", "a b"):
        assert not valid_tag(t)
    with pytest.raises(RegistryError) as e:
        check_tag("-bad")
    assert e.value.code == "MANIFEST_INVALID" and "-bad" in e.value.message


def test_digests() -> None:
    assert check_digest("sha256:" + "a" * 64) == "sha256:" + "a" * 64
    assert check_digest("sha512:" + "0" * 128).algorithm == "sha512"
    for bad in ("sha256:abc", "md5:" + "a" * 32, "sha256:" + "A" * 64, "nocolon"):
        with pytest.raises(RegistryError) as e:
            check_digest(bad)
        assert e.value.code == "DIGEST_INVALID"


def test_match_routes() -> None:
    d = "sha256:" + "b" * 64
    assert match("") == Route("ping")
    assert match("_catalog") == Route("catalog")
    assert match("a/b/manifests/latest") == Route("manifest", "a/b", "latest")
    assert match(f"a/blobs/{d}") == Route("blob", "a", d)
    assert match("a/blobs/uploads/") == Route("upload", "a", "")
    assert match("a/blobs/uploads") == Route("upload", "a", "")
    assert match("a/blobs/uploads/0123") == Route("upload", "a", "0123")
    assert match("a/tags/list") == Route("tags", "a", "")
    assert match(f"a/referrers/{d}") == Route("referrers", "a", d)
    # repository names may hold the endpoint words as components
    assert match("manifests/manifests/x") == Route("manifest", "manifests", "x")
    assert match(f"tags/list/blobs/{d}") == Route("blob", "tags/list", d)
    assert match("a/nothing") == Route("")


def test_wanted_access() -> None:
    r = Route("manifest", "a/b", "latest")
    (acc,) = wanted(r, "GET")
    assert acc.scope() == "repository:a/b:pull"
    assert wanted(r, "PUT")[0].scope() == "repository:a/b:pull,push"
    assert wanted(r, "DELETE")[0].scope() == "repository:a/b:delete"
    up = Route("upload", "dst", "")
    scopes = [a.scope() for a in wanted(up, "POST", {"mount": "sha256:" + "c" * 64, "from": "src"})]
    assert scopes == ["repository:dst:pull,push", "repository:src:pull"]
    assert wanted(Route("catalog"), "GET")[0].scope() == "registry:catalog:*"
    assert wanted(Route("ping"), "GET") == []
