"""Several onggi processes on one image store: the same and different blobs ingested at
once, tags from many processes, a writer killed with SIGKILL mid-ingest and a retry that
reuses its partial, garbage collection racing ingests, unpacks and pulls.

Unpacks here use a stand-in apply function (it writes a marker file, and logs each call):
these tests are about locking and bookkeeping across processes, not about tar handling.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from onggi.image.store import ImageStore
from onggi.oci import mediatypes as mt

PRELUDE = """
import hashlib, io, json, os, random, sys, time
from onggi.image.store import ImageStore
from onggi.oci import mediatypes as mt
root = sys.argv[1]

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

def wait_for(path, timeout=30):
    end = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > end:
            sys.exit("timed out waiting for " + path)
        time.sleep(0.01)

class Slow:
    "A stream of data in small reads, sleeping a little between them."
    def __init__(self, data, delay=0.001):
        self.f, self.delay = io.BytesIO(data), delay
    def read(self, n=-1):
        time.sleep(self.delay)
        return self.f.read(min(n if n > 0 else 1 << 16, 1 << 16))
    def close(self):
        pass

def apply(stream, dest, *, compression="auto"):
    with open(os.path.join(root, "apply.log"), "a") as log:
        log.write(dest + "\\n")
    time.sleep(0.3)
    with open(os.path.join(dest, "marker"), "wb") as f:
        f.write(stream.read())
"""


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PRELUDE + code, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def wait_for(path: str, timeout: float = 30) -> None:
    end = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < end, f"timed out waiting for {path}"
        time.sleep(0.01)


@pytest.fixture
def store(tmp_path) -> ImageStore:  # noqa: ANN001
    yield ImageStore(str(tmp_path / "store"))
    # nothing outlives a test: its processes are waited for, its files are under tmp_path


def big(seed: int, n: int = 1 << 20) -> bytes:
    return random.Random(seed).randbytes(n)


def test_same_and_different_blobs_at_once(store):
    code = """
s = ImageStore(root).blobs
shared = random.Random(0).randbytes(1 << 20)
own = random.Random(int(sys.argv[2])).randbytes(300000)
for _ in range(3):
    assert s.ingest(Slow(shared), sha(shared), len(shared)) == sha(shared)
    assert s.ingest(Slow(own)) == sha(own)
"""
    procs = [spawn(code, store.root, str(i)) for i in range(1, 7)]
    finish(procs)
    want = {sha(big(0))} | {sha(big(i, 300000)) for i in range(1, 7)}
    assert {b.digest for b in store.blobs.list()} == want
    assert store.blobs.ingests() == [] and os.listdir(store.blobs.ingest_dir) == []
    for d in want:
        with store.blobs.open(d) as r:
            r.finish()


def test_tags_from_many_processes(store):
    layer = store.blobs.put(b"layer")
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [layer]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                      "config": {"mediaType": mt.OCI_CONFIG, "digest": store.blobs.put(cfg),
                                 "size": len(cfg)},
                      "layers": [{"mediaType": mt.OCI_LAYER, "digest": layer, "size": 5}]}).encode()
    im = store.commit_image(store.blobs.put(man), ["r:base"])
    code = """
s = ImageStore(root)
for j in range(25):
    s.tag("r:base", "r:%s-%d" % (sys.argv[2], j))
"""
    finish([spawn(code, store.root, str(i)) for i in range(5)])
    assert len(store.get(im.id).names) == 1 + 5 * 25
    assert [n for n in os.listdir(store.root) if n.startswith(".tmp")] == []


def test_sigkill_mid_ingest_then_resume(store):
    data = big(7)
    code = """
s = ImageStore(root).blobs
data = random.Random(7).randbytes(1 << 20)
class Stalls(Slow):
    def read(self, n=-1):
        if self.f.tell() >= 400000:
            open(os.path.join(root, "half"), "w").close()
            time.sleep(600)
        return super().read(n)
s.ingest(Stalls(data, 0), sha(data), len(data))
"""
    p = spawn(code, store.root)
    wait_for(os.path.join(store.root, "half"))
    time.sleep(0.1)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL
    [ing] = store.blobs.ingests()
    assert ing.digest == sha(data) and not ing.active and ing.offset > 0
    assert store.blobs.list() == []
    offsets = []

    def open_at(offset: int) -> io.BytesIO:
        offsets.append(offset)
        return io.BytesIO(data[offset:])

    assert store.blobs.fetch(open_at, sha(data), len(data)) == sha(data)
    assert offsets == [ing.offset]  # only the rest was fetched
    assert store.blobs.read_bytes(sha(data)) == data
    assert os.listdir(store.blobs.ingest_dir) == []
    os.unlink(os.path.join(store.root, "half"))


def test_gc_racing_an_ingest(store):
    code = """
s = ImageStore(root)
data = random.Random(9).randbytes(1 << 20)
with s.lease() as lease:
    w = s.blobs.writer(sha(data), len(data), lease=lease)
    w.write(data[:500000])
    w._f.flush()
    open(os.path.join(root, "started"), "w").close()
    wait_for(os.path.join(root, "go"))
    w.write(data[500000:])
    w.commit()
    open(os.path.join(root, "committed"), "w").close()
    wait_for(os.path.join(root, "end"))
