"""podman's image commands on the local store: pull, push, images, rmi, tag, inspect,
history, save, load. Same flag names, table columns and JSON shapes where they apply."""

from __future__ import annotations

import json

import click

from .image_commands import common_registry_options, platform_options, registry_options, _opts, _platform


def _store(root: str | None = None):  # noqa: ANN202
    from ..image.store_transport import open_store

    return open_store(root)


def human_size(n: int) -> str:
    """podman's sizes: decimal units, three significant digits (``4.27 MB``)."""
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            v = n / div
            return f"{v:.3g} {unit}"
    return f"{n} B"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n" for r in rows)


def _short(digest: str) -> str:
    return digest.partition(":")[2][:12]


@click.command("pull")
@click.argument("name")
@click.option("-q", "--quiet", is_flag=True, help="print only the image id")
@click.option("-a", "--all-tags", "all_images", is_flag=True, hidden=True)
@platform_options
@registry_options()
@common_registry_options
def pull_cmd(name: str, quiet: bool, all_images: bool, os_: str | None, arch: str | None,
             variant: str | None, **kw: object) -> None:
    """Pull an image from a registry into the local store and unpack it."""
    from ..image.commands import pull
    from .progress import session

    with session(quiet) as progress:
        image = pull(_store(), name.removeprefix("docker://"), _opts(kw, ""), progress,
                     platform=_platform(os_, arch, variant), registries_conf=kw.get("registries_conf"))  # type: ignore[arg-type]
    click.echo(image.id.partition(":")[2])


@click.command("push")
@click.argument("name")
@click.argument("destination", required=False)
@click.option("-q", "--quiet", is_flag=True, help="print no progress")
@click.option("--compression-format", type=click.Choice(["gzip", "zstd"]), help="compress layers with this")
@click.option("--digestfile", type=click.Path(dir_okay=False), help="write the pushed manifest's digest here")
@registry_options()
@common_registry_options
def push_cmd(name: str, destination: str | None, quiet: bool, compression_format: str | None,
             digestfile: str | None, **kw: object) -> None:
    """Push an image from the local store to a registry."""
    from ..image.commands import push, resolve
    from .progress import session, write_digestfile

    store = _store()
    image = resolve(store, name)
    src_name = name if name in store.names() else image.id
    if destination is None and src_name == image.id:
        from ..image.commands import normalise

        src_name = destination = normalise(name)
        if src_name not in store.names():
            src_name = image.id
    with session(quiet) as progress:
        digest = push(store, src_name, destination or name, _opts(kw, ""), progress, compression_format)
    write_digestfile(digestfile, digest)


@click.command("images")
@click.option("-q", "--quiet", is_flag=True, help="print only image ids")
@click.option("--no-trunc", is_flag=True, help="full image ids")
@click.option("--digests", is_flag=True, help="show digests")
@click.option("--format", "fmt", help="json, or table (the default)")
def images_cmd(quiet: bool, no_trunc: bool, digests: bool, fmt: str | None) -> None:
    """List the images in the local store."""
    from ..image.commands import ago, image_size
    from ..oci import reference as R

    store = _store()
    images = sorted(store.images(), key=lambda im: -im.created)
    if quiet:
        click.echo("".join(f"{(im.id if no_trunc else _short(im.id))}\n" for im in images), nl=False)
        return
    if fmt == "json":
        out = []
        for im in images:
            import datetime

            created = datetime.datetime.fromtimestamp(im.created, datetime.timezone.utc)
            out.append({"Id": im.id.partition(":")[2], "Digest": im.digests[0], "RepoTags": list(im.names),
                        "RepoDigests": [f"{R.parse(n).name}@{im.digests[0]}" for n in im.names],
                        "Size": image_size(store, im), "Created": int(im.created),
                        "CreatedAt": created.isoformat().replace("+00:00", "Z"), "Names": list(im.names)})
        click.echo(json.dumps(out, indent=4))
        return
    if fmt not in (None, "table"):
        from ..errors import InvalidArgument

        raise InvalidArgument(f"--format {fmt!r}: expected json or table")
    head = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    rows = [head]
    for im in images:
        names = [R.parse(n) for n in im.names] or [None]
        for ref in names:
            row = [ref.name if ref else "<none>", (ref.tag or "<none>") if ref else "<none>"]
            if digests:
                row.append(im.digests[0])
            row += [im.id.partition(":")[2] if no_trunc else _short(im.id), ago(im.created),
                    human_size(image_size(store, im))]
            rows.append(row)
    click.echo(table(rows), nl=False)


@click.command("rmi")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="remove the image even if it has several names")
def rmi_cmd(names: tuple[str, ...], force: bool) -> None:
    """Remove images (or names of images) from the local store."""
    from ..image.commands import resolve

    store = _store()
    for name in names:
        image = resolve(store, name)
        ref = name if name in store.names() else (_safe_norm(name) if _safe_norm(name) in store.names()
                                                  else image.id)
        result = store.remove(ref, force=force)
        for n in result.untagged:
            click.echo(f"Untagged: {n}")
        for d in result.deleted:
            click.echo(f"Deleted: {d.partition(':')[2]}")


