"""Named and anonymous volumes: create/get/list/remove/prune, users, metadata, names,
concurrency (20 threads), and the ``onggi volume`` commands' output and exit codes."""

from __future__ import annotations

import json
import os
import threading

import pytest
from click.testing import CliRunner

from onggi.engine import volumes
from onggi.engine.paths import Paths
from onggi.errors import AlreadyExists, Conflict, InvalidArgument, NotFound


@pytest.fixture
def paths(tmp_path) -> Paths:  # noqa: ANN001
    return Paths(storage=str(tmp_path / "s"), root=str(tmp_path / "r"), run=str(tmp_path / "run"))


def test_create_named_layout_and_inspect(paths):
    v = volumes.create(paths, "data1", {"a": "b"}, {})
    assert v.mountpoint == os.path.join(paths.volumes, "data1", "_data")
    assert os.path.isdir(v.mountpoint) and os.listdir(v.mountpoint) == []
    meta = json.load(open(os.path.join(paths.volumes, "data1", "volume.json")))
    assert meta["name"] == "data1" and meta["labels"] == {"a": "b"} and meta["users"] == []
    info = volumes.inspect(paths, "data1")
    assert list(info) == ["Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options",
                          "MountCount", "NeedsCopyUp", "NeedsChown"]
    assert info["Driver"] == "local" and info["Scope"] == "local" and info["Labels"] == {"a": "b"}
    assert info["CreatedAt"].endswith("Z") and "T" in info["CreatedAt"]


def test_unnamed_and_anonymous(paths):
    v = volumes.create(paths)
    assert len(v.name) == 64 and all(c in "0123456789abcdef" for c in v.name) and not v.anonymous
    a = volumes.create(paths, anonymous=True)
    assert volumes.inspect(paths, a.name)["Anonymous"] is True
    assert "Anonymous" not in volumes.inspect(paths, v.name)


@pytest.mark.parametrize("name", ["bad%name", "-x", ".hidden", "_x", "a/b", "a b", ""])
def test_bad_names(paths, name):
    with pytest.raises(InvalidArgument, match="names must match"):
        volumes.create(paths, name)


def test_good_names(paths):
    for n in ("a", "A1", "a_b.c-d", "0x"):
        volumes.create(paths, n)
    assert [v.name for v in volumes.list_volumes(paths)] == ["0x", "A1", "a", "a_b.c-d"]


def test_duplicate_and_ignore(paths):
    v = volumes.create(paths, "v1")
    with pytest.raises(AlreadyExists, match="volume with name v1 already exists"):
        volumes.create(paths, "v1")
    assert volumes.create(paths, "v1", ignore_existing=True).created == v.created


