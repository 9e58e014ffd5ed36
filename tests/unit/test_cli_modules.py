"""The CLI's map of top-level commands to their modules (used to import only the module
of the command being run) agrees with what the modules define."""

from __future__ import annotations

import importlib

from onggi.cli import main as M


def test_every_command_is_mapped_to_its_module() -> None:
    defined: dict[str, str] = {}
    for name in M._MODULES:
        try:
            mod = importlib.import_module(f"onggi.cli.{name}")
        except ModuleNotFoundError:
            continue
        for cmd in mod.COMMANDS:
            defined[cmd.name] = name
    defined.pop("container", None)  # gathers commands from several modules: loads them all
    assert M._WHERE == defined


def test_a_known_command_loads_only_its_module() -> None:
    M.cli.commands.clear()
    M._register(["--debug", "exec", "x", "true"])
    assert set(M.cli.commands) == {"exec", "top", "stats", "events", "version"}
    M.cli.commands.clear()
    M._register(["container", "ls"])
    assert {"run", "exec", "export", "container", "image"} <= set(M.cli.commands)
