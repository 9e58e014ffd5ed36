"""``onggi exec`` (also ``onggi container exec``): a process in a running container."""

from __future__ import annotations

import sys

import click

from .container_commands import _env, container

__all__ = ["COMMANDS"]


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True, help="keep standard input open")
@click.option("-t", "--tty", is_flag=True, help="allocate a pseudo-terminal")
@click.option("-d", "--detach", is_flag=True, help="run in the background")
@click.option("-e", "--env", multiple=True, help="KEY=VALUE, or KEY (from here)")
@click.option("--env-file", multiple=True, help="a file of KEY=VALUE lines")
@click.option("-u", "--user", help="USER[:GROUP], names or ids")
@click.option("-w", "--workdir", help="working directory inside the container")
@click.option("--privileged", is_flag=True, help="every capability")
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def exec_cmd(name: str, command: tuple[str, ...], interactive: bool, tty: bool, detach: bool,
             env: tuple[str, ...], env_file: tuple[str, ...], user: str | None, workdir: str | None,
             privileged: bool) -> None:
    """Run a process in a running container."""
    from ..engine.exec import ExecError, ExecRequest, exec_in

    paths, db = _env()
    req = ExecRequest(list(command), interactive=interactive, tty=tty, detach=detach, env=list(env),
                      env_files=list(env_file), user=user, workdir=workdir, privileged=privileged)
    try:
        code = exec_in(paths, db, name, req)
    except ExecError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)
    finally:
        db.close()
    sys.exit(code)


container.add_command(exec_cmd)

COMMANDS = [exec_cmd]
