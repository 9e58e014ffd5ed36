"""The image db (onggi.image.store: names, records, tag/untag/rmi), references between
stored objects (store_refs), snapshot bookkeeping (snapshots) and mount plans
(snapshots_mount). No root needed.

The snapshot tests here are about bookkeeping only (chain IDs, one unpack per chain,
parent links, crash leftovers, container records), so they use a stand-in apply function
that writes the layer's bytes to one marker file; the real layer apply is exercised by
tests/integration/test_snapshots.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading

import pytest

from onggi.errors import (AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound,
                          Unsupported)
from onggi.image import snapshots_mount as sm
from onggi.image.snapshots import chain_id, chain_ids
from onggi.image.store import ImageStore
from onggi.image.store_refs import walk
from onggi.oci import mediatypes as mt
from onggi.oci.digest import DigestMismatch


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def marker_apply(stream, dest: str, *, compression: str = "auto") -> None:  # noqa: ANN001
    """Stand-in for apply_layer: the layer's bytes go to one marker file."""
    data = stream.read()
    with open(os.path.join(dest, "marker"), "wb") as f:
        f.write(data)
    marker_apply.calls += 1  # type: ignore[attr-defined]


marker_apply.calls = 0  # type: ignore[attr-defined]


def put_json(store: ImageStore, obj: dict) -> tuple[str, int]:
    raw = json.dumps(obj).encode()
    return store.blobs.put(raw), len(raw)


def make_image(store: ImageStore, layers: list[bytes], tag: str = "") -> dict:
    """Blobs of an image of uncompressed layers (diff ID = layer digest); returns digests."""
    lds = [store.blobs.put(b) for b in layers]
    cd, cs = put_json(store, {"architecture": "amd64", "os": "linux", "tag": tag,
                              "rootfs": {"type": "layers", "diff_ids": lds}})
    md, ms = put_json(store, {
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": cd, "size": cs},
        "layers": [{"mediaType": mt.OCI_LAYER, "digest": d, "size": len(b)} for d, b in zip(lds, layers)]})
    return {"manifest": md, "manifest_size": ms, "config": cd, "layers": lds}


def make_index(store: ImageStore, manifests: list[dict], absent: int = 0) -> str:
    entries = [{"mediaType": mt.OCI_MANIFEST, "digest": m["manifest"], "size": m["manifest_size"],
                "platform": {"architecture": "amd64", "os": "linux"}} for m in manifests]
    entries += [{"mediaType": mt.OCI_MANIFEST, "digest": sha(b"absent%d" % i), "size": 1,
                 "platform": {"architecture": "arm64", "os": "linux"}} for i in range(absent)]
    return put_json(store, {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries})[0]


@pytest.fixture
def store(tmp_path) -> ImageStore:  # noqa: ANN001
    return ImageStore(str(tmp_path / "root"), apply_layer=marker_apply)


# ---- image records -------------------------------------------------------------------


def test_commit_and_lookup(store):
    img = make_image(store, [b"layer one", b"layer two"])
    im = store.commit_image(img["manifest"], ["example.com/a:1", "example.com/a:latest"])
    assert im.id == img["config"] and im.manifest == img["manifest"]
    assert im.names == ("example.com/a:1", "example.com/a:latest")
    assert im.chain == chain_ids(img["layers"])[-1]
    for ref in ("example.com/a:1", im.id, im.id[7:19], "sha256:" + im.id[7:12], img["manifest"]):
        assert store.get(ref).id == im.id
    assert store.names()["example.com/a:1"] == (im.id, img["manifest"])
    with pytest.raises(NotFound):
        store.get("example.com/b:1")
    with pytest.raises(NotFound):
        store.get("abc")  # too short for a prefix
    db = json.load(open(store.db_path))
    assert db["version"] == 1 and set(db["names"]) == {"example.com/a:1", "example.com/a:latest"}
    assert [n for n in os.listdir(store.root) if n.startswith(".tmp")] == []


