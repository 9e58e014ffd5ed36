"""-v / --mount / --tmpfs / --read-only / image VOLUMEs -> config.json mounts: every form,
podman's default options, every error (naming the flag and value), volumes made on first
use, copy-up of the image's content, hosts files, ordering."""

from __future__ import annotations

import os
import stat

import pytest

from onggi.engine import volumes
from onggi.engine.mount_parse import clean_dest, parse_mount, parse_tmpfs, parse_volume
from onggi.engine.options import RunOptions, SpecContext
from onggi.engine.paths import Paths
from onggi.engine.spec_mounts import apply_mounts, sort_mounts
from onggi.errors import InvalidArgument, NotFound, Unsupported

CID = "f" * 64


@pytest.fixture
def env(tmp_path):  # noqa: ANN001, ANN201
    paths = Paths(storage=str(tmp_path / "s"), root=str(tmp_path / "r"), run=str(tmp_path / "run"))
    rootfs = tmp_path / "rootfs"
    (rootfs / "data" / "sub").mkdir(parents=True)
    (rootfs / "data" / "seed").write_text("hello\n")
    (rootfs / "data" / "sub" / "deep").write_text("deep\n")
    os.chmod(rootfs / "data", 0o750)
    os.symlink("/etc/shadow", rootfs / "data" / "link")
    os.link(rootfs / "data" / "seed", rootfs / "data" / "hard")
    os.symlink("/", rootfs / "escape")  # a symlink out of the rootfs
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    os.makedirs(paths.container_dir(CID))
    ctx = SpecContext(container_id=CID, name="c", rootfs=str(rootfs), bundle=str(bundle))
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("x")
    return paths, ctx, str(host)


