""":mod:`onggi.image.diff` on a real overlay mount: the changes list, and the layer tar
of the upper directory applied onto the lower layer gives exactly the merged view
(whiteouts, opaque directories, owners, modes, xattrs, hard links, fifos, symlinks)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from onggi.image.apply import apply_layer
from onggi.image.diff import Change, changes, write_layer


def _tree(root: str) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            body: object = None
            if stat.S_ISREG(st.st_mode):
                body = open(p, "rb").read()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(p)
            xattrs = {} if stat.S_ISLNK(st.st_mode) else {
                k: os.getxattr(p, k) for k in os.listxattr(p) if k.startswith("user.")}
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body,
                        xattrs, st.st_nlink if stat.S_ISREG(st.st_mode) else 0)
    return out


@pytest.fixture
def overlay(tmp_path):  # noqa: ANN001, ANN201
    if os.geteuid() != 0:
        pytest.skip("overlay mounts need root")
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    (lower / "etc" / "sub").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root\n")
    (lower / "etc" / "sub" / "x").write_text("x\n")
    (lower / "gone").mkdir()
    (lower / "gone" / "a").write_text("a\n")
    (lower / "opaque").mkdir()
    (lower / "opaque" / "old").write_text("old\n")
    (lower / "keep").write_text("keep\n")
    (lower / "rmme").write_text("rm\n")
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={upper},workdir={work}", str(merged)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"overlay mount failed: {r.stderr}")
    try:
        yield lower, upper, merged
    finally:
        subprocess.run(["umount", str(merged)], capture_output=True)


def test_changes_and_layer_round_trip(overlay, tmp_path) -> None:  # noqa: ANN001
    lower, upper, merged = overlay
    m = str(merged)
    with open(f"{m}/etc/passwd", "a") as f:
        f.write("app\n")
    os.unlink(f"{m}/rmme")
    shutil.rmtree(f"{m}/gone")
    shutil.rmtree(f"{m}/opaque")
    os.mkdir(f"{m}/opaque")
    with open(f"{m}/opaque/new", "w") as f:
        f.write("new\n")
    os.makedirs(f"{m}/added/deep")
    with open(f"{m}/added/deep/f", "w") as f:
        f.write("f\n")
    os.chown(f"{m}/added/deep/f", 1234, 5678)
    os.chmod(f"{m}/added/deep/f", 0o4750)
    os.setxattr(f"{m}/added/deep/f", "user.color", b"blue")
    os.link(f"{m}/added/deep/f", f"{m}/added/hard")
    os.symlink("../etc/passwd", f"{m}/added/sym")
    os.mkfifo(f"{m}/added/fifo")
    want_view = _tree(m)

    got = changes(str(upper), [str(lower)])
    assert got == sorted(got)
    kinds = {c.path: c.kind for c in got}
    assert kinds["/etc"] == "C" and kinds["/etc/passwd"] == "C" and "/etc/sub" not in kinds
    assert kinds["/rmme"] == "D" and kinds["/gone"] == "D" and "/gone/a" not in kinds
    assert kinds["/opaque"] == "C" and kinds["/opaque/old"] == "D" and kinds["/opaque/new"] == "A"
    assert kinds["/added"] == kinds["/added/deep/f"] == kinds["/added/fifo"] == "A"
    assert "/keep" not in kinds and Change("/added/sym", "A") in got

    buf = io.BytesIO()
    write_layer(str(upper), buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        names = {x.name: x for x in tf.getmembers()}
    assert ".wh.rmme" in names and "rmme" not in names
    assert ".wh.gone" in names and "opaque/.wh..wh..opq" in names and names["added/hard"].islnk()
    assert not [n for n, x in names.items() if x.ischr()]
    assert not [n for n, x in names.items() if any("overlay" in k for k in x.pax_headers)]
    assert names["added/deep/f"].pax_headers.get("SCHILY.xattr.user.color") == "blue"

    # the layer on a copy of the lower layer: the merged view, exactly
    flat = tmp_path / "flat"
    shutil.copytree(lower, flat, symlinks=True)
    buf.seek(0)
    apply_layer(buf, str(flat), compression="none")
    assert _tree(str(flat)) == want_view
