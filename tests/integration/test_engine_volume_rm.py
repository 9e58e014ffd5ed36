"""``onggi volume rm`` of a volume a container uses: refused, and with ``-f`` the volume
goes with the containers using it (as podman does)."""

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
