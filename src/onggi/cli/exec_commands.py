"""``onggi exec``, ``top`` and ``stats`` (also under ``onggi container``): processes in
running containers, and what they use."""

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


@click.command("top")
@click.argument("name")
@click.argument("descriptors", nargs=-1)
def top_cmd(name: str, descriptors: tuple[str, ...]) -> None:
    """Show the processes of a running container (podman's format descriptors, e.g.
    ``pid user args``)."""
    from ..engine.top import top
    from .store_commands import table

    paths, db = _env()
    try:
        rows = top(paths, db, name, list(descriptors) or None)
    finally:
        db.close()
    click.echo(table(rows), nl=False)


@click.command("stats")
@click.argument("names", nargs=-1)
@click.option("--no-stream", is_flag=True, help="print one reading and exit")
@click.option("--format", "fmt", help="json, or a Go template like {{.Name}} {{.CPUPerc}}")
@click.option("-i", "--interval", type=click.IntRange(1), default=5, show_default=True,
              help="seconds between readings when streaming")
def stats_cmd(names: tuple[str, ...], no_stream: bool, fmt: str | None, interval: int) -> None:
    """Show the CPU, memory, network, block I/O and pids of running containers."""
    import json
    import time

    from ..engine import stats
    from .store_commands import table

    paths, db = _env()
    try:
        while True:
            got = stats.sample(paths, db, list(names), interval=0.5)
            if fmt == "json":
                click.echo(json.dumps(got, indent=4))
            elif fmt:
                from ..engine.templates import render

                keys = {"ID": "id", "Name": "name", "CPUPerc": "cpu_percent", "MemUsage": "mem_usage",
                        "MemPerc": "mem_percent", "NetIO": "net_io", "BlockIO": "block_io", "PIDs": "pids",
                        "CPU": "cpu_time", "AVGCPU": "avg_cpu"}
                for s in got:
                    click.echo(render(fmt, {k: s[v] for k, v in keys.items()}))
            else:
                click.echo(table([stats.HEADER] + [stats.row(s) for s in got]), nl=False)
            if no_stream:
                return
            time.sleep(max(interval - 0.5, 0))
    finally:
        db.close()


for _c in (exec_cmd, top_cmd, stats_cmd):
    container.add_command(_c)

COMMANDS = [exec_cmd, top_cmd, stats_cmd]
