"""State under --root stays consistent when commands on the same id race."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor


def test_parallel_create_same_id_exactly_one_wins(runtime, make_bundle):
    b = make_bundle(["sleep", "30"])
    cid = runtime.new_id("race")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: runtime("create", "--bundle", b.path, cid), range(8)))
    ok = [r for r in results if r.returncode == 0]
    assert len(ok) == 1
    for r in results:
        if r.returncode != 0:
            assert "already exists" in r.stderr
    assert runtime.state(cid)["status"] == "created"


def test_parallel_create_many_ids(runtime, make_bundle):
    b = make_bundle(["sleep", "30"])
    ids = [runtime.new_id("many") for _ in range(10)]
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda cid: runtime("run", "-d", "--bundle", b.path, cid), ids))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sorted(runtime("list", "-q", check=True).stdout.split()) == sorted(ids)


def test_racing_kill_and_delete(runtime, make_bundle):
    b = make_bundle(["sleep", "30"])
    cid = runtime.new_id("kd")
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    with ThreadPoolExecutor(6) as pool:
        futs = [pool.submit(runtime, "delete", "--force", cid) for _ in range(3)]
        futs += [pool.submit(runtime, "kill", cid, "KILL") for _ in range(3)]
        results = [f.result() for f in futs]
    # every delete --force succeeds (deleting a gone id with --force is not an error)
    assert all(r.returncode == 0 for r in results[:3]), [r.stderr for r in results]
    assert runtime("state", cid).returncode == 1
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_systemd_cgroup_is_refused_clearly(runtime, make_bundle):
    b = make_bundle(["true"])
    cid = runtime.new_id()
    r = subprocess.run([runtime.binary, "--root", runtime.root, "--systemd-cgroup", "run", "--bundle", b.path, cid],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "systemd" in r.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_json_log_file_gets_the_error(runtime, tmp_path):
    log = tmp_path / "log.json"
    r = subprocess.run([runtime.binary, "--root", runtime.root, "--log", str(log), "--log-format", "json",
                        "state", "no-such-container"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    import json

    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "no-such-container" in entry["msg"] and "time" in entry


def test_checkpoint_is_unsupported(runtime):
    r = runtime("checkpoint", "x")
    assert r.returncode == 1 and "not supported" in r.stderr
