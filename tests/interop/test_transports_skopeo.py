"""The file transports (``oci:``, ``oci-archive:``, ``dir:``) against skopeo, umoci and
oci-image-tool: what onggi writes they read and validate, what they write onggi reads,
byte for byte the same blobs and manifests. The test image is made locally by umoci
(two layers) in a temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile

import pytest

from onggi import transports as T
from onggi.oci.digest import DigestMismatch
from onggi.transports.copy import copy

pytestmark = pytest.mark.interop

SKOPEO = shutil.which("skopeo") or "skopeo"
UMOCI = shutil.which("umoci") or "umoci"
OIT = shutil.which("oci-image-tool")


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def onggi_copy(src: str, dst: str, **kw) -> str:  # noqa: ANN003
    from onggi.transports.copy import CopyOptions

    ts, rs = T.parse(src)
    td, rd = T.parse(dst)
    with ts.source(rs) as s, td.destination(rd) as d:
        return copy(s, d, CopyOptions(**kw))


def test_oci_to_dir_matches_skopeo(layout, tmp_path):  # noqa: ANN001
    digest = onggi_copy(f"oci:{layout}:img", f"dir:{tmp_path}/ours")
    run(SKOPEO, "copy", "-q", f"oci:{layout}:img", f"dir:{tmp_path}/theirs")
    ours, theirs = sorted(os.listdir(tmp_path / "ours")), sorted(os.listdir(tmp_path / "theirs"))
    assert ours == theirs
    for name in ours:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes(), name
    assert json.loads(run(SKOPEO, "inspect", f"dir:{tmp_path}/ours"))["Digest"] == digest


def test_round_trip_through_every_file_transport(layout, tmp_path):  # noqa: ANN001
    d0 = onggi_copy(f"oci:{layout}:img", f"oci-archive:{tmp_path}/a.tar:x")
    d1 = onggi_copy(f"oci-archive:{tmp_path}/a.tar:x", f"dir:{tmp_path}/d")
    d2 = onggi_copy(f"dir:{tmp_path}/d", f"oci:{tmp_path}/lay2:y")
    assert d0 == d1 == d2  # untouched manifests keep their bytes
    # the peers read and validate what onggi wrote
    assert json.loads(run(SKOPEO, "inspect", f"oci-archive:{tmp_path}/a.tar:x"))["Digest"] == d0
    assert json.loads(run(SKOPEO, "inspect", f"oci:{tmp_path}/lay2:y"))["Digest"] == d0
    if OIT:
        assert "Validation succeeded" in run(OIT, "validate", "--type", "image", "--ref", "name=y",
                                             f"{tmp_path}/lay2")
    run(UMOCI, "unpack", "--image", f"{tmp_path}/lay2:y", f"{tmp_path}/bundle")
    assert (tmp_path / "bundle/rootfs/data1/file1").read_bytes() == b"second layer\n" * 100
    shutil.rmtree(tmp_path / "bundle")


def test_reads_what_skopeo_writes(layout, tmp_path):  # noqa: ANN001
    run(SKOPEO, "copy", "-q", f"oci:{layout}:img", f"oci-archive:{tmp_path}/s.tar:v")
    digest = onggi_copy(f"oci-archive:{tmp_path}/s.tar:v", f"oci:{tmp_path}/out:v")
    assert json.loads(run(SKOPEO, "inspect", f"oci:{layout}:img"))["Digest"] == digest


def test_oci_layout_keeps_other_images(layout, tmp_path):  # noqa: ANN001
    shutil.copytree(layout, tmp_path / "lay")
    onggi_copy(f"oci:{layout}:img", f"oci:{tmp_path}/lay:copy")
    onggi_copy(f"oci:{layout}:img", f"oci:{tmp_path}/lay:copy")  # same name again: replaced
    index = json.loads((tmp_path / "lay/index.json").read_text())
    names = sorted(e["annotations"]["org.opencontainers.image.ref.name"] for e in index["manifests"])
    assert names == ["copy", "img"]


def test_corrupt_blob_is_refused_and_nothing_is_committed(layout, tmp_path):  # noqa: ANN001
    shutil.copytree(layout, tmp_path / "lay")
    index = json.loads((tmp_path / "lay/index.json").read_text())
    manifest = json.loads((tmp_path / "lay/blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    layer = manifest["layers"][-1]["digest"]
    blob = tmp_path / "lay/blobs/sha256" / layer[7:]
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch) as ei:
        onggi_copy(f"oci:{tmp_path}/lay:img", f"oci:{tmp_path}/out:z")
    assert layer in str(ei.value)
    assert not (tmp_path / "out/index.json").exists()
    assert not any(n.startswith(".tmp") for n in os.listdir(tmp_path / "out/blobs/sha256"))


def test_dir_destination_refuses_a_foreign_directory(layout, tmp_path):  # noqa: ANN001
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious/keep.txt").write_text("mine")
    from onggi.errors import AlreadyExists

    with pytest.raises(AlreadyExists, match="not a dir: image"):
        onggi_copy(f"oci:{layout}:img", f"dir:{tmp_path}/precious")
    assert (tmp_path / "precious/keep.txt").read_text() == "mine"


def test_archive_with_escaping_members_writes_nothing_outside(layout, tmp_path):  # noqa: ANN001
    """An oci-archive whose members try to leave the archive: ``../``, absolute names and
    symlinks are never followed or created."""
    canary = tmp_path / "canary"
    canary.mkdir()
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        for name in ("oci-layout", "index.json"):
            tf.add(os.path.join(layout, name), arcname=name)
        for root, _, files in os.walk(os.path.join(layout, "blobs")):
            for f in files:
                p = os.path.join(root, f)
                tf.add(p, arcname=os.path.relpath(p, layout))
        for name in (f"../{canary.name}/x", f"{canary}/abs"):
            info = tarfile.TarInfo(name)
            info.size = 3
            import io

            tf.addfile(info, io.BytesIO(b"bad"))
        link = tarfile.TarInfo("blobs/sha256/" + "0" * 64)
        link.type = tarfile.SYMTYPE
        link.linkname = str(canary)
        tf.addfile(link)
    onggi_copy(f"oci-archive:{evil}:img", f"oci:{tmp_path}/out:img")
    assert os.listdir(canary) == []


def _multiarch(layout: str, dest) -> str:  # noqa: ANN001
    """Copy ``layout``'s image into ``dest`` as an OCI index of two images: the original
    (amd64) and one whose config says arm64/v8 (same layers); returns the layout path."""
    shutil.copytree(layout, dest)
    blobs = os.path.join(dest, "blobs/sha256")
    index = json.loads(open(os.path.join(dest, "index.json")).read())
    entry = index["manifests"][0]
    raw = open(os.path.join(blobs, entry["digest"][7:]), "rb").read()
    manifest = json.loads(raw)
    config = json.loads(open(os.path.join(blobs, manifest["config"]["digest"][7:]), "rb").read())
    config.update(architecture="arm64", variant="v8")
    import hashlib

    def put(data: bytes) -> str:
        h = hashlib.sha256(data).hexdigest()
        open(os.path.join(blobs, h), "wb").write(data)
        return "sha256:" + h

    cfg = json.dumps(config).encode()
    manifest["config"] = dict(manifest["config"], digest=put(cfg), size=len(cfg))
    arm = json.dumps(manifest).encode()
    entries = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": entry["digest"],
                "size": entry["size"], "platform": {"os": "linux", "architecture": "amd64"}},
               {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(arm),
                "size": len(arm), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": entries}).encode()
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(idx),
                           "size": len(idx), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
    open(os.path.join(dest, "index.json"), "w").write(json.dumps(index))
    return str(dest)


def test_index_platform_choice_and_all(layout, tmp_path):  # noqa: ANN001
    import platform as host

    if host.machine() not in ("x86_64", "amd64"):
        pytest.skip("the test image's first entry is amd64")
    multi = _multiarch(layout, tmp_path / "multi")
    amd = json.loads(run(SKOPEO, "inspect", "--raw", f"oci:{multi}:multi"))["manifests"][0]["digest"]
    arm = json.loads(run(SKOPEO, "inspect", "--raw", f"oci:{multi}:multi"))["manifests"][1]["digest"]
    assert onggi_copy(f"oci:{multi}:multi", f"dir:{tmp_path}/host") == amd
    from onggi.oci.platform import Platform

    assert onggi_copy(f"oci:{multi}:multi", f"dir:{tmp_path}/arm",
                      platform=Platform("linux", "arm64", "v8")) == arm
    top = onggi_copy(f"oci:{multi}:multi", f"oci:{tmp_path}/all:multi", all_images=True)
    assert json.loads(run(SKOPEO, "inspect", "--raw", f"oci:{tmp_path}/all:multi"))["manifests"][1]["digest"] == arm
    assert run(SKOPEO, "manifest-digest", os.path.join(tmp_path, "all/blobs/sha256", top[7:])).strip() == top
    # skopeo chooses the same image for this host
    assert json.loads(run(SKOPEO, "inspect", f"oci:{tmp_path}/all:multi"))["Architecture"] == "amd64"
    from onggi.errors import NotFound

    with pytest.raises(NotFound, match="linux/s390x.*it has: linux/amd64, linux/arm64/v8"):
        onggi_copy(f"oci:{multi}:multi", f"dir:{tmp_path}/s390", platform=Platform("linux", "s390x"))


def test_local_store_round_trip(layout, tmp_path):  # noqa: ANN001
    from onggi.image.store_transport import StoreTransport

    T.register("onggi", StoreTransport(str(tmp_path / "store")))
    try:
        digest = onggi_copy(f"oci:{layout}:img", "onggi:localhost/test:v1")
        assert onggi_copy("onggi:localhost/test:v1", f"dir:{tmp_path}/out") == digest
        run(SKOPEO, "copy", "-q", f"oci:{layout}:img", f"dir:{tmp_path}/theirs")
        for name in os.listdir(tmp_path / "theirs"):
            assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes()
        # an index goes in whole; the store records this host's image of it
        multi = _multiarch(layout, tmp_path / "multi")
        top = onggi_copy(f"oci:{multi}:multi", "onggi:localhost/multi:1", all_images=True)
        from onggi.image.store import ImageStore

        image = ImageStore(str(tmp_path / "store")).get("localhost/multi:1")
        assert top in image.digests and image.manifest != top  # same config as v1: one image
        assert onggi_copy(f"onggi:{image.id[7:19]}", f"dir:{tmp_path}/byid")  # an id prefix reads too
    finally:
        T.register("onggi", "onggi.image.store_transport:StoreTransport")


def test_docker_archive_both_ways(layout, tmp_path):  # noqa: ANN001
    """docker save format: what onggi writes skopeo reads (layers uncompressed, named by
    diff ID); what skopeo writes onggi reads; converting it to an OCI layout gives the
    same config skopeo makes and gzip layers."""
    onggi_copy(f"oci:{layout}:img", f"docker-archive:{tmp_path}/o.tar:onggi/test:v1")
    s = json.loads(run(SKOPEO, "inspect", f"docker-archive:{tmp_path}/o.tar"))
    config = json.loads(run(SKOPEO, "inspect", "--config", f"oci:{layout}:img"))
    assert s["Layers"] == config["rootfs"]["diff_ids"]  # uncompressed: digest == diff ID
    with tarfile.open(tmp_path / "o.tar") as tf:
        entry = json.load(tf.extractfile("manifest.json"))[0]
    assert entry["RepoTags"] == ["docker.io/onggi/test:v1"]
    run(SKOPEO, "copy", "-q", f"oci:{layout}:img", f"docker-archive:{tmp_path}/s.tar:x/y:z")
    onggi_copy(f"docker-archive:{tmp_path}/s.tar", f"oci:{tmp_path}/ours:x")
    run(SKOPEO, "copy", "-q", f"docker-archive:{tmp_path}/s.tar", f"oci:{tmp_path}/theirs:x")
    ours = json.loads(run(SKOPEO, "inspect", "--raw", f"oci:{tmp_path}/ours:x"))
    theirs = json.loads(run(SKOPEO, "inspect", "--raw", f"oci:{tmp_path}/theirs:x"))
    assert ours["config"] == theirs["config"]  # the same OCI config from the Docker one
    assert [x["mediaType"] for x in ours["layers"]] == [x["mediaType"] for x in theirs["layers"]] \
        == ["application/vnd.oci.image.layer.v1.tar+gzip"] * 2
    run(UMOCI, "unpack", "--image", f"{tmp_path}/ours:x", f"{tmp_path}/bundle")
    assert (tmp_path / "bundle/rootfs/data0/file0").read_bytes() == b"first layer\n"
    shutil.rmtree(tmp_path / "bundle")


def test_recompression_and_preserve_digests(layout, tmp_path):  # noqa: ANN001
    from onggi.errors import FailedPrecondition

    d = onggi_copy(f"oci:{layout}:img", f"oci:{tmp_path}/z:z", compress="zstd")
    raw = json.loads(run(SKOPEO, "inspect", "--raw", f"oci:{tmp_path}/z:z"))
    assert [x["mediaType"] for x in raw["layers"]] == ["application/vnd.oci.image.layer.v1.tar+zstd"] * 2
    assert d != json.loads(run(SKOPEO, "inspect", f"oci:{layout}:img"))["Digest"]
    # the zstd CLI decompresses each layer to the tar its diff ID names
    import hashlib

    diff_ids = json.loads(run(SKOPEO, "inspect", "--config", f"oci:{tmp_path}/z:z"))["rootfs"]["diff_ids"]
    for layer, diff_id in zip(raw["layers"], diff_ids):
        blob = tmp_path / "z/blobs/sha256" / layer["digest"][7:]
        tar = subprocess.run(["zstd", "-dc", str(blob)], check=True, capture_output=True).stdout
        assert "sha256:" + hashlib.sha256(tar).hexdigest() == diff_id
    with pytest.raises(FailedPrecondition, match="preserve-digests"):
        onggi_copy(f"oci:{layout}:img", f"oci:{tmp_path}/p:p", compress="zstd", preserve_digests=True)
