"""onggi's layer apply against ``umoci unpack``: an OCI image layout made by hand here (an
``oci-layout`` file, ``index.json``, a config and three gzip layers in ``blobs/sha256``)
holding whiteouts, an opaque directory, hardlinks across layers, symlinks, xattrs
(``security.capability`` too), set-id bits, devices and long names; umoci unpacks it into a
bundle, apply_layer applies the same blobs into another directory, and the two trees are
compared file for file: type, content, mode, owner, xattrs, symlink targets, device
numbers, hardlink groups and modification times, directories' included (both put back the
time of a lower directory that a later layer writes into without an entry for it)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from onggi.image.apply import apply_layer
from onggi.oci import mediatypes as MT

pytestmark = pytest.mark.interop

T0 = 1_600_000_000
CAP = bytes.fromhex("0100000200200000000000000000000000000000")  # v2, effective, cap_net_raw


def _e(name: str, type: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644, uid: int = 0,
       gid: int = 0, mtime: float = T0, link: str = "", xattrs: dict[str, bytes] | None = None,
       dev: tuple[int, int] = (0, 0)) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.linkname = type, mode, uid, gid, mtime, link
    ti.size = len(data) if type == tarfile.REGTYPE else 0
    ti.devmajor, ti.devminor = dev
    ti.pax_headers = {"SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape")
                      for k, v in (xattrs or {}).items()}
    return ti, data


def _d(name: str, mode: int = 0o755, **kw) -> tuple[tarfile.TarInfo, bytes]:  # noqa: ANN003
    return _e(name, tarfile.DIRTYPE, mode=mode, **kw)


LONG_DIRS = ["usr/share/" + "/".join(f"long-directory-name-{i}" for i in range(n + 1)) for n in range(6)]
LONG = LONG_DIRS[-1] + "/file.txt"  # 150 characters, in directories listed in the layer

LAYERS = [
    [  # base
        _d("./"), _d("bin"), _d("etc"), _d("usr"), _d("usr/share"), _d("var"), _d("var/lib", mode=0o750),
        _d("tmp", mode=0o1777), _d("dev"), _d("opaque"), _d("opaque/sub"), _d("gone-dir"), _d("home"),
        _d("home/user", mode=0o700, uid=1000, gid=1000),
        _e("bin/busybox", data=b"\x7fELF" + os.urandom(200_000), mode=0o755),
        _e("bin/su", data=b"su binary", mode=0o4755), _e("bin/wall", data=b"wall", mode=0o2755, gid=5),
        _e("bin/ping", data=b"ping", mode=0o755, xattrs={"security.capability": CAP}),
        _e("bin/sh", tarfile.SYMTYPE, link="busybox", mode=0o777),
        _e("bin/ls", tarfile.LNKTYPE, link="bin/busybox"),
        _e("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
        _e("etc/shadow", data=b"root:*:1::::::\n", mode=0o640),
        _e("etc/mtab", tarfile.SYMTYPE, link="/proc/mounts", mode=0o777),
        _e("etc/tagged", data=b"t", xattrs={"user.note": b"hello", "user.bin": b"\x00\xff\x01"}),
        _e("home/user/.profile", data=b"export A=1\n", mode=0o600, uid=1000, gid=1000, mtime=T0 + 0.5),
        _e("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        _e("dev/loop0", tarfile.BLKTYPE, mode=0o660, gid=6, dev=(7, 0)),
        _e("dev/initctl", tarfile.FIFOTYPE, mode=0o600),
        _e("opaque/old", data=b"old"), _e("opaque/sub/old2", data=b"old2"),
        _e("gone-file", data=b"bye"), _e("gone-dir/inner", data=b"bye"),
        _e("will-be-dir", data=b"file"), _d("will-be-link"), _e("will-be-link/x"),
        *(_d(d) for d in LONG_DIRS), _e(LONG, data=b"long name"),
    ],
    [  # whiteouts, an opaque dir, replacements, a hardlink to a lower file
        _e(".wh.gone-file"), _e(".wh.gone-dir"),
        _d("opaque", mode=0o711), _e("opaque/.wh..wh..opq"), _e("opaque/new", data=b"new"),
        _d("will-be-dir", mode=0o700), _e("will-be-dir/child", data=b"c"),
        _e("will-be-link", tarfile.SYMTYPE, link="/etc", mode=0o777),
        _d("bin"), _e("bin/su-link", tarfile.LNKTYPE, link="bin/su"),
        _d("etc"),
        _e("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"),
        _e("etc/shadow", data=b"changed\n", mode=0o600, mtime=T0 + 100),
    ],
    [  # more on top: a file over a symlink, a new hardlink group, changed attributes
        _d("etc"), _e("etc/mtab", data=b"now a file\n"),
        _d("srv", mode=0o755, uid=33, gid=33), _e("srv/a", data=b"shared", uid=33, gid=33),
        _e("srv/b", tarfile.LNKTYPE, link="srv/a"), _e("srv/c", tarfile.LNKTYPE, link="srv/a"),
        _e("bin/ping", data=b"ping2", mode=0o755, xattrs={"security.capability": CAP, "user.v": b"2"}),
    ],
]


def _blob(root: str, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def make_layout(root: str, tag: str) -> list[bytes]:
    """An OCI image layout at ``root`` with image ``tag``; returns the gzip layer blobs."""
    os.makedirs(os.path.join(root, "blobs", "sha256"))
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    blobs, descs, diff_ids = [], [], []
    for entries in LAYERS:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for ti, data in entries:
                tf.addfile(ti, io.BytesIO(data) if ti.size else None)
        gz = gzip.compress(raw.getvalue(), mtime=0)
        blobs.append(gz)
        digest, size = _blob(root, gz)
        descs.append({"mediaType": MT.OCI_LAYER_GZIP, "digest": digest, "size": size})
        diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created_by": f"layer {i}"} for i in range(len(LAYERS))]}
    cdigest, csize = _blob(root, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": MT.OCI_MANIFEST,
                "config": {"mediaType": MT.OCI_CONFIG, "digest": cdigest, "size": csize}, "layers": descs}
    mdigest, msize = _blob(root, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "mediaType": MT.OCI_INDEX,
             "manifests": [{"mediaType": MT.OCI_MANIFEST, "digest": mdigest, "size": msize,
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump(index, f)
    return blobs


def describe(top: str) -> tuple[dict, set]:
    """path -> attributes, and the hardlink groups (sets of paths sharing an inode)."""
    files, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, top)
            st = os.lstat(p)
            xattrs = {k: os.getxattr(p, k, follow_symlinks=False)
                      for k in os.listxattr(p, follow_symlinks=False)}
            a = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
                 "gid": st.st_gid, "xattrs": xattrs}
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    a["sha256"] = hashlib.sha256(f.read()).hexdigest()
                inodes.setdefault(st.st_ino, set()).add(rel)
            elif stat.S_ISLNK(st.st_mode):
                a["target"] = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                a["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            a["mtime_ns"] = st.st_mtime_ns
            files[rel] = a
    return files, {frozenset(g) for g in inodes.values() if len(g) > 1}


@pytest.fixture
def umoci(tmp_path):  # noqa: ANN001, ANN201
    exe = shutil.which("umoci")
    if exe is None:
        pytest.skip("umoci is not installed (apt-get install umoci)")
    if os.geteuid() != 0:
        pytest.skip("needs root: the image has devices and files owned by several users")
    return exe


def test_apply_matches_umoci_unpack(umoci, tmp_path) -> None:  # noqa: ANN001
    layout, bundle, ours = str(tmp_path / "layout"), str(tmp_path / "bundle"), str(tmp_path / "ours")
    blobs = make_layout(layout, "test")
    r = subprocess.run([umoci, "unpack", "--image", f"{layout}:test", bundle], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.mkdir(ours)
    for i, blob in enumerate(blobs):
        stats = apply_layer(io.BytesIO(blob), ours, compression="gzip", what=f"layer {i}")
        assert not stats.skipped, stats.skipped
    theirs, their_links = describe(os.path.join(bundle, "rootfs"))
    mine, my_links = describe(ours)
    assert os.stat(ours).st_mtime_ns == os.stat(os.path.join(bundle, "rootfs")).st_mtime_ns
    assert sorted(mine) == sorted(theirs)
    diffs = {p: (mine[p], theirs[p]) for p in theirs if mine[p] != theirs[p]}
    assert not diffs
    assert my_links == their_links
    assert {frozenset({"srv/a", "srv/b", "srv/c"}), frozenset({"bin/su", "bin/su-link"}),
            frozenset({"bin/busybox", "bin/ls"})} == my_links
    assert mine["bin/ping"]["xattrs"] == {"security.capability": CAP, "user.v": b"2"}
    assert "gone-file" not in mine and "opaque/old" not in mine and "opaque/sub" not in mine


def test_layout_is_valid(tmp_path) -> None:  # noqa: ANN001
    """The hand-made layout passes oci-image-tool's validation (the test's own input)."""
    tool = shutil.which("oci-image-tool")
    if tool is None:
        pytest.skip("oci-image-tool is not installed (apt-get install oci-image-tool)")
    layout = str(tmp_path / "layout")
    make_layout(layout, "test")
    r = subprocess.run([tool, "validate", "--type", "image", "--ref", "name=test", layout],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
