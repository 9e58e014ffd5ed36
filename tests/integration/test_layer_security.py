"""Hostile layers: one test per way out of the destination that container tools have been
caught by (docker CVE-2014-6407 / CVE-2014-9356 hardlink and symlink escapes, umoci
CVE-2021-29136 root replaced by a symlink, containerd CVE-2021-32760 metadata changes
through a symlink, whiteouts that delete outside). Each test applies a crafted layer and
checks (a) the refusal or the sanitised result inside ``dest`` and (b) that nothing outside
``dest`` changed: a canary directory, addressed by absolute and relative paths, and the
directory holding ``dest``, are snapshotted before and after."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

import pytest
from test_layer_apply import D, E, H, S, apply, layer

from onggi.image.apply import BadLayer


def snapshot(top: str, skip: str) -> dict:
    """Everything about every path under ``top`` except the subtree ``skip``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if dirpath == skip:
            dirnames[:] = []
            continue
        for n in sorted(dirnames + filenames) + ["."]:
            p = os.path.normpath(os.path.join(dirpath, n))
            if p == skip:
                continue
            st = os.lstat(p)
            info = (st.st_mode, st.st_uid, st.st_gid, st.st_nlink, st.st_size, st.st_mtime_ns,
                    st.st_ino, tuple(sorted(os.listxattr(p, follow_symlinks=False))))
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    info += (hashlib.sha256(f.read()).hexdigest(),)
            elif stat.S_ISLNK(st.st_mode):
                info += (os.readlink(p),)
            out[p] = info
    return out


@pytest.fixture
def env(tmp_path):  # noqa: ANN001, ANN201
    """(dest, canary): ``tmp_path/rootfs`` and ``tmp_path/canary`` (with ``secret``, a
    0600 file, and ``sub/file``); asserts afterwards that nothing but ``dest`` changed."""
    if os.geteuid() != 0:
        pytest.skip("needs root (layer apply with ownership and devices)")
    dest, canary = tmp_path / "rootfs", tmp_path / "canary"
    dest.mkdir()
    (canary / "sub").mkdir(parents=True)
    (canary / "secret").write_bytes(b"s3cret")
    (canary / "secret").chmod(0o600)
    (canary / "sub" / "file").write_bytes(b"f")
    before = snapshot(str(tmp_path), str(dest))
    yield str(dest), str(canary)
    assert snapshot(str(tmp_path), str(dest)) == before, "something outside dest changed"


def read(dest: str, rel: str) -> bytes:
    with open(os.path.join(dest, rel.lstrip("/")), "rb") as f:
        return f.read()


def refused(dest: str, entries: list, match: str) -> None:  # noqa: ANN001
    with pytest.raises(BadLayer, match=match) as ei:
        apply(dest, entries)
    assert str(ei.value).startswith("layer L: entry "), "the error names the layer and the entry"


def test_absolute_names_are_kept_inside(env) -> None:  # noqa: ANN001
    dest, canary = env
    apply(dest, [E(canary + "/secret", data=b"pwned"), E("/abs-file", data=b"a")])
    assert read(dest, canary + "/secret") == b"pwned"  # dest/<canary path>/secret
    assert read(dest, "abs-file") == b"a"


@pytest.mark.parametrize("entry", [
    E("../evil", data=b"x"), E("../canary/secret", data=b"pwned"), E("a/../../evil"),
    E("/../canary/secret"), D("../newdir"), S("../link", "/"), H("../hl", "x"),
    E("../null", tarfile.CHRTYPE, dev=(1, 3)), E("./../fifo", tarfile.FIFOTYPE),
], ids=lambda e: f"{e[0].type.decode()}:{e[0].name}")
def test_dotdot_names_are_refused(env, entry) -> None:  # noqa: ANN001
    dest, _ = env
    refused(dest, [entry], "its '..' components lead outside the root")


def test_dotdot_in_pax_path_and_gnu_long_name_refused(env) -> None:  # noqa: ANN001
    dest, _ = env
    refused(dest, [E("innocent", data=b"x", pax={"path": "../canary/secret"})], "outside the root")
    blob = layer([E("../" + "x" * 150, data=b"x")], fmt=tarfile.GNU_FORMAT)
    with pytest.raises(BadLayer, match="outside the root"):
        apply(dest, blob)


def test_write_through_absolute_symlink_stays_inside(env) -> None:  # noqa: ANN001
    dest, canary = env
    apply(dest, [S("link", canary), E("link/secret", data=b"pwned"), D("link/newdir", mode=0o777)])
    assert read(dest, canary + "/secret") == b"pwned"
    assert os.path.isdir(os.path.join(dest, canary.lstrip("/"), "newdir"))


