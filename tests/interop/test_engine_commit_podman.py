"""``onggi commit`` seen by podman: the committed image, pushed with ``onggi push`` to
Debian's docker-registry, pulls and runs in podman with the same files (the change there,
the deleted file still gone); and ``onggi diff`` agrees with ``podman diff`` on the same
changes; ``onggi export`` of the container reads back in ``podman import``."""

from __future__ import annotations

import time

import pytest
from engine_support import busybox_archive, engine, podman  # noqa: F401  (fixtures)

NONE = ("--network", "none")
SCRIPT = ("echo committed > /hello && rm /bin/true && mkdir -p /newdir && echo y > /newdir/f "
          "&& echo z >> /etc/passwd && rm -rf /home && mkdir /home && touch /home/new")


def test_commit_push_pull_in_podman(engine, podman, registry) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--name", "c", engine.image, "sh", "-c", SCRIPT, check=True)
    name = f"{registry.host}/onggi-commit/test:1"
    engine.run_onggi("commit", "-m", "from onggi", "-c", 'CMD ["cat", "/hello"]', "c", name, check=True)
    r = engine.run_onggi("push", "-q", "--tls-verify=false", name, timeout=120)
    assert r.returncode == 0, r.stderr
    r = podman("pull", "-q", "--tls-verify=false", name)
    assert r.returncode == 0, r.stderr
    r = podman("run", "--rm", "--network", "none", name)
    assert (r.returncode, r.stdout) == (0, "committed\n"), r.stderr
    check = "test -e /bin/true; echo $?; cat /newdir/f; ls /home; tail -n 1 /etc/passwd"
    r = podman("run", "--rm", "--network", "none", name, "sh", "-c", check)
    assert r.stdout.split("\n") == ["1", "y", "new", "z", ""], (r.stdout, r.stderr)
    r = podman("image", "history", "--format", "{{.Comment}}", name)
    assert "from onggi" in r.stdout, r.stdout


def test_diff_agrees_with_podman(engine, podman) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--name", "c", engine.image, "sh", "-c", SCRIPT, check=True)
    r = podman("run", "--network", "none", "--name", "c", podman.image, "sh", "-c", SCRIPT)
    assert r.returncode == 0, r.stderr
    ours = set(engine.run_onggi("diff", "c", check=True).stdout.splitlines())
    assert {"A /hello", "D /bin/true", "C /bin", "A /newdir", "A /newdir/f", "C /etc/passwd",
            "A /home/new", "D /home/app"} <= ours, sorted(ours)
    for _ in range(5):
        theirs = set(podman("diff", "c").stdout.splitlines())
        if "A /bin" not in theirs:
            break
        # seen once in a full run: podman's vfs diff found no parent layer and listed the
        # whole image as added; asking again gives its real answer
        time.sleep(0.5)
    assert ours == theirs, (sorted(ours), sorted(theirs))


def test_export_reads_back_in_podman_import(engine, podman, tmp_path) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--name", "c", engine.image, "sh", "-c", SCRIPT, check=True)
    out = tmp_path / "c.tar"
    engine.run_onggi("export", "-o", str(out), "c", check=True)
    r = podman("import", str(out), "localhost/from-onggi:1")
    assert r.returncode == 0, r.stderr
    r = podman("run", "--rm", "--network", "none", "localhost/from-onggi:1", "sh", "-c",
               "cat /hello; test -e /bin/true; echo $?; ls /home")
    assert r.stdout.split("\n") == ["committed", "1", "new", ""], (r.stdout, r.stderr)


def test_cp_owners_agree_with_podman(engine, podman, tmp_path) -> None:  # noqa: ANN001
    import os

    f, d = tmp_path / "in.txt", tmp_path / "dir"
    f.write_text("x\n")
    d.mkdir()
    (d / "in").write_text("y\n")
    for p in (f, d, d / "in"):
        os.chown(p, 4321, 4321)
    check = "stat -c '%n %u %g' /tmp/a /tmp/b /tmp/dir /tmp/dir/in /tmp/dir2/in"
    seen = []
    for run, image in ((engine.run_onggi, engine.image), (podman, podman.image)):
        assert run("create", "--network", "none", "-u", "app", "--name", "c", image, "sh", "-c",
                   check).returncode == 0
        for args in ((str(f), "c:/tmp/a"), ("--archive=false", str(f), "c:/tmp/b"),
                     (str(d), "c:/tmp/dir"), ("--archive=false", str(d), "c:/tmp/dir2")):
            r = run("cp", *args)
            assert r.returncode == 0, (args, r.stderr)
        seen.append(run("start", "-a", "c").stdout)
    assert seen[0] == seen[1] and "/tmp/a 1000 1000" in seen[0], seen
