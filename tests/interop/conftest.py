"""Fixtures for the interop tests: real peers (runc, podman) next to onggi-runtime.

``runc`` is the same driver as the ``runtime`` fixture (tests/conftest.py), pointed at
/usr/sbin/runc with its own ``--root``: both take the runc command-line protocol, so one
driver serves both, and its clean-up (``delete --force`` of every id it handed out, then a
check that no state dir is left) is the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

RUNC = shutil.which("runc") or "/usr/sbin/runc"


@pytest.fixture
def runc(runtime, tmp_path):  # noqa: ANN001, ANN201
    """A runc driver; requests ``runtime`` (root, onggi-runtime present, the host mount
    table checked afterwards) and takes its class rather than importing the top conftest."""
    if not os.path.exists(RUNC):
        pytest.skip("runc is not installed (apt-get install runc)")
    rt = type(runtime)(RUNC, str(tmp_path / "runc-state"))
    yield rt
    leaks = rt.cleanup()
    assert not leaks, f"runc leaked: {leaks}"


@pytest.fixture
def make_bundle(make_bundle):  # noqa: ANN001, ANN201
    """The top-level ``make_bundle`` with a real copy of the rootfs by default: runc refuses
    a bundle whose rootfs is a symlink ("invalid rootfs: not an absolute path, or a
    symlink"), so bundles shared with runc hold a copy."""

    def make(args: list[str], copy_rootfs: bool = True):  # noqa: ANN202
        return make_bundle(args, copy_rootfs=copy_rootfs)

    return make


@pytest.fixture(scope="session")
def layout(tmp_path_factory) -> str:  # noqa: ANN001
    """An OCI image layout made locally by umoci: image ``img`` with two layers
    (``/data0/file0``, ``/data1/file1``). Needs skopeo and umoci."""
    skopeo, umoci = shutil.which("skopeo"), shutil.which("umoci")
    if not (skopeo and umoci):
        pytest.skip("skopeo and umoci are needed (apt-get install skopeo umoci)")
    base = tmp_path_factory.mktemp("layout")
    lay = str(base / "lay")

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True)

    run(umoci, "init", "--layout", lay)
    run(umoci, "new", "--image", f"{lay}:img")
    for i, content in enumerate((b"first layer\n", b"second layer\n" * 100)):
        payload = base / f"payload{i}"
        payload.mkdir()
        (payload / f"file{i}").write_bytes(content)
        run(umoci, "insert", "--image", f"{lay}:img", str(payload), f"/data{i}")
    return lay


@pytest.fixture(scope="session")
def registry(tmp_path_factory):  # noqa: ANN001, ANN201
    """Debian's docker-registry on 127.0.0.1 (plain HTTP, delete enabled), stopped by
    PID at the end of the session."""
    from support import REGISTRY, Registry

    if not os.path.exists(REGISTRY):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    r = Registry(str(tmp_path_factory.mktemp("registry")), "reg")
    yield r
    r.stop()
