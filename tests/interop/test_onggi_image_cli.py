"""``onggi image`` next to skopeo: the same output for inspect, the same files for copy,
skopeo's exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.interop

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"
SKOPEO = shutil.which("skopeo") or "skopeo"


@pytest.fixture(autouse=True)
def _installed() -> None:
    if not os.path.exists(ONGGI):
        pytest.skip("onggi is not installed (run tools/install.sh)")


def test_inspect_summary_matches_skopeo(layout):  # noqa: ANN001
    o, s = (subprocess.run([ONGGI, "image", "inspect", f"oci:{layout}:img"], capture_output=True, text=True),
            subprocess.run([SKOPEO, "inspect", f"oci:{layout}:img"], capture_output=True, text=True))
    assert o.returncode == s.returncode == 0, o.stderr
    ours, theirs = json.loads(o.stdout), json.loads(s.stdout)
    for k, v in theirs.items():  # skopeo's keys, same values (onggi adds LayersData)
        assert ours[k] == v, k


@pytest.mark.parametrize("flags", [["--raw"], ["--config"], ["--raw", "--config"]])
def test_inspect_raw_and_config_match_skopeo(layout, flags):  # noqa: ANN001
    o = subprocess.run([ONGGI, "image", "inspect", *flags, f"oci:{layout}:img"], capture_output=True)
    s = subprocess.run([SKOPEO, "inspect", *flags, f"oci:{layout}:img"], capture_output=True)
    assert o.returncode == s.returncode == 0
    if flags == ["--config"]:
        assert json.loads(o.stdout) == json.loads(s.stdout)
    else:
        assert o.stdout.strip() == s.stdout.strip()


def test_copy_then_manifest_digest(layout, tmp_path):  # noqa: ANN001
    r = subprocess.run([ONGGI, "image", "copy", "-q", "--digestfile", str(tmp_path / "d"),
                        f"oci:{layout}:img", f"dir:{tmp_path}/out"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == r.stderr == ""
    digest = (tmp_path / "d").read_text()
    o = subprocess.run([ONGGI, "image", "manifest-digest", str(tmp_path / "out/manifest.json")],
                       capture_output=True, text=True)
    s = subprocess.run([SKOPEO, "manifest-digest", str(tmp_path / "out/manifest.json")],
                       capture_output=True, text=True)
    assert o.stdout == s.stdout == digest + "\n"


def test_copy_progress_lines_without_a_terminal(layout, tmp_path):  # noqa: ANN001
    r = subprocess.run([ONGGI, "image", "copy", f"oci:{layout}:img", f"oci:{tmp_path}/l:x"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == "Getting image source signatures"
    assert sum(ln.startswith("Copying blob sha256:") and ln.endswith(" done") for ln in lines) == 2
    assert any(ln.startswith("Copying config sha256:") for ln in lines)
    assert lines[-1] == "Writing manifest to image destination"


@pytest.mark.parametrize("args, words", [
    (["inspect", "oci:/nonexistent-onggi:x"], "not an OCI image layout"),
    (["inspect", "nonsense"], "TRANSPORT:REFERENCE"),
    (["copy", "oci:/nonexistent-onggi:x", "dir:/tmp/onggi-never"], "/nonexistent-onggi"),
    (["inspect", "bogus:x"], "unknown transport 'bogus'"),
])
def test_errors_are_one_line_and_exit_1(args, words):  # noqa: ANN001
    r = subprocess.run([ONGGI, "image", *args], capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert not os.path.exists("/tmp/onggi-never")
