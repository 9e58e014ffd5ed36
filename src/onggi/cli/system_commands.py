"""``onggi login`` / ``logout`` (podman's and skopeo's), ``onggi import``, ``onggi
system check`` of the local store, and podman's ``system info`` / ``df`` / ``prune``."""

from __future__ import annotations

import sys

import click

from .image_commands import _tls_option
from .main import Group


def _registry_host(registry: str) -> str:
    host = registry
    for scheme in ("https://", "http://", "docker://"):
        if host.startswith(scheme):
            host = host[len(scheme):]
    return host.rstrip("/")


@click.command("login")
@click.argument("registry")
@click.option("-u", "--username", help="user name")
@click.option("-p", "--password", help="password (prefer --password-stdin)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--authfile", envvar="REGISTRY_AUTH_FILE", metavar="PATH", help="auth.json to write")
@click.option("--cert-dir", metavar="PATH", help="certificates for the registry")
@_tls_option("--tls-verify", "require HTTPS and verify certificates")
def login_cmd(registry: str, username: str | None, password: str | None, password_stdin: bool,
              authfile: str | None, cert_dir: str | None, tls_verify: bool | None) -> None:
    """Log in to a registry: check the credentials, then store them in auth.json."""
    from ..distribution import RegistryClient
    from ..distribution.credentials import Credentials, set_credentials
    from ..distribution.tls import for_registry
    from ..errors import InvalidArgument

    key = _registry_host(registry)
    host = key.split("/", 1)[0]
    if password_stdin:
        if password is not None:
            raise InvalidArgument("--password and --password-stdin cannot be used together")
        password = sys.stdin.readline().rstrip("\n")
    if not username:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    tls = for_registry(host, tls_verify=tls_verify, cert_dir=cert_dir)
    with RegistryClient(host, Credentials(username, password, source="login"), tls) as c:
        c.session.request("GET", "/v2/", action="logging in to", target=host, ok=(200,))
    set_credentials(key, username, password, auth_file=authfile)
    click.echo("Login Succeeded!")


@click.command("logout")
@click.argument("registry", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="remove the credentials of every registry")
@click.option("--authfile", envvar="REGISTRY_AUTH_FILE", metavar="PATH", help="auth.json to change")
def logout_cmd(registry: str | None, all_: bool, authfile: str | None) -> None:
    """Remove the stored credentials of a registry (or all of them)."""
    from ..distribution.credentials import remove_credentials
    from ..errors import InvalidArgument, NotFound

    if all_:
        remove_credentials(None, auth_file=authfile)
        click.echo("Removed login credentials for all registries")
        return
    if not registry:
        raise InvalidArgument("logout: name a registry, or use --all")
    key = _registry_host(registry)
    if not remove_credentials(key, auth_file=authfile):
        raise NotFound(f"not logged into {key}")
    click.echo(f"Removed login credentials for {key}")


@click.command("import")
@click.argument("tarball", type=click.Path(exists=True, dir_okay=False))
@click.argument("reference", required=False)
@click.option("-c", "--change", "changes", multiple=True, help="CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE")
@click.option("-m", "--message", default="", help="history comment")
@click.option("-q", "--quiet", is_flag=True, help="print only the image id")
def import_cmd(tarball: str, reference: str | None, changes: tuple[str, ...], message: str, quiet: bool) -> None:
    """Create an image from a tarball of a root filesystem."""
    from ..image.imports import import_tarball
    from .store_commands import _store

    image = import_tarball(_store(), tarball, reference, list(changes), message)
    click.echo(image.id.partition(":")[2])


@click.group("system", cls=Group)
def system() -> None:
    """Look after the engine and the local store."""


@system.command("check")
@click.option("--repair", is_flag=True, help="remove what is corrupt")
@click.option("--quick", is_flag=True, help="do not re-hash every blob")
def check_cmd(repair: bool, quick: bool) -> None:
    """Verify the local store: blobs, names, manifests and snapshots."""
    from .store_commands import _store

    report = _store().check(repair=repair, verify_blobs=not quick)
    for p in report.problems:
        where = f" ({p.path})" if p.path else ""
        click.echo(f"{'repaired' if p.repaired else 'problem'}: {p.kind}: {p.subject}: {p.detail}{where}")
    click.echo(f"checked {report.blobs_checked} blobs and {report.snapshots_checked} snapshots: "
               f"{len(report.problems)} problem(s)")
    if not report.ok:
        sys.exit(1)


