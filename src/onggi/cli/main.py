"""``onggi``: the engine and image command line (podman- and skopeo-like).

The commands hold no logic: parse, call one library function, print, map the error
category to an exit code. ``onggi image ...`` follows skopeo (errors exit 1); the
podman-like top-level commands exit 125 on an error of onggi itself, as podman does.
"""

from __future__ import annotations

import sys

import click

from ..errors import OnggiError

VERSION = "0.1.0"


class Group(click.Group):
    """Turns onggi errors into one ``Error: ...`` line and the group's exit code (the
    innermost group decides: ``image`` says 1 like skopeo, the top level 125 like podman)."""

    error_code = 125

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OnggiError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(self.error_code)
        except OSError as e:
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            click.echo(f"Error: {e.strerror or e}{where}", err=True)
            sys.exit(self.error_code)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # a bug: say so in one line; ONGGI_DEBUG=1 shows where
            import os

            if os.environ.get("ONGGI_DEBUG"):
                raise
            click.echo(f"Error: internal error (please report it; ONGGI_DEBUG=1 shows the "
                       f"traceback): {type(e).__name__}: {e}", err=True)
            sys.exit(self.error_code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, "-v", "--version", prog_name="onggi", message="%(prog)s version %(version)s")
def cli() -> None:
    """onggi (옹기): run containers, and move, store and inspect their images."""


# command modules: each has ``COMMANDS`` (a list of click commands and groups); a module
# not written yet is skipped, so work on one never breaks the others
_MODULES = ("image_commands", "store_commands", "system_commands", "registry_commands",
            "container_commands", "volume_commands", "network_commands", "pod_commands",
            "exec_commands", "fs_commands")

# the module of each top-level command, so that ``onggi run ...`` imports only what ``run``
# needs (start-up is part of every command's time); tests/unit/test_cli_modules.py checks
# that this agrees with the modules' COMMANDS
_WHERE = {
    "image": "image_commands",
    **dict.fromkeys(("pull", "push", "images", "rmi", "tag", "history", "save", "load", "inspect"),
                    "store_commands"),
    **dict.fromkeys(("login", "logout", "import", "system"), "system_commands"),
    "registry": "registry_commands",
    **dict.fromkeys(("run", "create", "start", "stop", "kill", "restart", "rm", "ps", "logs", "wait",
                     "pause", "unpause", "rename", "attach", "port"), "container_commands"),
    "volume": "volume_commands", "network": "network_commands", "pod": "pod_commands",
    **dict.fromkeys(("exec", "top", "stats", "events", "version"), "exec_commands"),
    **dict.fromkeys(("export", "cp", "diff", "commit"), "fs_commands"),
}


def _load(name: str) -> None:
    import importlib

    try:
        mod = importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.{name}":
            raise
        return
    for cmd in mod.COMMANDS:
        cli.add_command(cmd)


def _register(argv: list[str] | None = None) -> None:
    """Add the commands: only the module of the command being run when it is known (and
    not the ``container`` group, which gathers commands from several modules), else all."""
    from .. import transports

    transports.register("onggi", "onggi.image.store_transport:StoreTransport")
    args = sys.argv[1:] if argv is None else argv
    first = next((a for a in args if not a.startswith("-")), None)
    only = _WHERE.get(first or "")
    for name in (only,) if only else _MODULES:
        _load(name)


def main(argv: list[str] | None = None) -> int:
    _register(argv)
    try:
        cli.main(args=argv, prog_name="onggi", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return 125 if e.exit_code == 2 else e.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
