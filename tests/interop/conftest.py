"""Fixtures for the interop tests: real peers (runc, podman) next to onggi-runtime.

``runc`` is the same driver as the ``runtime`` fixture (tests/conftest.py), pointed at
/usr/sbin/runc with its own ``--root``: both take the runc command-line protocol, so one
driver serves both, and its clean-up (``delete --force`` of every id it handed out, then a
check that no state dir is left) is the same.
"""

from __future__ import annotations

import os
import shutil

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
