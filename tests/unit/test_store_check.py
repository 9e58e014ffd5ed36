"""Store verification and repair (onggi.image.check). No root needed.

Snapshots here are made with a stand-in apply function (it writes the layer's bytes to a
marker file): the checks are about snapshot records, parents and links, not content.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from onggi.image.store import ImageStore
from onggi.oci import mediatypes as mt


def marker_apply(stream, dest: str, *, compression: str = "auto") -> None:  # noqa: ANN001
    """Stand-in for apply_layer (bookkeeping tests only)."""
    with open(os.path.join(dest, "marker"), "wb") as f:
        f.write(stream.read())


def make_image(store: ImageStore, layers: list[bytes], name: str) -> dict:
    lds = [store.blobs.put(b) for b in layers]
    cfg = json.dumps({"name": name, "rootfs": {"type": "layers", "diff_ids": lds}}).encode()
    cd = store.blobs.put(cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                      "config": {"mediaType": mt.OCI_CONFIG, "digest": cd, "size": len(cfg)},
                      "layers": [{"mediaType": mt.OCI_LAYER, "digest": d, "size": len(b)}
                                 for d, b in zip(lds, layers)]}).encode()
    md = store.blobs.put(man)
    store.commit_image(md, [name])
    return {"manifest": md, "config": cd, "layers": lds, "id": cd}


def corrupt(path: str) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 1]))


@pytest.fixture
def store(tmp_path) -> ImageStore:  # noqa: ANN001
    s = ImageStore(str(tmp_path / "root"), apply_layer=marker_apply)
    return s


def kinds(report) -> list[tuple[str, str]]:  # noqa: ANN001
    return sorted((p.kind, p.subject) for p in report.problems)


def test_a_sound_store_is_ok(store):
    make_image(store, [b"a", b"b"], "r:1")
    store.unpack("r:1")
    store.create_container("c1", "r:1")
    report = store.check()
    assert report.ok and report.problems == []
    assert report.blobs_checked == 4 and report.snapshots_checked == 2


def test_corrupt_blob_then_its_image(store):
    bad = make_image(store, [b"a", b"b"], "r:bad")
    good = make_image(store, [b"c"], "r:good")
    corrupt(store.blobs.path(bad["layers"][1]))
    report = store.check()
    assert not report.ok
    assert ("corrupt-blob", bad["layers"][1]) in kinds(report)
    assert store.check(verify_blobs=False).ok  # sizes and names only: not seen
    fixed = store.check(repair=True)
    assert fixed.ok and ("corrupt-blob", bad["layers"][1]) in kinds(fixed)
    assert not store.blobs.exists(bad["layers"][1])
    assert [im.names for im in store.images()] == [("r:good",)]
    assert store.get("r:good").id == good["id"]
    assert store.check().ok


def test_missing_manifest_and_dangling_name(store):
    img = make_image(store, [b"a"], "r:1")
    db = json.load(open(store.db_path))
    db["names"]["r:ghost"] = {"image": "sha256:" + "0" * 64, "digest": img["manifest"]}
    with open(store.db_path, "w") as f:
        json.dump(db, f)
    os.unlink(store.blobs.path(img["config"]))
    report = store.check()
    got = kinds(report)
    assert ("dangling-name", "r:ghost") in got
    assert ("missing-blob", img["id"]) in got and ("missing-blob", "r:1") in got
    assert store.check(repair=True).ok
    assert store.names() == {} and store.images() == []


def test_stray_files_in_blobs(store):
    make_image(store, [b"a"], "r:1")
    stray = os.path.join(store.blobs.blobs_dir, "sha256", "not-hex")
    open(stray, "w").close()
    os.makedirs(os.path.join(store.blobs.blobs_dir, "md5"))
    report = store.check()
    assert sorted(p.path for p in report.problems if p.kind == "stray-file") == sorted(
        [stray, os.path.join(store.blobs.blobs_dir, "md5")])
    assert store.check(repair=True).ok
    assert not os.path.exists(stray) and store.check().ok


def test_broken_snapshots_and_their_children(store):
    make_image(store, [b"a", b"b", b"c"], "r:1")
    top = store.unpack("r:1")
    stack = store.snapshots.lowers(top)
    store.create_container("c1", "r:1")
    shutil.rmtree(stack[1].path)  # the middle layer's fs is gone
    report = store.check()
    broken = {p.subject for p in report.problems if p.kind == "broken-snapshot"}
    assert broken == {stack[0].chain_id, stack[1].chain_id}
    assert [p.subject for p in report.problems if p.kind == "broken-container"] == ["c1"]
    fixed = store.check(repair=True)
    assert not fixed.ok  # the container is reported, never removed
    assert [s.chain_id for s in store.snapshots.list()] == [stack[2].chain_id]
    store.snapshots.remove_container("c1")
    assert store.check().ok
    store.unpack("r:1")  # the image can be unpacked again
    assert store.check().ok


def test_unreadable_snapshot_record(store):
    make_image(store, [b"a"], "r:1")
    top = store.unpack("r:1")
    meta = os.path.join(store.snapshots.dir, top[7:], "meta.json")
    with open(meta, "w") as f:
        f.write("{")
    assert [p.kind for p in store.check().problems] == ["broken-snapshot"]
    assert store.check(repair=True).ok and store.snapshots.list() == []


def test_missing_short_link_is_remade(store):
    make_image(store, [b"a"], "r:1")
    info = store.snapshots.get(store.unpack("r:1"))
    link = os.path.join(store.snapshots.links, info.link)
    os.unlink(link)
    assert [p.kind for p in store.check().problems] == ["missing-link"]
    assert store.check(repair=True).ok
    assert os.path.realpath(link) == info.path
    os.unlink(link)
    os.symlink("../snapshots/elsewhere/fs", link)
    assert store.check(repair=True).problems[0].repaired
    assert store.check().ok
