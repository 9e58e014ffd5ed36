"""Snapshots mounted for real (root): overlay stacks from the snapshotter's mount
descriptions, a container's writes landing in its upper directory, the short-link path for
stacks whose absolute lowerdir list does not fit a page, read-only views, and cleanup.

Most tests unpack with a stand-in apply function (layer i writes ``layer-<i>`` and
overwrites ``shared``), since they are about how layers stack in a mount, not about tar
handling; the last one uses the real ``onggi.image.apply.apply_layer`` on tarfile-made
layers when that module exists.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import io
import json
import os
import stat
import tarfile

import pytest
from support import need_root

from onggi.image import snapshots_mount as sm
from onggi.image.store import ImageStore
from onggi.oci import mediatypes as mt


def stacking_apply(stream, dest: str, *, compression: str = "auto") -> None:  # noqa: ANN001
    """Stand-in apply: the blob holds ``<i>``; writes layer-<i> and shared = <i>."""
    i = stream.read().decode()
    for name in (f"layer-{i}", "shared"):
        with open(os.path.join(dest, name), "w") as f:
            f.write(i)


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f)


@pytest.fixture
def env(tmp_path):  # noqa: ANN001, ANN201
    """(make_store, mount) with every mount undone and every store removed at the end."""
    need_root()
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            pytest.skip("overlayfs is not available")
    before = mount_points()
    targets: list[str] = []

    def mount(mounts: list[sm.Mount], target: str) -> None:
        sm.mount_all(mounts, target)
        targets.append(target)

    yield tmp_path, mount
    for t in reversed(targets):
        try:
            sm.unmount(t, detach=True)
        except Exception:
            pass
    assert mount_points() == before, "a test left a mount behind"


def make_image(store: ImageStore, layers: list[bytes], media_type: str, diff_ids: list[str],
               name: str) -> None:
    lds = [store.blobs.put(b) for b in layers]
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cd = store.blobs.put(cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                      "config": {"mediaType": mt.OCI_CONFIG, "digest": cd, "size": len(cfg)},
                      "layers": [{"mediaType": media_type, "digest": d, "size": len(b)}
                                 for d, b in zip(lds, layers)]}).encode()
    store.commit_image(store.blobs.put(man), [name])


def stacked_image(store: ImageStore, n: int, name: str = "r:1") -> None:
    layers = [str(i).encode() for i in range(n)]
    ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in layers]
    make_image(store, layers, mt.OCI_LAYER, ids, name)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_container_overlay_writes_go_to_upper(env):
    tmp, mount = env
    store = ImageStore(str(tmp / "store"), apply_layer=stacking_apply)
    stacked_image(store, 3)
    mounts = store.create_container("c1", "r:1")
    assert mounts[0].type == "overlay" and mounts[0].cwd is None
    c = store.snapshots.container("c1")
    mount(mounts, c.merged)
    assert read(os.path.join(c.merged, "shared")) == "2"  # the top layer wins
    assert sorted(os.listdir(c.merged)) == ["layer-0", "layer-1", "layer-2", "shared"]
    with open(os.path.join(c.merged, "new"), "w") as f:
        f.write("written")
    os.unlink(os.path.join(c.merged, "layer-0"))
    assert read(os.path.join(c.upper, "new")) == "written"
    wh = os.stat(os.path.join(c.upper, "layer-0"))
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0  # a whiteout
    for s in store.snapshots.lowers(c.parent):  # the layers are untouched
        assert os.listdir(s.path)
    assert os.path.exists(os.path.join(store.snapshots.lowers(c.parent)[-1].path, "layer-0"))
    with pytest.raises(Exception):
        store.snapshots.remove_container("c1")  # still mounted
    sm.unmount(c.merged)
    store.snapshots.remove_container("c1")
    store.remove("r:1")
    report = store.gc()
    assert len(report.snapshots) == 3 and store.snapshots.list() == []


def test_many_layers_use_short_links(env):
    tmp, mount = env
    deep = tmp / ("long-store-path-" + "x" * 60)
    store = ImageStore(str(deep), apply_layer=stacking_apply)
    n = 120
    stacked_image(store, n)
    cwd = os.getcwd()
    mounts = store.create_container("many", "r:1")
    [m] = mounts
    assert m.cwd == store.root and m.options[0].startswith("lowerdir=l/")
    absolute = ":".join(s.path for s in store.snapshots.lowers(store.get("r:1").chain))
    assert len(absolute) > sm.PAGE_SIZE  # the case the links are for
    c = store.snapshots.container("many")
    mount(mounts, c.merged)
    assert os.getcwd() == cwd  # the mount's chdir stayed in its own thread
    assert read(os.path.join(c.merged, "shared")) == str(n - 1)
    assert len(os.listdir(c.merged)) == n + 1
    with open(os.path.join(c.merged, "top"), "w") as f:
        f.write("upper")
    assert read(os.path.join(c.upper, "top")) == "upper"
    sm.unmount(c.merged)
    store.snapshots.remove_container("many")
    store.remove("r:1")
    assert len(store.gc().snapshots) == n
    assert os.listdir(store.snapshots.links) == [] and store.snapshots.list() == []


def test_read_only_views(env):
    tmp, mount = env
    store = ImageStore(str(tmp / "store"), apply_layer=stacking_apply)
    stacked_image(store, 1, "r:one")
    stacked_image(store, 2, "r:two")
    for key, ref, kind in (("v1", "r:one", "bind"), ("v2", "r:two", "overlay")):
        mounts = store.create_container(key, ref, readonly=True)
        assert mounts[0].type == kind
        c = store.snapshots.container(key)
        mount(mounts, c.merged)
        assert os.listdir(c.merged)
        with pytest.raises(OSError) as e:
            open(os.path.join(c.merged, "x"), "w")
        assert e.value.errno == errno.EROFS
        sm.unmount(c.merged)
        store.snapshots.remove_container(key)
    with pytest.raises(Exception):
        sm.unmount(str(tmp))  # not a mount point


def tar_layer(files: dict[str, bytes | None]) -> bytes:
    """A gzip'ed tar layer; a None value is a whiteout of that name."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            if data is None:
                d, base = os.path.split(name)
                name, data = os.path.join(d, ".wh." + base), b""
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_real_apply_layer_with_tar_layers(env):
    apply_mod = pytest.importorskip("onggi.image.apply")
    tmp, mount = env
    store = ImageStore(str(tmp / "store"), apply_layer=functools.partial(apply_mod.apply_layer, whiteouts="overlay"))
    raw = [{"etc/os": b"base", "bin/tool": b"v1", "gone": b"x"},
           {"bin/tool": b"v2", "gone": None}]
    layers = [tar_layer(f) for f in raw]
    import gzip

    ids = ["sha256:" + hashlib.sha256(gzip.decompress(b)).hexdigest() for b in layers]
    make_image(store, layers, mt.OCI_LAYER_GZIP, ids, "r:tar")
    mounts = store.create_container("t1", "r:tar")
    c = store.snapshots.container("t1")
    mount(mounts, c.merged)
    assert read(os.path.join(c.merged, "bin/tool")) == "v2"
    assert read(os.path.join(c.merged, "etc/os")) == "base"
    assert not os.path.exists(os.path.join(c.merged, "gone"))
    sm.unmount(c.merged)
    store.snapshots.remove_container("t1")


