"""auth.json / Docker config.json: the search order, most-specific keys, Docker's URL
keys, identity tokens, and atomic 0600 writes that keep other fields."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from onggi.distribution import credentials as C
from onggi.errors import InvalidArgument
from onggi.oci.reference import parse


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def write(path, doc) -> str:  # noqa: ANN001
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


@pytest.fixture
def env(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """A private HOME and runtime dir; no REGISTRY_AUTH_FILE or DOCKER_CONFIG."""
    home, run = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    run.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    for v in ("REGISTRY_AUTH_FILE", "XDG_CONFIG_HOME", "DOCKER_CONFIG"):
        monkeypatch.delenv(v, raising=False)
    return {"home": home, "run": run, "primary": run / "containers" / "auth.json",
            "user": home / ".config" / "containers" / "auth.json",
            "docker": home / ".docker" / "config.json"}


def test_paths(env, monkeypatch) -> None:  # noqa: ANN001
    assert C.auth_file_paths() == [str(env["primary"]), str(env["user"]), str(env["docker"]),
                                   str(env["home"] / ".dockercfg")]
    monkeypatch.setenv("DOCKER_CONFIG", "/dc")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/xdg")
    assert C.auth_file_paths()[1:3] == ["/xdg/containers/auth.json", "/dc/config.json"]
    monkeypatch.setenv("REGISTRY_AUTH_FILE", "/explicit.json")
    assert C.auth_file_paths() == ["/explicit.json"] and C.primary_auth_file() == "/explicit.json"
    assert C.auth_file_paths("/arg.json") == ["/arg.json"]
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert C.primary_auth_file() == f"/run/containers/{os.getuid()}/auth.json"


def test_most_specific_key_and_file_order(env) -> None:  # noqa: ANN001
    write(env["primary"], {"auths": {"quay.io": {"auth": b64("host:h")},
                                     "quay.io/team": {"auth": b64("team:t")}}})
    write(env["user"], {"auths": {"quay.io/team/app": {"auth": b64("user-file:u")},
                                  "ghcr.io": {"auth": b64("g:pw:with:colons")}}})
    c = C.get_credentials("quay.io/team/app")
    assert (c.username, c.password) == ("team", "t")  # the primary file is read first
    assert C.get_credentials("quay.io/other").username == "host"
    assert C.get_credentials(parse("quay.io/team/x/y:1")).username == "team"
    g = C.get_credentials("ghcr.io/a")
    assert (g.username, g.password) == ("g", "pw:with:colons")
    assert str(env["user"]) in g.source and "ghcr.io" in g.source
    assert C.get_credentials("nowhere.io") is None
    assert "pw" not in repr(g)


def test_docker_config(env) -> None:  # noqa: ANN001
    write(env["docker"], {"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")},
                                    "http://old.io:5000/v1/": {"auth": b64("old:o")},
                                    "tok.io": {"auth": "", "identitytoken": "refresh-me"},
                                    "helper.io": {}},
                          "credHelpers": {"helper.io": "x"}})
    assert C.get_credentials(parse("busybox")).username == "hub"
    assert C.get_credentials("docker.io").password == "pw"
    assert C.get_credentials("old.io:5000/a").username == "old"
    t = C.get_credentials("tok.io")
    assert t.identity_token == "refresh-me" and t.username == "" and bool(t)
    assert C.get_credentials("helper.io") is None  # an empty entry is no credentials
    write(env["home"] / ".dockercfg", {"legacy.io": {"auth": b64("l:l"), "email": "x"}})
    assert C.get_credentials("legacy.io").username == "l"


def test_explicit_file(env, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    write(env["primary"], {"auths": {"r.io": {"auth": b64("primary:p")}}})
    explicit = write(tmp_path / "mine.json", {"auths": {"other.io": {"auth": b64("e:e")}}})
    assert C.get_credentials("r.io", auth_file=explicit) is None  # only that file is read
    monkeypatch.setenv("REGISTRY_AUTH_FILE", explicit)
    assert C.get_credentials("other.io").username == "e"


@pytest.mark.parametrize("doc, words", [
    ("{not json", "not valid JSON"),
    ("[]", "expected a JSON object"),
    ({"auths": []}, "auths: expected an object"),
    ({"auths": {"r.io": {"auth": "%%%"}}}, "not base64"),
    ({"auths": {"r.io": {"auth": b64("nocolon")}}}, "no ':'"),
    ({"auths": {"r.io": "x"}}, "expected an object"),
])
def test_bad_files(env, doc, words) -> None:  # noqa: ANN001
    write(env["primary"], doc)
    with pytest.raises(InvalidArgument) as e:
        C.get_credentials("r.io")
    assert words in str(e.value) and str(env["primary"]) in str(e.value)


def test_set_and_remove(env) -> None:  # noqa: ANN001
    path = C.set_credentials("quay.io", "u", "p")
    assert path == str(env["primary"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    C.set_credentials("quay.io/team", "t", "tp")
    C.set_credentials("tok.io", "", identity_token="idt")
    assert C.get_credentials("quay.io/team/a").username == "t"
    assert C.get_credentials("tok.io").identity_token == "idt"
    with open(path) as f:
        doc = json.load(f)
    assert doc["auths"]["quay.io"] == {"auth": b64("u:p")}
    # other fields survive, a URL-form key of the same registry is replaced
    doc["credHelpers"] = {"x.io": "helper"}
    doc["auths"]["https://index.docker.io/v1/"] = {"auth": b64("old:o")}
    write(path, doc)
    C.set_credentials("docker.io", "new", "n")
    with open(path) as f:
        doc = json.load(f)
    assert doc["credHelpers"] == {"x.io": "helper"}
    assert "https://index.docker.io/v1/" not in doc["auths"] and "docker.io" in doc["auths"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".auth-")] == []
    assert C.remove_credentials("quay.io/team") is True
    assert C.remove_credentials("quay.io/team") is False
    assert C.get_credentials("quay.io/team/a").username == "u"
    assert C.remove_credentials(None) is True
    assert C.get_credentials("quay.io") is None
    assert C.remove_credentials("quay.io") is False


def test_set_refuses_bad_input(env) -> None:  # noqa: ANN001
    for key in ("https://quay.io", "quay.io/a:tag", "Bad_Host", "quay.io/UP"):
        with pytest.raises(InvalidArgument):
            C.set_credentials(key, "u", "p")
    with pytest.raises(InvalidArgument, match="':'"):
        C.set_credentials("quay.io", "a:b", "p")
    with pytest.raises(InvalidArgument, match="required"):
        C.set_credentials("quay.io", "", "")
    write(env["primary"], "{broken")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        C.set_credentials("quay.io", "u", "p")
    with open(env["primary"]) as f:
        assert f.read() == "{broken"  # never clobbered


def test_resolver_and_keys(env) -> None:  # noqa: ANN001
    assert C.lookup_keys("h:5000/a/b/c") == ["h:5000/a/b/c", "h:5000/a/b", "h:5000/a", "h:5000"]
    assert C.lookup_keys(parse("busybox")) == ["docker.io/library/busybox", "docker.io/library", "docker.io"]
    assert C.normalize_key("https://registry-1.docker.io/v2/") == "docker.io"
    C.set_credentials("h:5000/a", "ua", "pa")
    C.set_credentials("h:5000", "uh", "ph")
    r = C.resolver("h:5000")
    assert r("a/b").username == "ua" and r("z").username == "uh" and r("").username == "uh"
