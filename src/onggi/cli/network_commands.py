"""``onggi network create | ls | inspect | rm | prune | connect | disconnect``, with
podman's flags and output shapes (``ls``: a NETWORK ID / NAME / DRIVER table, ``inspect``:
a JSON list of netavark-format networks)."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable

import click

from .main import Group

_FIELDS = {"name": "Name", "id": "ID", "driver": "Driver", "network_interface": "NetworkInterface",
           "created": "Created", "subnets": "Subnets", "ipv6_enabled": "IPv6Enabled", "internal": "Internal",
           "dns_enabled": "DNSEnabled", "labels": "Labels", "options": "Options", "ipam_options": "IPAMOptions"}
_TEMPLATE = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def _paths():  # noqa: ANN202
    from ..engine.paths import Paths

    return Paths.from_env()


def _go_view(d: dict[str, Any]) -> dict[str, Any]:
    """The JSON keys and podman's Go field names (``.Name``, ``.NetworkInterface``) both work."""
    view = dict(d)
    view.update({_FIELDS[k]: v for k, v in d.items() if k in _FIELDS})
    view.setdefault("Labels", {})
    return view


def _lookup(obj: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(obj, dict):
            if part in obj:
                obj = obj[part]
                continue
            low = {k.lower(): v for k, v in obj.items()}
            if part.lower() in low:
                obj = low[part.lower()]
                continue
        raise click.UsageError(f"template: can't evaluate field {part}")
    return obj


def _go_text(v: Any, nested: bool = False) -> str:
    """A value as Go's template printing shows it (maps as map[k:v], structs as {a b})."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        if nested:
            return "{" + " ".join(_go_text(x, True) for x in v.values()) + "}"
        return "map[" + " ".join(f"{k}:{_go_text(x, True)}" for k, x in sorted(v.items())) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_text(x, True) for x in v) + "]"
    return str(v)


def _render(fmt: str, d: dict[str, Any]) -> str:
    """The small part of Go templates that ``--format`` needs: ``{{.Field}}``,
    ``{{.A.B}}``, ``{{json .X}}``, ``{{json .}}``."""
    view = _go_view(d)

    def one(m: re.Match) -> str:
        v = d if m.group(2) == "" else _lookup(view, m.group(2))
        if m.group(1):
            return json.dumps(v, separators=(",", ":"))
        return _go_text(v)

    return _TEMPLATE.sub(one, fmt.replace("\\t", "\t").replace("\\n", "\n"))


def _table(rows: list[list[str]]) -> str:
    """podman's tabwriter: columns at least 12 wide, two spaces of padding."""
    widths = [max(12, max(len(r[i]) for r in rows) + 2) for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] + "\n" for r in rows)


def _filters(values: tuple[str, ...]) -> dict[str, list[str]]:
    from ..engine.query import group_filters

    return group_filters(values)


@click.group("network", cls=Group)
def network() -> None:
    """Manage networks."""


@network.command("create")
@click.argument("name", required=False)
@click.option("-d", "--driver", default="bridge", show_default=True, help="network driver (bridge only)")
@click.option("--subnet", help="subnet in CIDR form")
@click.option("--gateway", help="gateway address in the subnet")
@click.option("--internal", is_flag=True, help="no route to the outside")
@click.option("--disable-dns", is_flag=True, help="no aardvark-dns name resolution on this network")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="metadata (repeatable)")
@click.option("--interface-name", help="the bridge's name (default: the next free onggiN)")
def create_cmd(name: str | None, driver: str, subnet: str | None, gateway: str | None, internal: bool,
               disable_dns: bool, labels: tuple[str, ...], interface_name: str | None) -> None:
    """Create a bridge network; prints its name."""
    from ..engine import network as net

    lab = {}
    for item in labels:
        k, _, v = item.partition("=")
        lab[k] = v
    n = net.create(_paths(), name, subnet=subnet, gateway=gateway, internal=internal, disable_dns=disable_dns,
                   labels=lab, driver=driver, interface=interface_name)
    click.echo(n.name)


@network.command("ls")
@click.option("-f", "--filter", "filters", multiple=True, help="name=, id=, driver=, label=")
@click.option("--format", "fmt", help="json, or a Go template like {{.Name}}")
@click.option("-q", "--quiet", is_flag=True, help="only the ids")
@click.option("--no-trunc", is_flag=True, help="full ids")
def ls_cmd(filters: tuple[str, ...], fmt: str | None, quiet: bool, no_trunc: bool) -> None:
    """List networks."""
    from ..engine import network as net

    nets = net.list_networks(_paths(), _filters(filters))
    if quiet:
        for n in nets:
            click.echo(n.id if no_trunc else n.id[:12])
    elif fmt == "json":
        click.echo(json.dumps([n.to_json() for n in nets], indent=2))
    elif fmt:
        body = fmt[len("table"):].lstrip() if fmt.startswith("table") else fmt
        for n in nets:
            d = n.to_json()
            if not no_trunc:
                d["id"] = n.id[:12]
            click.echo(_render(body, d))
    else:
        rows = [["NETWORK ID", "NAME", "DRIVER"]]
        rows += [[n.id if no_trunc else n.id[:12], n.name, n.driver] for n in nets]
        click.echo(_table(rows), nl=False)


