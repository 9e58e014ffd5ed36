"""``onggi run`` next to ``podman run`` (podman 4.3 on its own roots): the same command
lines for volumes, --read-only, --tmpfs, --memory, --cap-drop ALL and --ulimit, and the
same output.

``--ulimit nofile=...`` comes with ``--ulimit nproc=...``: given one ulimit, podman as root
sets the other of nofile/nproc to 1048576, which this machine refuses (MACHINE.md).
"""

from __future__ import annotations

import pytest
from engine_support import Podman, busybox_archive, engine  # noqa: F401  (fixtures)

pytestmark = pytest.mark.interop


@pytest.fixture
def podman(busybox_archive, tmp_path):  # noqa: ANN001, ANN201, F811
    """podman with ``default_ulimits = []``: its default nofile=1048576 is above this
    machine's hard limit, and nothing here may raise it (MACHINE.md)."""
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\nruntime = "runc"\n')
    p = Podman(str(tmp_path / "pm"), busybox_archive)
    p.env["CONTAINERS_CONF"] = str(conf)
    yield p
    p.close()


def both(engine, podman, *args: str) -> tuple:  # noqa: ANN001
    """``run --rm --network none ARGS`` through each; returns (onggi, podman) results."""
    argv = ["run", "--rm", "--network", "none", *args]
    o = engine.run_onggi(*argv, timeout=120)
    p = podman(*argv)
    return o, p


def _same(o, p) -> str:  # noqa: ANN001
    assert p.returncode == 0, f"podman: {p.stderr}"
    assert o.returncode == 0, f"onggi: {o.stderr}"
    assert o.stdout == p.stdout, (o.stdout, p.stdout)
    return o.stdout


def test_named_volume_persists_across_containers(engine, podman):  # noqa: F811
    for tool in (engine.run_onggi, podman):
        r = tool("run", "--rm", "--network", "none", "-v", "data1:/data", engine.image, "sh", "-c",
                 "echo persisted > /data/f")
        assert r.returncode == 0, r.stderr
    out = _same(*both(engine, podman, "-v", "data1:/data", engine.image, "cat", "/data/f"))
    assert out == "persisted\n"
    ls_o = engine.run_onggi("volume", "ls")
    ls_p = podman("volume", "ls")
    assert ls_o.stdout == ls_p.stdout == "DRIVER      VOLUME NAME\nlocal       data1\n"
    for tool in (engine.run_onggi, podman):
        assert tool("volume", "rm", "data1").returncode == 0
        assert tool("volume", "exists", "data1").returncode == 1


def test_read_only_and_tmpfs(engine, podman):  # noqa: F811
    script = ("touch /x 2>/dev/null && echo rw-root || echo ro-root; touch /tmp/a && echo tmp-rw; "
              "grep -E ' /(scratch|tmp|var/tmp|run) ' /proc/mounts | cut -d' ' -f2,3,4 | sort")
    out = _same(*both(engine, podman, "--read-only", "--tmpfs", "/scratch", engine.image, "sh", "-c", script))
    assert out.startswith("ro-root\ntmp-rw\n") and "/scratch tmpfs rw,nosuid,nodev" in out


def test_memory_limit_in_cgroup(engine, podman):  # noqa: F811
    script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
    assert _same(*both(engine, podman, "--memory", "64m", engine.image, "sh", "-c", script)) == f"{64 << 20}\n"


def test_cap_drop_all(engine, podman):  # noqa: F811
    out = _same(*both(engine, podman, "--cap-drop", "ALL", engine.image, "grep", "^Cap", "/proc/self/status"))
    assert "CapEff:\t0000000000000000" in out


def test_ulimit_nofile(engine, podman):  # noqa: F811
    out = _same(*both(engine, podman, "--ulimit", "nofile=512:1024", "--ulimit", "nproc=2000:2000", engine.image,
                      "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"))
    assert out == "512\n1024\n2000\n"


def test_anonymous_volume_copy_up(engine, podman):  # noqa: F811
    """-v /etc (anonymous) gets the image's /etc."""
    out = _same(*both(engine, podman, "-v", "/etc", engine.image, "sh", "-c", "cat /etc/group | head -1"))
    assert out == "root:x:0:\n"


def test_rm_removes_anonymous_volumes(engine, podman):  # noqa: F811
    """--rm removes the container's anonymous volumes (and leaves named ones)."""
    _same(*both(engine, podman, "-v", "/anon", "-v", "named:/n", engine.image, "true"))
    assert engine.run_onggi("volume", "ls", "-q").stdout == podman("volume", "ls", "-q").stdout == "named\n"
