"""``onggi pod create | start | stop | kill | restart | rm | ps | inspect | exists | prune``
with podman's flags and output shapes (``ps``: POD ID / NAME / STATUS / CREATED / INFRA ID /
# OF CONTAINERS, ``inspect``: podman's JSON document)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from .container_commands import _each  # one way to report failures per name
from .main import Group


def _paths():  # noqa: ANN202
    from ..engine.paths import Paths

    return Paths.from_env()


def _all_or(refs: tuple[str, ...], all_: bool) -> tuple[str, ...]:
    if all_:
        from ..engine.pods import list_pods
        from ..engine.state import StateDB

        db = StateDB(_paths().db)
        try:
            return tuple(p.id for p in list_pods(db))
        finally:
            db.close()
    if not refs:
        raise click.UsageError("at least one pod name or ID must be given (or --all)")
    return refs


def _kv(items: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


@click.group("pod", cls=Group)
def pod_group() -> None:
    """Manage pods (groups of containers sharing namespaces)."""


@pod_group.command("create")
@click.option("--name", help="the pod's name (a random one when absent)")
@click.option("--infra/--no-infra", default=True, help="make an infra container holding the shared namespaces")
@click.option("--infra-image", help="the infra container's image (default: onggi's catatonit pause image)")
@click.option("--infra-command", help="the infra container's command")
@click.option("--infra-name", help="the infra container's name")
@click.option("--share", default="ipc,net,uts", help="namespaces the containers share (ipc,net,uts,pid)")
@click.option("-p", "--publish", multiple=True, help="publish a port of the pod")
@click.option("--network", "--net", default="bridge", help="the pod's network: none, host, bridge, NAME")
@click.option("--hostname", help="the pod's host name (default: its name)")
@click.option("-l", "--label", multiple=True, help="KEY=VALUE")
@click.option("--add-host", multiple=True, help="HOST:IP in the pod's /etc/hosts")
@click.option("--dns", multiple=True, help="a DNS server of the pod")
def create_cmd(name: str | None, infra: bool, infra_image: str | None, infra_command: str | None,
               infra_name: str | None, share: str, publish: tuple[str, ...], network: str, hostname: str | None,
               label: tuple[str, ...], add_host: tuple[str, ...], dns: tuple[str, ...]) -> None:
    """Create a pod; prints its id."""
    from ..engine.pods import PodSpec, create_pod

    command = json.loads(infra_command) if infra_command and infra_command.startswith("[") else (
        infra_command.split() if infra_command else None)
    spec = PodSpec(name=name, infra=infra, infra_image=infra_image, infra_command=command, infra_name=infra_name,
                   share=[share], publish=list(publish), network=network, hostname=hostname, labels=_kv(label),
                   add_hosts=list(add_host), dns=list(dns))
    click.echo(create_pod(_paths(), spec).id)


@pod_group.command("start")
@click.argument("pods", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True)
def start_cmd(pods: tuple[str, ...], all_: bool) -> None:
    """Start pods (the infra container first)."""
    from ..engine.pod_ops import start_pod

    _each(_all_or(pods, all_), lambda r: start_pod(_paths(), r).id)


@pod_group.command("stop")
@click.argument("pods", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-t", "--time", "timeout", type=int, help="seconds before SIGKILL")
@click.option("-i", "--ignore", is_flag=True, help="ignore pods that do not exist")
def stop_cmd(pods: tuple[str, ...], all_: bool, timeout: int | None, ignore: bool) -> None:
    """Stop pods (their containers, then the infra container)."""
    from ..engine.pod_ops import stop_pod

    _each(_all_or(pods, all_), lambda r: stop_pod(_paths(), r, timeout).id, ignore)


@pod_group.command("kill")
@click.argument("pods", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-s", "--signal", "sig", default="KILL")
def kill_cmd(pods: tuple[str, ...], all_: bool, sig: str) -> None:
    """Send a signal to the running containers of pods."""
    from ..engine.pod_ops import kill_pod

    _each(_all_or(pods, all_), lambda r: kill_pod(_paths(), r, sig).id)


@pod_group.command("restart")
@click.argument("pods", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True)
def restart_cmd(pods: tuple[str, ...], all_: bool) -> None:
    """Stop, then start pods."""
    from ..engine.pod_ops import restart_pod

    _each(_all_or(pods, all_), lambda r: restart_pod(_paths(), r).id)


@pod_group.command("rm")
@click.argument("pods", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-f", "--force", is_flag=True, help="stop running containers first")
@click.option("-i", "--ignore", is_flag=True, help="ignore pods that do not exist")
@click.option("-t", "--time", "timeout", type=int, help="seconds before SIGKILL, with --force")
def rm_cmd(pods: tuple[str, ...], all_: bool, force: bool, ignore: bool, timeout: int | None) -> None:
    """Remove pods and their containers."""
    from ..engine.pod_ops import remove_pod

    _each(_all_or(pods, all_), lambda r: remove_pod(_paths(), r, force, timeout), ignore)


@pod_group.command("exists")
@click.argument("pod")
def exists_cmd(pod: str) -> None:
    """Exit 0 when the pod exists, 1 when not."""
    from ..engine.pods import get_pod
    from ..engine.state import StateDB
    from ..errors import NotFound

    db = StateDB(_paths().db)
    try:
        get_pod(db, pod)
    except NotFound:
        sys.exit(1)
    finally:
        db.close()


@pod_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="do not ask (onggi never asks)")
def prune_cmd(force: bool) -> None:
    """Remove pods none of whose containers runs."""
    from ..engine.pod_ops import prune_pods

    for pid in prune_pods(_paths()):
        click.echo(pid)


@pod_group.command("inspect")
@click.argument("pods", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="json (default) or a {{.Field}} template")
def inspect_cmd(pods: tuple[str, ...], fmt: str | None) -> None:
    """podman's pod inspect document (a JSON list when several pods are named)."""
    from ..engine.pod_query import inspect_doc
    from ..engine.pods import get_pod
    from ..engine.state import StateDB

    paths = _paths()
    db = StateDB(paths.db)
    try:
        docs = [inspect_doc(paths, db, get_pod(db, p)) for p in pods]
    finally:
        db.close()
    if fmt and fmt != "json":
        for d in docs:
            click.echo(_template(fmt, d))
        return
    click.echo(json.dumps(docs[0] if len(docs) == 1 else docs, indent=4))


