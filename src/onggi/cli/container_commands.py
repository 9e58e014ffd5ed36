"""podman's container commands: run, create, start, stop, kill, restart, rm, ps, logs,
wait, inspect, pause, unpause, rename, attach, port, prune (and ``onggi container ...``).
Thin: parse, one engine call, print, exit code."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .container_run import create_cmd, run_cmd
from .main import Group


def _env():  # noqa: ANN202
    from ..engine.paths import Paths
    from ..engine.state import StateDB

    paths = Paths.from_env()
    return paths, StateDB(paths.db)


def _each(names: tuple[str, ...], fn, ignore: bool = False) -> None:  # noqa: ANN001
    """Run ``fn(name)`` for each name; report every failure, exit 125 if any (podman)."""
    from ..errors import NotFound, OnggiError

    failed = False
    for n in names:
        try:
            out = fn(n)
            if out is not None:
                click.echo(out)
        except NotFound as e:
            if ignore:
                continue
            click.echo(f"Error: {e}", err=True)
            failed = True
        except OnggiError as e:
            click.echo(f"Error: {e}", err=True)
            failed = True
    if failed:
        sys.exit(125)


@click.command("start")
@click.argument("names", nargs=-1, required=True)
@click.option("-a", "--attach", is_flag=True, help="attach to the container's output")
@click.option("-i", "--interactive", is_flag=True, help="attach stdin")
def start_cmd(names: tuple[str, ...], attach: bool, interactive: bool) -> None:
    """Start one or more containers."""
    from ..engine import containers
    from ..engine.paths import Paths

    if attach:
        try:
            _, code = containers.start(Paths.from_env(), names[0], True, interactive)
        except containers.StartError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)
        sys.exit(code)
    _each(names, lambda n: containers.start(Paths.from_env(), n)[0] and n)


@click.command("stop")
@click.argument("names", nargs=-1)
@click.option("-t", "--time", "timeout", type=int, help="seconds to wait before SIGKILL (default 10)")
@click.option("-a", "--all", "all_", is_flag=True, help="stop every running container")
@click.option("-i", "--ignore", is_flag=True, help="ignore missing containers")
def stop_cmd(names: tuple[str, ...], timeout: int | None, all_: bool, ignore: bool) -> None:
    """Stop containers: the stop signal, then SIGKILL."""
    from ..engine import containers

    paths, db = _env()
    if all_:
        names = tuple(r.id for r in db.all() if r.state in ("running", "paused"))
    _each(names, lambda n: containers.stop(paths, db, n, timeout) and n, ignore)


@click.command("kill")
@click.argument("names", nargs=-1, required=True)
@click.option("-s", "--signal", "sig", default="KILL", help="the signal to send (default KILL)")
def kill_cmd(names: tuple[str, ...], sig: str) -> None:
    """Send a signal to containers."""
    from ..engine import containers

    paths, db = _env()
    _each(names, lambda n: containers.kill(paths, db, n, sig) and n)


@click.command("restart")
@click.argument("names", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="seconds to wait before SIGKILL")
def restart_cmd(names: tuple[str, ...], timeout: int | None) -> None:
    """Restart containers."""
    from ..engine import containers

    paths, db = _env()

    def one(n: str) -> str:
        rec = containers.stop(paths, db, n, timeout)
        containers.start(paths, rec.id)
        return rec.id

    _each(names, one)


@click.command("rm")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="stop and remove running containers")
@click.option("-a", "--all", "all_", is_flag=True, help="remove every container")
@click.option("-v", "--volumes", is_flag=True, help="remove anonymous volumes too")
@click.option("-i", "--ignore", is_flag=True, help="ignore missing containers")
@click.option("-t", "--time", "timeout", type=int, help="seconds to wait before SIGKILL with -f")
def rm_cmd(names: tuple[str, ...], force: bool, all_: bool, volumes: bool, ignore: bool,
           timeout: int | None) -> None:
    """Remove containers."""
    from ..engine import containers

    paths, db = _env()
    if all_:
        names = tuple(r.id for r in db.all())
    # podman prints what was typed (the ids with --all)
    _each(names, lambda n: containers.remove(paths, db, n, force, volumes, timeout) and n, ignore or all_)


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="show all containers (default: running)")
@click.option("-q", "--quiet", is_flag=True, help="print only the ids")
@click.option("--no-trunc", is_flag=True, help="full ids")
@click.option("-f", "--filter", "filters", multiple=True, help="name=, id=, status=, label=, ancestor=")
@click.option("--format", "fmt", help="json, or a Go template like {{.ID}} {{.Names}}")
@click.option("-l", "--latest", is_flag=True, help="only the latest container")
@click.option("-n", "--last", type=int, default=-1, help="the last N containers")
def ps_cmd(all_: bool, quiet: bool, no_trunc: bool, filters: tuple[str, ...], fmt: str | None,
           latest: bool, last: int) -> None:
    """List containers."""
    from ..engine import query, templates
    from ..engine.lifecycle import lookup
    from .store_commands import table

    paths, db = _env()
    recs = [lookup(paths, db, r.id) for r in db.all()]
    if not all_ and not filters:
        recs = [r for r in recs if r.state in ("running", "paused")]
    recs = [r for r in recs if query.matches(r, list(filters))]
    recs.sort(key=lambda r: -r.created)
    if latest:
        recs = recs[:1]
    elif last >= 0:
        recs = recs[:last]
    rows = [query.ps_row(r) for r in recs]
    if no_trunc:
        for row in rows:
            row["ID"] = row["Id"]
    if quiet:
        click.echo("".join(f"{r['ID']}\n" for r in rows), nl=False)
    elif fmt == "json":
        click.echo(json.dumps([{**r, "Id": r["Id"], "Names": [r["Names"]]} for r in rows], indent=4))
    elif fmt:
        if templates.is_table(fmt):
            click.echo(templates.header(fmt))
        for r in rows:  # podman 4's templates show the status text as .State too
            click.echo(templates.render(fmt, {**r, "State": r["Status"]}))
    else:
        out = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
        for r in rows:
            cmd = r["Command"] if no_trunc or len(r["Command"]) <= 20 else r["Command"][:17] + "..."
            out.append([r["ID"], r["Image"], cmd, r["CreatedHuman"], r["Status"], r["Ports"], r["Names"]])
        click.echo(table(out), nl=False)


@click.command("logs")
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="follow the output")
@click.option("--since", help="only after this time (RFC 3339, Unix time, or 10m)")
@click.option("--until", help="only before this time")
@click.option("--tail", type=int, default=-1, help="only the last N lines")
@click.option("-t", "--timestamps", is_flag=True, help="show the time of each line")
def logs_cmd(name: str, follow: bool, since: str | None, until: str | None, tail: int, timestamps: bool) -> None:
    """Show a container's output."""
    import os

    from ..engine import logs
    from ..engine.lifecycle import lookup

    paths, db = _env()
    rec = lookup(paths, db, name)
    path = os.path.join(paths.container_dir(rec.id), "ctr.log")
    lines = logs.read_lines(path, logs.parse_time(since) if since else None,
                            logs.parse_time(until) if until else None, tail)

    def show(ln: logs.LogLine) -> None:
        fd = sys.stdout.buffer if ln.stream == "stdout" else sys.stderr.buffer
        fd.write((ln.stamp.encode() + b" " if timestamps else b"") + ln.text)
        fd.flush()

    for ln in lines:
        show(ln)
    if follow and rec.state in ("running", "paused", "created"):
        def alive() -> bool:
            try:
                return lookup(paths, db, rec.id).state in ("running", "paused", "created")
            except Exception:
                return False

        size = os.path.getsize(path) if os.path.exists(path) else 0
        for ln in logs.follow(path, size, alive):
            show(ln)