@network.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="a Go template like {{.Subnets}}")
def inspect_cmd(names: tuple[str, ...], fmt: str | None) -> None:
    """Show networks as JSON."""
    from ..engine import network as net

    from ..errors import NotFound

    paths = _paths()
    data, missing = [], []
    for n in names:
        try:
            data.append(net.inspect(paths, n))
        except NotFound as e:
            missing.append(f"network {n}: {e}")
    if fmt and fmt != "json":
        for d in data:
            click.echo(_render(fmt, d))
    else:
        click.echo(json.dumps(data, indent=5))
    if missing:
        raise NotFound("inspecting object: " + "; ".join(missing))


def _container_remover() -> Callable[[str], None] | None:
    """The lifecycle's ``rm -f``, when that module is there."""
    try:
        from ..engine import containers
        from ..engine.state import StateDB
    except ImportError:
        return None
    paths = _paths()

    def remove(cid: str) -> None:
        db = StateDB(paths.db)
        try:
            containers.remove(paths, db, cid, force=True)
        finally:
            db.close()

    return remove


@network.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="remove the containers that use it first")
@click.option("-t", "--time", "timeout", type=int, hidden=True, help="stop timeout (accepted for podman)")
def rm_cmd(names: tuple[str, ...], force: bool, timeout: int | None) -> None:
    """Remove networks."""
    from ..engine import network as net

    from ..errors import NotFound

    paths = _paths()
    remover = _container_remover() if force else None
    missing = False
    for n in names:
        try:
            click.echo(net.remove(paths, n, force=force, remove_container=remover))
        except NotFound as e:  # podman: a missing network is exit code 1
            click.echo(f"Error: {e}", err=True)
            missing = True
    if missing:
        sys.exit(1)


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="do not ask")
@click.option("--filter", "filters", multiple=True, help="name=, id=, driver=, label=")
def prune_cmd(force: bool, filters: tuple[str, ...]) -> None:
    """Remove every network no container uses."""
    from ..engine import network as net

    if not force and not click.confirm("WARNING! This will remove all networks not used by at least one "
                                       "container.\nAre you sure you want to continue?", default=False):
        return
    for name in net.prune(_paths(), _filters(filters)):
        click.echo(name)


def _db(paths, ref: str):  # noqa: ANN001, ANN202
    import os

    from ..engine.state import StateDB
    from ..errors import NotFound

    if not os.path.exists(paths.db):
        raise NotFound(f"no container with name or ID \"{ref}\" found: no such container")
    return StateDB(paths.db)


def _live(setup) -> bool:  # noqa: ANN001
    from ..sys.netns import is_netns

    return setup.mode == "bridge" and bool(setup.netns) and is_netns(setup.netns)


@network.command("connect")
@click.argument("network_name", metavar="NETWORK")
@click.argument("container")
@click.option("--alias", "aliases", multiple=True, help="another DNS name for the container on this network")
@click.option("--ip", help="a static IPv4 address on this network")
def connect_cmd(network_name: str, container: str, aliases: tuple[str, ...], ip: str | None) -> None:
    """Connect a container to one more network (now if it runs, else at its next start)."""
    from ..engine import network as net
    from ..errors import AlreadyExists, FailedPrecondition

    paths = _paths()
    db = _db(paths, container)
    try:
        rec = db.lookup(container)
        setup = net.NetworkSetup.from_json(rec.network)
        if _live(setup):
            new = net.connect(paths, rec.id, rec.name, setup, network_name, aliases, ip=ip)
            try:
                db.update(rec.id, "network-connect", network=new.to_json())
            except BaseException:
                net.disconnect(paths, rec.id, rec.name, new, network_name)
                raise
            return
        target = net.lookup(paths, network_name).name
        opts = dict(rec.options)
        mode = str(opts.get("network") or "bridge")
        if mode in ("none", "host") or mode.startswith(("container:", "ns:", "pod:")):
            raise FailedPrecondition(f"container {rec.name} uses network mode {mode}: it cannot join a network")
        if target in net.network_names(mode):
            raise AlreadyExists(f"container {rec.name} is already connected to network {target}")
        opts["network"] = f"{mode},{target}"
        opts["network_aliases"] = list(opts.get("network_aliases") or []) + list(aliases)
        db.update(rec.id, "network-connect", options=opts)
    finally:
        db.close()


@network.command("disconnect")
@click.argument("network_name", metavar="NETWORK")
@click.argument("container")
@click.option("-f", "--force", is_flag=True, hidden=True, help="accepted for podman")
def disconnect_cmd(network_name: str, container: str, force: bool) -> None:
    """Disconnect a container from a network."""
    from ..engine import network as net
    from ..errors import NotFound

    paths = _paths()
    db = _db(paths, container)
    try:
        rec = db.lookup(container)
        setup = net.NetworkSetup.from_json(rec.network)
        if _live(setup):
            new = net.disconnect(paths, rec.id, rec.name, setup, network_name)
            db.update(rec.id, "network-disconnect", network=new.to_json())
            return
        mode = str(rec.options.get("network") or "bridge")
        names = net.network_names(mode) if mode not in ("none", "host") else []
        try:
            target = net.lookup(paths, network_name).name
        except NotFound:
            target = network_name
        if target not in names:
            raise NotFound(f"container {rec.name} is not connected to network {network_name}")
        rest = [n for n in names if n != target]
        db.update(rec.id, "network-disconnect", options={**rec.options, "network": ",".join(rest) or "none"})
    finally:
        db.close()


COMMANDS = [network]
