"""``onggi stats`` without --no-stream: a new reading every --interval seconds until
interrupted; network I/O counted from the container's own network namespace."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def test_stats_streams_readings(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "s1", engine.image, "sleep", "1000", check=True)
    with tempfile.TemporaryFile("w+") as out:
        p = engine.popen("stats", "--interval", "1", "--format", "{{.Name}} {{.PIDs}}", "s1",
                         stdout=out, stderr=subprocess.STDOUT)
        try:
            def readings() -> int:
                out.seek(0)
                return out.read().count("s1 1\n")

            engine.wait_for(lambda: readings() >= 3, timeout=15, what="three readings")
        finally:
            p.send_signal(signal.SIGINT)
            p.wait(10)


def test_stats_net_io_of_bridged_containers(engine) -> None:  # noqa: ANN001
    # the sink's nc reads a stdin that never ends (else it hangs up at once) and counts
    engine.run_onggi("run", "-d", "--name", "sink", engine.image, "sh", "-c",
                     "sleep 1000 | nc -l -p 9000 | wc -c > /tmp/n; sleep 1000", check=True)
    engine.run_onggi("run", "-d", "--name", "source", engine.image, "sleep", "1000", check=True)
    ip = engine.inspect("sink")["NetworkSettings"]["IPAddress"]
    engine.wait_for(lambda: ":9000" in engine.run_onggi("exec", "sink", "netstat", "-ltn").stdout,
                    what="the listener")
    r = engine.run_onggi("exec", "source", "sh", "-c", f"head -c 300000 /dev/zero | nc {ip} 9000")
    assert r.returncode == 0, r.stderr
    engine.wait_for(lambda: engine.run_onggi("exec", "sink", "cat", "/tmp/n").stdout == "300000\n",
                    what="the sink's count")
    got = {s["name"]: s for s in json.loads(engine.run_onggi("stats", "--no-stream", "--format", "json",
                                                            check=True).stdout)}
    _, sent = got["source"]["net_io"].split(" / ")
    received, _ = got["sink"]["net_io"].split(" / ")
    assert sent.endswith("kB") and 300 <= float(sent[:-2]) < 400, got["source"]
    assert received.endswith("kB") and 300 <= float(received[:-2]) < 400, got["sink"]