@click.command("wait")
@click.argument("names", nargs=-1, required=True)
@click.option("--condition", multiple=True, default=("stopped",), help="stopped (default), exited, running")
def wait_cmd(names: tuple[str, ...], condition: tuple[str, ...]) -> None:
    """Wait for containers to stop; print their exit codes."""
    from ..engine import containers

    paths, db = _env()
    _each(names, lambda n: str(containers.wait(paths, db, n, tuple(condition) + ("exited",))))


def _simple(name: str, fn_name: str, doc: str) -> click.Command:
    @click.command(name, help=doc)
    @click.argument("names", nargs=-1, required=True)
    def cmd(names: tuple[str, ...]) -> None:
        from ..engine import containers

        paths, db = _env()
        fn = getattr(containers, fn_name)
        _each(names, lambda n: fn(paths, db, n).id)
    return cmd


pause_cmd = _simple("pause", "pause", "Pause every process of containers.")
unpause_cmd = _simple("unpause", "unpause", "Unpause containers.")


@click.command("rename")
@click.argument("name")
@click.argument("new_name")
def rename_cmd(name: str, new_name: str) -> None:
    """Rename a container."""
    from ..engine import containers

    paths, db = _env()
    containers.rename(paths, db, name, new_name)


@click.command("attach")
@click.argument("name")
@click.option("--no-stdin", is_flag=True, help="do not attach stdin")
def attach_cmd(name: str, no_stdin: bool) -> None:
    """Attach to a running container's output (and input)."""
    from ..engine import containers
    from ..engine.paths import Paths

    sys.exit(containers.attach(Paths.from_env(), name, no_stdin))


