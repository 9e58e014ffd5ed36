"""``onggi export``: a container's filesystem (image + its changes) as a tar that
``onggi import`` and ``podman import`` read back; owners, modes, links and xattrs kept;
a symlink in the container never makes export read the host's file."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest
from engine_support import ONGGI, busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")
SETUP = ("mkdir -p /data/sub && echo hello > /data/f && ln /data/f /data/hard && ln -s /etc/passwd /data/sym "
         "&& chown 1234:5678 /data/f && chmod 4751 /data/f && rm /bin/true && mkfifo /data/fifo "
         "&& ln -s /etc/shadow-of-the-host /data/escape")


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf.getmembers()}


def test_export_stopped_and_running(engine, tmp_path) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--name", "src", engine.image, "sh", "-c", SETUP, check=True)
    out = tmp_path / "c.tar"
    engine.run_onggi("export", "-o", str(out), "src", check=True)
    m = _members(out.read_bytes())
    f = m["./data/f"]
    assert (f.uid, f.gid, f.mode, f.size) == (1234, 5678, 0o4751, 6)
    assert m["./data/hard"].islnk() and m["./data/hard"].linkname == "./data/f"
    assert m["./data/sym"].issym() and m["./data/sym"].linkname == "/etc/passwd"
    assert m["./data/fifo"].isfifo() and m["./data/sub"].isdir()
    assert "./bin/true" not in m and "./bin/busybox" in m  # the container's deletion is seen
    # nothing mounted is left behind for a stopped container
    assert not [ln for ln in open("/proc/mounts") if engine.storage in ln]

    # running: export through the live mount; a pipe on stdout works too
    engine.run_onggi("run", "-d", *NONE, "--name", "live", engine.image, "sh", "-c",
                     "echo running > /live.txt; sleep 1000", check=True)
    engine.wait_for(lambda: engine.run_onggi("ps", "-q").stdout.strip() != "", what="live container")
    r = subprocess.run([ONGGI, "export", "live"], env=engine.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    engine.wait_for(lambda: "./live.txt" in _members(
        subprocess.run([ONGGI, "export", "live"], env=engine.env, capture_output=True).stdout),
        what="the file the container wrote")
    engine.run_onggi("rm", "-f", "live", check=True)


def test_export_import_round_trip_and_refusals(engine, tmp_path) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "c", engine.image, "true", check=True)
    out = tmp_path / "c.tar"
    engine.run_onggi("export", "--output", str(out), "c", check=True)
    engine.run_onggi("import", str(out), "localhost/exported:1", check=True)
    r = engine.run_onggi("run", "--rm", *NONE, "localhost/exported:1", "sh", "-c", "echo from-export")
    assert (r.returncode, r.stdout) == (0, "from-export\n"), r.stderr
    r = engine.run_onggi("export", "nosuch", "-o", str(tmp_path / "x.tar"))
    assert r.returncode == 125 and "nosuch" in r.stderr
    assert not (tmp_path / "x.tar").exists()


def test_podman_imports_an_onggi_export(engine, tmp_path) -> None:  # noqa: ANN001
    podman = shutil.which("podman")
    if not podman:
        pytest.skip("podman is not installed")
    engine.run_onggi("run", *NONE, "--name", "src", engine.image, "sh", "-c", "echo made-by-onggi > /made",
                     check=True)
    out = tmp_path / "c.tar"
    engine.run_onggi("export", "-o", str(out), "src", check=True)
    runroot = tempfile.mkdtemp(prefix="onggi-x-")
    base = [podman, "--root", str(tmp_path / "p"), "--runroot", runroot, "--storage-driver", "vfs"]
    try:
        r = subprocess.run(base + ["import", str(out), "localhost/from-onggi:1"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cid = subprocess.run(base + ["create", "localhost/from-onggi:1", "true"], capture_output=True,
                             text=True, check=True).stdout.strip()
        got = tmp_path / "made"
        subprocess.run(base + ["cp", f"{cid}:/made", str(got)], check=True, capture_output=True)
        assert got.read_text() == "made-by-onggi\n"
    finally:
        subprocess.run(base + ["system", "reset", "--force"], capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)


def test_a_symlink_swapped_in_never_reads_the_host(tmp_path) -> None:  # noqa: ANN001
    """The walk opens every entry relative to its directory with O_NOFOLLOW: a directory
    that became a symlink to the host's /etc is not descended into, and a file that
    became one is not read."""
    from onggi.image import tarwrite

    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "passwd").write_text("container's own\n")
    real_entries = tarwrite.entries
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    entries = list(real_entries(top))  # listed while d was a directory
    os.close(top)
    assert [n for n, _ in entries] == ["d"]
    shutil.rmtree(root / "d")
    os.symlink("/etc", root / "d")

    def stale(dfd: int):  # noqa: ANN202
        # the listing and stat from before the swap: what a racing walker would hold
        if os.path.samestat(os.fstat(dfd), os.stat(root)):
            yield from entries
        else:
            yield from real_entries(dfd)

    tarwrite.entries = stale  # type: ignore[assignment]
    try:
        buf = io.BytesIO()
        tarwrite.write_tree(str(root), buf)
    finally:
        tarwrite.entries = real_entries  # type: ignore[assignment]
    names = set(_members(buf.getvalue()))
    assert names == {"."}, names  # not ./d/passwd from the host


def test_tree_writer_keeps_xattrs_devices_and_times(tmp_path) -> None:  # noqa: ANN001
    from onggi.image.tarwrite import write_tree

    root = tmp_path / "root"
    root.mkdir()
    f = root / "f"
    f.write_bytes(b"x" * 3)
    try:
        os.setxattr(f, "user.onggi", b"value\xff")
    except OSError:
        pytest.skip("this filesystem has no user xattrs")
    os.mknod(root / "null", 0o666 | 0o020000, os.makedev(1, 3))
    os.utime(f, (1_000_000, 1_000_000))
    buf = io.BytesIO()
    write_tree(str(root), buf)
    m = _members(buf.getvalue())
    assert m["./f"].pax_headers["SCHILY.xattr.user.onggi"].encode("utf-8", "surrogateescape") == b"value\xff"
    assert m["./f"].mtime == 1_000_000
    assert m["./null"].ischr() and (m["./null"].devmajor, m["./null"].devminor) == (1, 3)