def test_commit_through_an_index(store):
    img = make_image(store, [b"l"])
    idx = make_index(store, [img], absent=1)
    with pytest.raises(InvalidArgument):
        store.commit_image(idx, ["x/y:1"])  # which manifest?
    with pytest.raises(InvalidArgument):
        store.commit_image(idx, ["x/y:1"], manifest=sha(b"other"))
    im = store.commit_image(idx, ["x/y:1"], manifest=img["manifest"])
    assert im.digests == (idx, img["manifest"])
    assert store.names()["x/y:1"] == (im.id, idx)
    assert store.get(idx).id == im.id
    w = walk(store.blobs, [idx])
    assert {img["manifest"], img["config"], *img["layers"], idx} == w.blobs
    assert len(w.optional) == 1 and not w.missing and not w.errors


def test_commit_needs_every_blob(store):
    img = make_image(store, [b"a", b"b"])
    store.blobs.delete(img["layers"][1])
    with pytest.raises(FailedPrecondition, match=img["layers"][1]):
        store.commit_image(img["manifest"], ["x:1"])
    assert store.images() == []
    with pytest.raises(NotFound):
        store.commit_image(sha(b"nothing"), ["x:1"])
    cfg = store.blobs.put(b'{"not": "a manifest"}')
    with pytest.raises(InvalidArgument):
        store.commit_image(cfg, ["x:1"])


@pytest.mark.parametrize("name", ["", "a b", "sha256:" + "0" * 64, "x\n", "a" * 600])
def test_bad_names(store, name):
    img = make_image(store, [b"a"])
    with pytest.raises(InvalidArgument):
        store.commit_image(img["manifest"], [name])


def test_tag_untag_move(store):
    a = store.commit_image(make_image(store, [b"a"], "a")["manifest"], ["r:a"])
    b = store.commit_image(make_image(store, [b"b"], "b")["manifest"], ["r:b"])
    store.tag("r:a", "r:latest")
    assert store.get("r:latest").id == a.id
    store.tag(b.id, "r:latest")  # moves the name
    assert store.get("r:latest").id == b.id and store.get(a.id).names == ("r:a",)
    assert store.untag("r:a").names == ()
    assert store.get(a.id).id == a.id  # dangling, still recorded
    with pytest.raises(NotFound):
        store.untag("r:a")
    with pytest.raises(NotFound):
        store.tag("r:nope", "r:x")


def test_remove_semantics(store):
    img = make_image(store, [b"a"])
    im = store.commit_image(img["manifest"], ["r:1", "r:2"])
    r = store.remove("r:1")
    assert r.untagged == ["r:1"] and r.deleted == []
    store.tag(im.id, "r:3")
    with pytest.raises(Conflict):
        store.remove(im.id)  # several names
    r = store.remove(im.id, force=True)
    assert sorted(r.untagged) == ["r:2", "r:3"] and r.deleted == [im.id]
    assert store.images() == [] and store.names() == {}
    assert store.blobs.exists(img["manifest"])  # content goes only with gc
    im = store.commit_image(img["manifest"], ["r:1"])
    assert store.remove("r:1").deleted == [im.id]


def test_remove_refuses_images_in_use(store):
    img = make_image(store, [b"a"])
    im = store.commit_image(img["manifest"], ["r:1"])
    store.create_container("c1", "r:1")
    with pytest.raises(Conflict):
        store.remove(im.id)
    r = store.remove("r:1")  # the name goes, the image stays for the container
    assert r.untagged == ["r:1"] and r.deleted == []
    assert store.get(im.id)
    store.snapshots.remove_container("c1")
    assert store.remove(im.id).deleted == [im.id]


def test_concurrent_tags_lose_nothing(store):
    im = store.commit_image(make_image(store, [b"a"])["manifest"], [])
    errors = []

    def tagger(i: int) -> None:
        try:
            for j in range(10):
                store.tag(im.id, f"r:{i}-{j}")
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=tagger, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(store.get(im.id).names) == 60