def test_hardlink_to_a_file_of_a_lower_layer(env):
    """An upper layer may hard-link a file that only a lower layer has (the image spec
    allows it; umoci unpacks it): the snapshot apply copies that file up first, and the
    parent directories it has to make look like the lower layer's."""
    from onggi.image.store_transport import _apply_layer

    tmp, mount = env
    store = ImageStore(str(tmp / "store"), apply_layer=_apply_layer)

    def layer(entries: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for info in entries:
                tar.addfile(info, io.BytesIO(data[info.name]) if info.name in data else None)
        return buf.getvalue()

    d = tarfile.TarInfo("usr/lib")
    d.type, d.mode = tarfile.DIRTYPE, 0o750
    f = tarfile.TarInfo("usr/lib/libx.so")
    f.size, f.mode = 5, 0o644
    link = tarfile.TarInfo("usr/lib/libx.so.1")
    link.type, link.linkname = tarfile.LNKTYPE, "usr/lib/libx.so"
    layers = [layer([d, f], {"usr/lib/libx.so": b"elf!\n"}), layer([link], {})]
    import gzip

    ids = ["sha256:" + hashlib.sha256(gzip.decompress(b)).hexdigest() for b in layers]
    make_image(store, layers, mt.OCI_LAYER_GZIP, ids, "r:hl")
    mounts = store.create_container("hl", "r:hl")
    c = store.snapshots.container("hl")
    mount(mounts, c.merged)
    try:
        assert read(os.path.join(c.merged, "usr/lib/libx.so.1")) == "elf!\n"
        a = os.stat(os.path.join(c.merged, "usr/lib/libx.so"))
        b = os.stat(os.path.join(c.merged, "usr/lib/libx.so.1"))
        assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)  # one file, as the layer says
        # the upper layer lists no usr/ or usr/lib/: they keep the lower layer's mode
        assert os.stat(os.path.join(c.merged, "usr/lib")).st_mode & 0o7777 == 0o750
    finally:
        sm.unmount(c.merged)
        store.snapshots.remove_container("hl")


def test_hardlink_to_a_whited_out_lower_file_is_refused(tmp_path):
    """A file deleted by a layer in between is not there to link to."""
    if os.geteuid() != 0:
        pytest.skip("overlay whiteouts are device nodes: needs root")
    from onggi.image.apply import BadLayer, apply_layer

    bottom, middle, top = (tmp_path / n for n in ("bottom", "middle", "top"))
    (bottom / "a").mkdir(parents=True)
    (bottom / "a/x").write_text("secret\n")
    (middle / "a").mkdir(parents=True)
    os.mknod(middle / "a/x", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    top.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("y")
        link.type, link.linkname = tarfile.LNKTYPE, "a/x"
        tar.addfile(link)
    with pytest.raises(BadLayer, match="not in this layer or a lower one"):
        apply_layer(io.BytesIO(buf.getvalue()), str(top), whiteouts="overlay",
                    lowers=[str(middle), str(bottom)])
    assert os.listdir(top) == []
    # without the whiteout in between, the file is copied up and linked
    apply_layer(io.BytesIO(buf.getvalue()), str(top), whiteouts="overlay", lowers=[str(bottom)])
    assert (top / "y").read_text() == "secret\n" and (top / "a/x").stat().st_nlink == 2
