"""A container's files: ``onggi cp``, ``diff``, ``export`` and ``commit`` (also under
``onggi container ...``)."""

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


@click.command("diff")
@click.option("--format", "fmt", metavar="FORMAT", help="json: {\"changed\", \"added\", \"deleted\"}")
@click.argument("name")
def diff_cmd(name: str, fmt: str | None) -> None:
    """Show the changes made to a container's filesystem."""
    import json

    from ..engine.diff import container_changes
    from ..errors import InvalidArgument

    if fmt not in (None, "json"):
        raise InvalidArgument(f"--format {fmt!r}: only json is supported")
    paths, db = _env()
    try:
        changes = container_changes(paths, db, name)
    finally:
        db.close()
    if fmt == "json":
        keys = {"C": "changed", "A": "added", "D": "deleted"}
        out: dict[str, list[str]] = {}
        for c in changes:
            out.setdefault(keys[c.kind], []).append(c.path)
        click.echo(json.dumps(out, indent=4))
        return
    for c in changes:
        click.echo(f"{c.kind} {c.path}")


container.add_command(diff_cmd)


@click.command("commit")
@click.option("-a", "--author", default="", help="the image's author")
@click.option("-m", "--message", default="", help="a comment for the history entry")
@click.option("-c", "--change", "changes", multiple=True, metavar="INSTRUCTION",
              help="CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR")
@click.option("-f", "--format", "fmt", default="oci", show_default=True, help="oci or docker")
@click.option("-p", "--pause", is_flag=True, help="pause the container while committing")
@click.option("-q", "--quiet", is_flag=True, help="print only the image id")
@click.argument("name")
@click.argument("image", required=False)
def commit_cmd(name: str, image: str | None, author: str, message: str, changes: tuple[str, ...],
               fmt: str, pause: bool, quiet: bool) -> None:
    """Create a new image from a container's changes."""
    from ..engine.commit import CommitOptions, commit

    paths, db = _env()
    try:
        image_id = commit(paths, db, name, image, CommitOptions(
            author=author, message=message, changes=list(changes), format=fmt, pause=pause))
    finally:
        db.close()
    click.echo(image_id.split(":", 1)[-1])


container.add_command(commit_cmd)



@click.command("cp")
@click.option("-a", "archive_flag", is_flag=True, help="same as --archive=true (the default)")
@click.option("--archive", type=click.BOOL, default=None, metavar="BOOL",
              help="true (default): copied files get the destination's owner (the container's "
              "user going in, yours coming out); false keeps the source's")
@click.option("-L", "--follow-link", "follow", is_flag=True, help="follow a symlink that SRC names")
@click.option("--overwrite", is_flag=True, help="allow replacing a directory with a non-directory "
              "and the other way round")
@click.argument("src")
@click.argument("dst")
def cp_cmd(src: str, dst: str, archive_flag: bool, archive: bool | None, follow: bool,
           overwrite: bool) -> None:
    """Copy files between a container and the host ([CONTAINER:]SRC [CONTAINER:]DST; - is
    a tar stream on standard input or output)."""
    from ..engine.cp import copy
    from ..errors import InvalidArgument

    if dst == "-" and sys.stdout.isatty():
        raise InvalidArgument("refusing to write a tar archive to a terminal: redirect the output")
    paths, db = _env()
    try:
        sys.stdout.flush()
        copy(paths, db, src, dst, archive=archive is not False, follow=follow, overwrite=overwrite,
             stdin=sys.stdin.buffer, stdout=sys.stdout.buffer)
        sys.stdout.buffer.flush()
    finally:
        db.close()


container.add_command(cp_cmd)

COMMANDS = [export_cmd, diff_cmd, commit_cmd, cp_cmd]
