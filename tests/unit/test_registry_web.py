"""The registry's read-only web page (onggi.registry.web), rendered from an in-memory store
through aiohttp's test server: listings, sizes, platforms, referrers, escaping, errors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from onggi.errors import InvalidArgument, NotFound
from onggi.oci import mediatypes as mt
from onggi.oci.reference import check_path
from onggi.registry import web as regweb
from onggi.registry.auth import Access, AuthError

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class MemoryStorage:
    """The RegistryStorage interface over dicts, checking names as the real store does."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, dict[str, tuple[bytes, str]]] = {}
        self.tag_map: dict[str, dict[str, str]] = {}

    def _repo(self, repo: str) -> dict[str, tuple[bytes, str]]:
        check_path(repo)
        if repo not in self.manifests:
            raise NotFound(f"repository {repo!r} is not known")
        return self.manifests[repo]

    def add_blob(self, data: bytes) -> dict:
        self.blobs[sha(data)] = data
        return {"digest": sha(data), "size": len(data)}

    def add_manifest(self, repo: str, doc: dict, tag: str | None = None) -> str:
        data = json.dumps(doc).encode()
        self.manifests.setdefault(repo, {})[sha(data)] = (data, doc["mediaType"])
        self.tag_map.setdefault(repo, {})
        if tag:
            self.tag_map[repo][tag] = sha(data)
        return sha(data)

    def repositories(self) -> list[str]:
        return sorted(self.manifests)

    def tags(self, repo: str) -> list[str]:
        self._repo(repo)
        return sorted(self.tag_map[repo])

    def resolve(self, repo: str, reference: str) -> str:
        mans = self._repo(repo)
        if reference in mans:
            return reference
        if reference in self.tag_map[repo]:
            return self.tag_map[repo][reference]
        raise NotFound(f"manifest {reference!r} is not in repository {repo!r}")

    def read_manifest(self, repo: str, digest: str) -> tuple[bytes, str]:
        mans = self._repo(repo)
        if digest not in mans:
            raise NotFound(f"manifest {digest} is not in repository {repo!r}")
        return mans[digest]

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> list[dict]:
        out = []
        for d, (data, media_type) in self._repo(repo).items():
            doc = json.loads(data)
            if isinstance(doc, dict) and (doc.get("subject") or {}).get("digest") == digest:
                out.append({"mediaType": media_type, "digest": d, "size": len(data),
                            "artifactType": doc.get("artifactType", "")})
        return out

    def blob_size(self, digest: str) -> int:
        if digest not in self.blobs:
            raise NotFound(f"blob {digest} is not in the store")
        return len(self.blobs[digest])


@pytest.fixture
def store() -> MemoryStorage:
    s = MemoryStorage()
    config = {"mediaType": mt.OCI_CONFIG, **s.add_blob(b'{"architecture":"amd64","os":"linux"}')}
    layers = [{"mediaType": mt.OCI_LAYER_GZIP, **s.add_blob(b"x" * 3 * 1024 * 1024)},
              {"mediaType": mt.OCI_LAYER_GZIP, **s.add_blob(b"y" * 1500)}]
    amd = s.add_manifest("team/app", {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config,
                                      "layers": layers, "annotations": {"note": HOSTILE}}, "v1")
    arm_man = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": layers[1:]}
    arm = s.add_manifest("team/app", arm_man)
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": amd, "size": 10,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": mt.OCI_MANIFEST, "digest": arm, "size": 10,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}
    s.add_manifest("team/app", index, "multi")
    empty = {"mediaType": mt.OCI_EMPTY, **s.add_blob(b"{}")}
    s.add_manifest("team/app", {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                                "artifactType": "application/vnd.example.sbom", "config": empty, "layers": [empty],
                                "subject": {"mediaType": mt.OCI_MANIFEST, "digest": amd, "size": 10}})
    s.add_manifest("lone", {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config,
                            "layers": [{"mediaType": mt.OCI_LAYER, "digest": sha(b"absent"), "size": 6}]}, "latest")
    s.store_ids = {"amd": amd, "arm": arm}  # type: ignore[attr-defined]
    return s


