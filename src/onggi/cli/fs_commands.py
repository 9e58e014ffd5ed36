"""A container's files: ``onggi export`` (also ``onggi container export``)."""

from __future__ import annotations

import sys

import click

from .container_commands import _env, container

__all__ = ["COMMANDS"]


@click.command("export")
@click.option("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
@click.argument("name")
def export_cmd(name: str, output: str | None) -> None:
    """Export a container's filesystem as a tar archive."""
    from ..engine.export import export
    from ..errors import InvalidArgument

    paths, db = _env()
    try:
        if output is None:
            if sys.stdout.isatty():
                raise InvalidArgument("refusing to export to terminal: use -o FILE or redirect the output")
            sys.stdout.flush()
            export(paths, db, name, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        from ..files import replacing

        with replacing(output, durable=False) as f:  # nothing half-written on an error
            export(paths, db, name, f)
    finally:
        db.close()


container.add_command(export_cmd)

COMMANDS = [export_cmd]