# ---- snapshots: bookkeeping with the stand-in apply -----------------------------------


def test_chain_ids_follow_the_spec():
    d1, d2, d3 = sha(b"1"), sha(b"2"), sha(b"3")
    c2 = "sha256:" + hashlib.sha256(f"{d1} {d2}".encode()).hexdigest()
    c3 = "sha256:" + hashlib.sha256(f"{c2} {d3}".encode()).hexdigest()
    assert chain_ids([d1, d2, d3]) == [d1, c2, c3]
    assert chain_id(None, d1) == d1 and chain_id(c2, d3) == c3


def test_unpack_once_per_chain_with_parent_links(store):
    img = make_image(store, [b"base", b"mid", b"top"])
    im = store.commit_image(img["manifest"], ["r:1"])
    before = marker_apply.calls
    top = store.unpack("r:1")
    assert top == im.chain and marker_apply.calls == before + 3
    assert store.unpack("r:1") == top and marker_apply.calls == before + 3
    stack = store.snapshots.lowers(top)
    assert [s.diff_id for s in stack] == img["layers"][::-1]
    assert stack[-1].parent is None and stack[0].parent == stack[1].chain_id
    for s, data in zip(stack, [b"top", b"mid", b"base"]):
        assert open(os.path.join(s.path, "marker"), "rb").read() == data
        assert s.path == os.path.join(store.root, "snapshots", s.chain_id[7:], "fs")
        assert os.path.realpath(os.path.join(store.root, "l", s.link)) == s.path
    # another image sharing the two lower layers unpacks only its own top
    other = make_image(store, [b"base", b"mid", b"other"])
    store.commit_image(other["manifest"], ["r:2"])
    store.unpack("r:2")
    assert marker_apply.calls == before + 4
    assert not [n for n in os.listdir(store.snapshots.dir) if n.startswith("tmp-")]


def test_failed_unpack_leaves_nothing(store):
    def boom(stream, dest, *, compression="auto"):  # noqa: ANN001, ANN202
        open(os.path.join(dest, "half"), "w").close()
        raise OSError("disk full")

    s = ImageStore(store.root, apply_layer=boom)
    d = s.blobs.put(b"layer")
    with pytest.raises(OSError):
        s.snapshots.unpack(None, d, lambda: s.blobs.open(d))
    assert os.listdir(s.snapshots.dir) == [] and not s.snapshots.exists(d)


def test_unpack_checks_blob_and_diff_id(store):
    d = store.blobs.put(b"layer")
    os.chmod(store.blobs.path(d), 0o644)
    with open(store.blobs.path(d), "r+b") as f:
        f.write(b"L")
    with pytest.raises(DigestMismatch):  # the blob behind the stream is corrupt
        store.snapshots.unpack(None, d, lambda: store.blobs.open(d))
    s = ImageStore(store.root, apply_layer=lambda stream, dest, **kw: sha(b"other"))
    good = s.blobs.put(b"fine")
    with pytest.raises(DigestMismatch):  # apply reports another diff ID
        s.snapshots.unpack(None, good, lambda: s.blobs.open(good))
    assert os.listdir(store.snapshots.dir) == []
    with pytest.raises(FailedPrecondition):  # the parent must exist
        store.snapshots.unpack(sha(b"no parent"), good, lambda: store.blobs.open(good))


def test_crash_leftover_of_the_same_chain_is_cleaned(store):
    d = store.blobs.put(b"layer")
    leftover = os.path.join(store.snapshots.dir, f"tmp-{d[7:]}-dead")
    os.makedirs(os.path.join(leftover, "fs"))
    store.snapshots.unpack(None, d, lambda: store.blobs.open(d))
    assert sorted(os.listdir(store.snapshots.dir)) == [d[7:]]