@system.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="every unused image, not only dangling ones")
@click.option("-f", "--force", is_flag=True, help="do not ask for confirmation")
@click.option("--volumes", is_flag=True, help="unused volumes too")
@click.option("--dry-run", is_flag=True, help="only say what would be removed")
def prune_cmd(all_: bool, force: bool, volumes: bool, dry_run: bool) -> None:
    """Remove stopped containers, unused networks, dangling (with -a: unused) images and,
    with --volumes, unused volumes; then blobs and snapshots nothing uses."""
    from ..engine.system import prune
    from .container_commands import _env
    from .store_commands import human_size

    if not force and not dry_run:
        click.echo("WARNING! This command removes:\n\t- all stopped containers\n"
                   "\t- all networks not used by at least one container")
        if volumes:
            click.echo("\t- all volumes not used by at least one container")
        click.echo(f"\t- all {'images without at least one container associated with them' if all_ else 'dangling images'}"
                   f"\n\t- blobs, snapshots and leftovers of the image store that nothing uses\n")
        click.echo("Are you sure you want to continue? [y/N] ", nl=False)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return
    paths, db = _env()
    try:
        r = prune(paths, db, all_images=all_, volumes=volumes, dry_run=dry_run)
    finally:
        db.close()
    verb = "Would delete" if dry_run else "Deleted"
    for title, items in (("Containers", r.containers), ("Networks", r.networks),
                         ("Volumes", r.volumes), ("Images", r.images)):
        if items:
            click.echo(f"{verb} {title}")
            for i in items:
                click.echo(i)
    g = r.store
    click.echo(f"{'Would remove' if dry_run else 'Removed'} {len(g.blobs)} blobs, {len(g.snapshots)} "
               f"snapshots, {len(g.ingests)} partial downloads, {len(g.temporary)} leftovers from the image store")
    click.echo(f"Total reclaimed space: {human_size(r.reclaimed).replace(' ', '')}")
    for e in list(g.errors) + r.errors:
        click.echo(f"warning: {e}", err=True)


def _output(doc: object, fmt: str | None) -> None:
    import json

    from ..engine.templates import render

    if fmt == "json":
        click.echo(json.dumps(doc, indent=4))
    elif fmt:
        click.echo(render(fmt, doc))
    else:
        import yaml

        click.echo(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False), nl=False)


@system.command("info")
@click.option("-f", "--format", "fmt", help="json, or a Go template like {{.Host.Kernel}}")
def info_cmd(fmt: str | None) -> None:
    """Show the host, the store and the version (podman's info fields)."""
    from ..engine.system import info_doc
    from .container_commands import _env

    paths, db = _env()
    try:
        doc = info_doc(paths, db)
    finally:
        db.close()
    if fmt and fmt != "json":  # templates name podman's Go fields: .Host.Kernel, .Store.GraphRoot
        doc = _go_names(doc)
    _output(doc, fmt)


def _go_names(doc: object) -> object:
    if isinstance(doc, dict):
        return {k[:1].upper() + k[1:]: _go_names(v) for k, v in doc.items()}
    return doc


@system.command("df")
@click.option("-v", "--verbose", is_flag=True, help="every image, container and volume")
@click.option("--format", "fmt", help="json, or a Go template like {{.Type}} {{.Size}}")
def df_cmd(verbose: bool, fmt: str | None) -> None:
    """Show the space images, containers and volumes take."""
    import json

    from ..engine.query import human_duration
    from ..engine.system import disk_usage, summary
    from ..engine.templates import render
    from .container_commands import _env
    from .store_commands import human_size, table

    paths, db = _env()
    try:
        du = disk_usage(paths, db)
    finally:
        db.close()
    rows = summary(du)
    hs = lambda n: human_size(n).replace(" ", "")  # noqa: E731 - podman's 4.5MB
    if fmt == "json":
        click.echo(json.dumps(du if verbose else rows, indent=4))
        return
    if fmt:
        for r in rows:
            click.echo(render(fmt, {**r, "Size": hs(r["Size"]), "Reclaimable": f"{hs(r['Reclaimable'])} ({r['RecPercent']})"}))
        return
    if not verbose:
        out = [["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]]
        out += [[r["Type"], str(r["Total"]), str(r["Active"]), hs(r["Size"]),
                 f"{hs(r['Reclaimable'])} ({r['RecPercent']})"] for r in rows]
        click.echo(table(out), nl=False)
        return
    import time

    now = time.time()
    ago = lambda t: f"{human_duration(now - t)} ago"  # noqa: E731
    click.echo("Images space usage:\n")
    out = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"]]
    out += [[i["Repository"], i["Tag"], i["ImageID"][:12], ago(i["Created"]), hs(i["Size"]),
             hs(i["SharedSize"]), hs(i["UniqueSize"]), str(i["Containers"])] for i in du["Images"]]
    click.echo(table(out))
    click.echo("Containers space usage:\n")
    out = [["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"]]
    out += [[c["ContainerID"][:12], c["Image"], c["Command"][:20], str(c["LocalVolumes"]), hs(c["Size"]),
             ago(c["Created"]), c["Status"], c["Names"]] for c in du["Containers"]]
    click.echo(table(out))
    click.echo("Local Volumes space usage:\n")
    out = [["VOLUME NAME", "LINKS", "SIZE"]]
    out += [[v["VolumeName"], str(v["Links"]), hs(v["Size"])] for v in du["Volumes"]]
    click.echo(table(out), nl=False)


COMMANDS = [login_cmd, logout_cmd, import_cmd, system]
