"""Transport names, references and the safe archive-name cleaning (no I/O beyond tmp)."""

from __future__ import annotations

import pytest

from onggi import transports as T
from onggi.errors import InvalidArgument
from onggi.transports import archive, dockerarchive, ocilayout


@pytest.mark.parametrize("name, transport, ref", [
    ("oci:/srv/layout:v1", "oci", "/srv/layout:v1"),
    ("dir:/tmp/x", "dir", "/tmp/x"),
    ("oci-archive:img.tar", "oci-archive", "img.tar"),
    ("docker-archive:/a/b.tar:busybox:1", "docker-archive", "/a/b.tar:busybox:1"),
])
def test_parse(name: str, transport: str, ref: str) -> None:
    t, r = T.parse(name)
    assert t.name == transport and r == ref


@pytest.mark.parametrize("name, words", [
    ("busybox", "expected TRANSPORT:REFERENCE"),
    (":x", "expected TRANSPORT:REFERENCE"),
    ("nope:x", "unknown transport 'nope'"),
    ("oci:", "a layout path is required"),
    ("dir:", "a path is required"),
])
def test_parse_errors(name: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        T.parse(name)


def test_oci_split_ref() -> None:
    assert ocilayout.split_ref("/l:tag") == ("/l", "tag")
    assert ocilayout.split_ref("/l") == ("/l", "")


@pytest.mark.parametrize("ref, want", [
    ("/a.tar", ("/a.tar", "")),
    ("/a.tar:busybox", ("/a.tar", "busybox:latest")),
    ("/a.tar:busybox:1.36", ("/a.tar", "busybox:1.36")),
    ("/a.tar:localhost:5000/x", ("/a.tar", "localhost:5000/x:latest")),
    ("/a.tar:@1", ("/a.tar", "@1")),
])
def test_docker_archive_refs(ref: str, want: tuple[str, str]) -> None:
    assert dockerarchive.split_ref(ref) == want


@pytest.mark.parametrize("tag, full", [
    ("busybox:1", "docker.io/library/busybox:1"),
    ("foo/bar:v1", "docker.io/foo/bar:v1"),
    ("quay.io/x/y:z", "quay.io/x/y:z"),
    ("localhost/x:y", "localhost/x:y"),
])
def test_docker_archive_tag_normalisation(tag: str, full: str) -> None:
    assert dockerarchive._normalise(tag) == full


@pytest.mark.parametrize("name, clean", [
    ("blobs/sha256/ab", "blobs/sha256/ab"),
    ("./index.json", "index.json"),
    ("/etc/passwd", "etc/passwd"),
    ("a/../b", "b"),
    ("../../x", ""),
    ("a/../../x", ""),
    ("a//b/./c", "a/b/c"),
])
def test_archive_names_never_leave_the_root(name: str, clean: str) -> None:
    assert archive.clean_name(name) == clean