def test_options(paths):
    volumes.create(paths, "t", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert volumes.get(paths, "t").options == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    with pytest.raises(InvalidArgument, match="invalid mount option foo for driver local"):
        volumes.create(paths, "x", options={"foo": "bar"})
    with pytest.raises(InvalidArgument, match="needs a device"):
        volumes.create(paths, "y", options={"type": "tmpfs"})
    assert not volumes.exists(paths, "x") and not volumes.exists(paths, "y")


def test_get_missing(paths):
    with pytest.raises(NotFound, match='no volume with name "nope" found'):
        volumes.get(paths, "nope")
    assert not volumes.exists(paths, "nope") and not volumes.exists(paths, "../etc")
    with pytest.raises(NotFound):
        volumes.remove(paths, "nope")


def test_users_block_remove_unless_force(paths):
    volumes.create(paths, "v")
    cid = "c" * 64
    os.makedirs(paths.container_dir(cid))
    volumes.attach(paths, "v", cid)
    volumes.attach(paths, "v", cid)
    assert volumes.get(paths, "v").users == [cid]
    with pytest.raises(Conflict, match=f"volume v is being used by the following container\\(s\\): {cid}"):
        volumes.remove(paths, "v")
    assert volumes.prune(paths) == []
    assert volumes.remove(paths, "v", force=True) == [cid]
    assert not volumes.exists(paths, "v") and os.listdir(paths.volumes) == [".lock"]


def test_user_without_container_dir_is_gone(paths):
    volumes.create(paths, "v")
    volumes.attach(paths, "v", "d" * 64)  # no container dir: a crashed create
    assert volumes.live_users(paths, volumes.get(paths, "v")) == []
    assert volumes.remove(paths, "v") == []


def test_release_and_anonymous_removal(paths):
    cid, other = "a" * 64, "b" * 64
    for c in (cid, other):
        os.makedirs(paths.container_dir(c))
    anon = volumes.create(paths, anonymous=True).name
    shared = volumes.create(paths, anonymous=True).name
    named = volumes.create(paths, "keep").name
    for n in (anon, shared, named):
        volumes.attach(paths, n, cid)
    volumes.attach(paths, shared, other)
    removed = volumes.release(paths, cid, remove_anonymous=[anon, shared])
    assert removed == [anon]  # ``shared`` is still used by ``other``
    assert volumes.get(paths, named).users == [] and volumes.get(paths, shared).users == [other]


def test_prune_and_labels(paths):
    os.makedirs(paths.container_dir("x" * 64))
    volumes.create(paths, "used")
    volumes.attach(paths, "used", "x" * 64)
    volumes.create(paths, "free1", {"k": "1"})
    volumes.create(paths, "free2", {"k": "2"})
    assert volumes.prune(paths, {"k": "2"}) == ["free2"]
    assert volumes.prune(paths, {"k": None}) == ["free1"]
    assert volumes.prune(paths) == []
    assert [v.name for v in volumes.list_volumes(paths)] == ["used"]


def test_mark_populated(paths):
    volumes.create(paths, "v")
    volumes.mark_populated(paths, "v", copied_up=True, chowned=False)
    info = volumes.inspect(paths, "v")
    assert info["NeedsCopyUp"] is False and info["NeedsChown"] is True


def test_half_made_volume_is_not_listed(paths):
    volumes.create(paths, "ok")
    os.makedirs(os.path.join(paths.volumes, "nometa", "_data"))
    os.makedirs(os.path.join(paths.volumes, ".tmp-x-1234"))
    assert [v.name for v in volumes.list_volumes(paths)] == ["ok"]


def test_twenty_threads_create_attach_remove(paths):
    errors: list[BaseException] = []
    shared = volumes.create(paths, "shared").name
    cids = [f"{i:064x}" for i in range(20)]
    for c in cids:
        os.makedirs(paths.container_dir(c))

    def work(i: int) -> None:
        try:
            for j in range(5):
                name = f"t{i}-{j}"
                volumes.create(paths, name, {"i": str(i)})
                volumes.attach(paths, shared, cids[i])
                anon = volumes.create(paths, anonymous=True).name
                volumes.attach(paths, anon, cids[i])
                assert volumes.get(paths, name).labels == {"i": str(i)}
                volumes.remove(paths, name)
                assert volumes.release(paths, cids[i], remove_anonymous=[anon]) == [anon]
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert [v.name for v in volumes.list_volumes(paths)] == ["shared"]
    assert volumes.get(paths, shared).users == []
    assert sorted(os.listdir(paths.volumes)) == [".lock", "shared"]


# ---- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def cli(paths, monkeypatch):  # noqa: ANN001, ANN201
    from onggi.cli.main import _register, cli as top

    monkeypatch.setenv("ONGGI_ROOT", paths.root)
    monkeypatch.setenv("ONGGI_RUNROOT", paths.run)
    if "volume" not in top.commands:
        _register()
    runner = CliRunner()

    def run(*args: str, input: str | None = None):  # noqa: ANN202
        return runner.invoke(top, ["volume", *args], input=input)

    return run


def test_cli_create_ls_inspect(cli, paths):
    assert cli("create", "--label", "a=b", "--label", "c", "v1").output == "v1\n"
    r = cli("create")
    assert r.exit_code == 0 and len(r.output.strip()) == 64
    r = cli("ls")
    lines = r.output.splitlines()
    assert lines[0] == "DRIVER      VOLUME NAME" and lines[-1] == "local       v1" and len(lines) == 3
    assert cli("ls", "-q", "--filter", "label=a=b").output == "v1\n"
    assert cli("ls", "-q", "--filter", "label=c").output == "v1\n"
    assert cli("ls", "--filter", "name=zzz").output == ""
    assert cli("ls", "-q", "--filter", "dangling=true", "--filter", "name=^v").output == "v1\n"
    r = cli("ls", "--filter", "foo=1")
    assert r.exit_code == 125 and '"foo" is an invalid volume filter' in r.output
    r = cli("ls", "--filter", "dangling=maybe")
    assert r.exit_code == 125 and "must be true or false" in r.output
    data = json.loads(cli("ls", "--format", "json").output)
    assert {d["Name"] for d in data} >= {"v1"} and all(d["Driver"] == "local" for d in data)
    info = json.loads(cli("inspect", "v1").output)
    assert info[0]["Labels"] == {"a": "b", "c": ""} and info[0]["Mountpoint"].endswith("/volumes/v1/_data")
    assert cli("inspect", "--format", "{{.Name}} {{.Driver}} {{.Labels}}", "v1").output == "v1 local map[a:b c:]\n"
    assert cli("inspect", "-f", "{{json .Labels}}", "v1").output == '{"a":"b","c":""}\n'
    r = cli("ls", "--format", "table {{.Name}} {{.Labels}}", "--filter", "name=v1")
    assert r.output.splitlines() == ["VOLUME NAME  LABELS", "v1           map[a:b c:]"]
    r = cli("inspect", "v1", "nope")
    assert r.exit_code == 125 and "no such volume nope" in r.output


def test_cli_exists_rm_prune(cli, paths):
    cli("create", "v1")
    cli("create", "v2")
    assert cli("exists", "v1").exit_code == 0
    assert cli("exists", "nope").exit_code == 1
    r = cli("create", "v1")
    assert r.exit_code == 125 and "already exists" in r.output
    assert cli("create", "--ignore", "v1").exit_code == 0
    r = cli("rm", "nope")
    assert r.exit_code == 1 and 'no volume with name "nope" found' in r.output
    cid = "e" * 64
    os.makedirs(paths.container_dir(cid))
    volumes.attach(paths, "v1", cid)
    r = cli("rm", "v1")
    assert r.exit_code == 2 and "is being used" in r.output
    r = cli("prune", input="n\n")
    assert "The following volumes will be removed:\nv2\n" in r.output and volumes.exists(paths, "v2")
    assert cli("prune", "-f").output == "v2\n"
    r = cli("rm", "-f", "v1")
    assert r.exit_code == 0 and r.output == "v1\n" and not volumes.exists(paths, "v1")
    r = cli("create", "bad%")
    assert r.exit_code == 125 and "names must match" in r.output