def _safe_norm(name: str) -> str:
    from ..image.commands import normalise

    try:
        return normalise(name)
    except Exception:  # not a reference: an id or digest
        return name


@click.command("tag")
@click.argument("image")
@click.argument("targets", nargs=-1, required=True)
def tag_cmd(image: str, targets: tuple[str, ...]) -> None:
    """Add names to an image in the local store."""
    from ..image.commands import normalise, resolve

    store = _store()
    im = resolve(store, image)
    for t in targets:
        store.tag(im.id, normalise(t))


@click.command("history")
@click.argument("image")
@click.option("--no-trunc", is_flag=True, help="do not truncate ids and commands")
@click.option("--format", "fmt", help="json, or table (the default)")
def history_cmd(image: str, no_trunc: bool, fmt: str | None) -> None:
    """Show the history of an image."""
    from ..image.commands import ago, history, parse_time, resolve

    store = _store()
    rows = history(store, resolve(store, image))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=4))
        return
    out = [["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    for r in rows:
        ts = parse_time(r["created"])
        created = ago(ts) if ts is not None else r["created"]
        rid = r["id"] if r["id"] == "<missing>" or no_trunc else _short(r["id"])
        by = r["createdBy"] if no_trunc or len(r["createdBy"]) <= 45 else r["createdBy"][:42] + "..."
        out.append([rid, created, by, human_size(r["size"]), r["comment"]])
    click.echo(table(out), nl=False)


@click.command("save")
@click.argument("image")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=True), help="file (or directory) to write")
@click.option("--format", "fmt", default="docker-archive",
              type=click.Choice(["docker-archive", "oci-archive", "oci-dir", "docker-dir"]))
@click.option("-q", "--quiet", is_flag=True, help="print no progress")
def save_cmd(image: str, output: str, fmt: str, quiet: bool) -> None:
    """Save an image from the local store to an archive or directory."""
    from ..image.commands import resolve, save

    store = _store()
    im = resolve(store, image)
    name = image if image in store.names() else (_safe_norm(image) if _safe_norm(image) in store.names()
                                                 else im.id)
    save(store, name, output, fmt)


@click.command("load")
@click.option("-i", "--input", "archive", required=True, type=click.Path(exists=True, dir_okay=False),
              help="docker-archive or oci-archive file")
@click.option("-q", "--quiet", is_flag=True, help="print no progress")
def load_cmd(archive: str, quiet: bool) -> None:
    """Load images from a docker-archive or oci-archive into the local store."""
    from ..image.commands import load

    for name in load(_store(), archive):
        click.echo(f"Loaded image: {name}")


@click.command("inspect")
@click.argument("images", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", default="json", help="json (the default) or a Go template")
@click.option("-t", "--type", "typ", default="all", type=click.Choice(["all", "container", "image"]),
              help="what to inspect (default: containers, then images)")
def inspect_cmd(images: tuple[str, ...], fmt: str, typ: str) -> None:
    """Show details of containers or images (podman inspect)."""
    if typ in ("all", "container"):
        try:
            from .container_commands import inspect_containers, print_inspect
        except ImportError:
            inspect_containers = None  # type: ignore[assignment]
        docs = inspect_containers(images) if inspect_containers is not None else None
        if docs is not None:
            print_inspect(docs, fmt)
            return
        if typ == "container":
            from ..errors import NotFound

            raise NotFound(f"no such container {images[0]}")
    docs = image_inspect_docs(images)
    if fmt and fmt != "json":
        from .container_commands import print_inspect

        print_inspect(docs, fmt)
        return
    click.echo(json.dumps(docs, indent=4))


def image_inspect_docs(images: tuple[str, ...]) -> list[dict]:
    """podman image inspect's documents."""
    from ..image.commands import image_size, resolve
    from ..image.store_refs import manifest_parts
    from ..oci import reference as R

    store = _store()
    out = []
    for name in images:
        im = resolve(store, name)
        config, _ = manifest_parts(store.blobs, im.manifest)
        cfg = json.loads(store.blobs.read_bytes(config.digest))
        out.append({
            "Id": im.id.partition(":")[2], "Digest": im.digests[0], "RepoTags": list(im.names),
            "RepoDigests": [f"{R.parse(n).name}@{im.digests[0]}" for n in im.names],
            "Created": cfg.get("created"), "Config": cfg.get("config") or {},
            "Architecture": cfg.get("architecture", ""), "Os": cfg.get("os", ""),
            "Size": image_size(store, im),
            "RootFS": {"Type": "layers", "Layers": (cfg.get("rootfs") or {}).get("diff_ids") or []},
            "Labels": (cfg.get("config") or {}).get("Labels"), "Annotations": {},
            "ManifestType": json.loads(store.blobs.read_bytes(im.manifest)).get("mediaType", ""),
            "History": cfg.get("history") or [], "NamesHistory": list(im.names),
        })
    return out


COMMANDS = [pull_cmd, push_cmd, images_cmd, rmi_cmd, tag_cmd, history_cmd, save_cmd, load_cmd, inspect_cmd]