def spec() -> dict:
    return {"process": {"user": {"uid": 0, "gid": 0}},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                       {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                       {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
                       {"destination": "/sys", "type": "sysfs", "source": "sysfs"}]}


def mounts_by_dest(s: dict) -> dict:
    return {m["destination"]: m for m in s["mounts"]}


# ---- parsing ----------------------------------------------------------------------------

def test_clean_dest():
    assert clean_dest("//a/./b/", "f") == "/a/b"
    assert clean_dest("/a/../b", "f") == "/b"
    with pytest.raises(InvalidArgument, match="invalid container path 'rel', must be an absolute path"):
        clean_dest("rel", "-v x:rel")


def test_parse_volume_forms(tmp_path, monkeypatch):
    r = parse_volume("/src:/dst")
    assert (r.kind, r.source, r.dest, r.options) == ("bind", "/src", "/dst", [])
    r = parse_volume("/src:/dst:ro,Z,nosuid,rshared")
    assert r.options == ["ro", "nosuid", "rshared"]
    r = parse_volume("name:/dst:U,nocopy")
    assert (r.kind, r.source, r.chown, r.copy) == ("volume", "name", True, False)
    r = parse_volume("/anon")
    assert (r.kind, r.source, r.dest) == ("volume", "", "/anon")
    monkeypatch.chdir(tmp_path)
    assert parse_volume("./here:/x").source == str(tmp_path / "here")
    assert parse_volume("/s:/d:O").kind == "overlay"


@pytest.mark.parametrize("value,message", [
    ("/tmp:rel", "invalid container path 'rel'"),
    ("rel", "invalid container path 'rel'"),
    ("/tmp:/x:foo", "unknown mount option 'foo'"),
    ("/tmp:/x:ro,rw", "can only specify 1 'ro'/'rw' option"),
    ("/tmp:/x:exec,noexec", "can only specify 1 'exec'/'noexec' option"),
    ("/tmp:/x:shared,private", "1 propagation option"),
    ("/tmp:/x:bind,rbind", "can only specify 1 'bind'/'rbind' option"),
    ("a:b:c:d", "incorrect volume format"),
    (":/x", "host path or volume name is empty"),
    ("/tmp:/x:ro,", "an empty mount option"),
    ("vol:/x:O", "overlay option 'O' needs a host directory"),
    ("/tmp:/x:tmpcopyup", "only for tmpfs"),
])
def test_parse_volume_errors(value, message):
    with pytest.raises(InvalidArgument) as e:
        parse_volume(value)
    assert message in str(e.value) and f"-v {value}" in str(e.value)


def test_idmap_unsupported():
    with pytest.raises(Unsupported, match="idmapped"):
        parse_volume("/tmp:/x:idmap")


def test_parse_mount_forms():
    r = parse_mount("type=bind,src=/s,dst=/d,ro,bind-propagation=rslave")
    assert (r.kind, r.source, r.dest, r.options) == ("bind", "/s", "/d", ["ro", "rslave"])
    r = parse_mount("type=bind,source=/s,target=/d,readonly=false,bind-nonrecursive")
    assert r.options == ["rw", "bind"]
    r = parse_mount("type=volume,source=v,destination=/d,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"
                    "volume-label=a=b,volume-nocopy")
    assert (r.kind, r.source, r.copy) == ("volume", "v", False)
    assert r.volume_options == {"type": "tmpfs", "device": "tmpfs"} and r.volume_labels == {"a": "b"}
    assert parse_mount("type=volume,dst=/anon").source == ""
    r = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700,notmpcopyup")
    assert r.options == ["size=1m", "mode=700", "notmpcopyup"]
    assert parse_mount("type=devpts,dst=/dev/pts2").kind == "devpts"
    assert parse_mount("type=bind,src=/s,dst=/d,relabel=shared,consistency=cached,U").chown


@pytest.mark.parametrize("value,message", [
    ("type=foo,dst=/x", "invalid filesystem type 'foo'"),
    ("src=/x,dst=/y", "type= is required"),
    ("type=bind,src=/tmp", "must set the destination"),
    ("type=bind,dst=/x", "a bind mount needs a source"),
    ("type=bind,src=rel,dst=/x", "must be an absolute path"),
    ("type=tmpfs,src=/x,dst=/y", "a tmpfs mount takes no source"),
    ("type=bind,src=/tmp,dst=/x,bogus=1", "unknown option 'bogus'"),
    ("type=bind,src=/tmp,dst=/x,ro=maybe", "ro='maybe' is not true or false"),
    ("type=bind,src=/tmp,dst=/x,bind-propagation=sideways", "bind-propagation 'sideways'"),
    ("type=tmpfs,dst=/x,tmpfs-mode=abc", "tmpfs mode 'abc' is not an octal number"),
    ("type=bind,src=/t,dst=/x,volume-opt=a=b", "only for type=volume"),
    ("type=volume,dst=/x,volume-opt=novalue", "volume-opt needs KEY=VALUE"),
])
def test_parse_mount_errors(value, message):
    with pytest.raises(InvalidArgument) as e:
        parse_mount(value)
    assert message in str(e.value) and f"--mount {value}" in str(e.value)


def test_parse_tmpfs():
    r = parse_tmpfs("/t:size=10m,exec,mode=1777")
    assert (r.kind, r.dest, r.options) == ("tmpfs", "/t", ["size=10m", "exec", "mode=1777"])
    with pytest.raises(InvalidArgument, match="--tmpfs /x:foo: unknown mount option 'foo'"):
        parse_tmpfs("/x:foo")
    with pytest.raises(InvalidArgument, match="--tmpfs rel: invalid container path"):
        parse_tmpfs("rel")


# ---- apply_mounts -------------------------------------------------------------------------

def test_bind_defaults_as_podman(env):
    paths, ctx, host = env
    s = spec()
    apply_mounts(s, RunOptions(image="i", volumes=[f"{host}:/src", f"{host}:/src2:ro,Z"],
                               mounts=[f"type=bind,src={host},dst=/m1,ro"]), ctx, paths)
    m = mounts_by_dest(s)
    assert m["/src"] == {"destination": "/src", "type": "bind", "source": host, "options": ["rw", "rprivate", "rbind"]}
    assert m["/src2"]["options"] == ["ro", "rprivate", "rbind"]
    assert m["/m1"]["options"] == ["ro", "rprivate", "rbind"]


def test_tmpfs_defaults_as_podman(env):
    paths, ctx, _ = env
    s = spec()
    apply_mounts(s, RunOptions(image="i", tmpfs=["/t", "/t2:size=10m,exec"],
                               mounts=["type=tmpfs,dst=/m2,tmpfs-size=1m,tmpfs-mode=700"]), ctx, paths)
    m = mounts_by_dest(s)
    assert m["/t"] == {"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                       "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}
    assert m["/t2"]["options"] == ["size=10m", "exec", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
    assert m["/m2"]["options"] == ["size=1m", "mode=700", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]


def test_named_volume_created_on_first_use_and_reused(env):
    paths, ctx, _ = env
    s = spec()
    made = apply_mounts(s, RunOptions(image="i", volumes=["named1:/n"], mounts=["type=volume,src=named2,dst=/m3"]),
                        ctx, paths)
    assert made == []
    m = mounts_by_dest(s)
    vol = volumes.get(paths, "named1")
    assert m["/n"] == {"destination": "/n", "type": "bind", "source": vol.mountpoint,
                       "options": ["rw", "rprivate", "nosuid", "nodev", "rbind"]}
    assert vol.users == [CID] and ctx.volume_paths["named1"] == vol.mountpoint
    assert volumes.get(paths, "named2").users == [CID]
    # a second container mounts the same volume
    ctx2 = SpecContext(container_id="e" * 64, name="c2", rootfs=ctx.rootfs, bundle=ctx.bundle)
    s2 = spec()
    apply_mounts(s2, RunOptions(image="i", volumes=["named1:/other:ro"]), ctx2, paths)
    assert mounts_by_dest(s2)["/other"]["source"] == vol.mountpoint
    assert volumes.get(paths, "named1").users == [CID, "e" * 64]


def test_anonymous_volumes_and_image_volumes(env):
    paths, ctx, host = env
    s = spec()
    made = apply_mounts(s, RunOptions(image="i", volumes=["/anon", f"{host}:/covered"],
                                      mounts=["type=volume,dst=/anon2"]), ctx, paths,
                        image_volumes=["/data", "/covered", "/proc"])
    assert len(made) == 3 and all(volumes.get(paths, n).anonymous for n in made)
    m = mounts_by_dest(s)
    assert m["/covered"]["source"] == host  # the user's mount wins over the image's VOLUME
    assert m["/data"]["source"] == volumes.get(paths, made[2]).mountpoint
    assert m["/proc"]["type"] == "proc"  # an image cannot put a volume over /proc


def test_copy_up_of_image_content(env):
    paths, ctx, _ = env
    s = spec()
    made = apply_mounts(s, RunOptions(image="i"), ctx, paths, image_volumes=["/data"])
    data = volumes.get(paths, made[0]).mountpoint
    assert open(os.path.join(data, "seed")).read() == "hello\n"
    assert open(os.path.join(data, "sub", "deep")).read() == "deep\n"
    assert os.readlink(os.path.join(data, "link")) == "/etc/shadow"  # copied as a link, not followed
    assert os.stat(os.path.join(data, "hard")).st_ino == os.stat(os.path.join(data, "seed")).st_ino
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o750
    info = volumes.inspect(paths, made[0])
    assert info["NeedsCopyUp"] is False and info["NeedsChown"] is False


def test_copy_up_only_into_new_empty_volumes(env):
    paths, ctx, _ = env
    v = volumes.create(paths, "pre")
    open(os.path.join(v.mountpoint, "mine"), "w").write("1")
    apply_mounts(spec(), RunOptions(image="i", volumes=["pre:/data"]), ctx, paths)
    assert os.listdir(v.mountpoint) == ["mine"]
    apply_mounts(spec(), RunOptions(image="i", volumes=["fresh:/data:nocopy"]), ctx, paths)
    assert os.listdir(volumes.get(paths, "fresh").mountpoint) == []
    # a path that is a symlink leaving the rootfs copies nothing from the host
    apply_mounts(spec(), RunOptions(image="i", volumes=["esc:/escape/etc"]), ctx, paths)
    assert os.listdir(volumes.get(paths, "esc").mountpoint) == []


def test_chown_to_container_user(env):
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    paths, ctx, host = env
    s = spec()
    s["process"]["user"] = {"uid": 1234, "gid": 5678}
    apply_mounts(s, RunOptions(image="i", volumes=["owned:/nothere", f"{host}:/h:U"]), ctx, paths)
    st = os.stat(volumes.get(paths, "owned").mountpoint)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert os.stat(os.path.join(host, "f")).st_uid == 1234
    with pytest.raises(InvalidArgument, match="chowning host path '/tmp' is not allowed"):
        apply_mounts(spec(), RunOptions(image="i", volumes=["/tmp:/x:U"]), ctx, paths)


def test_volume_with_options_mounts_its_filesystem(env):
    paths, ctx, _ = env
    volumes.create(paths, "tv", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    s = spec()
    apply_mounts(s, RunOptions(image="i", volumes=["tv:/t"]), ctx, paths)
    assert mounts_by_dest(s)["/t"] == {"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                                       "options": ["size=1m", "rw", "rprivate", "nosuid", "nodev"]}


def test_overlay_option(env):
    paths, ctx, host = env
    s = spec()
    apply_mounts(s, RunOptions(image="i", volumes=[f"{host}:/o:O"]), ctx, paths)
    m = mounts_by_dest(s)["/o"]
    assert m["type"] == "overlay" and m["options"][0] == f"lowerdir={host}"
    upper = m["options"][1].split("=", 1)[1]
    assert upper.startswith(ctx.bundle) and os.path.isdir(upper)


def test_read_only_tmpfs_and_hosts_files(env):
    paths, ctx, host = env
    ctx.hosts_file, ctx.resolv_conf, ctx.hostname_file = f"{host}/hosts", f"{host}/resolv", f"{host}/hn"
    s = spec()
    apply_mounts(s, RunOptions(image="i", read_only=True, tmpfs=["/run:size=1m"]), ctx, paths)
    m = mounts_by_dest(s)
    for d in ("/tmp", "/var/tmp"):
        assert m[d]["options"] == ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
    assert m["/run"]["options"][0] == "size=1m"  # the user's /run replaces the default one
    assert m["/etc/hosts"] == {"destination": "/etc/hosts", "type": "bind", "source": f"{host}/hosts",
                               "options": ["bind", "rprivate", "ro", "nosuid", "noexec", "nodev"]}
    assert m["/etc/resolv.conf"]["source"] == f"{host}/resolv" and m["/etc/hostname"]["source"] == f"{host}/hn"
    s = spec()
    apply_mounts(s, RunOptions(image="i", volumes=[f"{host}/f:/etc/hosts:ro"]), ctx, paths)
    hosts = [x for x in s["mounts"] if x["destination"] == "/etc/hosts"]
    assert len(hosts) == 1 and hosts[0]["source"] == f"{host}/f"
    assert mounts_by_dest(s)["/etc/resolv.conf"]["options"] == ["bind", "rprivate"]


def test_user_mount_replaces_default_but_not_proc_sys_dev(env):
    paths, ctx, host = env
    s = spec()
    apply_mounts(s, RunOptions(image="i", volumes=[f"{host}:/dev/shm"]), ctx, paths)
    shm = [x for x in s["mounts"] if x["destination"] == "/dev/shm"]
    assert len(shm) == 1 and shm[0]["source"] == host
    for d in ("/proc", "/sys", "/dev", "/dev/", "//proc/."):
        with pytest.raises(InvalidArgument, match="cannot be replaced by a mount"):
            apply_mounts(spec(), RunOptions(image="i", volumes=[f"{host}:{d}"]), ctx, paths)


def test_errors_of_apply(env):
    paths, ctx, host = env
    with pytest.raises(NotFound, match="-v /nonexist:/x: statfs /nonexist: no such file or directory"):
        apply_mounts(spec(), RunOptions(image="i", volumes=["/nonexist:/x"]), ctx, paths)
    with pytest.raises(InvalidArgument, match="/x: duplicate mount destination"):
        apply_mounts(spec(), RunOptions(image="i", volumes=[f"{host}:/x", "/x/"]), ctx, paths)
    with pytest.raises(InvalidArgument, match="duplicate mount destination"):
        apply_mounts(spec(), RunOptions(image="i", tmpfs=["/x"], mounts=["type=volume,dst=/x"]), ctx, paths)
    with pytest.raises(InvalidArgument, match="names must match"):
        apply_mounts(spec(), RunOptions(image="i", volumes=["bad%name:/x"]), ctx, paths)


def test_anonymous_volumes_removed_when_apply_fails(env):
    paths, ctx, _ = env
    with pytest.raises(NotFound):
        apply_mounts(spec(), RunOptions(image="i", volumes=["/anon", "/nonexist:/y"]), ctx, paths)
    assert volumes.list_volumes(paths) == []


def test_sorted_parents_first(env):
    paths, ctx, host = env
    s = spec()
    apply_mounts(s, RunOptions(image="i", volumes=[f"{host}:/a/b/c", f"{host}:/a"], tmpfs=["/a/b"]), ctx, paths)
    order = [m["destination"] for m in s["mounts"]]
    assert order.index("/a") < order.index("/a/b") < order.index("/a/b/c")
    assert order[:2] == ["/proc", "/dev"]
    assert [m["destination"] for m in sort_mounts([{"destination": "/x/y"}, {"destination": "/x"}])] == ["/x", "/x/y"]
