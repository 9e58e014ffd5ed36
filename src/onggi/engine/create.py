"""``create``: a container record, its container layer on the image and its dirs. The
rootfs is mounted, the network made and config.json written when it starts."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import time

from ..errors import InvalidArgument, NotFound, OnggiError
from .options import RunOptions
from .paths import Paths
from .state import CREATED, Record, StateDB

__all__ = ["create", "resolve_image", "random_name"]

_ADJ = ("amber", "bold", "brave", "calm", "clever", "cool", "crisp", "eager", "fair", "gentle",
        "glad", "happy", "keen", "kind", "lively", "lucid", "merry", "mellow", "nimble", "noble",
        "proud", "quiet", "quick", "sharp", "shy", "steady", "sunny", "swift", "tidy", "warm", "wise",
        "witty", "zesty")
_NOUN = ("arch", "birch", "brook", "cedar", "cliff", "cloud", "comet", "crane", "delta", "dune",
         "ember", "fern", "fjord", "glade", "grove", "harbor", "heron", "island", "kiln", "lagoon",
         "maple", "meadow", "mesa", "onggi", "orchid", "pebble", "pine", "prairie", "reef", "ridge",
         "river", "sparrow", "spruce", "tundra", "valley", "willow")
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def random_name() -> str:
    return f"{random.choice(_ADJ)}_{random.choice(_NOUN)}"


def check_name(name: str) -> str:
    if not name or not name[0].isalnum() or not set(name) <= _NAME_OK:
        raise InvalidArgument(f"container name {name!r}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: "
                              f"invalid argument")
    return name


def resolve_image(paths: Paths, name: str, pull: str = "missing") -> tuple[str, str]:
    """(the name to show, the image id) for ``name`` in the local store, pulling it as
    the --pull policy says."""
    from .prepare import store

    if pull not in ("always", "missing", "never", "newer"):
        raise InvalidArgument(f"--pull {pull!r}: expected always, missing, never or newer")
    s = store(paths)
    image = None
    if pull != "always":
        try:
            image = _quick_resolve(s, name)
        except NotFound:
            if pull == "never":
                raise NotFound(f"{name}: image not known") from None
    if image is None:
        from ..image.commands import pull as do_pull

        image = do_pull(s, name)
    shown = name
    names = image.names
    if name not in names:
        from ..image.commands import normalise

        try:
            full = normalise(name)
        except OnggiError:
            full = name
        hit = [n for n in names if n == full or n.endswith("/" + name) or n.endswith("/" + name + ":latest")]
        shown = hit[0] if hit else (names[0] if names and not name.startswith(("sha256:",)) and
                                     not all(c in "0123456789abcdef" for c in name) else name)
    return shown, str(image.id)


def _quick_resolve(s, name: str):  # noqa: ANN001, ANN202
    """The store's own lookup, then a short name's unique match (``busybox`` ->
    ``localhost/busybox:latest``) without loading the pull machinery; the full resolver
    (normalised names) only when those miss."""
    try:
        return s.get(name)
    except NotFound:
        pass
    if "/" not in name and "@" not in name:
        want = name if ":" in name else name + ":latest"
        hits = sorted({n for n in s.names() if n.endswith("/" + want)})
        if len(hits) == 1:
            return s.get(hits[0])
    from ..image.commands import resolve

    return resolve(s, name)


def create(paths: Paths, opts: RunOptions, db: StateDB | None = None) -> Record:
    """Make container ``opts.name`` (a random name when None) from ``opts.image``."""
    own = db is None
    db = db or StateDB(paths.db)
    try:
        if opts.name is not None:
            check_name(opts.name)
        image_name, image_id = resolve_image(paths, opts.image, opts.pull)
        if opts.restart.partition(":")[0] not in ("no", "always", "on-failure", "unless-stopped"):
            raise InvalidArgument(f"--restart {opts.restart!r}: expected no, on-failure[:max-retries], "
                                  f"always or unless-stopped")
        if opts.rm and opts.restart not in ("no", ""):
            raise InvalidArgument("the --rm option conflicts with --restart, when the restartPolicy is not \"\" "
                                  "and \"no\"")
        if opts.runtime not in (None, "", "onggi", "onggi-runtime"):
            from .runtimes import External

            External(opts.runtime, paths.runtime_root)  # NotFound now, not at start
        if opts.pod or opts.network.startswith("container:"):
            from .pod_join import check_create

            check_create(paths, db, opts)  # the pod exists (opts.pod becomes its id), flags fit
        _named_volumes(paths, opts)
        cid = secrets.token_hex(32)
        name = opts.name
        if name is None:
            for _ in range(20):
                name = random_name()
                if db.find_exact(name) is None:
                    break
            else:
                name = f"{random_name()}_{cid[:6]}"
        opts.name = name
        rec = Record(id=cid, name=name, image=image_name, image_id=image_id, state=CREATED,
                     created=time.time(), options=opts.to_json(), labels=dict(opts.labels))
        db.add(rec)  # the name is claimed here (unique in the database)
        try:
            from .prepare import store

            os.makedirs(paths.container_dir(cid), 0o700)
            store(paths).create_container(cid, image_id)
        except BaseException:
            shutil.rmtree(paths.container_dir(cid), ignore_errors=True)
            db.remove(cid)
            raise
        return rec
    finally:
        if own:
            db.close()


def _named_volumes(paths: Paths, opts: RunOptions) -> None:
    """Check -v/--mount now and make the named volumes they use, as podman does at create
    (anonymous ones are made when the container first starts, with its rootfs at hand)."""
    from . import volumes
    from .mount_parse import parse_mount, parse_volume

    for req in [parse_volume(v) for v in opts.volumes] + [parse_mount(m) for m in opts.mounts]:
        if req.kind == "volume" and req.source:
            if not volumes.valid_name(req.source):
                raise InvalidArgument(f"{req.flag}: volume name {req.source!r}: names must match "
                                      f"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
            volumes.create(paths, req.source, req.volume_labels, req.volume_options, ignore_existing=True)