def _template(fmt: str, doc: dict[str, Any]) -> str:
    import re

    def one(m: re.Match) -> str:
        obj: Any = doc
        for part in [p for p in m.group(2).split(".") if p]:
            obj = obj.get(part, "") if isinstance(obj, dict) else ""
        return json.dumps(obj) if m.group(1) else ("" if obj is None else str(obj))

    return re.sub(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}", one, fmt)


@pod_group.command("ps")
@click.option("-q", "--quiet", is_flag=True, help="pod ids only")
@click.option("--no-trunc", is_flag=True)
@click.option("--ctr-names", is_flag=True, help="the names of the pods' containers")
@click.option("--ctr-ids", is_flag=True, help="the ids of the pods' containers")
@click.option("--format", "fmt", help="json or a {{.Field}} template")
@click.option("-f", "--filter", "filters", multiple=True, help="name=, id=, status=, label=")
def ps_cmd(quiet: bool, no_trunc: bool, ctr_names: bool, ctr_ids: bool, fmt: str | None,
           filters: tuple[str, ...]) -> None:
    """List pods."""
    from ..engine.pod_query import matches, ps_row
    from ..engine.pods import list_pods
    from ..engine.query import human_duration
    from ..engine.state import StateDB

    paths = _paths()
    db = StateDB(paths.db)
    try:
        pods = list_pods(db)
        rows = [(p, r) for p, r in ((p, ps_row(paths, db, p)) for p in pods) if matches(r, list(filters))]
    finally:
        db.close()
    if fmt == "json":
        click.echo(json.dumps([r for _, r in rows], indent=4))
        return
    cut = (lambda s: s) if no_trunc else (lambda s: s[:12])
    if quiet:
        for p, _ in rows:
            click.echo(cut(p.id))
        return
    if fmt:
        for _, r in rows:
            click.echo(_template(fmt, r))
        return
    head = ["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID"]
    if ctr_names:
        head.append("NAMES")
    if ctr_ids:
        head.append("IDS")
    count = not (ctr_names or ctr_ids)  # podman shows the count only without --ctr-*
    if count:
        head.append("# OF CONTAINERS")
    table = [head]
    now = time.time()
    for p, r in rows:
        line = [cut(p.id), p.name, r["Status"], f"{human_duration(now - p.created)} ago", cut(p.infra_id)]
        if ctr_names:
            line.append(",".join(c["Names"] for c in r["Containers"]))
        if ctr_ids:
            line.append(",".join(cut(c["Id"]) for c in r["Containers"]))
        if count:
            line.append(str(len(r["Containers"])))
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


pod_group.add_command(ps_cmd, "ls")
pod_group.add_command(ps_cmd, "list")

COMMANDS = [pod_group]