"""
    data = big(9)
    p = spawn(code, store.root)
    flags = [os.path.join(store.root, f) for f in ("started", "go", "committed", "end")]
    wait_for(flags[0])
    for _ in range(3):
        assert store.gc(ingest_grace=0).ingests == []  # the live ingest survives
    [ing] = store.blobs.ingests()
    assert ing.active and ing.offset == 500000
    open(flags[1], "w").close()
    wait_for(flags[2])
    assert store.gc().blobs == []  # committed, unreferenced, but leased
    open(flags[3], "w").close()
    finish([p])
    assert store.gc().blobs == [sha(data)]  # the lease ended with its process
    assert os.listdir(store.leases_dir) == [] and os.listdir(store.blobs.ingest_dir) == []
    for f in flags:
        os.unlink(f)


def test_one_unpack_per_chain_across_processes(store):
    layer = store.blobs.put(b"one layer")
    code = """
s = ImageStore(root, apply_layer=apply)
d = sys.argv[2]
print(s.snapshots.unpack(None, d, lambda: s.blobs.open(d)).path)
"""
    outs = finish([spawn(code, store.root, layer) for _ in range(4)])
    assert len(set(outs)) == 1
    with open(os.path.join(store.root, "apply.log")) as f:
        assert len(f.read().splitlines()) == 1  # one won, the others waited and reused
    assert [s.chain_id for s in store.snapshots.list()] == [layer]
    assert not [n for n in os.listdir(store.snapshots.dir) if n.startswith("tmp-")]
    os.unlink(os.path.join(store.root, "apply.log"))


def test_sigkill_mid_unpack_leaves_nothing_visible(store):
    layer = store.blobs.put(b"killed layer")
    code = """
s = ImageStore(root, apply_layer=apply)
d = sys.argv[2]
s.snapshots.unpack(None, d, lambda: s.blobs.open(d))
"""
    p = spawn(code, store.root, layer)
    wait_for(os.path.join(store.root, "apply.log"))  # inside apply, holding the chain lock
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    assert not store.snapshots.exists(layer) and store.snapshots.list() == []
    assert [n for n in os.listdir(store.snapshots.dir) if n.startswith("tmp-")]
    report = store.gc(min_age=3600)  # its unpacker is dead: the leftover goes (not the blob)
    assert len(report.temporary) == 1 and os.listdir(store.snapshots.dir) == []
    finish([spawn(code, store.root, layer)])  # and the chain unpacks again
    assert [s.chain_id for s in store.snapshots.list()] == [layer]
    os.unlink(os.path.join(store.root, "apply.log"))


def test_gc_loop_beside_pulls(store):
    """Pulls (lease, blobs, unpack, commit) while another process collects in a loop; each
    pull first removes the puller's previous image, so the base layer's blob and snapshot
    are garbage whenever the next pull starts reusing them (claimed through its lease)."""
    gc_code = """
s = ImageStore(root)
n = 0
while not os.path.exists(os.path.join(root, "stop")):
    s.gc(ingest_grace=0)
    n += 1
print(n)
"""
    collector = spawn(gc_code, store.root)
    pull_code = """
s = ImageStore(root, apply_layer=apply)
first = int(sys.argv[2])
base = random.Random(first).randbytes(200000)
for i in range(first, first + 8):
    if i > first:
        s.remove("r:%d" % (i - 1))  # the base layer is garbage now, until claimed again
    own = random.Random(100 + i).randbytes(50000)
    with s.lease() as lease:
        ds = [s.blobs.ingest(Slow(b), sha(b), len(b), lease=lease) for b in (base, own)]
        cfg = json.dumps({"i": i, "rootfs": {"type": "layers", "diff_ids": ds}}).encode()
        cd = s.blobs.put(cfg, lease=lease)
        man = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": cd, "size": len(cfg)},
            "layers": [{"mediaType": mt.OCI_LAYER, "digest": d, "size": n}
                       for d, n in zip(ds, (len(base), len(own)))]}).encode()
        md = s.blobs.put(man, lease=lease)
        parent = None
        for d in ds:
            parent = s.snapshots.unpack(parent, d, lambda d=d: s.blobs.open(d), lease=lease).chain_id
        s.commit_image(md, ["r:%d" % i])
    assert s.get("r:%d" % i).chain == parent
"""
    try:
        finish([spawn(pull_code, store.root, "1"), spawn(pull_code, store.root, "100")], 300)
    finally:
        open(os.path.join(store.root, "stop"), "w").close()
        rounds = int(finish([collector])[0])
        os.unlink(os.path.join(store.root, "stop"))
    assert rounds > 0
    report = store.check()
    assert report.ok, report.problems
    assert sorted(store.names()) == ["r:107", "r:8"]
    for im in store.images():  # the last images are whole and unpacked
        assert len(store.snapshots.lowers(im.chain)) == 2
    os.unlink(os.path.join(store.root, "apply.log"))
