"""The DESIGN's import layering, checked mechanically by reading every module of
src/onggi with ast, and the runtime's start-up imports, checked in a fresh interpreter."""

from __future__ import annotations

import ast
import os
import subprocess

import pytest

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src"))
PKG = os.path.join(SRC, "onggi")
PYTHON = "/usr/bin/python3"  # what the installed onggi-runtime launcher runs (with -IS)


def modules() -> dict[str, str]:
    """module name -> file, for every .py under src/onggi."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(PKG):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
        for fn in filenames:
            if fn.endswith(".py"):
                path = os.path.join(dirpath, fn)
                parts = os.path.relpath(path, SRC)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                out[".".join(parts)] = path
    return out


MODULES = modules()


def imports(name: str, path: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    is_pkg = path.endswith("__init__.py")
    package = name.split(".") if is_pkg else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                assert base, f"{path}:{node.lineno}: relative import above the package"
                prefix = ".".join(base)
                if node.module:
                    out.append((node.lineno, f"{prefix}.{node.module}"))
                else:  # from .. import errors
                    out += [(node.lineno, f"{prefix}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module or ""))
    return out


def internal(target: str) -> str | None:
    """``onggi.oci.spec`` -> ``oci``; ``onggi.errors`` -> ``errors``; stdlib -> None."""
    parts = target.split(".")
    if parts[0] != "onggi":
        return None
    return parts[1] if len(parts) > 1 else ""


def layer_of(name: str) -> str:
    return name.split(".")[1] if "." in name else ""


def violations(rule) -> list[str]:  # noqa: ANN001
    bad = []
    for name, path in sorted(MODULES.items()):
        for line, target in imports(name, path):
            msg = rule(name, target)
            if msg:
                bad.append(f"{os.path.relpath(path, SRC)}:{line}: {name} imports {target}: {msg}")
    return bad


def test_the_scanner_sees_the_package() -> None:
    for m in ("onggi.errors", "onggi.oci.spec", "onggi.sys.libc", "onggi.cgroups", "onggi.runtime.create",
              "onggi.cli.runtime"):
        assert m in MODULES
    found = {t for _, t in imports("onggi.oci.spec", MODULES["onggi.oci.spec"])}
    assert {"onggi.oci._fields", "onggi.oci.linux", "onggi.oci.model", "onggi.oci.tables"} <= found
    found = {t for _, t in imports("onggi.oci.jsonio", MODULES["onggi.oci.jsonio"])}
    assert "onggi.errors" in found and "_json" in found


ALLOWED = {
    "errors": set(),
    "oci": {"errors", "oci"},
    "sys": {"errors", "sys"},
    "cgroups": {"errors", "oci", "cgroups"},
}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_import_only_below(layer: str) -> None:
    def rule(name: str, target: str) -> str | None:
        if layer_of(name) != layer:
            return None
        t = internal(target)
        if t is None or t in ALLOWED[layer]:
            return None
        return f"onggi.{layer} may import only {sorted('onggi.' + a for a in ALLOWED[layer])}"

    assert violations(rule) == []


def test_errors_imports_nothing() -> None:
    assert {t for _, t in imports("onggi.errors", MODULES["onggi.errors"])} <= {"__future__"}


HIGHER_THAN_RUNTIME = {"cli", "engine", "api", "cri", "build", "registry"}


def test_runtime_never_imports_a_front_end() -> None:
    def rule(name: str, target: str) -> str | None:
        if layer_of(name) == "runtime" and internal(target) in HIGHER_THAN_RUNTIME:
            return "the runtime is a library: the CLI and engine sit above it"
        return None

    assert violations(rule) == []


def test_ctypes_only_under_sys() -> None:
    def rule(name: str, target: str) -> str | None:
        if (target == "ctypes" or target.startswith("ctypes.")) and layer_of(name) != "sys":
            return "only onggi.sys talks to the kernel through ctypes"
        return None

    assert violations(rule) == []


def test_rules_catch_a_violation(tmp_path) -> None:  # noqa: ANN001
    """The scanner itself: a planted bad import is reported."""
    f = tmp_path / "bad.py"
    f.write_text("import ctypes\nfrom ...cli import runtime\n\ndef f():\n    from .. import engine\n")
    found = imports("onggi.oci.sub.bad", str(f))
    assert sorted(found) == [(1, "ctypes"), (2, "onggi.cli"), (5, "onggi.oci.engine")]


HEAVY = ["re", "enum", "typing", "dataclasses", "json", "argparse", "subprocess", "socket"]

_PROBE = """
import io, sys
sys.path.insert(0, sys.argv[1])
heavy = sys.argv[2].split(",")
import onggi.cli.runtime as rt
loaded = [m for m in heavy if m in sys.modules]
out, sys.stdout = sys.stdout, io.StringIO()
try:
    code = rt.main(["--version"])
finally:
    text, sys.stdout = sys.stdout.getvalue(), out
assert code == 0 and "version" in text, (code, text)
print(",".join(loaded) + ";" + ",".join(m for m in heavy if m in sys.modules))
"""


@pytest.mark.skipif(not os.path.exists(PYTHON), reason=f"{PYTHON} is not installed")
def test_runtime_entry_stays_light() -> None:
    r = subprocess.run([PYTHON, "-I", "-S", "-c", _PROBE, SRC, ",".join(HEAVY)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    on_import, after_version = r.stdout.strip().split(";")
    assert on_import == "", f"import onggi.cli.runtime loads {on_import}"
    assert after_version == "", f"onggi-runtime --version loads {after_version}"
