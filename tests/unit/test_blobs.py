"""The blob store (onggi.image.blobs) and its locks and leases (onggi.image.locks): verified
writes and reads, resumable ingests, nothing visible before a check. No root needed."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
import time

import pytest

from onggi.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from onggi.image.blobs import BlobStore
from onggi.image.locks import FileLock, Lease, atomic_write, read_lease
from onggi.oci.digest import DigestMismatch


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path) -> BlobStore:  # noqa: ANN001
    return BlobStore(str(tmp_path / "root"))


def visible(store: BlobStore) -> list[str]:
    return sorted(b.digest for b in store.list())


class Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        data = self.f.read(len(b))
        b[:len(data)] = data
        return len(data)


def test_put_read_roundtrip_and_layout(store):
    data = b"hello blob" * 1000
    d = store.put(data)
    assert d == sha(data)
    path = os.path.join(store.root, "blobs", "sha256", d.split(":")[1])
    assert store.path(d) == path and os.path.isfile(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    assert store.exists(d) and store.size(d) == len(data)
    assert store.read_bytes(d) == data
    assert store.info(d).size == len(data)
    assert visible(store) == [d]
    assert os.listdir(store.ingest_dir) == []
    store.delete(d)
    assert not store.exists(d) and visible(store) == []
    with pytest.raises(NotFound):
        store.delete(d)
    with pytest.raises(NotFound):
        store.open(d)


def test_ingest_with_expected_digest_and_size(store):
    data = os.urandom(3 << 20)
    d = store.ingest(io.BytesIO(data), sha(data), len(data))
    assert d == sha(data) and store.read_bytes(d, len(data)) == data


@pytest.mark.parametrize("size_delta", [0, -1, 1])
def test_wrong_content_is_never_visible(store, size_delta):
    data = b"x" * 100
    want = sha(b"y" * 100)
    with pytest.raises(DigestMismatch):
        store.ingest(io.BytesIO(data), want, 100 + size_delta)
    assert visible(store) == []
    assert os.listdir(store.ingest_dir) == []  # a failed check drops the partial


def test_unknown_digest_is_computed_and_size_checked(store):
    data = b"computed"
    assert store.ingest(io.BytesIO(data)) == sha(data)
    with pytest.raises(DigestMismatch):
        store.ingest(io.BytesIO(b"abc"), None, 4)
    assert visible(store) == [sha(data)]
    assert os.listdir(store.ingest_dir) == []


def test_malformed_digest_is_refused(store):
    with pytest.raises(InvalidArgument):
        store.writer("sha256:xyz")
    with pytest.raises(InvalidArgument):
        store.exists("md5:00")


def test_reader_verifies_content(store):
    data = b"original content" * 100
    d = store.put(data)
    path = store.path(d)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"O")  # same size, other digest
    with pytest.raises(DigestMismatch):
        store.read_bytes(d)
    assert store.open(d, verify=False).read() == b"O" + data[1:]
    r = store.open(d)
    r.read(10)  # a consumer that stops early ...
    with pytest.raises(DigestMismatch):
        r.finish()  # ... is checked when its owner finishes the blob
    r.close()


def test_reader_checks_descriptor_size(store):
    d = store.put(b"12345")
    with pytest.raises(DigestMismatch):
        store.read_bytes(d, size=4)
    with pytest.raises(DigestMismatch):
        store.read_bytes(d, size=6)
    r = store.open(d, 5)
    assert r.read(2) == b"12"
    r.finish()
    assert r.verified


def test_interrupted_writer_leaves_a_resumable_partial(store):
    data = os.urandom(1 << 20)
    d = sha(data)
    with store.writer(d, len(data)) as w:
        assert w.offset == 0
        w.write(data[:300_000])
    assert visible(store) == []
    [ing] = store.ingests()
    assert ing.digest == d and ing.offset == 300_000 and not ing.active
    offsets = []

    def open_at(offset: int) -> io.BytesIO:
        offsets.append(offset)
        return io.BytesIO(data[offset:])

    assert store.fetch(open_at, d, len(data)) == d
    assert offsets == [300_000]
    assert store.read_bytes(d) == data
    assert store.ingests() == [] and os.listdir(store.ingest_dir) == []


def test_corrupt_partial_is_refetched_from_zero(store):
    data = os.urandom(100_000)
    d = sha(data)
    with store.writer(d, len(data)) as w:
        w.write(b"\0" * 50_000)  # wrong bytes in the partial
    offsets = []

    def open_at(offset: int) -> io.BytesIO:
        offsets.append(offset)
        return io.BytesIO(data[offset:])

    assert store.fetch(open_at, d, len(data)) == d
    assert offsets == [50_000, 0]
    assert store.read_bytes(d) == data


def test_partial_longer_than_the_blob_is_dropped(store):
    data = b"z" * 1000
    d = sha(data)
    with store.writer(d, None) as w:
        w.write(data + b"extra")
    with store.writer(d, len(data)) as w:
        assert w.offset == 0


def test_ingest_resumes_seekable_and_unseekable_streams(store):
    for i, wrap in enumerate((io.BytesIO, Unseekable)):
        data = os.urandom(200_000) + bytes([i])
        d = sha(data)
        with store.writer(d, len(data)) as w:
            w.write(data[:70_000])
        assert store.ingest(wrap(data), d, len(data)) == d  # skips the bytes it has
        assert store.read_bytes(d) == data


def test_existing_blob_is_not_read_again(store):
    data = b"already"
    d = store.put(data)
    with pytest.raises(AlreadyExists):
        store.writer(d)
    stream = io.BytesIO(b"never read")
    assert store.ingest(stream, d, len(data)) == d
    assert stream.tell() == 0


def test_second_writer_of_a_digest_waits_or_times_out(store):
    data = b"contended"
    d = sha(data)
    w = store.writer(d, len(data))
    with pytest.raises(Conflict):
        store.writer(d, len(data), timeout=0.1)
    result = []
    t = threading.Thread(target=lambda: result.append(store.ingest(io.BytesIO(data), d, len(data))))
    t.start()
    time.sleep(0.2)
    assert t.is_alive()  # waits on the ingest lock
    w.write(data)
    w.commit()
    t.join(5)
    assert result == [d]  # ... then finds the blob committed


def test_tmp_ingest_is_discarded_on_close(store):
    with store.writer() as w:
        w.write(b"no digest known")
    assert store.ingests() == [] and os.listdir(store.ingest_dir) == []


def test_abort_spares_active_and_young_ingests(store):
    d = sha(b"abc")
    w = store.writer(d, 3)
    w.write(b"a")
    ref = store.ingests()[0].ref
    assert store.ingests()[0].active
    assert not store.abort(ref)  # held
    w.close()
    assert not store.abort(ref, min_age=3600)  # too young
    assert store.abort(ref)
    assert store.ingests() == [] and os.listdir(store.ingest_dir) == []
    with pytest.raises(InvalidArgument):
        store.abort("../x")


def test_write_after_commit_is_refused(store):
    w = store.writer()
    w.write(b"a")
    w.commit()
    with pytest.raises(InvalidArgument):
        w.write(b"b")


def test_lease_and_claim(store, tmp_path):
    leases = os.path.join(store.root, "leases")
    data = b"leased"
    with Lease(leases) as lease:
        d = store.ingest(io.BytesIO(data), lease=lease)
        assert read_lease(lease.path) == {d}
        assert store.claim(d, lease)
        assert not store.claim(sha(b"absent"), lease)
        assert read_lease(lease.path) == {d, sha(b"absent")}
        with pytest.raises(Conflict):
            Lease(leases, lease.id)
    assert os.listdir(leases) == []
    with open(os.path.join(leases, "dead"), "w") as f:  # an owner that died
        f.write(d + "\n")
    assert read_lease(os.path.join(leases, "dead")) is None
    assert os.listdir(leases) == []


def test_file_lock_excludes_and_survives_unlink(tmp_path):
    path = str(tmp_path / "x.lock")
    a, b = FileLock(path), FileLock(path)
    assert a.acquire()
    assert not b.acquire(blocking=False)
    assert not b.acquire(timeout=0.05)
    got = []
    t = threading.Thread(target=lambda: got.append(b.acquire()))
    t.start()
    time.sleep(0.1)
    a.unlink()  # the waiter must not keep the unlinked inode's lock
    t.join(5)
    assert got == [True] and os.path.exists(path)
    assert os.stat(path).st_ino == os.fstat(b.fd).st_ino
    assert not FileLock(path).acquire(blocking=False)
    b.unlink()
    assert not os.path.exists(path)
    s1, s2 = FileLock(path), FileLock(path)
    assert s1.acquire(shared=True) and s2.acquire(shared=True, blocking=False)
    s1.release()
    s2.release()
    os.unlink(path)


def test_atomic_write_replaces_whole(tmp_path):
    p = str(tmp_path / "f.json")
    atomic_write(p, b"one")
    atomic_write(p, b"two")
    assert open(p, "rb").read() == b"two"
    assert os.listdir(tmp_path) == ["f.json"]
