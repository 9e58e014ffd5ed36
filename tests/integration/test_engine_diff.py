"""``onggi diff``: a container's changes as podman prints them (``A``/``C``/``D``, sorted;
``--format json``), read from its overlay upper directory against the image's layers."""

from __future__ import annotations

import json

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def test_diff_added_changed_deleted(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--name", "c", engine.image, "sh", "-c",
                     "echo x > /newfile && mkdir -p /newdir/sub && echo y > /newdir/sub/f "
                     "&& rm /bin/true && echo z >> /etc/passwd", check=True)
    r = engine.run_onggi("diff", "c", check=True)
    lines = r.stdout.splitlines()
    paths = [ln.split(' ', 1)[1] for ln in lines]
    assert paths == sorted(paths)
    # mount points the engine made (podman hides them too)
    assert not [p for p in paths if p in ('/etc/hostname', '/etc/hosts', '/etc/resolv.conf')]
    for want in ("A /newfile", "A /newdir", "A /newdir/sub", "A /newdir/sub/f", "D /bin/true",
                 "C /etc", "C /etc/passwd", "C /bin"):
        assert want in lines, (want, lines)
    # nothing that was not touched
    assert not [ln for ln in lines if ln.endswith(("/bin/sh", "/bin/busybox"))]
    doc = json.loads(engine.run_onggi("diff", "--format", "json", "c", check=True).stdout)
    assert "/newfile" in doc["added"] and "/bin/true" in doc["deleted"] and "/etc/passwd" in doc["changed"]
    # container diff is the same command
    assert engine.run_onggi("container", "diff", "c", check=True).stdout == r.stdout


def test_diff_opaque_dir_and_readd(engine) -> None:  # noqa: ANN001
    # a directory of the image removed and made again is opaque in the upper dir: what it
    # held below is deleted; a file deleted then re-made is changed, not deleted
    engine.run_onggi("run", *NONE, "--name", "c", engine.image, "sh", "-c",
                     "rm -rf /home && mkdir /home && echo new > /home/only "
                     "&& rm /bin/ls && echo again > /bin/ls", check=True)
    lines = engine.run_onggi("diff", "c", check=True).stdout.splitlines()
    assert "C /home" in lines and "A /home/only" in lines and "D /home/app" in lines, lines
    assert "C /bin/ls" in lines and "D /bin/ls" not in lines, lines


def test_diff_fresh_container_and_errors(engine) -> None:  # noqa: ANN001
    engine.run_onggi("create", *NONE, "--name", "c", engine.image, "true", check=True)
    assert engine.run_onggi("diff", "c", check=True).stdout == ""
    r = engine.run_onggi("diff", "nosuch")
    assert r.returncode != 0 and "nosuch" in r.stderr
    r = engine.run_onggi("diff", "--format", "yaml", "c")
    assert r.returncode != 0 and "yaml" in r.stderr
