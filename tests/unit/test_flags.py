"""onggi.cli.flags.parse: runc's (urfave/cli, Go flag package) command-line conventions."""

from __future__ import annotations

import pytest

from onggi.cli.flags import Command, Flag, parse
from onggi.errors import InvalidArgument

FLAGS = [
    Flag("bundle,b", "bundle dir", "str", "."),
    Flag("detach,d", "detach"),
    Flag("preserve-fds", "extra fds", "int", 0),
    Flag("env,e", "environment", "list"),
    Flag("pid-file", "pid file", "str"),
]


def p(*argv: str, stop: bool = False) -> tuple[dict, list[str]]:
    return parse(list(argv), FLAGS, stop_at_positional=stop)


def test_defaults() -> None:
    vals, pos = p()
    assert vals == {"bundle": ".", "detach": False, "preserve_fds": 0, "env": [], "pid_file": None}
    assert pos == []


def test_list_default_is_not_shared() -> None:
    a, _ = p("-e", "A=1")
    b, _ = p()
    assert a["env"] == ["A=1"] and b["env"] == []
    assert FLAGS[3].default == []


@pytest.mark.parametrize("argv", [
    ["-bundle", "/b"], ["--bundle", "/b"], ["-bundle=/b"], ["--bundle=/b"], ["-b", "/b"], ["--b", "/b"],
    ["-b=/b"],
])
def test_single_and_double_dash_and_equals(argv: list[str]) -> None:
    vals, pos = parse(argv, FLAGS, False)
    assert vals["bundle"] == "/b" and pos == []


def test_value_may_contain_equals_and_start_with_dash() -> None:
    vals, _ = p("--env=A=b=c", "--pid-file", "-weird", "--bundle=")
    assert vals["env"] == ["A=b=c"]
    assert vals["pid_file"] == "-weird"
    assert vals["bundle"] == ""


def test_bool_flags_take_no_value() -> None:
    vals, pos = p("-d", "ctr")
    assert vals["detach"] is True and pos == ["ctr"]
    vals, pos = p("--detach", "false")  # "false" is a positional, not the flag's value
    assert vals["detach"] is True and pos == ["false"]


@pytest.mark.parametrize("text,value", [
    ("true", True), ("1", True), ("t", True), ("T", True), ("TRUE", True), ("True", True),
    ("false", False), ("0", False), ("f", False), ("F", False), ("FALSE", False), ("False", False),
])
def test_bool_with_value_like_go(text: str, value: bool) -> None:
    vals, _ = p(f"--detach={text}")
    assert vals["detach"] is value


@pytest.mark.parametrize("text", ["yes", "", "tRuE", "2", "on"])
def test_bool_bad_value(text: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^invalid boolean value '{text}' for flag -detach$"):
        p(f"--detach={text}")


def test_repeated_flags() -> None:
    vals, _ = p("-e", "A=1", "--env", "B=2", "-e=C=3", "--bundle", "x", "--bundle", "y")
    assert vals["env"] == ["A=1", "B=2", "C=3"]
    assert vals["bundle"] == "y"  # the last one wins


def test_int_flags() -> None:
    assert p("--preserve-fds", "3")[0]["preserve_fds"] == 3
    assert p("--preserve-fds=-1")[0]["preserve_fds"] == -1


@pytest.mark.parametrize("text", ["x", "1.5", "", "3x"])
def test_int_errors(text: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^invalid value '{text}' for flag -preserve-fds: not an integer$"):
        p(f"--preserve-fds={text}")


def test_missing_value() -> None:
    with pytest.raises(InvalidArgument, match="^flag needs an argument: -bundle$"):
        p("--bundle")
    with pytest.raises(InvalidArgument, match="^flag needs an argument: -e$"):
        p("-d", "-e")


@pytest.mark.parametrize("argv,name", [(["-x"], "x"), (["--x"], "x"), (["--nope=1"], "nope"),
                                       (["ctr", "--all"], "all"), (["-D"], "D")])
def test_unknown_flag(argv: list[str], name: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        parse(argv, FLAGS, False)
    assert str(ei.value) == f"flag provided but not defined: -{name}"


@pytest.mark.parametrize("arg", ["---bundle", "-=x", "--=x", "---"])
def test_bad_flag_syntax(arg: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^bad flag syntax: {arg}$"):
        p(arg)


def test_lone_dash_is_positional() -> None:
    assert p("-", "-d") == ({**p()[0], "detach": True}, ["-"])


def test_interspersed_without_stop() -> None:
    vals, pos = p("a", "-d", "b", "--bundle", "x", "c")
    assert vals["detach"] is True and vals["bundle"] == "x"
    assert pos == ["a", "b", "c"]


def test_stop_at_positional() -> None:
    vals, pos = p("-d", "ctr", "--bundle", "x", "-e", "A", stop=True)
    assert vals["detach"] is True
    assert vals["bundle"] == "."
    assert pos == ["ctr", "--bundle", "x", "-e", "A"]
    # unknown flags after the first positional are the caller's business
    assert p("exec", "-unknown", stop=True)[1] == ["exec", "-unknown"]


def test_double_dash_ends_flags() -> None:
    vals, pos = p("-d", "--", "--bundle", "x", "-e")
    assert vals["bundle"] == "." and vals["detach"] is True
    assert pos == ["--bundle", "x", "-e"]
    assert p("a", "--", "-d")[1] == ["a", "-d"]
    assert p("--")[1] == []


def test_double_dash_after_a_positional_with_stop() -> None:
    # the global parse of onggi-runtime: `exec ctr -- sh -c x` reaches the command as
    # `ctr sh -c x` (the separator is consumed once)
    vals, pos = p("exec", "ctr", "--", "sh", "-c", "x", stop=True)
    assert pos == ["exec", "ctr", "sh", "-c", "x"]


def test_flag_usage_and_command_help() -> None:
    assert FLAGS[0].usage().startswith("   --bundle, -b value")
    assert FLAGS[1].usage().startswith("   --detach, -d ")
    assert "value" not in FLAGS[1].usage().split("detach")[1].split()[0:1]
    cmd = Command("create", "create a container", "<container-id>", FLAGS, 1, 1)
    text = cmd.help("onggi-runtime")
    assert text.startswith("NAME:\n   onggi-runtime create - create a container\n")
    assert "USAGE:\n   onggi-runtime create [command options] <container-id>\n" in text
    assert "   --preserve-fds value" in text
    assert Flag("h,help", "x").dest == "h"
    assert Flag("no-pivot", "x").dest == "no_pivot"