@click.command("port")
@click.argument("name")
def port_cmd(name: str) -> None:
    """List a container's published ports."""
    from ..engine.lifecycle import lookup

    paths, db = _env()
    from ..engine.network import NetworkSetup

    rec = lookup(paths, db, name)
    for line in NetworkSetup.from_json(rec.network).port_lines() if rec.network else []:
        click.echo(line)


def inspect_containers(names: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """The inspect documents of ``names`` if each is a container, else None."""
    from ..engine import query
    from ..engine.lifecycle import lookup
    from ..errors import NotFound

    paths, db = _env()
    out = []
    for n in names:
        try:
            out.append(query.inspect_doc(paths, lookup(paths, db, n)))
        except NotFound:
            return None
    return out


def print_inspect(docs: list[dict[str, Any]], fmt: str | None) -> None:
    from ..engine import templates

    if not fmt or fmt == "json":
        click.echo(json.dumps(docs, indent=4))
        return
    for d in docs:
        click.echo(templates.render(fmt, d))


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="json (the default) or a Go template like {{.State.Status}}")
def container_inspect_cmd(names: tuple[str, ...], fmt: str | None) -> None:
    """Show details of containers."""
    from ..errors import NotFound

    docs = inspect_containers(names)
    if docs is None:
        from ..engine.lifecycle import lookup

        paths, db = _env()
        for n in names:
            lookup(paths, db, n)
        raise NotFound("no such container")
    print_inspect(docs, fmt)


@click.command("prune")
@click.option("-f", "--force", is_flag=True, help="do not ask")
def prune_cmd(force: bool) -> None:
    """Remove every stopped container."""
    from ..engine import containers

    paths, db = _env()
    for cid in containers.prune(paths, db):
        click.echo(cid)


@click.group("container", cls=Group)
def container() -> None:
    """Manage containers."""


_TOP = [run_cmd, create_cmd, start_cmd, stop_cmd, kill_cmd, restart_cmd, rm_cmd, ps_cmd, logs_cmd,
        wait_cmd, pause_cmd, unpause_cmd, rename_cmd, attach_cmd, port_cmd]
for _c in _TOP + [container_inspect_cmd, prune_cmd]:
    container.add_command(_c)
container.add_command(ps_cmd, "ls")
container.add_command(ps_cmd, "list")

COMMANDS = _TOP + [container]
