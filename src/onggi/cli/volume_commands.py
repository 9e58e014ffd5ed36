"""``onggi volume create|ls|inspect|rm|prune|exists`` (podman's commands, output and exit
codes: ``rm`` exits 1 for a volume that does not exist and 2 for one in use)."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from .main import Group

__all__ = ["COMMANDS", "volume", "render_template"]

# podman's column titles for ``--format 'table ...'``
_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS",
            "Scope": "SCOPE", "Options": "OPTIONS", "CreatedAt": "CREATED AT", "MountCount": "MOUNT COUNT",
            "Anonymous": "ANONYMOUS", "NeedsCopyUp": "NEEDS COPY UP", "NeedsChown": "NEEDS CHOWN"}
_ACTION = re.compile(r"\{\{-?\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*-?\}\}")


def _paths():  # noqa: ANN202
    from ..engine.paths import Paths

    return Paths.from_env()


def _go(value: Any) -> str:
    """A value as Go's fmt prints it in a template."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    return str(value)


def _lookup(obj: dict, path: str) -> Any:
    cur: Any = obj
    for part in [p for p in path.split(".") if p]:
        if not isinstance(cur, dict) or part not in cur:
            if isinstance(cur, dict) and part in ("Anonymous",):
                return False
            from ..errors import InvalidArgument

            raise InvalidArgument(f"template: can't evaluate field {part}")
        cur = cur[part]
    return cur


def render_template(template: str, obj: dict) -> str:
    """Fill ``{{.Field}}``, ``{{.A.B}}`` and ``{{json .Field}}`` from ``obj``."""
    def sub(m: re.Match) -> str:
        value = _lookup(obj, m.group(2))
        return json.dumps(value, separators=(",", ":")) if m.group(1) else _go(value)

    text = template.replace("\\t", "\t").replace("\\n", "\n")
    return _ACTION.sub(sub, text)


def _print_formatted(fmt: str, rows: list[dict]) -> None:
    if not fmt.startswith("table"):
        for r in rows:
            click.echo(render_template(fmt, r))
        return
    body = fmt[len("table"):].strip() or "{{.Driver}}\t{{.Name}}"
    cells = [c for c in re.split(r"(?<=\}\})\s+(?=\{\{)|\\t|\t", body) if c.strip()]
    header = [_ACTION.sub(lambda m: _HEADERS.get(m.group(2).split(".")[-1], m.group(2).upper()), c) for c in cells]
    table = [header] + [[render_template(c, r) for c in cells] for r in rows]
    widths = [max(12, max(len(row[i]) for row in table) + 2) for i in range(len(cells))]
    for row in table:
        click.echo("".join(c.ljust(w) if i < len(row) - 1 else c for i, (c, w) in enumerate(zip(row, widths))))


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for v in values:
        k, _, val = v.partition("=")
        if not k:
            from ..errors import InvalidArgument

            raise InvalidArgument(f"{flag} {v!r}: the key is empty")
        out[k] = val
    return out


@click.group("volume", cls=Group)
def volume() -> None:
    """Manage volumes."""


@volume.command("create")
@click.argument("name", required=False)
@click.option("-l", "--label", "labels", multiple=True, help="KEY=VALUE label")
@click.option("-o", "--opt", "opts", multiple=True, help="driver option: type=, device=, o=")
@click.option("--driver", default="local", show_default=True, help="volume driver (only local)")
@click.option("--ignore", is_flag=True, help="do nothing if the volume exists")
def create_cmd(name: str | None, labels: tuple[str, ...], opts: tuple[str, ...], driver: str, ignore: bool) -> None:
    """Create a volume (a random name when none is given)."""
    from ..engine import volumes
    from ..errors import Unsupported

    if driver != "local":
        raise Unsupported(f"--driver {driver}: only the local driver is supported")
    vol = volumes.create(_paths(), name, _pairs(labels, "--label"), _pairs(opts, "--opt"), ignore_existing=ignore)
    click.echo(vol.name)


def _filters(values: tuple[str, ...]):  # noqa: ANN202
    """``--filter KEY=VALUE`` -> a predicate on (volume, users alive). Different keys must
    all match; several values of one key: any."""
    from ..errors import InvalidArgument

    by_key: dict[str, list[str]] = {}
    for f in values:
        k, eq, v = f.partition("=")
        if k not in ("name", "label", "dangling", "driver", "anonymous", "scope"):
            raise InvalidArgument(f'"{k}" is an invalid volume filter')
        if k in ("dangling", "anonymous") and v not in ("true", "false", "1", "0"):
            raise InvalidArgument(f'"{v}" is not a valid value for the "{k}" filter - must be true or false')
        by_key.setdefault(k, []).append(v)

    def one(k: str, v: str, vol: Any, used: bool) -> bool:
        if k == "name":
            try:
                return re.search(v, vol.name) is not None
            except re.error:
                return v in vol.name
        if k == "label":
            lk, eq, lv = v.partition("=")
            return lk in vol.labels and (not eq or vol.labels[lk] == lv)
        if k == "dangling":
            return (not used) == (v in ("true", "1"))
        if k == "anonymous":
            return vol.anonymous == (v in ("true", "1"))
        if k == "driver":
            return vol.driver == v
        return v == "local"

    def pred(vol: Any, used: bool) -> bool:
        return all(any(one(k, v, vol, used) for v in vs) for k, vs in by_key.items())

    return pred


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the names")
@click.option("--format", "fmt", help="json, or a Go template ({{.Name}}, table ...)")
@click.option("-f", "--filter", "filters", multiple=True, help="name=, label=, dangling=, driver=, anonymous=")
@click.option("-n", "--noheading", is_flag=True, help="no header line")
def ls_cmd(quiet: bool, fmt: str | None, filters: tuple[str, ...], noheading: bool) -> None:
    """List volumes."""
    from ..engine import volumes

    paths = _paths()
    pred = _filters(filters)
    vols = [v for v in volumes.list_volumes(paths) if pred(v, bool(volumes.live_users(paths, v)))]
    if quiet:
        for v in vols:
            click.echo(v.name)
    elif fmt == "json":
        click.echo(json.dumps([v.inspect() for v in vols], indent=2))
    elif fmt:
        _print_formatted(fmt, [v.inspect() for v in vols])
    elif vols:
        if not noheading:
            click.echo(f"{'DRIVER':<12}VOLUME NAME")
        for v in vols:
            click.echo(f"{v.driver:<12}{v.name}")


