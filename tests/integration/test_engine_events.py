"""``onggi events``: what the lifecycle logs (create, start, exec, kill, died with its exit
code, stop, pause, unpause, rename, remove) in order, podman's text line and JSON
object, filters, --since/--until, templates, and streaming new events as they come."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tempfile
import time

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")
_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC container (\w+) ([0-9a-f]{64}) "
                   r"\(image=(\S+), name=(\w+)\)$")


def _actions(engine, *args: str) -> list[str]:  # noqa: ANN001
    out = engine.run_onggi("events", "--stream=false", *args, check=True).stdout
    return [_LINE.match(ln.replace(", tier=web)", ")")).group(1)  # type: ignore[union-attr]
            for ln in out.splitlines()]


def test_lifecycle_events_in_order(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "ev", engine.image, "sleep", "1000", check=True)
    engine.run_onggi("exec", "ev", "sh", "-c", "exit 9")
    engine.run_onggi("pause", "ev", check=True)
    engine.run_onggi("unpause", "ev", check=True)
    engine.run_onggi("kill", "ev", check=True)
    engine.wait_for(lambda: engine.inspect("ev")["State"]["Status"] == "exited", what="exit")
    engine.run_onggi("rm", "ev", check=True)
    engine.run_onggi("run", "--rm", *NONE, "--name", "quick", "--label", "tier=web", engine.image, "sh", "-c",
                     "exit 3")
    out = engine.run_onggi("events", "--no-stream", check=True).stdout.splitlines()
    assert out[-1].endswith(", tier=web)"), out  # labels follow, as podman writes them
    out = [ln.replace(", tier=web)", ")") for ln in out]
    parsed = [_LINE.match(ln) for ln in out]
    assert all(parsed), out
    ev = [(m.group(1), m.group(4)) for m in parsed]  # type: ignore[union-attr]
    assert ev == [("create", "ev"), ("start", "ev"), ("exec", "ev"), ("exec_died", "ev"), ("pause", "ev"),
                  ("unpause", "ev"),
                  ("kill", "ev"), ("died", "ev"), ("remove", "ev"),
                  ("create", "quick"), ("start", "quick"), ("died", "quick"), ("remove", "quick")], out
    assert {m.group(3) for m in parsed} == {engine.image}  # type: ignore[union-attr]
    assert _actions(engine, "--filter", "container=quick") == ["create", "start", "died", "remove"]
    assert _actions(engine, "--filter", "event=died", "--filter", "event=kill") == ["kill", "died", "died"]
    assert _actions(engine, "--filter", "type=image") == []
    out = engine.run_onggi("events", "--stream=false", "--filter", "label=tier=web", "--format", "{{.Name}}",
                           check=True).stdout
    assert out == "quick\n" * 4
    docs = [json.loads(ln) for ln in engine.run_onggi("events", "--stream=false", "--format", "json",
                                                      "--filter", "event=died", check=True).stdout.splitlines()]
    assert [d["ContainerExitCode"] for d in docs] == [137, 3]
    died = json.loads(engine.run_onggi("events", "--stream=false", "--format", "json", "--filter",
                                       "event=exec_died", check=True).stdout)
    assert died["ContainerExitCode"] == 9 and died["Name"] == "ev"
    assert {k for k in docs[0]} >= {"ID", "Image", "Name", "Status", "Time", "Type", "Attributes"}
    assert docs[1]["Name"] == "quick" and docs[1]["Type"] == "container" and docs[1]["Status"] == "died"
    out = engine.run_onggi("events", "--stream=false", "--format", "{{.Status}} {{.Name}}",
                           "--filter", "container=ev", check=True).stdout
    assert out.splitlines()[:2] == ["create ev", "start ev"]


def test_since_until_and_bad_filters(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "early", engine.image, "true", check=True)
    time.sleep(1.1)
    mark = f"{time.time():.3f}"
    engine.run_onggi("create", *NONE, "--name", "late", engine.image, "true", check=True)
    out = engine.run_onggi("events", "--stream=false", "--since", mark, "--format", "{{.Name}}", check=True).stdout
    assert out == "late\n"
    out = engine.run_onggi("events", "--stream=false", "--until", mark, "--format", "{{.Name}}", check=True).stdout
    assert out == "early\n"
    out = engine.run_onggi("events", "--stream=false", "--filter", f"since={mark}", "--format", "{{.Name}}",
                           check=True).stdout
    assert out == "late\n"
    # --until in the past: the command ends by itself even while streaming
    out = engine.run_onggi("events", "--until", mark, "--format", "{{.Name}}", check=True, timeout=10).stdout
    assert out == "early\n"
    r = engine.run_onggi("events", "--stream=false", "--filter", "colour=red")
    assert r.returncode == 125 and "colour" in r.stderr
    r = engine.run_onggi("events", "--stream=false", "--filter", "nonsense")
    assert r.returncode == 125 and "KEY=VALUE" in r.stderr


def test_streams_new_events_until_interrupted(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--rm", "--name", "before", engine.image, "true", check=True)
    with tempfile.TemporaryFile("w+") as out:  # without --since: only what happens from now on
        p = engine.popen("events", "--filter", "event=start", "--format", "{{.Name}}", stdout=out,
                         stderr=subprocess.STDOUT)
        try:
            time.sleep(1.0)
            engine.run_onggi("run", *NONE, "--rm", "--name", "streamed", engine.image, "true", check=True)

            def seen() -> bool:
                out.seek(0)
                return out.read() == "streamed\n"

            engine.wait_for(seen, what="the start event on the stream")
        finally:
            p.send_signal(signal.SIGINT)
            p.wait(10)
        assert p.returncode == 0