def test_containers_and_snapshot_removal(store):
    img = make_image(store, [b"a", b"b"])
    store.commit_image(img["manifest"], ["r:1"])
    mounts = store.create_container("c1", "r:1")
    [m] = mounts
    assert m.type == "overlay" and m.cwd is None
    lowers = [s.path for s in store.snapshots.lowers(store.get("r:1").chain)]
    c = store.snapshots.container("c1")
    assert m.options == (f"lowerdir={':'.join(lowers)}", f"upperdir={c.upper}",
                         f"workdir={os.path.join(c.path, 'work')}")
    assert c.image == store.get("r:1").id and os.path.isdir(c.merged)
    with pytest.raises(AlreadyExists):
        store.create_container("c1", "r:1")
    with pytest.raises(InvalidArgument):
        store.snapshots.prepare("tmp-x", None)
    with pytest.raises(InvalidArgument):
        store.snapshots.prepare("../x", None)
    with pytest.raises(NotFound):
        store.snapshots.prepare("c2", sha(b"missing chain"))
    ro = store.create_container("c3", "r:1", readonly=True)
    assert ro[0].options == (f"lowerdir={':'.join(lowers)}",)
    empty = store.create_container("c4", None)
    assert empty == [sm.Mount("bind", store.snapshots.container("c4").upper, ("rbind", "rw"))]
    chain = store.get("r:1").chain
    base = store.snapshots.get(chain).parent
    with pytest.raises(Conflict):
        store.snapshots.remove(chain)  # used by c1
    with pytest.raises(Conflict):
        store.snapshots.remove(base)  # parent of another snapshot
    for k in ("c1", "c3", "c4"):
        store.snapshots.remove_container(k)
    assert os.listdir(store.snapshots.containers_dir) == []
    store.snapshots.remove(chain)
    store.snapshots.remove(base)
    assert store.snapshots.list() == [] and os.listdir(store.snapshots.links) == []
    with pytest.raises(NotFound):
        store.snapshots.remove_container("c1")


# ---- mount plans ----------------------------------------------------------------------


def test_plan_short_stacks():
    assert sm.plan("/r", [("/r/s/1/fs", "A")], readonly=True) == [
        sm.Mount("bind", "/r/s/1/fs", ("rbind", "ro"))]
    m = sm.plan("/r", [("/r/s/2/fs", "B"), ("/r/s/1/fs", "A")], "/r/c/u", "/r/c/w")
    assert m == [sm.Mount("overlay", "overlay",
                          ("lowerdir=/r/s/2/fs:/r/s/1/fs", "upperdir=/r/c/u", "workdir=/r/c/w"))]
    assert m[0].data() == "lowerdir=/r/s/2/fs:/r/s/1/fs,upperdir=/r/c/u,workdir=/r/c/w"
    assert m[0].flags() == 0 and m[0].to_dict()["type"] == "overlay"
    with pytest.raises(FailedPrecondition):
        sm.plan("/r", [])


def test_plan_falls_back_to_short_links():
    root = "/var/lib/onggi/storage"
    lowers = [(f"{root}/snapshots/{'%064x' % i}/fs", f"L{i:011d}") for i in range(100)]
    [m] = sm.plan(root, lowers, f"{root}/containers/c/upper", f"{root}/containers/c/work")
    assert m.cwd == root
    assert m.options[0] == "lowerdir=" + ":".join(f"l/L{i:011d}" for i in range(100))
    assert m.options[1:] == ("upperdir=containers/c/upper", "workdir=containers/c/work")
    assert len(m.data()) < sm.PAGE_SIZE
    # a root with an option separator also needs relative paths
    [m] = sm.plan("/a:b", [("/a:b/s/2/fs", "B"), ("/a:b/s/1/fs", "A")])
    assert m.cwd == "/a:b" and m.options == ("lowerdir=l/B:l/A",)


def test_plan_limits():
    with pytest.raises(Unsupported):
        sm.plan("/r", [(f"/r/{i}", f"L{i:011d}") for i in range(501)])
    with pytest.raises(Unsupported):  # 400 x 13 bytes do not fit a page
        sm.plan("/r", [(f"/r/snapshots/{'%064x' % i}/fs", f"L{i:011d}") for i in range(400)])