volume.add_command(ls_cmd, "list")


@volume.command("inspect")
@click.argument("names", nargs=-1)
@click.option("-f", "--format", "fmt", help="json (default) or a Go template")
@click.option("-a", "--all", "all_", is_flag=True, help="every volume")
def inspect_cmd(names: tuple[str, ...], fmt: str | None, all_: bool) -> None:
    """Show volumes' details as JSON."""
    from ..engine import volumes
    from ..errors import InvalidArgument, NotFound

    paths = _paths()
    if all_:
        names = tuple(v.name for v in volumes.list_volumes(paths))
    elif not names:
        raise InvalidArgument("provide one or more volume names or use --all")
    found, missing = [], []
    for n in names:
        try:
            found.append(volumes.inspect(paths, n))
        except NotFound:
            missing.append(n)
    if fmt and fmt != "json":
        _print_formatted(fmt, found)
    else:
        click.echo(json.dumps(found, indent=5))
    if missing:
        raise NotFound(f"inspecting object: no such volume {missing[0]}")


def _remove_users(users: list[str]) -> None:
    """``volume rm -f``: podman removes the containers using the volume too."""
    from ..engine import containers
    from ..engine.state import StateDB
    from ..errors import NotFound

    paths = _paths()
    db = StateDB(paths.db)
    try:
        for cid in users:
            try:
                containers.remove(paths, db, cid, force=True)
            except NotFound:
                continue  # gone meanwhile
    finally:
        db.close()


@volume.command("rm")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="remove even if in use (and the containers using it)")
@click.option("-a", "--all", "all_", is_flag=True, help="remove every volume")
def rm_cmd(names: tuple[str, ...], force: bool, all_: bool) -> None:
    """Remove volumes."""
    from ..engine import volumes
    from ..errors import Conflict, InvalidArgument, NotFound

    paths = _paths()
    if all_:
        names = tuple(v.name for v in volumes.list_volumes(paths))
    elif not names:
        raise InvalidArgument("choose either one or more volumes or all")
    code = 0
    for n in names:
        try:
            users = volumes.remove(paths, n, force=force)
        except NotFound:
            click.echo(f'Error: no volume with name "{n}" found: no such volume', err=True)
            code = code or 1
            continue
        except Conflict as e:
            click.echo(f"Error: {e}", err=True)
            code = 2
            continue
        if users:
            _remove_users(users)
        click.echo(n)
    if code:
        sys.exit(code)


volume.add_command(rm_cmd, "remove")


@volume.command("prune")
@click.option("-f", "--force", is_flag=True, help="do not ask for confirmation")
@click.option("--filter", "filters", multiple=True, help="label=KEY[=VALUE]")
def prune_cmd(force: bool, filters: tuple[str, ...]) -> None:
    """Remove every volume no container uses."""
    from ..engine import volumes
    from ..errors import InvalidArgument

    labels: dict[str, str | None] = {}
    for f in filters:
        k, _, v = f.partition("=")
        if k != "label":
            raise InvalidArgument(f"{k!r} is an invalid volume prune filter (label=)")
        lk, eq, lv = v.partition("=")
        labels[lk] = lv if eq else None
    paths = _paths()
    if not force:
        unused = [v.name for v in volumes.list_volumes(paths)
                  if not volumes.live_users(paths, v) and volumes.matches_labels(v, labels)]
        click.echo("WARNING! This will remove all volumes not used by at least one container. "
                   "The following volumes will be removed:")
        for n in unused:
            click.echo(n)
        if not click.confirm("Are you sure you want to continue?", default=False, show_default=False,
                             prompt_suffix=" [y/N] "):
            return
    for n in volumes.prune(paths, labels):
        click.echo(n)


@volume.command("exists")
@click.argument("name")
def exists_cmd(name: str) -> None:
    """Exit 0 if the volume exists, 1 if not."""
    from ..engine import volumes

    sys.exit(0 if volumes.exists(_paths(), name) else 1)


COMMANDS = [volume]
