"""The registry's storage: blobs and links, manifest validation, tags, referrers,
upload sessions (atomic commit, out-of-order chunks, concurrent uploads of one blob) and
what a crash leaves behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest

from onggi.errors import NotFound
from onggi.oci import mediatypes as MT
from onggi.registry.errors import RegistryError
from onggi.registry.storage import RegistryStorage
from onggi.registry.uploads import Uploads


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def chunks(*parts: bytes):  # noqa: ANN201
    for p in parts:
        yield p


def push_blob(st: RegistryStorage, repo: str, data: bytes) -> str:
    return asyncio.run(Uploads(st).monolithic(repo, sha(data), chunks(data)))


def image(st: RegistryStorage, repo: str, layers: list[bytes], **extra: object) -> bytes:
    cfg = b'{"architecture":"amd64","os":"linux"}'
    doc = {"schemaVersion": 2, "mediaType": MT.OCI_MANIFEST,
           "config": {"mediaType": MT.OCI_CONFIG, "digest": push_blob(st, repo, cfg), "size": len(cfg)},
           "layers": [{"mediaType": MT.OCI_LAYER_GZIP, "digest": push_blob(st, repo, x), "size": len(x)}
                      for x in layers], **extra}
    return json.dumps(doc).encode()


@pytest.fixture
def st(tmp_path) -> RegistryStorage:  # noqa: ANN001
    return RegistryStorage(str(tmp_path / "reg"))


def test_blob_links_are_per_repository(st: RegistryStorage) -> None:
    d = push_blob(st, "a", b"layer")
    assert st.repo_has_blob("a", d) and not st.repo_has_blob("b", d)
    assert st.blob_size(d) == 5
    with open(st.blob_path(d), "rb") as f:
        assert f.read() == b"layer"
    st.link_blob("b", d)  # a mount
    assert st.repo_has_blob("b", d)
    st.delete_blob("a", d)
    assert not st.repo_has_blob("a", d) and st.has_blob(d)
    with pytest.raises(NotFound):
        st.delete_blob("a", d)
    with pytest.raises(NotFound):
        st.blob_size(sha(b"absent"))


def test_manifest_put_get_tags_delete(st: RegistryStorage) -> None:
    m = image(st, "team/app", [b"l1", b"l2"])
    digest, subject = st.put_manifest("team/app", "v1", m, MT.OCI_MANIFEST)
    assert digest == sha(m) and subject is None
    st.put_manifest("team/app", "v2", m, MT.OCI_MANIFEST)
    assert st.resolve("team/app", "v1") == digest == st.resolve("team/app", digest)
    assert st.read_manifest("team/app", digest) == (m, MT.OCI_MANIFEST)
    assert st.tags("team/app") == ["v1", "v2"]
    assert st.repositories() == ["team/app"]
    with pytest.raises(NotFound):
        st.tags("other")
    with pytest.raises(NotFound):
        st.read_manifest("other", digest)  # the bytes exist, but not in that repository
    with pytest.raises(NotFound):
        st.resolve("team/app", "../../etc")
    st.delete_tag("team/app", "v2")
    assert st.tags("team/app") == ["v1"]
    st.delete_manifest("team/app", digest)
    assert st.tags("team/app") == []
    with pytest.raises(NotFound):
        st.resolve("team/app", "v1")


def test_docker_types_and_sha512_kept_exact(st: RegistryStorage) -> None:
    cfg = b"{}"
    doc = {"schemaVersion": 2, "mediaType": MT.DOCKER_MANIFEST,
           "config": {"mediaType": MT.DOCKER_CONFIG, "digest": push_blob(st, "d", cfg), "size": 2}, "layers": []}
    m = json.dumps(doc, indent=3).encode()
    want = "sha512:" + hashlib.sha512(m).hexdigest()
    digest, _ = st.put_manifest("d", want, m, MT.DOCKER_MANIFEST)
    assert digest == want
    assert st.read_manifest("d", want) == (m, MT.DOCKER_MANIFEST)
    lst = json.dumps({"schemaVersion": 2, "mediaType": MT.DOCKER_MANIFEST_LIST, "manifests": [
        {"mediaType": MT.DOCKER_MANIFEST, "digest": want, "size": len(m),
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    d2, _ = st.put_manifest("d", "list", lst, MT.DOCKER_MANIFEST_LIST + "; charset=utf-8")
    assert st.read_manifest("d", d2)[1] == MT.DOCKER_MANIFEST_LIST


@pytest.mark.parametrize("body, ctype, code, words", [
    (b"not json", MT.OCI_MANIFEST, "MANIFEST_INVALID", "not valid JSON"),
    (b"[]", MT.OCI_MANIFEST, "MANIFEST_INVALID", "not a JSON object"),
    (b'{"schemaVersion": 1}', MT.OCI_MANIFEST, "MANIFEST_INVALID", "schemaVersion"),
    (b'{"schemaVersion": 2, "mediaType": "%s"}' % MT.OCI_INDEX.encode(), MT.OCI_MANIFEST,
     "MANIFEST_INVALID", "differs from Content-Type"),
    (b'{"schemaVersion": 2, "layers": []}', MT.OCI_MANIFEST, "MANIFEST_INVALID", "config: missing"),
    (b'{"schemaVersion": 2, "config": {"mediaType": "x", "size": 1, "digest": "sha256:12"}}',
     MT.OCI_MANIFEST, "MANIFEST_INVALID", "sha256 digest is 64"),
    (b'{"schemaVersion": 2, "config": {"mediaType": "x", "size": -1, "digest": "sha256:%s"}}' % (b"a" * 64),
     MT.OCI_MANIFEST, "MANIFEST_INVALID", "config.size"),
    (b'{"schemaVersion": 2, "config": {"mediaType": "x", "size": 1, "digest": "sha256:%s"}}' % (b"a" * 64),
     MT.OCI_MANIFEST, "MANIFEST_BLOB_UNKNOWN", "sha256:aaaa"),
    (b'{"schemaVersion": 2, "manifests": [{"mediaType": "x", "size": 1, "digest": "sha256:%s"}]}' % (b"b" * 64),
     MT.OCI_INDEX, "MANIFEST_BLOB_UNKNOWN", "manifest sha256:bbbb"),
    (b'{"schemaVersion": 2}', "application/vnd.example+json", "MANIFEST_INVALID", "unsupported manifest media type"),
    (b'{"schemaVersion": 2}', None, "MANIFEST_INVALID", "cannot tell"),
])
def test_bad_manifests(st: RegistryStorage, body: bytes, ctype: str | None, code: str, words: str) -> None:
    with pytest.raises(RegistryError) as e:
        st.put_manifest("r", "t", body, ctype)
    assert e.value.code == code and words in e.value.message
    assert st.repositories() == []  # nothing stored


def test_manifest_digest_and_size_limits(st: RegistryStorage) -> None:
    m = image(st, "r", [b"x"])
    with pytest.raises(RegistryError) as e:
        st.put_manifest("r", sha(b"other"), m, MT.OCI_MANIFEST)
    assert e.value.code == "DIGEST_INVALID"
    huge = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 << 20) + b'"}'
    with pytest.raises(RegistryError) as e:
        st.put_manifest("r", "big", huge, MT.OCI_MANIFEST)
    assert e.value.status == 413 and e.value.code == "MANIFEST_INVALID"
    with pytest.raises(NotFound):
        st.resolve("r", "big")


def test_referrers_index(st: RegistryStorage) -> None:
    subject_bytes = image(st, "r", [b"app"])
    subject, _ = st.put_manifest("r", "v1", subject_bytes, MT.OCI_MANIFEST)
    empty = b"{}"
    push_blob(st, "r", empty)
    refs = []
    for at in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        doc = {"schemaVersion": 2, "mediaType": MT.OCI_MANIFEST, "artifactType": at,
               "config": {"mediaType": MT.OCI_EMPTY, "digest": sha(empty), "size": 2}, "layers": [],
               "subject": {"mediaType": MT.OCI_MANIFEST, "digest": subject, "size": len(subject_bytes)},
               "annotations": {"org.example.kind": at}}
        data = json.dumps(doc).encode()
        d, subj = st.put_manifest("r", sha(data), data, MT.OCI_MANIFEST)
        assert subj == subject
        refs.append(d)
    got = st.referrers("r", subject)
    assert sorted(x["digest"] for x in got) == sorted(refs)
    sig = st.referrers("r", subject, "application/vnd.example.sig")
    assert [x["artifactType"] for x in sig] == ["application/vnd.example.sig"]
    assert sig[0]["annotations"] == {"org.example.kind": "application/vnd.example.sig"}
    idx = json.loads(st.referrers_index("r", subject))
    assert idx["mediaType"] == MT.OCI_INDEX and len(idx["manifests"]) == 2
    st.delete_manifest("r", refs[0])
    assert [x["digest"] for x in st.referrers("r", subject)] == [refs[1]]
    assert st.referrers("other", subject) == []
    # an image manifest without artifactType is reported with its config's media type
    plain = image(st, "r", [b"p"], subject={"mediaType": MT.OCI_MANIFEST, "digest": subject, "size": 1})
    st.put_manifest("r", sha(plain), plain, MT.OCI_MANIFEST)
    assert MT.OCI_CONFIG in [x.get("artifactType") for x in st.referrers("r", subject)]


def test_chunked_upload_and_out_of_order(st: RegistryStorage) -> None:
    up = Uploads(st)
    data = b"0123456789" * 1000

    async def go() -> str:
        uid = up.start("r")
        assert await up.append("r", uid, chunks(data[:4000]), (0, 3999)) == 4000
        with pytest.raises(RegistryError) as e:  # skips bytes: 416, nothing written
            await up.append("r", uid, chunks(data[5000:6000]), (5000, 5999))
        assert e.value.status == 416 and e.value.headers["Range"] == "0-3999"
        with pytest.raises(RegistryError) as e:  # a range that does not match the body
            await up.append("r", uid, chunks(data[4000:4010]), (4000, 4999))
        assert e.value.code == "SIZE_INVALID"
        assert up.offset("r", uid) == 4000
        assert await up.append("r", uid, chunks(data[4000:9000])) == 9000
        up._hash.clear()  # as if another worker process finishes the session: hash the file
        return await up.finish("r", uid, sha(data), chunks(data[9000:]))

    assert asyncio.run(go()) == sha(data)
    assert st.repo_has_blob("r", sha(data)) and os.listdir(st.layout.uploads) == []


def test_digest_mismatch_commits_nothing(st: RegistryStorage) -> None:
    up = Uploads(st)

    async def go() -> None:
        uid = up.start("r")
        await up.append("r", uid, chunks(b"abc"))
        with pytest.raises(RegistryError) as e:
            await up.finish("r", uid, sha(b"abd"))
        assert e.value.code == "DIGEST_INVALID"
        with pytest.raises(RegistryError) as e:
            up.offset("r", uid)
        assert e.value.code == "BLOB_UPLOAD_UNKNOWN"

    asyncio.run(go())
    assert not st.has_blob(sha(b"abc")) and not st.has_blob(sha(b"abd"))
    assert os.listdir(st.layout.uploads) == []


def test_sha512_blob(st: RegistryStorage) -> None:
    data = b"sha512 content"
    d = "sha512:" + hashlib.sha512(data).hexdigest()
    assert asyncio.run(Uploads(st).monolithic("r", d, chunks(data[:5], data[5:]))) == d
    assert st.repo_has_blob("r", d) and st.blob_size(d) == len(data)
    assert st.blob_path(d).split(os.sep)[-3:-1] == ["sha512", d[7:9]]


def test_upload_sessions_belong_to_their_repository(st: RegistryStorage) -> None:
    up = Uploads(st)
    uid = up.start("a")
    for repo, u in (("b", uid), ("a", "../../x"), ("a", "0" * 32)):
        with pytest.raises(RegistryError) as e:
            up.offset(repo, u)
        assert e.value.code == "BLOB_UPLOAD_UNKNOWN"
    up.cancel("a", uid)
    assert os.listdir(st.layout.uploads) == []


def test_blob_size_limit(st: RegistryStorage) -> None:
    up = Uploads(st, max_blob=10)
    with pytest.raises(RegistryError) as e:
        asyncio.run(up.monolithic("r", sha(b"x" * 11), chunks(b"x" * 6, b"x" * 5)))
    assert e.value.status == 413 and not st.has_blob(sha(b"x" * 11))


def test_concurrent_uploads_of_one_blob(st: RegistryStorage) -> None:
    data = os.urandom(1 << 20)

    async def go() -> list[str]:
        up = Uploads(st)

        async def one(repo: str) -> str:
            parts = [data[i:i + 65536] for i in range(0, len(data), 65536)]

            async def slow():  # noqa: ANN202
                for p in parts:
                    await asyncio.sleep(0)
                    yield p
            return await up.monolithic(repo, sha(data), slow())

        return await asyncio.gather(*(one(f"r{i}") for i in range(8)))

    assert set(asyncio.run(go())) == {sha(data)}
    with open(st.blob_path(sha(data)), "rb") as f:
        assert f.read() == data
    assert all(st.repo_has_blob(f"r{i}", sha(data)) for i in range(8))


def test_crash_leftovers_are_ignored(st: RegistryStorage) -> None:
    m = image(st, "r", [b"l"])
    digest, _ = st.put_manifest("r", "v1", m, MT.OCI_MANIFEST)
    # what a kill -9 leaves: temp files beside tags, links and blobs, a half upload
    tags = st.layout.tags_dir("r")
    open(os.path.join(tags, ".tmp-v2-abcdef"), "wb").write(b"sha256:")
    open(os.path.join(os.path.dirname(st.layout.manifest_link("r", digest)), ".tmp-x-1"), "wb").close()
    os.makedirs(os.path.join(st.layout.blobs, "sha256", "aa"), exist_ok=True)
    open(os.path.join(st.layout.blobs, "sha256", "aa", ".tmp-aaaa-1"), "wb").write(b"part")
    os.makedirs(st.layout.upload("f" * 32))
    fresh = RegistryStorage(st.root)  # a restarted server
    assert fresh.tags("r") == ["v1"]
    assert fresh.read_manifest("r", fresh.resolve("r", "v1")) == (m, MT.OCI_MANIFEST)
    assert fresh.manifest_digests("r") == [digest]
    assert fresh.repositories() == ["r"]
