"""Helpers shared by test modules (importable as ``support``: tests/ is on sys.path
through its conftest). Test modules import from here, never from a conftest, whose
module name ``conftest`` is shared by every conftest.py of the tree."""

from __future__ import annotations

import os
import shutil

import pytest


def onggi_runtime() -> str | None:
    return shutil.which("onggi-runtime")


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, mounts, cgroups)")
