"""``onggi image ...``: skopeo's commands, with its flag names and output formats."""

from __future__ import annotations

import sys

import click

from .main import Group


class ImageGroup(Group):
    error_code = 1  # skopeo's


def _platform(os_: str | None, arch: str | None, variant: str | None) -> object:
    if not (os_ or arch or variant):
        return None
    from ..oci import platform as P

    host = P.host()
    return P.Platform(os=os_ or host.os, architecture=arch or host.architecture,
                      variant=variant if variant is not None else (None if arch else host.variant))


def platform_options(f):  # noqa: ANN001, ANN201
    f = click.option("--override-variant", "variant", metavar="VARIANT",
                     help="use VARIANT instead of the machine's for choosing images")(f)
    f = click.option("--override-os", "os_", metavar="OS", help="use OS instead of the running OS for choosing images")(f)
    f = click.option("--override-arch", "arch", metavar="ARCH",
                     help="use ARCH instead of the machine's architecture for choosing images")(f)
    return f


def _open_source(name: str, opts: object = None):  # noqa: ANN202
    from .. import transports as T

    t, ref = T.parse(name)
    return t.source(ref, opts)


def _tls_option(name: str, help: str):  # noqa: ANN202, A002
    return click.option(name, type=click.BOOL, is_flag=False, flag_value=True, default=None,
                        metavar="BOOL", help=help)


def registry_options(prefix: str = "", side: str = ""):  # noqa: ANN201
    """skopeo's registry flags (``--creds``, ``--tls-verify``, ``--cert-dir``), with a
    ``--src-``/``--dest-`` prefix for copy."""
    def deco(f):  # noqa: ANN001, ANN202
        what = f" for the {side}" if side else ""
        f = click.option(f"--{prefix}creds", metavar="USERNAME[:PASSWORD]",
                         help=f"credentials{what} registry")(f)
        f = _tls_option(f"--{prefix}tls-verify", f"require HTTPS and verify certificates{what} registry")(f)
        f = click.option(f"--{prefix}cert-dir", metavar="PATH",
                         help=f"certificates (*.crt, *.cert, *.key){what} registry")(f)
        return f
    return deco


def common_registry_options(f):  # noqa: ANN001, ANN201
    f = click.option("--authfile", metavar="PATH", envvar="REGISTRY_AUTH_FILE",
                     help="auth.json with the registries' credentials")(f)
    f = click.option("--registries-conf", metavar="PATH", help="registries.conf to use")(f)
    return f


def _opts(kw: dict, prefix: str) -> object:
    from ..transports.docker import Options

    p = prefix.replace("-", "_")
    return Options(creds=kw.get(f"{p}creds"), tls_verify=kw.get(f"{p}tls_verify"),
                   auth_file=kw.get("authfile"), cert_dir=kw.get(f"{p}cert_dir"),
                   registries_conf=kw.get("registries_conf"))


@click.group(cls=ImageGroup)
def image() -> None:
    """Move, inspect and delete images in registries, layouts and archives (skopeo)."""


@image.command("copy")
@click.argument("source")
@click.argument("destination")
@click.option("-a", "--all", "all_images", is_flag=True, help="copy every image of a list, and the list")
@click.option("--dest-compress-format", type=click.Choice(["gzip", "zstd"]),
              help="compress layers with this format when writing the destination")
@click.option("--preserve-digests", is_flag=True, help="fail rather than change any manifest digest")
@click.option("-q", "--quiet", is_flag=True, help="print no progress")
@click.option("--digestfile", type=click.Path(dir_okay=False), help="write the copied manifest's digest here")
@platform_options
@registry_options("src-", "source")
@registry_options("dest-", "destination")
@common_registry_options
def copy_cmd(source: str, destination: str, all_images: bool, dest_compress_format: str | None,
             preserve_digests: bool, quiet: bool, digestfile: str | None, os_: str | None,
             arch: str | None, variant: str | None, **kw: object) -> None:
    """Copy an image from SOURCE to DESTINATION (TRANSPORT:REFERENCE each)."""
    from .. import transports as T
    from ..transports.copy import CopyOptions, copy
    from .progress import session, write_digestfile

    ts, rs = T.parse(source)
    td, rd = T.parse(destination)
    with session(quiet) as progress:
        with ts.source(rs, _opts(kw, "src-")) as src, td.destination(rd, _opts(kw, "dest-")) as dst:
            if ts.name == td.name == "docker":  # same registry: mount blobs instead of copying
                if src.ref.domain == dst.ref.domain and src.repo != dst.repo:  # type: ignore[attr-defined]
                    dst.mount_from = [src.repo]  # type: ignore[attr-defined]
            if progress is not None:
                progress.message("Getting image source signatures")
            digest = copy(src, dst, CopyOptions(all_images=all_images, platform=_platform(os_, arch, variant),
                                                compress=dest_compress_format,
                                                preserve_digests=preserve_digests, progress=progress))
        if progress is not None:
            progress.message("Writing manifest to image destination")
    write_digestfile(digestfile, digest)