def test_write_through_relative_symlink_stays_inside(env) -> None:  # noqa: ANN001
    dest, canary = env
    apply(dest, [S("up", "../" * 40), E("up" + canary + "/secret", data=b"pwned"),
                 S("sibling", "../canary"), E("sibling/secret", data=b"pwned2")])
    assert read(dest, canary + "/secret") == b"pwned"
    assert read(dest, "canary/secret") == b"pwned2"  # "../canary" from the root is "/canary"


def test_symlink_chain_stays_inside(env) -> None:  # noqa: ANN001
    dest, canary = env
    apply(dest, [S("a", "b/.."), S("b", "c/../../.."), S("c", "/"), E("a" + canary + "/secret", data=b"p")])
    assert read(dest, canary + "/secret") == b"p"


def test_symlink_loop_is_refused(env) -> None:  # noqa: ANN001
    dest, _ = env
    refused(dest, [S("loop", "loop"), E("loop/x")], "too many levels of symbolic links")


def test_hardlink_outside_refused(env) -> None:  # noqa: ANN001
    dest, canary = env
    refused(dest, [H("shadow", "../canary/secret")], "hardlink target '../canary/secret' is outside the root")
    refused(dest, [H("shadow", "../../../../../../../etc/shadow")], "is outside the root")
    # an absolute target is a name inside dest, like any other name: not there, so refused
    refused(dest, [H("shadow", canary + "/secret")], "is not in this layer or a lower one")
    refused(dest, [H("shadow", "/etc/shadow")], "is not in this layer or a lower one")
    assert os.stat(os.path.join(canary, "secret")).st_nlink == 1


def test_hardlink_through_symlink_stays_inside(env) -> None:  # noqa: ANN001
    dest, canary = env
    refused(dest, [S("s", canary), H("h", "s/secret")], "is not in this layer or a lower one")
    refused(dest, [S("r", "../../.." + canary), H("h", "r/secret")], "is not in this layer or a lower one")
    # with a file of that name inside dest, the link goes to that one
    apply(dest, [S("s2", "/inner"), D("inner"), E("inner/secret", data=b"inner"), H("h2", "s2/secret")])
    assert os.lstat(os.path.join(dest, "h2")).st_ino == os.lstat(os.path.join(dest, "inner/secret")).st_ino
    assert os.stat(os.path.join(canary, "secret")).st_nlink == 1


def test_hardlink_to_symlink_pointing_out_links_the_symlink(env) -> None:  # noqa: ANN001
    dest, canary = env
    apply(dest, [S("s", canary + "/secret"), H("h", "s")])
    st = os.lstat(os.path.join(dest, "h"))
    assert stat.S_ISLNK(st.st_mode) and st.st_ino == os.lstat(os.path.join(dest, "s")).st_ino
    assert os.stat(os.path.join(canary, "secret")).st_nlink == 1


def test_hardlink_to_lower_symlink_pointing_out(env) -> None:  # noqa: ANN001
    """A symlink to the host planted by a lower layer (as /etc/mtab -> /proc/mounts is)."""
    dest, canary = env
    os.symlink(os.path.join(canary, "secret"), os.path.join(dest, "planted"))
    apply(dest, [H("h", "planted")])
    assert stat.S_ISLNK(os.lstat(os.path.join(dest, "h")).st_mode)
    assert os.stat(os.path.join(canary, "secret")).st_nlink == 1


def test_whiteouts_pointing_out(env) -> None:  # noqa: ANN001
    dest, canary = env
    refused(dest, [E("../canary/.wh.secret")], "outside the root")
    refused(dest, [E("../.wh.canary")], "outside the root")
    apply(dest, [S("link", canary), E("link/.wh.secret"), E("link/sub/.wh..wh..opq"),
                 S("rel", "../canary"), E("rel/.wh.secret")])
    os.symlink(canary, os.path.join(dest, "planted"))  # a lower layer's link to the host
    apply(dest, [E("planted/.wh.secret"), E("planted/.wh..wh..opq"), E("planted/sub/.wh.file")])
    assert os.path.islink(os.path.join(dest, "planted"))
    apply(dest, [E(".wh.planted")])  # the whiteout removes the link, never what it points to
    assert not os.path.lexists(os.path.join(dest, "planted"))


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "sub/.wh..", "sub/.wh..."])
def test_whiteout_of_own_or_parent_dir_refused(env, name: str) -> None:  # noqa: ANN001
    dest, _ = env
    os.mkdir(os.path.join(dest, "sub"))
    with pytest.raises(BadLayer, match="a whiteout must name an entry of its directory"):
        apply(dest, [E(name)])
    assert os.path.isdir(os.path.join(dest, "sub"))


