"""Layer apply (onggi.image.apply): every feature of the OCI layer changeset format, on
layers built here with tarfile. The apply tests need root (ownership, devices,
security.capability) and skip without it; the tar header tests at the top do not."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import struct
import tarfile

import pytest
import zstandard

from onggi.errors import InvalidArgument, NotFound, Unsupported
from onggi.image.apply import ApplyStats, BadLayer, IdMap, TarError, apply_layer, clean_name
from onggi.image.tarstream import DIR, FILE, HARDLINK, SYMLINK, TarReader

T0 = 1_600_000_000  # header mtimes used throughout
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # VFS_CAP_REVISION_2, effective


# --- building layers -------------------------------------------------------------------

def E(name: str, type: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644, uid: int = 0,
      gid: int = 0, mtime: float = T0, link: str = "", xattrs: dict[str, bytes] | None = None,
      dev: tuple[int, int] = (0, 0), pax: dict[str, str] | None = None) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.linkname = type, mode, uid, gid, mtime, link
    ti.size = len(data) if type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    ti.devmajor, ti.devminor = dev
    ti.pax_headers = dict(pax or {})
    for k, v in (xattrs or {}).items():
        ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
    return ti, data


def D(name: str, mode: int = 0o755, **kw) -> tuple[tarfile.TarInfo, bytes]:  # noqa: ANN003
    return E(name, tarfile.DIRTYPE, mode=mode, **kw)


def S(name: str, target: str, **kw) -> tuple[tarfile.TarInfo, bytes]:  # noqa: ANN003
    return E(name, tarfile.SYMTYPE, link=target, mode=0o777, **kw)


def H(name: str, target: str, **kw) -> tuple[tarfile.TarInfo, bytes]:  # noqa: ANN003
    return E(name, tarfile.LNKTYPE, link=target, **kw)


def tar_bytes(entries: list, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if ti.size else None)
    return out.getvalue()


def layer(entries: list, compression: str = "gzip", fmt: int = tarfile.PAX_FORMAT) -> bytes:
    raw = tar_bytes(entries, fmt)
    if compression == "gzip":
        return gzip.compress(raw)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def apply(dest: str, entries_or_blob, **kw) -> ApplyStats:  # noqa: ANN001, ANN003
    blob = entries_or_blob if isinstance(entries_or_blob, bytes) else layer(entries_or_blob)
    return apply_layer(io.BytesIO(blob), dest, what="layer L", **kw)


@pytest.fixture
def dest(tmp_path) -> str:  # noqa: ANN001
    if os.geteuid() != 0:
        pytest.skip("needs root (ownership, device nodes, security.capability)")
    d = tmp_path / "rootfs"
    d.mkdir()
    return str(d)


def lst(dest: str, rel: str) -> os.stat_result:
    return os.lstat(os.path.join(dest, rel))


# --- tar headers (no root) ----------------------------------------------------------------

def entries_of(raw: bytes) -> list:
    return list(TarReader(io.BytesIO(raw)))


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_parse_formats(fmt: int) -> None:
    long_dir = "d" * 90 + "/" + "e" * 50  # 141 chars: a ustar prefix, or a long name
    ents = entries_of(tar_bytes([D("a"), E("a/f", data=b"x" * 700, mode=0o4755, uid=7, gid=8),
                                 S("a/s", "f"), H("a/h", "a/f"), E(long_dir + "/file", data=b"q")], fmt))
    assert [(e.name.rstrip("/"), e.type) for e in ents] == [("a", DIR), ("a/f", FILE), ("a/s", SYMLINK),
                                                ("a/h", HARDLINK), (long_dir + "/file", FILE)]
    f = ents[1]
    assert (f.size, f.mode, f.uid, f.gid, f.mtime_ns) == (700, 0o4755, 7, 8, T0 * 10**9)
    assert ents[2].linkname == "f" and ents[3].linkname == "a/f"


def test_parse_long_names_links_base256_and_pax_time() -> None:
    name, target = "n" * 300, "t" * 200
    raw = tar_bytes([E(name, uid=3_000_000, gid=4_000_000), S("s", target)], tarfile.GNU_FORMAT)
    a, b = entries_of(raw)
    assert (a.name, a.uid, a.gid) == (name, 3_000_000, 4_000_000)  # GNU L and base-256
    assert b.linkname == target  # GNU K
    raw = tar_bytes([E("x", mtime=T0 + 0.25, pax={"atime": "1500000000.000000001"})])
    (x,) = entries_of(raw)
    assert x.mtime_ns == T0 * 10**9 + 250_000_000 and x.atime_ns == 1_500_000_000_000_000_001


def test_parse_xattrs_and_global_header() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"uid": "42"}) as tf:
        ti, _ = E("f", xattrs={"user.a": b"1", "security.capability": CAP_NET_RAW},
                  pax={"LIBARCHIVE.xattr.user.b%3Dc": "dmFsdWU"})  # base64 of "value", unpadded
        tf.addfile(ti)
    (f,) = entries_of(out.getvalue())
    assert f.uid == 42  # from the global ("g") header
    assert f.xattrs == {"user.a": b"1", "security.capability": CAP_NET_RAW, "user.b=c": b"value"}


def test_parse_hash_covers_whole_stream() -> None:
    raw = tar_bytes([E("f", data=b"abc")]) + bytes(4096)
    h = hashlib.sha256()
    r = TarReader(io.BytesIO(raw), hasher=h)
    while r.next() is not None:
        pass
    assert h.hexdigest() == hashlib.sha256(raw).hexdigest()


def test_parse_errors() -> None:
    raw = bytearray(tar_bytes([E("f", data=b"abc")]))
    raw[5] ^= 1  # the name, so the checksum no longer matches
    with pytest.raises(TarError, match="bad tar header checksum at offset 0"):
        entries_of(bytes(raw))
    good = tar_bytes([E("f", data=b"a" * 5000)])
    r = TarReader(io.BytesIO(good[:1500]))
    r.next()
    with pytest.raises(TarError, match="truncated"):
        r.copy_to(os.open(os.devnull, os.O_WRONLY))
    with pytest.raises(TarError, match="member content ends early"):
        entries_of(good[:700])
    two = tar_bytes([E("f", data=b"abc"), E("g")])
    with pytest.raises(TarError, match="truncated tar header"):
        entries_of(two[:1024 + 100])
    sparse = tar_bytes([E("f", data=b"a", pax={"GNU.sparse.major": "1", "GNU.sparse.minor": "0"})])
    with pytest.raises(Unsupported, match="sparse"):
        entries_of(sparse)


def test_clean_name() -> None:
    assert clean_name("./a//b/./c/") == ["a", "b", "c"]
    assert clean_name("/abs/x") == ["abs", "x"]
    assert clean_name("a/x/../b") == ["a", "b"]
    assert clean_name("./") == [] and clean_name("/") == [] and clean_name("") == []
    for bad in ("..", "../x", "a/../../x", "/../x", "./.."):
        assert clean_name(bad) is None


# --- apply ---------------------------------------------------------------------------------

def test_files_dirs_modes_owners_mtimes(dest: str) -> None:
    big = os.urandom(3 << 20)
    s = apply(dest, [D("./", mode=0o755, mtime=T0 - 5), D("bin", mtime=T0 + 1),
                     E("bin/su", data=b"#!su", mode=0o4755, uid=0, gid=0),
                     E("bin/wall", data=b"w", mode=0o2755, uid=5, gid=5, mtime=T0 + 0.5),
                     D("tmp", mode=0o1777, uid=0, gid=0), E("big", data=big, mode=0o600, uid=1000, gid=100),
                     E("empty", mode=0o444), D("ro", mode=0o555), E("ro/inside", data=b"i")])
    st = lst(dest, "bin/su")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (0, 0)
    st = lst(dest, "bin/wall")
    assert stat.S_IMODE(st.st_mode) == 0o2755 and (st.st_uid, st.st_gid) == (5, 5)
    assert st.st_mtime_ns == T0 * 10**9 + 500_000_000
    assert stat.S_IMODE(lst(dest, "tmp").st_mode) == 0o1777
    st = lst(dest, "big")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_size) == (1000, 100, 0o600, len(big))
    with open(os.path.join(dest, "big"), "rb") as f:
        assert f.read() == big
    assert lst(dest, "empty").st_size == 0 and stat.S_IMODE(lst(dest, "empty").st_mode) == 0o444
    # directory mtimes are set after their content went in; read-only dirs get their content
    assert lst(dest, "bin").st_mtime == T0 + 1 and lst(dest, "ro").st_mtime == T0
    assert stat.S_IMODE(lst(dest, "ro").st_mode) == 0o555
    assert os.stat(dest).st_mtime == T0 - 5  # the "./" entry sets the root's attributes
    assert (s.files, s.dirs, s.bytes, s.entries) == (5, 4, len(big) + 4 + 1 + 1, 9)


def test_symlinks_and_hardlinks(dest: str) -> None:
    s = apply(dest, [E("f", data=b"data", mode=0o640, uid=3), H("h1", "f"), H("./h2", "/f"),
                     S("s", "../../etc/passwd", uid=4, gid=4, mtime=T0 + 9), H("hs", "s")])
    f, h1, h2 = lst(dest, "f"), lst(dest, "h1"), lst(dest, "h2")
    assert f.st_ino == h1.st_ino == h2.st_ino and f.st_nlink == 3
    assert os.readlink(os.path.join(dest, "s")) == "../../etc/passwd"
    sl = lst(dest, "s")
    assert (sl.st_uid, sl.st_gid, sl.st_mtime) == (4, 4, T0 + 9)
    hs = lst(dest, "hs")  # a hardlink to a symlink is the symlink's inode, not its target's
    assert stat.S_ISLNK(hs.st_mode) and hs.st_ino == sl.st_ino
    assert (s.symlinks, s.hardlinks, s.links) == (1, 3, 4)
    # a second layer links to a file of the first
    s = apply(dest, [H("lower-link", "f")])
    assert lst(dest, "lower-link").st_ino == f.st_ino and s.hardlinks == 1


def test_devices_and_fifos(dest: str) -> None:
    s = apply(dest, [D("dev"), E("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
                     E("dev/loop9", tarfile.BLKTYPE, mode=0o660, gid=6, dev=(7, 9)),
                     E("dev/fifo", tarfile.FIFOTYPE, mode=0o620, uid=2)])
    st = lst(dest, "dev/null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666
    st = lst(dest, "dev/loop9")
    assert stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (7, 9)
    assert st.st_gid == 6 and stat.S_IMODE(st.st_mode) == 0o660
    st = lst(dest, "dev/fifo")
    assert stat.S_ISFIFO(st.st_mode) and st.st_uid == 2 and stat.S_IMODE(st.st_mode) == 0o620
    assert s.devices == 3 and not s.skipped


def test_xattrs(dest: str) -> None:
    s = apply(dest, [E("ping", data=b"elf", mode=0o755, xattrs={"security.capability": CAP_NET_RAW,
                                                             "user.mime": b"app/x"}),
                     D("d", xattrs={"user.dir": b"1"}),
                     E("t", xattrs={"trusted.overlay.opaque": b"y", "user.overlay.redirect": b"/x"}),
                     E("lib", pax={"LIBARCHIVE.xattr.user.lib": "bGli"})])
    p = os.path.join(dest, "ping")
    assert os.getxattr(p, "security.capability") == CAP_NET_RAW  # survived chown and the data
    assert os.getxattr(p, "user.mime") == b"app/x"
    assert os.getxattr(os.path.join(dest, "d"), "user.dir") == b"1"
    assert os.getxattr(os.path.join(dest, "lib"), "user.lib") == b"lib"
    assert os.listxattr(os.path.join(dest, "t")) == []
    reasons = {(k.name, k.reason.split(":")[0]) for k in s.skipped}
    assert reasons == {("t", "xattr trusted.overlay.opaque"), ("t", "xattr user.overlay.redirect")}
    # a directory entry over an existing directory replaces its xattrs
    apply(dest, [D("d", xattrs={"user.other": b"2"})])
    assert os.listxattr(os.path.join(dest, "d")) == ["user.other"]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names(dest: str, fmt: int) -> None:
    deep = "/".join(["component%02d" % i for i in range(12)])  # 143 characters
    name = deep + "/file"
    ustar = fmt == tarfile.USTAR_FORMAT  # no long link names: 100 characters at most
    target = "x" * 90 if ustar else "x" * 150
    apply(dest, layer([E(name, data=b"deep"), S("lnk", target), H("hl", "lnk" if ustar else name)], fmt=fmt))
    with open(os.path.join(dest, name), "rb") as f:
        assert f.read() == b"deep"
    assert os.readlink(os.path.join(dest, "lnk")) == target
    assert lst(dest, "hl").st_ino == lst(dest, "lnk" if ustar else name).st_ino


def test_whiteouts_across_layers(dest: str) -> None:
    apply(dest, [D("a"), E("a/x", data=b"x"), E("a/y", data=b"y"), D("b"), D("b/c"), E("b/c/f"),
                 E("gone", data=b"g")])
    s = apply(dest, [E("a/.wh.x"), E(".wh.b"), E(".wh.gone"), E(".wh.never-existed")])
    assert sorted(os.listdir(dest)) == ["a"]
    assert os.listdir(os.path.join(dest, "a")) == ["y"]
    assert s.whiteouts == 4 and s.files == 0


@pytest.mark.parametrize("marker_first", [True, False])
def test_opaque_directory(dest: str, marker_first: bool) -> None:
    apply(dest, [D("d"), E("d/old"), D("d/sub"), E("d/sub/old2"), D("keep"), E("keep/k")])
    marker = E("d/.wh..wh..opq")
    new = [D("d", mode=0o750), E("d/new", data=b"n"), D("d/sub"), E("d/sub/new2")]
    s = apply(dest, [marker] + new if marker_first else new + [marker])
    assert sorted(os.listdir(os.path.join(dest, "d"))) == ["new", "sub"]
    assert os.listdir(os.path.join(dest, "d/sub")) == ["new2"]  # lower content of a re-made dir goes too
    assert os.listdir(os.path.join(dest, "keep")) == ["k"]
    assert stat.S_IMODE(lst(dest, "d").st_mode) == 0o750
    assert s.whiteouts == 1


def test_whiteout_does_not_hide_same_layer_entries(dest: str) -> None:
    apply(dest, [E("f", data=b"lower"), D("dd"), E("dd/lower")])
    apply(dest, [E("f", data=b"upper"), E(".wh.f"), D("dd"), E("dd/upper"), E(".wh.dd")])
    with open(os.path.join(dest, "f"), "rb") as f:
        assert f.read() == b"upper"
    assert os.listdir(os.path.join(dest, "dd")) == ["upper"]


def test_replacement_rules(dest: str) -> None:
    apply(dest, [D("was-dir"), D("was-dir/sub"), E("was-dir/sub/f"), E("was-file", data=b"f"),
                 S("was-link", "/etc"), E("shared", data=b"lower"), H("shared-link", "shared"),
                 D("dir", mode=0o700), E("dir/keep", data=b"k")])
    apply(dest, [E("was-dir", data=b"now a file"), D("was-file"), D("was-link"),
                 E("shared", data=b"upper"), D("dir", mode=0o755, uid=9)])
    assert stat.S_ISREG(lst(dest, "was-dir").st_mode)
    assert stat.S_ISDIR(lst(dest, "was-file").st_mode)
    assert stat.S_ISDIR(lst(dest, "was-link").st_mode)  # a symlink to a dir is replaced, not followed
    with open(os.path.join(dest, "shared-link"), "rb") as f:
        assert f.read() == b"lower"  # the new file is a new inode: the lower hardlink is untouched
    st = lst(dest, "dir")
    assert stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 9
    assert os.listdir(os.path.join(dest, "dir")) == ["keep"]  # dir over dir: attributes only


def test_missing_parents_are_made(dest: str) -> None:
    apply(dest, [E("no/parent/entries/f", data=b"x")])
    assert stat.S_IMODE(lst(dest, "no/parent").st_mode) == 0o755


def test_id_map(dest: str) -> None:
    m = IdMap.parse(["0:100000:65536"], ["0:200000:1000", "1000:300000:10"])
    apply(dest, [D("home", uid=0, gid=0), E("home/u", uid=1000, gid=1005), S("l", "x", uid=5, gid=5),
                 E("dev-null", tarfile.CHRTYPE, dev=(1, 3), uid=0, gid=0)], id_map=m)
    assert (lst(dest, "home").st_uid, lst(dest, "home").st_gid) == (100000, 200000)
    assert (lst(dest, "home/u").st_uid, lst(dest, "home/u").st_gid) == (101000, 300005)
    assert (lst(dest, "l").st_uid, lst(dest, "l").st_gid) == (100005, 200005)
    assert lst(dest, "dev-null").st_uid == 100000
    with pytest.raises(InvalidArgument, match=r"layer L: entry 'bad': gid 5000 is not covered"):
        apply(dest, [E("bad", uid=1, gid=5000)], id_map=m)
    with pytest.raises(InvalidArgument, match="privileged"):
        apply(dest, [E("x")], id_map=m, rootless=True)


def test_rootless_implementation(dest: str) -> None:
    """rootless=True as root: ownership not applied, devices skipped and recorded."""
    s = apply(dest, [E("f", uid=1234, gid=1234, mode=0o4755), E("null", tarfile.CHRTYPE, dev=(1, 3)),
                     E("fifo", tarfile.FIFOTYPE)], rootless=True)
    st = lst(dest, "f")
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid()) and stat.S_IMODE(st.st_mode) == 0o4755
    assert not os.path.lexists(os.path.join(dest, "null"))
    assert stat.S_ISFIFO(lst(dest, "fifo").st_mode)
    assert [(k.name, "rootless" in k.reason) for k in s.skipped] == [("null", True)]


def test_overlay_whiteout_mode(dest: str) -> None:
    s = apply(dest, [D("etc"), E("etc/.wh.motd"), D("opq"), E("opq/.wh..wh..opq"), E("opq/new"),
                     E(".wh..wh.plnk")], whiteouts="overlay")
    st = lst(dest, "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(dest, "opq"), "trusted.overlay.opaque") == b"y"
    assert os.listdir(os.path.join(dest, "opq")) == ["new"]
    assert s.whiteouts == 2 and [k.name for k in s.skipped] == [".wh..wh.plnk"]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_compressions_and_diff_id(dest: str, compression: str) -> None:
    entries = [D("x"), E("x/f", data=os.urandom(2_000_000))]
    raw = tar_bytes(entries)
    for given in (compression, "auto"):
        s = apply(dest, layer(entries, compression), compression=given)
        assert s.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    s = apply(dest, layer(entries, compression), readahead=False)
    assert s.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert apply(dest, layer(entries, compression), diff_id=False).diff_id is None


def test_many_files(dest: str) -> None:
    entries = [D(f"d{i}") for i in range(40)]
    entries += [E(f"d{i % 40}/f{i}", data=str(i).encode() * (i % 300)) for i in range(3000)]
    s = apply(dest, entries)
    assert s.files == 3000 and s.dirs == 40
    with open(os.path.join(dest, "d17/f2017"), "rb") as f:
        assert f.read() == b"2017" * (2017 % 300)


def test_unknown_types_and_whiteout_named_dirs_are_skipped(dest: str) -> None:
    s = apply(dest, [E("vol", b"V"), E(".wh.x/inside")])
    assert [k.name for k in s.skipped] == ["vol", ".wh.x/inside"]
    assert os.listdir(dest) == []


def test_bad_streams(dest: str) -> None:
    with pytest.raises(InvalidArgument, match="layer L: truncated gzip stream"):
        apply(dest, layer([E("f", data=os.urandom(100_000))])[:-50])
    with pytest.raises(TarError, match="layer L: bad tar header checksum"):
        apply(dest, b"this is not a tar archive at all" * 50)
    with pytest.raises(InvalidArgument, match="whiteouts='aufs'"):
        apply(dest, [E("f")], whiteouts="aufs")
    with pytest.raises(BadLayer, match="hardlink target 'nope' is not in this layer"):
        apply(dest, [H("h", "nope")])


def test_opaque_root_and_missing_dest(dest: str) -> None:
    apply(dest, [D("etc"), E("etc/a"), E("b")])
    apply(dest, [D("etc"), E("etc/new"), E(".wh..wh..opq")])
    assert sorted(os.listdir(dest)) == ["etc"] and os.listdir(os.path.join(dest, "etc")) == ["new"]
    with pytest.raises(NotFound, match="destination directory"):
        apply(os.path.join(dest, "nope"), [E("f")])


def test_parse_accepts_a_tar_cut_right_after_the_last_content() -> None:
    """umoci (and Go writers not closed) may end a layer right after the last member's
    content, without its padding or the end blocks; the content itself is whole."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"hi\n"))
    raw = buf.getvalue()[:512 + 3]
    entries = list(TarReader(io.BytesIO(raw)))
    assert [e.name for e in entries] == ["hello"]
    with pytest.raises(TarError, match="truncated"):
        list(TarReader(io.BytesIO(raw[:-1])))  # the content itself cut: still an error
