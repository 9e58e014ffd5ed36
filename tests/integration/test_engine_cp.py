"""``onggi cp``: host <-> container both ways and tar streams on stdin/stdout, docker's
destination rules, owners (``--archive``), stopped and running containers; and the
breakouts: a symlink in the container pointing at the host's /etc never makes cp read or
write the host's file, and a tar entry with ``..`` is refused."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest
from engine_support import ONGGI, busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def _cat(engine, name: str, path: str) -> str:  # noqa: ANN001
    """A file of a stopped container, read back with cp to stdout."""
    r = subprocess.run([ONGGI, "cp", f"{name}:{path}", "-"], env=engine.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        f = tf.extractfile(tf.getmembers()[0])
        assert f is not None
        return f.read().decode()


def _no_mounts_left(engine) -> None:  # noqa: ANN001
    assert not [ln for ln in open("/proc/mounts") if engine.storage in ln]


@pytest.fixture
def stopped(engine):  # noqa: ANN001, ANN201
    engine.run_onggi("run", *NONE, "--name", "c", engine.image, "sh", "-c",
                     "mkdir -p /data/sub && echo one > /data/f && echo two > /data/sub/g "
                     "&& ln -s f /data/lnk && chown 1234:5678 /data/f", check=True)
    return engine


def test_cp_out_of_container(stopped, tmp_path) -> None:  # noqa: ANN001
    e = stopped
    # a file to a new name, into a directory, over a file
    e.run_onggi("cp", "c:/data/f", str(tmp_path / "new"), check=True)
    assert (tmp_path / "new").read_text() == "one\n"
    os.mkdir(tmp_path / "d")
    e.run_onggi("cp", "c:/data/f", str(tmp_path / "d"), check=True)
    assert (tmp_path / "d" / "f").read_text() == "one\n"
    st = os.stat(tmp_path / "d" / "f")
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())  # archive: the caller's
    e.run_onggi("cp", "--archive=false", "c:/data/f", str(tmp_path / "kept"), check=True)
    st = os.stat(tmp_path / "kept")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    # a directory: as a new name, into a directory, its contents with /.
    e.run_onggi("cp", "c:/data", str(tmp_path / "copy"), check=True)
    assert (tmp_path / "copy" / "sub" / "g").read_text() == "two\n"
    e.run_onggi("cp", "c:/data", str(tmp_path / "d"), check=True)
    assert (tmp_path / "d" / "data" / "f").read_text() == "one\n"
    os.mkdir(tmp_path / "flat")
    e.run_onggi("cp", "c:/data/.", str(tmp_path / "flat"), check=True)
    assert sorted(os.listdir(tmp_path / "flat")) == ["f", "lnk", "sub"]
    # a symlink is copied as a link; -L follows it
    e.run_onggi("cp", "c:/data/lnk", str(tmp_path / "l1"), check=True)
    assert os.readlink(tmp_path / "l1") == "f"
    e.run_onggi("cp", "-L", "c:/data/lnk", str(tmp_path / "l2"), check=True)
    assert (tmp_path / "l2").read_text() == "one\n" and not os.path.islink(tmp_path / "l2")
    # errors, named
    for args, word in ((("c:/nosuch", str(tmp_path)), "nosuch"),
                       (("c:/data", str(tmp_path / "new")), "cannot copy directory"),
                       (("c:/data/f", str(tmp_path / "missing") + "/"), "does not exist"),
                       (("c:/data/f", str(tmp_path / "no" / "dir" / "x")), "does not exist"),
                       (("x:/a", "y:/b"), "between containers"),
                       ((str(tmp_path), str(tmp_path)), "CONTAINER:PATH")):
        r = e.run_onggi("cp", *args)
        assert r.returncode != 0 and word in r.stderr, (args, r.stderr)
    _no_mounts_left(e)


def test_cp_into_container_and_stdin(stopped, tmp_path) -> None:  # noqa: ANN001
    e = stopped
    (tmp_path / "in.txt").write_text("in\n")
    os.chown(tmp_path / "in.txt", 4321, 4321)
    (tmp_path / "tree" / "deep").mkdir(parents=True)
    (tmp_path / "tree" / "deep" / "x").write_text("x\n")
    e.run_onggi("cp", str(tmp_path / "in.txt"), "c:/data/", check=True)
    e.run_onggi("cp", "--archive=false", str(tmp_path / "in.txt"), "c:/data/kept.txt", check=True)
    e.run_onggi("cp", str(tmp_path / "tree"), "c:/newtree", check=True)
    e.run_onggi("cp", str(tmp_path / "tree") + "/.", "c:/data/sub", check=True)
    # a tar on standard input, extracted in a directory
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("fromtar/hello")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"hi\n"))
    r = subprocess.run([ONGGI, "cp", "-", "c:/data"], env=e.env, input=buf.getvalue(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert _cat(e, "c", "/data/in.txt") == "in\n"
    assert _cat(e, "c", "/newtree/deep/x") == "x\n"
    assert _cat(e, "c", "/data/sub/deep/x") == "x\n"
    assert _cat(e, "c", "/data/fromtar/hello") == "hi\n"
    out = subprocess.run([ONGGI, "cp", "c:/data", "-"], env=e.env, capture_output=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as tf:
        m = {x.name: x for x in tf.getmembers()}
    assert (m["data/in.txt"].uid, m["data/in.txt"].gid) == (0, 0)   # the container's user: root
    assert (m["data/kept.txt"].uid, m["data/kept.txt"].gid) == (4321, 4321)
    assert m["data/lnk"].issym() and "data/sub/g" in m
    _no_mounts_left(e)


def test_cp_running_container(engine, tmp_path) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "live", engine.image, "sh", "-c",
                     "echo running > /live.txt; sleep 1000", check=True)
    engine.wait_for(lambda: engine.run_onggi("cp", "live:/live.txt", str(tmp_path / "got")).returncode == 0,
                    what="the running container's file")
    assert (tmp_path / "got").read_text() == "running\n"
    (tmp_path / "put").write_text("put\n")
    engine.run_onggi("cp", str(tmp_path / "put"), "live:/tmp/put", check=True)
    r = engine.run_onggi("exec", "live", "cat", "/tmp/put")
    assert (r.returncode, r.stdout) == (0, "put\n"), r.stderr
    engine.run_onggi("rm", "-f", "live", check=True)


def test_cp_symlink_breakout_stays_in_container(engine, tmp_path) -> None:  # noqa: ANN001
    """Links in the container to /etc and to a host-only path: cp resolves them inside the
    container's root, reading and writing the container's files, never the host's."""
    marker = tmp_path / "host-secret"
    marker.write_text("host only\n")
    host_hostname = open("/etc/hostname").read() if os.path.exists("/etc/hostname") else None
    engine.run_onggi("run", *NONE, "--name", "c", engine.image, "sh", "-c",
                     f"ln -s /etc /etcl && ln -s {marker} /secret && ln -s ../../../../../etc /up "
                     "&& echo container > /etc/hostname-c", check=True)
    # read through the links: the container's /etc, not the host's; a host-only path is absent
    assert _cat(engine, "c", "/etcl/hostname-c") == "container\n"
    r = engine.run_onggi("cp", "-L", "c:/secret", str(tmp_path / "leak"))
    assert r.returncode != 0 and not (tmp_path / "leak").exists()
    r = engine.run_onggi("cp", "c:/up/passwd", str(tmp_path / "pw"), check=True)
    assert "app:x:1000" in (tmp_path / "pw").read_text()  # the image's passwd
    # write through the links: lands in the container's /etc
    (tmp_path / "evil").write_text("evil\n")
    before = open("/etc/passwd").read()
    engine.run_onggi("cp", str(tmp_path / "evil"), "c:/etcl/passwd", check=True)
    engine.run_onggi("cp", str(tmp_path / "evil"), "c:/up/hostname", check=True)
    assert open("/etc/passwd").read() == before
    if host_hostname is not None:
        assert open("/etc/hostname").read() == host_hostname
    assert _cat(engine, "c", "/etc/passwd") == "evil\n"
    assert _cat(engine, "c", "/etc/hostname") == "evil\n"
    # a directory copied out whose entries are links to host paths: links, never followed
    out = subprocess.run([ONGGI, "cp", "c:/", "-"], env=engine.env, capture_output=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as tf:
        m = {x.name.lstrip("./"): x for x in tf.getmembers()}
    assert m["secret"].issym() and m["secret"].linkname == str(marker)
    assert b"host only" not in out


def test_cp_tar_with_dotdot_is_refused(engine, tmp_path) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "c", engine.image, "true", check=True)
    for name in ("../../../../tmp/escaped", "a/../../escaped"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo(name)
            info.size = 4
            tf.addfile(info, io.BytesIO(b"bad\n"))
        r = subprocess.run([ONGGI, "cp", "-", "c:/tmp"], env=engine.env, input=buf.getvalue(),
                           capture_output=True, timeout=60)
        assert r.returncode != 0 and b"climbs out" in r.stderr, r.stderr
    assert not os.path.exists("/tmp/escaped")
    # a hard link entry pointing out is refused as well
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("h")
        info.type, info.linkname = tarfile.LNKTYPE, "../../../etc/passwd"
        tf.addfile(info)
    r = subprocess.run([ONGGI, "cp", "-", "c:/tmp"], env=engine.env, input=buf.getvalue(),
                       capture_output=True, timeout=60)
    assert r.returncode != 0 and b"climbs out" in r.stderr, r.stderr
    r = subprocess.run([ONGGI, "cp", "-", "c:/tmp"], env=engine.env, input=b"not a tar at all" * 100,
                       capture_output=True, timeout=60)
    assert r.returncode != 0 and b"not a tar" in r.stderr, r.stderr
    _no_mounts_left(engine)


def test_cp_in_gives_the_container_users_ids(engine, tmp_path) -> None:  # noqa: ANN001
    """podman's --archive: the container's user (from --user, looked up in its passwd,
    before it ever started) owns what is copied in; --archive=false keeps the source's."""
    (tmp_path / "f").write_text("f\n")
    os.chown(tmp_path / "f", 4321, 4321)
    engine.run_onggi("create", *NONE, "-u", "app", "--name", "c", engine.image, "sh", "-c",
                     "stat -c '%n %u %g' /tmp/a /tmp/b", check=True)
    engine.run_onggi("cp", str(tmp_path / "f"), "c:/tmp/a", check=True)
    engine.run_onggi("cp", "--archive=false", str(tmp_path / "f"), "c:/tmp/b", check=True)
    r = engine.run_onggi("start", "-a", "c")
    assert r.stdout.splitlines() == ["/tmp/a 1000 1000", "/tmp/b 4321 4321"], (r.stdout, r.stderr)
    _no_mounts_left(engine)


def test_cp_reaches_volumes_and_binds(engine, tmp_path) -> None:  # noqa: ANN001
    """A path under a volume or a bind mount is the volume's file, as in the container;
    a read-only bind is not written."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "onhost").write_text("from host dir\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    engine.run_onggi("run", *NONE, "--name", "c", "-v", "cpvol:/vol", "-v", f"{host}:/bind",
                     "-v", f"{ro}:/robind:ro", engine.image, "sh", "-c", "echo in-volume > /vol/v", check=True)
    assert _cat(engine, "c", "/vol/v") == "in-volume\n"
    assert _cat(engine, "c", "/bind/onhost") == "from host dir\n"
    (tmp_path / "f").write_text("copied\n")
    engine.run_onggi("cp", str(tmp_path / "f"), "c:/bind/", check=True)
    assert (host / "f").read_text() == "copied\n"
    engine.run_onggi("cp", str(tmp_path / "f"), "c:/vol/new", check=True)
    r = engine.run_onggi("run", "--rm", *NONE, "-v", "cpvol:/v", engine.image, "cat", "/v/new")
    assert (r.returncode, r.stdout) == (0, "copied\n"), r.stderr
    r = engine.run_onggi("cp", str(tmp_path / "f"), "c:/robind/")
    assert r.returncode != 0 and "read-only" in r.stderr, r.stderr
    assert os.listdir(ro) == []
    engine.run_onggi("rm", "-v", "c", check=True)
    engine.run_onggi("volume", "rm", "cpvol", check=True)
    _no_mounts_left(engine)


def test_parse_location() -> None:
    from onggi.engine.cp import Location, parse_location
    from onggi.errors import InvalidArgument

    assert parse_location("c:/etc") == Location("c", "/etc")
    assert parse_location("/host/a:b") == Location(None, "/host/a:b")
    assert parse_location("./c:/x") == Location(None, "./c:/x")
    assert parse_location("-") == Location(None, "-")
    with pytest.raises(InvalidArgument, match="no path"):
        parse_location("c:")
