"""The engine's pure parts, no root needed: specgen's podman rules, the state database
(names, parallel writers, reboot reconciliation), the log format and templates."""

from __future__ import annotations

import os
import threading

import pytest

from onggi.engine import logs, specgen, state, templates
from onggi.engine.options import RunOptions
from onggi.errors import AlreadyExists, InvalidArgument, NotFound

IMG = {"config": {"Entrypoint": ["/ep"], "Cmd": ["a", "b"], "Env": ["PATH=/img", "X=1"]}}


def test_process_args_follow_podman() -> None:
    assert specgen.process_args(RunOptions("i"), IMG) == ["/ep", "a", "b"]
    assert specgen.process_args(RunOptions("i", command=["c"]), IMG) == ["/ep", "c"]
    assert specgen.process_args(RunOptions("i", entrypoint=["/new"]), IMG) == ["/new"]
    assert specgen.process_args(RunOptions("i", entrypoint=[], command=["sh"]), IMG) == ["sh"]
    with pytest.raises(InvalidArgument, match="no command or entrypoint"):
        specgen.process_args(RunOptions("i", entrypoint=[]), {"config": {"Cmd": ["x"]}})


def test_env_order_and_defaults(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FROM_HOST", "h")
    env = specgen.build_env(RunOptions("i", env=["X=2", "FROM_HOST", "UNSET_ONE"]), IMG, "host1", "/root")
    assert env == ["PATH=/img", "TERM=xterm", "container=podman", "X=2", "FROM_HOST=h",
                   "HOSTNAME=host1", "HOME=/root"]


def test_user_resolution(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\nwheel:x:10:app\napp:x:1000:\n")
    assert specgen.resolve_user("app", str(tmp_path)) == ({"uid": 1000, "gid": 1000, "additionalGids": [10]},
                                                          "/home/app")
    assert specgen.resolve_user("app:wheel", str(tmp_path))[0] == {"uid": 1000, "gid": 10}
    assert specgen.resolve_user("4242", str(tmp_path)) == ({"uid": 4242, "gid": 0}, "/")
    with pytest.raises(NotFound, match="nobody"):
        specgen.resolve_user("nobody", str(tmp_path))


def _rec(name: str) -> state.Record:
    return state.Record(id=os.urandom(32).hex(), name=name, image="img", image_id="sha256:x",
                        state=state.CREATED, created=1.0, options={"image": "img"})


def test_state_names_are_unique_and_writers_queue(tmp_path) -> None:  # noqa: ANN001
    db = state.StateDB(str(tmp_path / "state.db"))
    db.add(_rec("one"))
    with pytest.raises(AlreadyExists, match='the container name "one" is already in use by'):
        db.add(_rec("one"))
    errors = []

    def writer(i: int) -> None:
        try:
            d = state.StateDB(str(tmp_path / "state.db"))
            d.add(_rec(f"n{i}"))
            d.close()
        except Exception as e:  # collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(db.all()) == 21
    assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_reboot_marks_running_exited(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    db = state.StateDB(str(tmp_path / "state.db"))
    rec = _rec("r")
    db.add(rec)
    db.update(rec.id, state=state.RUNNING, pid=1234, started=2.0)
    db.close()
    monkeypatch.setattr(state, "boot_id", lambda: "another-boot")
    after = state.StateDB(str(tmp_path / "state.db")).get(rec.id)
    assert (after.state, after.pid) == (state.EXITED, 0)


def test_log_lines_partial_and_rotation(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "ctr.log")
    w = logs.LogWriter(path, max_size=200)
    w.write("stdout", b"hello\npart")
    w.write("stdout", b"ial\n")
    w.write("stderr", b"oops\n")
    w.close()
    text = open(path).read().splitlines()
    assert text[0].split(" ", 1)[1] == "stdout F hello" and text[1].split(" ", 1)[1] == "stdout P part"
    assert [ln.text for ln in logs.read_lines(path)] == [b"hello\n", b"partial\n", b"oops\n"]
    w = logs.LogWriter(path, max_size=200)
    for i in range(10):
        w.write("stdout", b"line %d\n" % i)
    w.close()
    assert os.path.exists(path + ".1") and os.path.getsize(path) <= 200
    assert [ln.text for ln in logs.read_lines(path, tail=1)] == [b"line 9\n"]


def test_templates() -> None:
    doc = {"State": {"Status": "running", "Running": True}, "Labels": {"a": "b"}, "Names": "x"}
    assert templates.render("{{.State.Status}} {{.State.Running}}", doc) == "running true"
    assert templates.render("{{json .Labels}}\\t{{index .Labels \"a\"}}", doc) == '{"a": "b"}\tb'
    assert templates.header("table {{.ID}}\\t{{.Names}}") == "CONTAINER ID\tNAMES"
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope"):
        templates.render("{{.Nope}}", doc)
