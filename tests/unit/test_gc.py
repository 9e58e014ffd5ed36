"""Garbage collection of the image store (onggi.image.gc): what the roots keep, what goes,
and what a concurrent writer's locks and leases protect. No root needed.

Snapshots here are made with a stand-in apply function (it writes the layer's bytes to a
marker file): these tests are about which snapshots the collector keeps, not unpacking.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from onggi.errors import Conflict
from onggi.image.locks import FileLock
from onggi.image.store import ImageStore
from onggi.oci import mediatypes as mt


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def marker_apply(stream, dest: str, *, compression: str = "auto") -> None:  # noqa: ANN001
    """Stand-in for apply_layer (bookkeeping tests only)."""
    with open(os.path.join(dest, "marker"), "wb") as f:
        f.write(stream.read())


def make_image(store: ImageStore, layers: list[bytes], tag: str = "") -> dict:
    lds = [store.blobs.put(b) for b in layers]
    cfg = json.dumps({"tag": tag, "rootfs": {"type": "layers", "diff_ids": lds}}).encode()
    cd = store.blobs.put(cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                      "config": {"mediaType": mt.OCI_CONFIG, "digest": cd, "size": len(cfg)},
                      "layers": [{"mediaType": mt.OCI_LAYER, "digest": d, "size": len(b)}
                                 for d, b in zip(lds, layers)]}).encode()
    return {"manifest": store.blobs.put(man), "size": len(man), "config": cd, "layers": lds}


@pytest.fixture
def store(tmp_path) -> ImageStore:  # noqa: ANN001
    return ImageStore(str(tmp_path / "root"), apply_layer=marker_apply)


def blobs(store: ImageStore) -> set[str]:
    return {b.digest for b in store.blobs.list()}


def test_named_images_keep_their_content_and_the_rest_goes(store):
    kept = make_image(store, [b"a", b"shared"], "kept")
    gone = make_image(store, [b"b", b"shared"], "gone")
    idx = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": kept["manifest"], "size": kept["size"]},
        {"mediaType": mt.OCI_MANIFEST, "digest": sha(b"other platform"), "size": 5}]}).encode()
    idx_d = store.blobs.put(idx)
    stray = store.blobs.put(b"nobody's")
    store.commit_image(idx_d, ["r:kept"], manifest=kept["manifest"])
    store.commit_image(gone["manifest"], ["r:gone"])
    store.unpack("r:kept")
    store.unpack("r:gone")
    store.remove("r:gone")
    report = store.gc()
    want = {idx_d, kept["manifest"], kept["config"], *kept["layers"]}
    assert blobs(store) == want
    assert set(report.blobs) == {stray, gone["manifest"], gone["config"], gone["layers"][0]}
    assert report.freed_bytes > 0 and not report.errors
    chains = {s.chain_id for s in store.snapshots.list()}
    assert chains == {s.chain_id for s in store.snapshots.lowers(store.get("r:kept").chain)}
    assert len(report.snapshots) == 2  # "b" alone, and "shared" on "b"
    assert len(os.listdir(store.snapshots.links)) == 2
    assert store.gc().blobs == []  # nothing more


def test_dangling_images_and_containers_are_roots(store):
    img = make_image(store, [b"a", b"b"])
    im = store.commit_image(img["manifest"], ["r:1"])
    store.create_container("c1", "r:1")
    store.untag("r:1")  # a dangling image record is still a root
    assert store.gc().blobs == []
    store.remove(im.id, force=True)
    report = store.gc()
    assert set(report.blobs) == {img["manifest"], img["config"], *img["layers"]}
    assert report.snapshots == []  # the container's stack stays
    assert len(store.snapshots.lowers(store.snapshots.container("c1").parent)) == 2
    store.snapshots.remove_container("c1")
    assert len(store.gc().snapshots) == 2
    assert store.snapshots.list() == []


def test_leases_protect_until_closed(store):
    with store.lease() as lease:
        d = store.blobs.put(b"pulling", lease=lease)
        layer = store.blobs.put(b"layer", lease=lease)
        store.snapshots.unpack(None, layer, lambda: store.blobs.open(layer), lease=lease)
        assert store.gc().blobs == [] and store.snapshots.exists(layer)
    report = store.gc()
    assert set(report.blobs) == {d, layer} and report.snapshots == [layer]
    assert os.listdir(store.leases_dir) == []


def test_dead_lease_files_are_removed(store):
    d = store.blobs.put(b"x")
    with open(os.path.join(store.leases_dir, "deadbeef"), "w") as f:
        f.write(d + "\n")
    assert store.gc().blobs == [d]
    assert os.listdir(store.leases_dir) == []


def test_ingests_by_liveness_and_age(store):
    live = store.blobs.writer(sha(b"live"), 4)
    live.write(b"li")
    with store.blobs.writer(sha(b"old"), 3) as w:
        w.write(b"o")
    with store.blobs.writer(sha(b"young"), 5) as w:
        w.write(b"y")
    old_part = os.path.join(store.blobs.ingest_dir, "sha256-" + sha(b"old")[7:] + ".part")
    os.utime(old_part, (time.time() - 7200, time.time() - 7200))
    report = store.gc()
    assert report.ingests == ["sha256-" + sha(b"old")[7:]]
    refs = {i.ref for i in store.blobs.ingests()}
    assert refs == {"sha256-" + sha(b"live")[7:], "sha256-" + sha(b"young")[7:]}
    assert store.gc(ingest_grace=0).ingests == ["sha256-" + sha(b"young")[7:]]
    live.write(b"ve")
    assert live.commit() == sha(b"live")  # the live ingest survived both
    assert os.listdir(store.blobs.ingest_dir) == []


def test_temporaries(store):
    snap = store.snapshots
    held_hex, free_hex = "a" * 64, "b" * 64
    for name in (f"tmp-{held_hex}-1", f"tmp-{free_hex}-1", f"del-{free_hex}-2"):
        os.makedirs(os.path.join(snap.dir, name, "fs"))
    os.makedirs(os.path.join(snap.containers_dir, "tmp-c-1", "upper"))
    os.symlink("../snapshots/" + "c" * 64 + "/fs", os.path.join(snap.links, "DANGLING"))
    open(os.path.join(store.root, ".tmp-images.json-x"), "w").close()
    open(os.path.join(snap.locks, "d" * 64 + ".lock"), "w").close()
    held = FileLock(os.path.join(snap.locks, held_hex + ".lock"))
    held.acquire()  # an unpack of that chain is alive
    try:
        dry = store.gc(dry_run=True)
        assert len(dry.temporary) == 5 and os.path.isdir(os.path.join(snap.dir, f"tmp-{free_hex}-1"))
        report = store.gc()
        assert len(report.temporary) == 5
        assert os.listdir(snap.dir) == [f"tmp-{held_hex}-1"]
        assert os.listdir(snap.containers_dir) == [] and os.listdir(snap.links) == []
        assert os.listdir(snap.locks) == [held_hex + ".lock"]
    finally:
        held.unlink()
    store.gc()
    assert os.listdir(snap.dir) == []


def test_dry_run_and_min_age(store):
    d = store.blobs.put(b"garbage")
    assert store.gc(dry_run=True).blobs == [d] and store.blobs.exists(d)
    assert store.gc(min_age=3600).blobs == [] and store.blobs.exists(d)
    assert store.gc().blobs == [d]


def test_unreadable_manifest_stops_the_sweep(store):
    img = make_image(store, [b"a"])
    store.commit_image(img["manifest"], ["r:1"])
    garbage = store.blobs.put(b"garbage")
    path = store.blobs.path(img["manifest"])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b" ")
    report = store.gc()
    assert report.errors and report.blobs == [] and store.blobs.exists(garbage)


def test_busy_store_lock(store):
    with store.lock():
        with pytest.raises(Conflict):
            store.gc(timeout=0.1)
