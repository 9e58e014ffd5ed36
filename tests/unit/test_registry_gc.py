"""Registry garbage collection: mark from every manifest of every repository, sweep the
rest; dry run; --delete-untagged keeping referrers and index children; crash leftovers."""

from __future__ import annotations

import json
import os
import time

from onggi.oci import mediatypes as MT
from onggi.registry.gc import collect
from onggi.registry.storage import RegistryStorage
from test_registry_storage import image, push_blob, sha


def _setup(tmp_path) -> tuple[RegistryStorage, dict[str, str]]:  # noqa: ANN001
    st = RegistryStorage(str(tmp_path / "reg"))
    ids: dict[str, str] = {}
    m1 = image(st, "a", [b"shared", b"only-a"])
    ids["m1"], _ = st.put_manifest("a", "v1", m1, MT.OCI_MANIFEST)
    m2 = image(st, "b", [b"shared", b"only-b-old"])
    ids["m2"], _ = st.put_manifest("b", "v1", m2, MT.OCI_MANIFEST)
    m3 = image(st, "b", [b"shared", b"only-b-new"])
    ids["m3"], _ = st.put_manifest("b", "v1", m3, MT.OCI_MANIFEST)  # m2 is now untagged
    ids["orphan"] = push_blob(st, "a", b"pushed, never referenced")
    return st, ids


def test_dry_run_changes_nothing(tmp_path) -> None:  # noqa: ANN001
    st, ids = _setup(tmp_path)
    before = sorted(os.walk(st.root))
    r = collect(st, dry_run=True)
    assert [d for d, _ in r.blobs] == [ids["orphan"]]
    assert r.freed == len(b"pushed, never referenced")
    assert sorted(os.walk(st.root)) == before


def test_sweep_keeps_everything_referenced(tmp_path) -> None:  # noqa: ANN001
    st, ids = _setup(tmp_path)
    r = collect(st)
    assert [d for d, _ in r.blobs] == [ids["orphan"]]
    assert not st.has_blob(ids["orphan"]) and not os.path.exists(st.layout.blob_link("a", ids["orphan"]))
    for repo, key in (("a", "m1"), ("b", "m2"), ("b", "m3")):  # untagged m2 stays by default
        data, _ = st.read_manifest(repo, ids[key])
        for d in json.loads(data)["layers"]:
            assert st.repo_has_blob(repo, d["digest"])
    assert collect(st).blobs == []  # nothing more to do


def test_delete_untagged(tmp_path) -> None:  # noqa: ANN001
    st, ids = _setup(tmp_path)
    # a referrer of the tagged m3 and an index over m3: both must survive
    sig = image(st, "b", [b"signature"], subject={"mediaType": MT.OCI_MANIFEST, "digest": ids["m3"], "size": 1})
    sig_d, _ = st.put_manifest("b", sha(sig), sig, MT.OCI_MANIFEST)
    m3_len = len(st.read_manifest("b", ids["m3"])[0])
    idx = json.dumps({"schemaVersion": 2, "mediaType": MT.OCI_INDEX, "manifests": [
        {"mediaType": MT.OCI_MANIFEST, "digest": ids["m3"], "size": m3_len}]}).encode()
    idx_d, _ = st.put_manifest("b", "multi", idx, MT.OCI_INDEX)
    st.delete_tag("b", "v1")  # m3 is now reachable only through the index
    dry = collect(st, dry_run=True, delete_untagged=True)
    assert dry.manifests == [("b", ids["m2"])]
    assert st.manifest_type("b", ids["m2"]) is not None
    r = collect(st, delete_untagged=True)
    assert r.manifests == [("b", ids["m2"])]
    assert st.manifest_type("b", ids["m2"]) is None
    swept = {d for d, _ in r.blobs}
    assert sha(b"only-b-old") in swept and ids["m2"] in swept and ids["orphan"] in swept
    assert sha(b"only-b-new") not in swept and sha(b"signature") not in swept
    assert st.resolve("b", "multi") == idx_d
    assert [x["digest"] for x in st.referrers("b", ids["m3"])] == [sig_d]


def test_leftovers_and_stale_uploads(tmp_path) -> None:  # noqa: ANN001
    st, ids = _setup(tmp_path)
    old = time.time() - 3 * 86400
    tmp = os.path.join(st.layout.blobs, "sha256", ".tmp-crashed")
    open(tmp, "wb").write(b"half")
    stale, live = st.layout.upload("a" * 32), st.layout.upload("b" * 32)
    os.makedirs(stale)
    os.makedirs(live)
    for p in (tmp, stale):
        os.utime(p, (old, old))
    r = collect(st)
    assert r.uploads == ["a" * 32] and r.leftovers == [tmp]
    assert not os.path.exists(stale) and os.path.exists(live) and not os.path.exists(tmp)


def test_grace_spares_fresh_blobs(tmp_path) -> None:  # noqa: ANN001
    st, ids = _setup(tmp_path)
    assert collect(st, grace=3600).blobs == []
    assert st.has_blob(ids["orphan"])
