"""onggi-runtime's command line, run in-process (no container is made): version, help,
spec, features, state/list on an empty root, and the errors of a bad command line."""

from __future__ import annotations

import json
import os

import pytest

from onggi.cli import runtime as cli
from onggi.oci import defaults
from onggi.oci.spec import Spec


@pytest.fixture
def run(capsys):  # noqa: ANN001, ANN201
    """run(*argv) -> (exit code, stdout, stderr)."""
    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return _run


@pytest.fixture
def root(tmp_path):  # noqa: ANN001, ANN201
    """An empty state root; afterwards nothing but what runc would make is left in it."""
    r = tmp_path / "state"
    r.mkdir()
    yield str(r)
    assert os.listdir(r) == []


def error_line(err: str) -> str:
    """The msg of the single runc-style text log line on stderr."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith('time="') and ' level=error msg="' in lines[0], lines[0]
    quoted = lines[0].split(' msg="', 1)[1][:-1]
    return quoted.replace('\\"', '"').replace("\\\\", "\\")


# ---- version and help -------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--version", "-version", "-v", "--v"])
def test_version(run, flag: str) -> None:  # noqa: ANN001
    code, out, err = run(flag)
    assert code == 0 and err == ""
    assert out == f"onggi-runtime version {cli.VERSION}\nspec: {cli.SPEC_VERSION}\n"


def test_version_ignores_the_command(run) -> None:  # noqa: ANN001
    code, out, _ = run("--version", "list")
    assert code == 0 and out.startswith("onggi-runtime version ")


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["help"], ["--root", "/nonexistent", "help"]])
def test_help(run, argv: list[str]) -> None:  # noqa: ANN001
    code, out, err = run(*argv)
    assert code == 0 and err == ""
    assert out.startswith("NAME:\n   onggi-runtime - ")
    assert "USAGE:\n   onggi-runtime [global options] command [command options] [arguments...]" in out
    for name in cli.COMMANDS:
        assert f"\n   {name:12s}" in out, name
    assert "   --root value" in out and "   --version, -v" in out


def test_no_command_prints_usage(run) -> None:  # noqa: ANN001
    code, out, _ = run()
    assert out.startswith("NAME:\n   onggi-runtime - ")
    assert code in (0, 1)


@pytest.mark.parametrize("flag", ["--help", "-h", "-help"])
def test_command_help(run, flag: str) -> None:  # noqa: ANN001
    code, out, err = run("state", flag)
    assert code == 0 and err == ""
    assert out.startswith("NAME:\n   onggi-runtime state - output the state of a container\n")
    assert "USAGE:\n   onggi-runtime state [command options] <container-id>" in out


def test_command_help_lists_its_flags(run) -> None:  # noqa: ANN001
    code, out, _ = run("list", "--help")
    assert code == 0
    assert "OPTIONS:" in out and "--format, -f value" in out and "--quiet, -q" in out


# ---- errors of the command line -------------------------------------------------------------

def test_unknown_command(run) -> None:  # noqa: ANN001
    code, out, err = run("frobnicate")
    assert code == 1 and out == ""
    assert error_line(err) == "No help topic for 'frobnicate'"


@pytest.mark.parametrize("argv,msg", [
    (["--bogus", "list"], "flag provided but not defined: -bogus"),
    (["list", "--bogus"], "flag provided but not defined: -bogus"),
    (["list", "-x"], "flag provided but not defined: -x"),
    (["--root"], "flag needs an argument: -root"),
    (["run", "--preserve-fds", "many", "c1"], "invalid value 'many' for flag -preserve-fds: not an integer"),
    (["delete", "--force=maybe", "c1"], "invalid boolean value 'maybe' for flag -force"),
    (["state"], 'onggi-runtime: "state" requires exactly 1 argument(s) (usage: onggi-runtime state <container-id>)'),
    (["state", "a", "b"], '"state" requires exactly 1 argument(s)'),
    (["kill"], '"kill" requires at least 1 argument(s)'),
    (["list", "extra"], '"list" requires exactly 0 argument(s)'),
    (["--log-format", "xml", "list"], "invalid log format 'xml' (text or json)"),
])
def test_flag_errors(run, root: str, argv: list[str], msg: str) -> None:  # noqa: ANN001
    code, out, err = run("--root", root, *argv)
    assert code == 1 and out == ""
    assert msg in error_line(err)


def test_list_bad_format(run, root: str) -> None:  # noqa: ANN001
    code, out, err = run("--root", root, "list", "--format", "xml")
    assert code == 1 and out == ""
    assert "invalid format option 'xml'" in error_line(err)


def test_checkpoint_is_unsupported(run, root: str) -> None:  # noqa: ANN001
    code, _, err = run("--root", root, "checkpoint", "c1")
    assert code == 1
    assert "not supported" in error_line(err)


def test_error_goes_to_the_log_file_too(run, root: str, tmp_path) -> None:  # noqa: ANN001
    log = tmp_path / "log.json"
    code, out, err = run("--root", root, "--log", str(log), "--log-format", "json", "state", "nosuch")
    assert code == 1 and out == ""
    assert "does not exist" in error_line(err)  # the caller's stderr gets runc's text form
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 1
    assert entries[0]["level"] == "error" and "nosuch" in entries[0]["msg"] and "time" in entries[0]


def test_text_log_escapes_quotes(run, root: str) -> None:  # noqa: ANN001
    _, _, err = run("--root", root, "list", "extra")
    assert 'msg="onggi-runtime: \\"list\\" requires' in err


# ---- spec and features ----------------------------------------------------------------------

def test_spec_writes_config(run, tmp_path) -> None:  # noqa: ANN001
    code, out, err = run("spec", "--bundle", str(tmp_path))
    assert (code, out, err) == (0, "", "")
    path = tmp_path / "config.json"
    doc = json.loads(path.read_text())
    assert doc == defaults.default_spec()
    Spec.parse(doc)
    assert path.read_text().startswith('{\n  "ociVersion": ')  # indented like runc's
    assert not path.read_text().endswith("\n")  # runc writes no final newline either

    code, out, err = run("spec", "-b", str(tmp_path))
    assert code == 1 and out == ""
    assert error_line(err) == f"File {path} exists. Remove it first"
    assert json.loads(path.read_text()) == doc  # untouched


def test_spec_in_the_current_directory(run, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    assert run("spec")[0] == 0
    assert os.listdir(tmp_path) == ["config.json"]
    code, _, err = run("spec")
    assert code == 1 and "exists" in err


def test_spec_rootless(run, tmp_path) -> None:  # noqa: ANN001
    code, _, _ = run("spec", "--rootless", "--bundle", str(tmp_path))
    assert code == 0
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc == defaults.rootless(defaults.default_spec(), os.geteuid(), os.getegid())
    s = Spec.parse(doc)
    assert s.linux.namespace("user") is not None and s.linux.namespace("network") is None
    assert s.linux.uid_mappings[0].host_id == os.geteuid()


def test_spec_into_a_missing_directory(run, tmp_path) -> None:  # noqa: ANN001
    code, out, err = run("spec", "--bundle", str(tmp_path / "nope"))
    assert code == 1 and out == ""
    assert "no such file or directory" in error_line(err).lower()
    assert not (tmp_path / "nope").exists()


def test_features(run) -> None:  # noqa: ANN001
    code, out, err = run("features")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["ociVersionMax"] == defaults.OCI_VERSION
    assert doc["ociVersionMin"] == defaults.OCI_VERSION_MIN
    assert set(doc["hooks"]) == set(defaults.HOOKS)
    assert "user" in doc["linux"]["namespaces"]
    assert isinstance(doc["linux"]["seccomp"]["enabled"], bool)
    assert out.endswith("}\n")


# ---- state and list on an empty root ----------------------------------------------------------

def test_state_of_a_missing_container(run, root: str) -> None:  # noqa: ANN001
    code, out, err = run("--root", root, "state", "nosuch")
    assert code == 1 and out == ""
    msg = error_line(err)
    assert "nosuch" in msg and "does not exist" in msg


@pytest.mark.parametrize("cmd", [["start"], ["delete"], ["kill"], ["pause"], ["resume"], ["ps"]])
def test_other_commands_on_a_missing_container(run, root: str, cmd: list[str]) -> None:  # noqa: ANN001
    code, out, err = run("--root", root, *cmd, "nosuch")
    assert code == 1 and out == ""
    assert "does not exist" in error_line(err)


def test_invalid_container_id(run, root: str) -> None:  # noqa: ANN001
    code, _, err = run("--root", root, "state", "../etc")
    assert code == 1
    assert "../etc" in error_line(err)


HEADER = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


@pytest.mark.parametrize("missing", [False, True])
def test_list_empty(run, tmp_path, missing: bool) -> None:  # noqa: ANN001
    root = tmp_path / "state"
    if not missing:
        root.mkdir()
    code, out, err = run("--root", str(root), "list")
    assert code == 0 and err == ""
    assert out.count("\n") == 1 and out.endswith("\n")
    assert out.split() == HEADER


def test_list_quiet_empty(run, root: str) -> None:  # noqa: ANN001
    assert run("--root", root, "list", "-q") == (0, "", "")


def test_list_empty_header_is_runcs(run, root: str) -> None:  # noqa: ANN001
    _, out, _ = run("--root", root, "list")
    # what `runc --root EMPTY list` prints (runc 1.1.5)
    assert out == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"


def test_list_json_empty_is_null_like_runc(run, root: str) -> None:  # noqa: ANN001
    code, out, err = run("--root", root, "list", "--format", "json")
    assert (code, out, err) == (0, "null\n", "")


def test_list_json_empty_is_valid_json(run, root: str) -> None:  # noqa: ANN001
    code, out, err = run("--root", root, "list", "--format", "json")
    assert code == 0 and err == ""
    assert json.loads(out) in (None, [])
