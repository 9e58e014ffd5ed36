"""``onggi exec``, ``top`` and ``stats`` (also under ``onggi container``): processes in
running containers, and what they use; ``onggi events`` and ``onggi version``."""

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
            if not no_stream and sys.stdout.isatty():  # a refreshing screen, as podman's
                click.echo("\033[2J\033[H", nl=False)
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


@click.command("events")
@click.option("--format", "fmt", help="json, or a Go template like {{.Status}} {{.Name}}")
@click.option("--since", help="only events after this time (RFC 3339, Unix time, or 10m)")
@click.option("--until", help="only events before this time; stops streaming then")
@click.option("-f", "--filter", "filters", multiple=True,
              help="type=, event=, container=, image=, label= (repeat a key to OR)")
@click.option("--stream", type=click.BOOL, is_flag=False, flag_value=True, default=True,
              help="keep waiting for new events (--stream=false: print the stored ones and exit)")
@click.option("--no-stream", is_flag=True, help="the same as --stream=false")
def events_cmd(fmt: str | None, since: str | None, until: str | None, filters: tuple[str, ...],
               stream: bool, no_stream: bool) -> None:
    """Show the engine's events (create, start, died, stop, kill, exec, remove, ...)."""
    stream = stream and not no_stream
    from ..engine import events
    from ..engine.logs import parse_time
    from ..engine.templates import render

    want = events.parse_filters(list(filters))
    since = since or (want.pop("since", None) or [None])[-1]  # --filter since=/until= as podman takes
    until = until or (want.pop("until", None) or [None])[-1]
    t0 = parse_time(since) if since else None
    t1 = parse_time(until) if until else None

    def show(ev: events.Event) -> None:
        if fmt == "json":
            click.echo(events.dumps(ev))
        elif fmt:
            click.echo(render(fmt, events.template_doc(ev)))
        else:
            click.echo(events.text_line(ev))
        sys.stdout.flush()

    paths, db = _env()
    try:
        if not stream:
            for ev in events.select(db, want, t0, t1):
                show(ev)
            return
        for ev in events.follow(db, want, t0, t1):
            show(ev)
    except KeyboardInterrupt:
        pass
    finally:
        db.close()


@click.command("version")
@click.option("-f", "--format", "fmt", help="json, or a Go template like {{.Client.Version}}")
def version_cmd(fmt: str | None) -> None:
    """Show onggi's version (podman's fields: Version, API Version, Go Version -> Python)."""
    import json

    from ..engine.system import version_doc
    from ..engine.templates import render

    doc = version_doc()
    if fmt == "json":
        click.echo(json.dumps(doc, indent=4))
    elif fmt:
        click.echo(render(fmt, doc))
    else:
        c = doc["Client"]
        rows = [("Client", "onggi Engine"), ("Version", c["Version"]), ("API Version", c["APIVersion"]),
                ("Python Version", c["PythonVersion"]), ("Built", c["BuiltTime"]), ("OS/Arch", c["OsArch"])]
        for k, v in rows:  # podman's tabwriter: labels padded to the longest, plus two
            click.echo(f"{k + ':':<17}{v}")


for _c in (exec_cmd, top_cmd, stats_cmd):
    container.add_command(_c)

COMMANDS = [exec_cmd, top_cmd, stats_cmd, events_cmd, version_cmd]
