"""``onggi commit``: a container's changes as a new image layer (whiteouts kept as OCI
``.wh.`` entries), its config with ``--change``s, author and history; the new image runs."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

from engine_support import busybox_archive, engine  # noqa: F401  (fixtures)

NONE = ("--network", "none")


def _config(engine, name: str) -> dict:  # noqa: ANN001
    return json.loads(engine.run_onggi("inspect", "--type", "image", name, check=True).stdout)[0]


def _top_layer(engine, name: str) -> dict[str, tarfile.TarInfo]:  # noqa: ANN001
    """The members of the image's top layer, read from the store's blob."""
    raw = json.loads(engine.run_onggi("image", "inspect", "--raw", f"onggi:{name}",
                                      check=True).stdout)
    digest = raw["layers"][-1]["digest"].split(":", 1)[1]
    for dirpath, _, files in os.walk(engine.storage):
        if digest in files:
            with open(os.path.join(dirpath, digest), "rb") as f:
                data = gzip.decompress(f.read())
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                return {m.name: m for m in tf.getmembers()}
    raise AssertionError(f"blob {digest} not found under {engine.storage}")


def test_commit_run_and_whiteout(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", *NONE, "--name", "c", "-e", "FROMRUN=1", engine.image, "sh", "-c",
                     "echo committed > /hello && rm /bin/true && rm -rf /home && mkdir /home "
                     "&& touch /home/new && chown 1234:5678 /hello && chmod 640 /hello", check=True)
    r = engine.run_onggi("commit", "-a", "Jane <j@x>", "-m", "my change", "-c", 'CMD ["cat", "/hello"]',
                         "-c", "ENV COLOR=blue", "-c", "LABEL tier=web", "-c", "WORKDIR /home",
                         "-c", "EXPOSE 8080", "c", "localhost/committed:1", check=True)
    image_id = r.stdout.strip()
    assert len(image_id) == 64 and all(ch in "0123456789abcdef" for ch in image_id), r.stdout

    # the new image runs, with the change in it and the deletion kept
    r = engine.run_onggi("run", "--rm", *NONE, "localhost/committed:1")
    assert (r.returncode, r.stdout) == (0, "committed\n"), r.stderr
    r = engine.run_onggi("run", "--rm", *NONE, "localhost/committed:1", "sh", "-c",
                         "test -e /bin/true; echo $?; ls /home; stat -c '%u:%g %a' /hello; pwd; "
                         "echo $COLOR $FROMRUN")
    assert r.stdout.split("\n") == ["1", "new", "1234:5678 640", "/home", "blue 1", ""], r.stdout

    # the layer: OCI whiteout and opaque markers, no overlay xattrs or devices
    m = _top_layer(engine, "localhost/committed:1")
    assert "bin/.wh.true" in m and m["bin/.wh.true"].isreg()
    assert "home/.wh..wh..opq" in m and "home/new" in m
    assert (m["hello"].uid, m["hello"].gid, m["hello"].mode) == (1234, 5678, 0o640)
    assert not [n for n, i in m.items() if i.ischr()]
    assert not [n for n, i in m.items() if any("overlay" in k for k in i.pax_headers)]

    # config: changes, author, history, one more diff id
    cfg = _config(engine, "localhost/committed:1")
    base = _config(engine, engine.image)
    c = cfg["Config"] if "Config" in cfg else cfg["config"]
    assert c["Cmd"] == ["cat", "/hello"] and "COLOR=blue" in c["Env"] and c["Labels"]["tier"] == "web"
    assert c["WorkingDir"] == "/home" and "8080/tcp" in c["ExposedPorts"]
    hist = json.loads(engine.run_onggi("history", "--format", "json", "localhost/committed:1",
                                       check=True).stdout)
    assert any(h.get("comment") == "my change" or h.get("Comment") == "my change" for h in hist), hist
    assert len(hist) == len(json.loads(engine.run_onggi("history", "--format", "json", engine.image,
                                                        check=True).stdout)) + 1
    assert base != cfg


def test_commit_running_paused_docker_format_and_errors(engine) -> None:  # noqa: ANN001
    engine.run_onggi("run", "-d", *NONE, "--name", "live", engine.image, "sh", "-c",
                     "echo live > /live.txt; sleep 1000", check=True)
    engine.wait_for(lambda: engine.run_onggi("diff", "live").stdout.find("/live.txt") >= 0,
                    what="the running container's file")
    r = engine.run_onggi("commit", "-p", "-q", "--format", "docker", "live", "snap", check=True)
    assert engine.inspect("live")["State"]["Status"] == "running"  # unpaused again
    raw = json.loads(engine.run_onggi("image", "inspect", "--raw", "onggi:localhost/snap:latest",
                                      check=True).stdout)
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert all(la["mediaType"].startswith("application/vnd.docker.") for la in raw["layers"])
    r = engine.run_onggi("run", "--rm", *NONE, "localhost/snap", "cat", "/live.txt")
    assert (r.returncode, r.stdout) == (0, "live\n"), r.stderr
    engine.run_onggi("rm", "-f", "live", check=True)

    # an unnamed commit is a dangling image; bad input is named
    engine.run_onggi("create", *NONE, "--name", "c", engine.image, "true", check=True)
    assert len(engine.run_onggi("commit", "c", check=True).stdout.strip()) == 64
    for args, word in ((("commit", "nosuch"), "nosuch"),
                       (("commit", "--format", "v1", "c"), "v1"),
                       (("commit", "-c", "FROM x", "c"), "FROM"),
                       (("commit", "c", "Bad Name!"), "Bad Name!")):
        r = engine.run_onggi(*args)
        assert r.returncode != 0 and word in r.stderr, (args, r.stderr)