def test_entries_over_lower_symlinks_pointing_out(env) -> None:  # noqa: ANN001
    """Nothing is written, chmod'ed, chown'ed or xattr'ed through a final symlink."""
    dest, canary = env
    for name, target in (("f", "secret"), ("d", ""), ("n", "secret"), ("x", "secret"), ("h", "secret")):
        os.symlink(os.path.join(canary, target), os.path.join(dest, name))
    apply(dest, [E("f", data=b"new", mode=0o777, uid=1, xattrs={"user.x": b"1"}),
                 D("d", mode=0o777, uid=1, xattrs={"user.y": b"1"}),
                 E("n", tarfile.CHRTYPE, dev=(1, 3), mode=0o666), E("x", tarfile.FIFOTYPE),
                 E("inner"), H("h", "inner")])
    assert read(dest, "f") == b"new" and not os.path.islink(os.path.join(dest, "f"))
    assert stat.S_ISDIR(os.lstat(os.path.join(dest, "d")).st_mode)
    assert stat.S_ISCHR(os.lstat(os.path.join(dest, "n")).st_mode)
    assert stat.S_ISFIFO(os.lstat(os.path.join(dest, "x")).st_mode)
    assert os.lstat(os.path.join(dest, "h")).st_ino == os.lstat(os.path.join(dest, "inner")).st_ino


def test_file_replacing_directory_on_the_path_is_refused(env) -> None:  # noqa: ANN001
    dest, _ = env
    refused(dest, [D("d"), E("d", data=b"file now"), E("d/x", data=b"x")],
            "a component of its path is not a directory")


def test_file_replacing_lower_dir_does_not_follow_its_symlinks(env) -> None:  # noqa: ANN001
    dest, canary = env
    os.makedirs(os.path.join(dest, "d/deeper"))
    os.symlink(canary, os.path.join(dest, "d/out"))
    os.symlink(canary, os.path.join(dest, "d/deeper/out"))
    apply(dest, [E("d", data=b"file")])  # removes the whole lower directory, links and all
    assert read(dest, "d") == b"file"


def test_symlink_replacing_directory_then_entries_through_it(env) -> None:  # noqa: ANN001
    dest, canary = env
    apply(dest, [D("d"), E("d/a", data=b"a"), S("d", canary), E("d/secret", data=b"pwned"),
                 D("d/sub", mode=0o700), E("d/sub/file", data=b"pwned")])
    assert os.readlink(os.path.join(dest, "d")) == canary
    assert read(dest, canary + "/secret") == b"pwned"
    assert read(dest, canary + "/sub/file") == b"pwned"


@pytest.mark.parametrize("entry", [S(".", "/tmp"), S("/", "/tmp"), S("./", "/"), E("./", data=b"x"),
                                   H(".", "x"), E("a/..", tarfile.FIFOTYPE)],
                         ids=lambda e: f"{e[0].type.decode()}:{e[0].name}")
def test_root_cannot_be_replaced(env, entry) -> None:  # noqa: ANN001
    """umoci CVE-2021-29136: a symlink named "." replaced the root, and the next layers
    were written wherever it pointed."""
    dest, _ = env
    refused(dest, [E("x"), entry], "a non-directory cannot replace the root")
    assert stat.S_ISDIR(os.lstat(dest).st_mode)


def test_root_directory_entry_only_sets_attributes(env) -> None:  # noqa: ANN001
    dest, _ = env
    apply(dest, [D("./", mode=0o700), D("/", mode=0o755, uid=3)])
    st = os.lstat(dest)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 3
    os.chown(dest, 0, 0)


def test_layer_overlay_xattrs_are_not_planted(env) -> None:  # noqa: ANN001
    """trusted.overlay.* from an image would turn a directory opaque or redirect it once the
    layer is an overlay lower: never applied."""
    dest, _ = env
    s = apply(dest, [D("d", xattrs={"trusted.overlay.redirect": b"/etc", "trusted.overlay.opaque": b"y"})])
    assert os.listxattr(os.path.join(dest, "d")) == []
    assert len(s.skipped) == 2


def test_failed_apply_leaves_nothing_outside(env) -> None:  # noqa: ANN001
    """An error part-way stops the apply; what was applied stays inside dest."""
    dest, canary = env
    with pytest.raises(BadLayer):
        apply(dest, [S("l", canary), E("l/ok", data=b"1"), E("../evil"), E("never")])
    assert read(dest, canary + "/ok") == b"1"
    assert not os.path.exists(os.path.join(dest, "never"))


def test_hostile_stream_sizes(env) -> None:  # noqa: ANN001
    """A pax header claiming to be huge is refused before it is read into memory."""
    dest, _ = env
    ti = tarfile.TarInfo("x")
    ti.type, ti.size = tarfile.XHDTYPE, 1 << 32
    blob = ti.tobuf(tarfile.USTAR_FORMAT) + bytes(1024)
    with pytest.raises(Exception, match="more than 1048576"):
        apply(dest, io.BytesIO(blob).getvalue(), compression="none")
