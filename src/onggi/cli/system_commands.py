"""``onggi login`` / ``logout`` (podman's and skopeo's), ``onggi import`` and
``onggi system check`` / ``prune`` of the local store."""

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
    """Look after the local store."""


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
@click.option("--dry-run", is_flag=True, help="only say what would be removed")
def prune_cmd(dry_run: bool) -> None:
    """Remove blobs, snapshots and leftovers that no image or container uses."""
    from .store_commands import _store, human_size

    r = _store().gc(dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    click.echo(f"{verb} {len(r.blobs)} blobs, {len(r.snapshots)} snapshots, {len(r.ingests)} partial "
               f"downloads, {len(r.temporary)} leftovers; {human_size(r.freed_bytes)} freed")
    for e in r.errors:
        click.echo(f"warning: {e}", err=True)


COMMANDS = [login_cmd, logout_cmd, import_cmd, system]