@image.command("inspect")
@click.argument("name")
@click.option("--raw", is_flag=True, help="print the manifest (or index) as stored")
@click.option("--config", "show_config", is_flag=True, help="print the image's config")
@platform_options
@registry_options()
@common_registry_options
def inspect_cmd(name: str, raw: bool, show_config: bool, os_: str | None, arch: str | None,
                variant: str | None, **kw: object) -> None:
    """Show an image's manifest, config, or a summary of both."""
    from ..transports import inspect as I

    plat = _platform(os_, arch, variant)
    with _open_source(name, _opts(kw, "")) as src:
        if raw and show_config:
            sys.stdout.buffer.write(I.config_bytes(src, plat))
        elif raw:
            sys.stdout.buffer.write(I.raw_manifest(src))
        elif show_config:
            import json

            click.echo(I.dumps(json.loads(I.config_bytes(src, plat))))
        else:
            name_, tags = None, None
            if name.startswith("docker://"):
                from ..transports.docker import list_tags

                name_ = src.ref.name  # type: ignore[attr-defined]
                tags = list_tags(name_, _opts(kw, ""))["Tags"]
            click.echo(I.dumps(I.summary(src, plat, name=name_, tags=tags)))


@image.command("list-tags")
@click.argument("name")
@registry_options()
@common_registry_options
def list_tags_cmd(name: str, **kw: object) -> None:
    """List the tags of a repository (docker://REGISTRY/NAME)."""
    from ..transports import inspect as I
    from ..transports.docker import list_tags

    if not name.startswith("docker://"):
        from ..errors import InvalidArgument

        raise InvalidArgument(f"{name}: list-tags takes a docker:// repository")
    click.echo(I.dumps(list_tags(name[len("docker://"):], _opts(kw, ""))))


@image.command("delete")
@click.argument("name")
@registry_options()
@common_registry_options
def delete_cmd(name: str, **kw: object) -> None:
    """Delete an image's manifest from a registry (docker://REGISTRY/NAME:TAG)."""
    from ..transports.docker import delete

    if not name.startswith("docker://"):
        from ..errors import InvalidArgument

        raise InvalidArgument(f"{name}: delete takes a docker:// image")
    delete(name[len("docker://"):], _opts(kw, ""))


@image.command("manifest-digest")
@click.argument("manifest_file", type=click.Path(exists=True, dir_okay=False))
def manifest_digest_cmd(manifest_file: str) -> None:
    """Print the digest of a manifest file."""
    from ..oci.digest import of_bytes

    with open(manifest_file, "rb") as f:
        click.echo(of_bytes(f.read()))


@image.command("sync")
@click.argument("source")
@click.argument("destination")
@click.option("--src", "src_kind", required=True, type=click.Choice(["docker", "dir", "yaml"]),
              help="what SOURCE is")
@click.option("--dest", "dest_kind", required=True, type=click.Choice(["docker", "dir"]),
              help="what DESTINATION is")
@click.option("--scoped", is_flag=True, help="keep the source's full name under the destination")
@click.option("-a", "--all", "all_images", is_flag=True, help="copy every image of a list, and the list")
@click.option("-q", "--quiet", is_flag=True, help="print no progress")
@click.option("--dry-run", is_flag=True, help="list the copies without making them")
@registry_options("src-", "source")
@registry_options("dest-", "destination")
@common_registry_options
def sync_cmd(source: str, destination: str, src_kind: str, dest_kind: str, scoped: bool,
             all_images: bool, quiet: bool, dry_run: bool, **kw: object) -> None:
    """Copy many images: a repository's tags, a dir: tree or a YAML list."""
    from ..transports import sync
    from ..transports.copy import CopyOptions
    from .progress import session

    jobs = sync.plan(src_kind, source, dest_kind, destination, _opts(kw, "src-"), scoped)  # type: ignore[arg-type]
    if dry_run:
        for j in jobs:
            click.echo(f"{j.source} -> {j.dest}")
        return
    say = None if quiet else (lambda text: click.echo(text, err=True))
    with session(quiet) as progress:
        n = sync.run(jobs, _opts(kw, "dest-"), CopyOptions(all_images=all_images, progress=progress), say)  # type: ignore[arg-type]
    if not quiet:
        click.echo(f"Synced {n} image(s)", err=True)


COMMANDS = [image]
