"""The local image store: blobs, image records with their names, snapshots and container
layers under one root (the embedded default that the engine and the image commands use).

On disk, under ``ROOT`` (see :mod:`.blobs` and :mod:`.snapshots` for the rest)::

    lock           the store lock (flock): image db writes, container records, GC
    images.json    the image db (below), replaced atomically (temp file, fsync, rename)
    leases/<id>    live leases (see :class:`~onggi.image.locks.Lease`)

The image db is one small JSON document, chosen over a file per name so that a tag that
moves a name from one image to another, or an ``rmi`` that drops names and an image
together, is one atomic rename; readers never lock (they see the old or the new file)::

    {"version": 1,
     "names":  {"<name>": {"image": "<image id>", "digest": "<top-level digest>"}},
     "images": {"<image id>": {"manifest": "<manifest digest>",
                               "digests": ["<index or manifest digest>", ...],
                               "chain": "<top chain ID>" | null, "created": <unix time>}}}

An image's id is its config's digest; ``manifest`` is the image manifest (the platform's
one when the image came through an index); a name maps to the top-level digest it was
stored under (an index or that manifest). Names are stored as given: normalising them is
the reference parser's job. Removing an image record does not delete content: the garbage
collector (:meth:`ImageStore.gc`) removes what no name, image, container or lease reaches.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from ..oci import mediatypes as mt
from ..oci.digest import Digest, parse
from .blobs import BlobReader, BlobStore
from .locks import FileLock, Lease, atomic_write
from .snapshots import ApplyLayer, Mount, Snapshotter
from .store_refs import (Ref, children, diff_ids, image_chain, kind_of, load_json,
                         manifest_parts)

if TYPE_CHECKING:
    from .check import CheckReport
    from .gc import GCReport

__all__ = ["ImageStore", "Image", "RemoveResult"]

DB_VERSION = 1


@dataclass(frozen=True)
class Image:
    id: Digest                    # the config digest
    names: tuple[str, ...]
    manifest: Digest              # the image manifest
    digests: tuple[Digest, ...]   # the top-level digests it was stored under, first first
    chain: Digest | None          # the chain ID of its layer stack (None: no layers)
    created: float                # when it was first stored here


@dataclass(frozen=True)
class RemoveResult:
    untagged: list[str]
    deleted: list[Digest]


def _check_name(name: str) -> str:
    if (not isinstance(name, str) or not 0 < len(name) <= 512 or not name.isprintable()
            or any(c.isspace() for c in name) or name.startswith(("sha256:", "sha512:"))):
        raise InvalidArgument(f"image name {name!r}: expected a reference string")
    return name


class ImageStore:
    """The store at ``root``; ``apply_layer`` (see :mod:`.snapshots`) unpacks layers."""

    def __init__(self, root: str, *, apply_layer: ApplyLayer | None = None) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self.blobs = BlobStore(self.root)
        self.snapshots = Snapshotter(self.root, apply_layer)
        self.db_path = os.path.join(self.root, "images.json")
        self.leases_dir = os.path.join(self.root, "leases")
        os.makedirs(self.leases_dir, exist_ok=True)

    def lock(self) -> FileLock:
        """The store lock (not re-entrant: take it once per thread)."""
        return FileLock(os.path.join(self.root, "lock"))

    def lease(self) -> Lease:
        """A new lease: what is added to it survives garbage collection until it closes."""
        return Lease(self.leases_dir)

    # ---- the image db -------------------------------------------------------------------

    def _load(self) -> dict:
        try:
            with open(self.db_path, "rb") as f:
                db = json.load(f)
        except FileNotFoundError:
            return {"version": DB_VERSION, "names": {}, "images": {}}
        except ValueError as e:
            raise FailedPrecondition(f"{self.db_path}: unreadable image db: {e}") from e
        if not isinstance(db, dict) or db.get("version") != DB_VERSION:
            raise FailedPrecondition(f"{self.db_path}: unknown image db version")
        return db

    def _save(self, db: dict) -> None:
        atomic_write(self.db_path, json.dumps(db, indent=1, sort_keys=True).encode())

    @staticmethod
    def _image(db: dict, image_id: str) -> Image:
        rec = db["images"][image_id]
        names = tuple(sorted(n for n, v in db["names"].items() if v["image"] == image_id))
        return Image(Digest(image_id), names, Digest(rec["manifest"]),
                     tuple(Digest(d) for d in rec["digests"]),
                     Digest(rec["chain"]) if rec.get("chain") else None, float(rec["created"]))

    def images(self) -> list[Image]:
        db = self._load()
        return sorted((self._image(db, i) for i in db["images"]), key=lambda im: im.created)

    def names(self) -> dict[str, tuple[Digest, Digest]]:
        """Every name -> (image id, the top-level digest the name was stored with)."""
        return {n: (Digest(v["image"]), Digest(v["digest"])) for n, v in self._load()["names"].items()}

    def get(self, ref: str) -> Image:
        """An image by name, id, any of its digests, or a unique id prefix (4+ hex)."""
        return self._image(*self._find(self._load(), ref))

    @staticmethod
    def _find(db: dict, ref: str) -> tuple[dict, str]:
        if ref in db["names"]:
            return db, db["names"][ref]["image"]
        if ref in db["images"]:
            return db, ref
        hits = [i for i, rec in db["images"].items() if ref in rec["digests"] or ref == rec["manifest"]]
        if not hits:
            prefix = ref.split(":", 1)[1] if ref.startswith("sha256:") else ref
            if len(prefix) >= 4 and all(c in "0123456789abcdef" for c in prefix):
                hits = [i for i in db["images"] if i.startswith("sha256:" + prefix)]
        if len(hits) > 1:
            raise Conflict(f"image {ref!r} is ambiguous: {len(hits)} images match")
        if not hits:
            raise NotFound(f"image {ref!r} is not in the store")
        return db, hits[0]

    def commit_image(self, digest: str, names: tuple[str, ...] | list[str] = (), *,
                     manifest: str | None = None) -> Image:
        """Record the image stored under ``digest`` (an image manifest, or an index with
        ``manifest`` naming the chosen child) and point ``names`` at it (a name on another
        image moves). Its manifest, config and layers must all be in the blob store."""
        d = parse(digest)
        for n in names:
            _check_name(n)
        doc = load_json(self.blobs, d, "manifest")
        if kind_of(doc) == "index":
            if manifest is None:
                raise InvalidArgument(f"{d} is an index: say which of its manifests is the image")
            m = parse(manifest, "manifest")
            if m not in {r.digest for r in children(doc, f"index {d}")}:
                raise InvalidArgument(f"manifest {m} is not in index {d}")
        elif kind_of(doc) == "manifest":
            if manifest is not None and manifest != d:
                raise InvalidArgument(f"{d} is an image manifest, not an index holding {manifest}")
            m = d
        else:
            raise InvalidArgument(f"{d}: neither an image manifest nor an index "
                                  f"(mediaType {doc.get('mediaType')!r})")
        config, layers = manifest_parts(self.blobs, m)
        absent = [r.digest for r in [config, *layers] if not self.blobs.exists(r.digest)]
        if absent:
            raise FailedPrecondition(f"image {m}: blobs not in the store: {', '.join(absent)}")
        chains = image_chain(self.blobs, m)
        image_id = config.digest
        with self.lock():
            db = self._load()
            rec = db["images"].setdefault(image_id, {"manifest": m, "digests": [],
                                                     "chain": chains[-1] if chains else None,
                                                     "created": time.time()})
            rec["manifest"] = m
            for x in (d, m):
                if x not in rec["digests"]:
                    rec["digests"].append(x)
            for n in names:
                db["names"][n] = {"image": image_id, "digest": d}
            self._save(db)
            return self._image(db, image_id)

    def tag(self, ref: str, name: str) -> Image:
        """Point ``name`` at the image ``ref`` names (moving it from another image)."""
        _check_name(name)
        with self.lock():
            db, image_id = self._find(self._load(), ref)
            top = (db["names"][ref]["digest"] if ref in db["names"]
                   else db["images"][image_id]["digests"][0])
            db["names"][name] = {"image": image_id, "digest": top}
            self._save(db)
            return self._image(db, image_id)

    def untag(self, name: str) -> Image:
        """Remove a name; the image stays (without names it is dangling)."""
        with self.lock():
            db = self._load()
            if name not in db["names"]:
                raise NotFound(f"image name {name!r} is not in the store")
            image_id = db["names"].pop(name)["image"]
            self._save(db)
            return self._image(db, image_id)

    def remove(self, ref: str, *, force: bool = False) -> RemoveResult:
        """``rmi``: by name, drop that name, and the image too when no name is left and no
        container uses it; by id or digest, drop the image and its names (``Conflict``
        without ``force`` when it has several names or containers use it)."""
        with self.lock():
            db, image_id = self._find(self._load(), ref)
            names = sorted(n for n, v in db["names"].items() if v["image"] == image_id)
            users = [c.id for c in self.snapshots.containers() if c.image == image_id]
            if ref in db["names"]:
                del db["names"][ref]
                untagged = [ref]
                names.remove(ref)
                drop = not names and not users
            else:
                if not force and len(names) > 1:
                    raise Conflict(f"image {image_id} has several names ({', '.join(names)}): "
                                   f"remove them one by one, or force")
                if not force and users:
                    raise Conflict(f"image {image_id} is used by container(s) {', '.join(users)}")
                for n in names:
                    del db["names"][n]
                untagged, drop = names, True
            if drop:
                del db["images"][image_id]
            self._save(db)
        return RemoveResult(untagged, [Digest(image_id)] if drop else [])

    # ---- snapshots and containers -------------------------------------------------------

    def unpack(self, ref: str, *, lease: Lease | None = None) -> Digest | None:
        """Unpack the image's layers (each once, reusing existing snapshots); returns its
        top chain ID (None for an image of no layers). Snapshots made before the image
        record exists are protected by ``lease`` (a temporary one when None)."""
        image = self.get(ref)
        config, layers = manifest_parts(self.blobs, image.manifest)
        ids = diff_ids(self.blobs, config.digest)
        if len(ids) != len(layers):
            raise InvalidArgument(f"image {image.id}: {len(layers)} layers, {len(ids)} diff IDs")
        own = lease is None
        lease = lease or self.lease()
        try:
            parent: Digest | None = None
            for layer, diff_id in zip(layers, ids):
                def open_layer(layer: Ref = layer) -> BlobReader:
                    return self.blobs.open(layer.digest, layer.size)
                info = self.snapshots.unpack(parent, diff_id, open_layer,
                                             compression=mt.LAYERS.get(layer.media_type, "auto"),
                                             lease=lease)
                parent = info.chain_id
            return parent
        finally:
            if own:
                lease.close()

    def create_container(self, key: str, ref: str | None, *, readonly: bool = False) -> list[Mount]:
        """A container layer on image ``ref`` (unpacked first when needed; None: on no
        layers); returns its mounts (see :meth:`Snapshotter.prepare`)."""
        if ref is None:
            return self.snapshots.prepare(key, None, readonly=readonly)
        image = self.get(ref)
        with self.lease() as lease:
            chain = self.unpack(image.id, lease=lease)
            return self.snapshots.prepare(key, chain, readonly=readonly, image=image.id)

    # ---- maintenance --------------------------------------------------------------------

    def gc(self, *, ingest_grace: float = 3600.0, min_age: float = 0.0, dry_run: bool = False,
           timeout: float | None = None) -> "GCReport":
        """Collect garbage (see :func:`onggi.image.gc.collect`)."""
        from .gc import collect

        return collect(self, ingest_grace=ingest_grace, min_age=min_age, dry_run=dry_run,
                       timeout=timeout)

    def check(self, *, repair: bool = False, verify_blobs: bool = True) -> "CheckReport":
        """Verify the store (see :func:`onggi.image.check.check`)."""
        from .check import check

        return check(self, repair=repair, verify_blobs=verify_blobs)
