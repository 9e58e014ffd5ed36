"""Named volumes and containers: ``create`` makes the volume at once; ``volume rm`` of a
volume a container uses is refused, and with ``-f`` the volume goes with the containers
using it (as podman does)."""

from __future__ import annotations

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)


def test_volume_rm_in_use_then_forced(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", "--network", "none", "--name", "user", "-v", "data:/data", engine.image,
                     "sleep", "1000", check=True)
    r = engine.run_onggi("volume", "rm", "data")
    assert r.returncode == 2 and "volume data is being used" in r.stderr, r.stderr  # podman: 2
    assert engine.run_onggi("ps", "-q").stdout.strip() != ""
    r = engine.run_onggi("volume", "rm", "-f", "data")
    assert r.returncode == 0, r.stderr
    assert engine.run_onggi("ps", "-aq").stdout == ""
    assert engine.run_onggi("volume", "ls", "-q").stdout == ""


def test_create_makes_named_volumes_and_checks_mounts(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", "--network", "none", "--name", "c", "-v", "early:/data", engine.image, "true",
                     check=True)
    assert engine.run_onggi("volume", "ls", "-q").stdout == "early\n"
    r = engine.run_onggi("create", "--network", "none", "-v", "relative/path:/data", engine.image, "true")
    assert r.returncode == 125 and "relative/path" in r.stderr
    assert engine.run_onggi("ps", "-aq").stdout.split() == [engine.inspect("c")["Id"][:12]]
    engine.run_onggi("rm", "c", check=True)
    engine.run_onggi("volume", "rm", "early", check=True)
