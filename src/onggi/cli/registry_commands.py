"""``onggi registry serve`` and ``onggi registry garbage-collect``: flags -> one call of
:mod:`onggi.registry`."""

from __future__ import annotations

import click

from .main import Group

__all__ = ["registry", "COMMANDS"]


class RegistryGroup(Group):
    error_code = 1


@click.group(cls=RegistryGroup)
def registry() -> None:
    """Run an OCI distribution (v1.1) registry server and maintain its storage."""


@registry.command()
@click.option("--config", "config_path", metavar="FILE", help="YAML config (the reference registry's config.yml shape)")
@click.option("--addr", metavar="HOST:PORT", help="listen address [default: 127.0.0.1:5000]")
@click.option("--root", metavar="DIR", help="storage directory [default: /var/lib/onggi/registry]")
@click.option("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
@click.option("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
@click.option("--read-only", is_flag=True, default=None, help="refuse every write (405 UNSUPPORTED)")
@click.option("--delete/--no-delete", "delete_enabled", default=None,
              help="allow deleting manifests and blobs [default: allowed]")
@click.option("--workers", type=click.IntRange(1, 256), metavar="N", help="server processes [default: 1]")
@click.option("--metrics-addr", metavar="HOST:PORT", help="serve /metrics there instead of on --addr")
@click.option("--access-log", "access_log_path", metavar="FILE", help="JSON access log file [default: stderr]")
@click.option("--no-access-log", is_flag=True, help="no access log")
@click.option("--max-blob-size", type=click.IntRange(0), metavar="BYTES", help="refuse larger blobs (0: no limit)")
@click.option("--log-level", type=click.Choice(["debug", "info", "warn", "error"]), help="server message level")
def serve(config_path: str | None, no_access_log: bool, **flags: object) -> None:
    """Serve the registry until SIGTERM or SIGINT."""
    from ..registry.config import load
    from ..registry.server import serve as run

    if no_access_log:
        flags["access_log"] = False
    run(load(config_path, **flags))


@registry.command("garbage-collect")
@click.argument("config_file", required=False, metavar="[CONFIG]")
@click.option("--config", "config_path", metavar="FILE", help="YAML config (for the storage root)")
@click.option("--root", metavar="DIR", help="storage directory (overrides the config)")
@click.option("--dry-run", "-d", is_flag=True, help="list what would be removed; remove nothing")
@click.option("--delete-untagged", "-m", is_flag=True, help="also remove manifests no tag leads to")
@click.option("--grace", type=click.FloatRange(0), default=0.0, show_default=True, metavar="SECONDS",
              help="spare blobs written this recently (when the server is still running)")
@click.option("--upload-age", type=click.FloatRange(0), default=24.0, show_default=True, metavar="HOURS",
              help="remove upload sessions untouched for this long")
def garbage_collect(config_file: str | None, config_path: str | None, root: str | None, dry_run: bool,
                    delete_untagged: bool, grace: float, upload_age: float) -> None:
    """Remove blobs that no manifest of any repository references."""
    from ..registry.config import load
    from ..registry.gc import collect
    from ..registry.storage import RegistryStorage

    cfg = load(config_path or config_file, root=root)
    r = collect(RegistryStorage(cfg.root), dry_run=dry_run, delete_untagged=delete_untagged,
                grace=grace, upload_age=upload_age * 3600)
    verb = "would remove" if dry_run else "removed"
    for repo, d in r.manifests:
        click.echo(f"{repo}: {verb} untagged manifest {d}")
    for d, size in r.blobs:
        click.echo(f"{verb} blob {d} ({size} bytes)")
    for uid in r.uploads:
        click.echo(f"{verb} stale upload {uid}")
    click.echo(f"{len(r.marked)} blobs marked, {len(r.blobs)} blobs and {len(r.manifests)} manifests "
               f"{'eligible for deletion' if dry_run else 'deleted'}, {r.freed} bytes "
               f"{'to free' if dry_run else 'freed'}")


COMMANDS = [registry]


COMMANDS = [registry]  # what onggi.cli.main registers