class Text(HTMLParser):
    """The page's visible text and every element seen (to prove no markup was injected)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(body: str) -> Text:
    p = Text()
    p.feed(body)
    return p


def fetch(storage: MemoryStorage, path: str, authorizer: object = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    async def go() -> tuple[int, dict[str, str], str]:
        app = web.Application()
        app.add_routes(regweb.routes(storage, authorizer))  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            r = await client.get(URL(path, encoded=True), headers=headers)  # as sent: no dot-segment clean-up
            return r.status, dict(r.headers), await r.text()

    return asyncio.run(go())


def test_index_lists_repositories_with_tag_counts(store: MemoryStorage) -> None:
    status, headers, body = fetch(store, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = " ".join(parse(body).text)
    assert re.search(r"lone\s+1", text) and re.search(r"team/app\s+2", text)
    assert "/r/team/app" in parse(body).hrefs


def test_headers_forbid_scripts(store: MemoryStorage) -> None:
    _, headers, body = fetch(store, "/")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in body


def test_repo_page_shows_tags_digests_and_sizes(store: MemoryStorage) -> None:
    status, _, body = fetch(store, "/r/team/app")
    assert status == 200
    amd = store.store_ids["amd"]  # type: ignore[attr-defined]
    p = parse(body)
    assert "multi" in p.text and "v1" in p.text and amd in p.text
    assert mt.OCI_INDEX in p.text
    # v1: manifest + config + 3 MiB + 1500 bytes
    assert "3.0 MiB" in p.text
    assert f"/r/team/app/-/{amd}" in p.hrefs


def test_manifest_page_layers_and_escaped_annotation(store: MemoryStorage) -> None:
    status, _, body = fetch(store, "/r/team/app/-/v1")
    assert status == 200
    p = parse(body)
    assert HOSTILE in "".join(p.text)  # shown as text ...
    assert "script" not in p.tags and "img" not in p.tags  # ... never as markup
    assert "&lt;script&gt;" in body
    assert "3.0 MiB" in p.text and "1.5 KiB" in p.text
    assert sha(b"y" * 1500) in p.text
    assert "Referrers" in p.text and "application/vnd.example.sbom" in p.text


def test_index_page_lists_platforms_linked_to_manifests(store: MemoryStorage) -> None:
    status, _, body = fetch(store, "/r/team/app/-/multi")
    assert status == 200
    p = parse(body)
    assert "linux/amd64" in p.text and "linux/arm64/v8" in p.text
    for key in ("amd", "arm"):
        assert "/r/team/app/-/" + store.store_ids[key] in p.hrefs  # type: ignore[attr-defined]


def test_referrer_page_links_its_subject(store: MemoryStorage) -> None:
    amd = store.store_ids["amd"]  # type: ignore[attr-defined]
    ref = store.referrers("team/app", amd)[0]["digest"]
    status, _, body = fetch(store, f"/r/team/app/-/{ref}")
    assert status == 200
    p = parse(body)
    assert "Subject" in p.text and f"/r/team/app/-/{amd}" in p.hrefs
    assert "application/vnd.example.sbom" in p.text


def test_missing_layer_is_marked(store: MemoryStorage) -> None:
    _, _, body = fetch(store, "/r/lone/-/latest")
    assert "(not in this registry)" in parse(body).text


@pytest.mark.parametrize("path, status, words", [
    ("/r/nope", 404, "'nope' is not known"),
    ("/r/team/app/-/nosuchtag", 404, "'nosuchtag'"),
    ("/r/team/app/-/sha256:" + "0" * 64, 404, "sha256:" + "0" * 64),
    ("/r/team/app/-/sha256:abc", 400, "manifest digest"),
    ("/r/Team/app", 400, "lowercase"),
    ("/r/a%2F..%2F..%2Fetc", 400, "'..'"),
    ("/r/team/app/-/" + "t" * 200, 400, "not a valid tag"),
])
def test_errors_are_pages_that_say_what_is_wrong(store: MemoryStorage, path: str, status: int, words: str) -> None:
    got, headers, body = fetch(store, path)
    assert got == status
    assert "Content-Security-Policy" in headers
    assert words in "".join(parse(body).text)


def test_dot_segments_never_reach_the_store(store: MemoryStorage) -> None:
    # the server resolves them first: /r/../../etc is /etc, which is no page
    for path in ("/r/../../etc", "/r/team/../../etc/passwd"):
        assert fetch(store, path)[0] == 404


def test_routes_leave_the_api_alone(store: MemoryStorage) -> None:
    paths = [r.path for r in regweb.routes(store)]
    assert all(not p.startswith(("/v2", "/metrics", "/token")) for p in paths)
    for path in ("/v2/", "/metrics", "/token"):
        assert fetch(store, path)[0] == 404


def test_empty_registry_and_malformed_manifest() -> None:
    s = MemoryStorage()
    assert "no repositories yet" in "".join(parse(fetch(s, "/")[2]).text)
    s.manifests["odd"] = {sha(b"[1]"): (b"[1]", mt.OCI_MANIFEST)}
    s.tag_map["odd"] = {"t": sha(b"[1]")}
    status, _, body = fetch(s, "/r/odd/-/t")
    assert status == 200 and "not a JSON object" in "".join(parse(body).text)


def test_storage_errors_become_400() -> None:
    class Refusing(MemoryStorage):
        def repositories(self) -> list[str]:
            raise InvalidArgument("the store refuses")

    assert fetch(Refusing(), "/")[0] == 400


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                     (5 * 1024 ** 3, "5.0 GiB"), (None, "?")])
def test_human_size(n: int | None, text: str) -> None:
    assert regweb.human_size(n) == text


class OneUser:
    """Basic auth for one password that may pull team/app and nothing else."""

    def __init__(self) -> None:
        self.asked: list[Access] = []

    def authorize(self, authorization: str | None, wanted: list[Access]) -> str | None:
        self.asked += wanted
        if authorization != "Basic good":
            raise AuthError(401, "UNAUTHORIZED", "authentication required", 'Basic realm="test"')
        if any(a.type != "repository" or a.name != "team/app" for a in wanted):
            raise AuthError(403, "DENIED", f"not allowed: {wanted[0].scope()}")
        return "user"


def test_with_auth_the_page_asks_what_pull_would(store: MemoryStorage) -> None:
    auth = OneUser()
    status, headers, body = fetch(store, "/r/team/app", auth)
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="test"'
    assert "authentication required" in "".join(parse(body).text)
    assert fetch(store, "/r/team/app/-/v1", auth, {"Authorization": "Basic good"})[0] == 200
    assert auth.asked[-1] == Access("repository", "team/app", frozenset({"pull"}))
    status, _, body = fetch(store, "/r/lone", auth, {"Authorization": "Basic good"})
    assert status == 403 and "repository:lone:pull" in "".join(parse(body).text)
    status, _, body = fetch(store, "/", auth, {"Authorization": "Basic good"})
    assert status == 403 and "registry:catalog:*" in "".join(parse(body).text)
