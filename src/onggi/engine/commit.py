"""``commit``: a new image from a container: its image's layers plus one layer made of
the container's changes (:func:`onggi.image.diff.write_layer`), a config carrying the
container's run settings, ``--change`` instructions, an author and a history entry."""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import InvalidArgument
from ..oci import mediatypes as MT
from .paths import Paths
from .state import RUNNING, StateDB

__all__ = ["CommitOptions", "commit"]

_TYPES = {  # format -> (manifest, config, {compression: layer media type})
    "oci": (MT.OCI_MANIFEST, MT.OCI_CONFIG,
            {"gzip": MT.OCI_LAYER_GZIP, "none": MT.OCI_LAYER, "zstd": MT.OCI_LAYER_ZSTD}),
    "docker": (MT.DOCKER_MANIFEST, MT.DOCKER_CONFIG,
               {"gzip": MT.DOCKER_LAYER_GZIP, "none": MT.DOCKER_LAYER, "zstd": MT.DOCKER_LAYER_ZSTD}),
}


@dataclass
class CommitOptions:
    author: str = ""
    message: str = ""
    changes: list[str] = field(default_factory=list)
    format: str = "oci"
    pause: bool = False


class _HashingGzip:
    """A write-only sink: hashes what it is given (the diff ID) and gzips it to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        from ..image.compression import open_writer

        self.sha = hashlib.sha256()
        self.gz = open_writer(out, "gzip")

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.gz.write(bytes(data))
        return len(data)

    def close(self) -> None:
        self.gz.close()


def _run_settings(rec_options: dict[str, Any], cfg: dict[str, Any]) -> None:
    """What ``run`` set explicitly for the container, onto the image config's ``config``."""
    from .options import RunOptions

    opts = RunOptions.from_json(rec_options)
    if opts.command:
        cfg["Cmd"] = list(opts.command)
    if opts.entrypoint is not None:
        cfg["Entrypoint"] = list(opts.entrypoint) or None
    env = list(cfg.get("Env") or [])
    for kv in opts.env:
        if "=" in kv:
            key = kv.split("=", 1)[0]
            env = [e for e in env if not e.startswith(key + "=")] + [kv]
    if env:
        cfg["Env"] = env
    if opts.workdir:
        cfg["WorkingDir"] = opts.workdir
    if opts.user:
        cfg["User"] = opts.user


def _name(reference: str) -> str:
    from ..oci import reference as R

    try:
        ref = R.parse(reference)
        if not ref.qualified:
            ref = R.parse(f"localhost/{reference}")
    except InvalidArgument as e:
        raise InvalidArgument(f"commit: bad image name {reference!r}: {e}") from None
    return str(ref)


def commit(paths: Paths, db: StateDB, ref: str, image: str | None, options: CommitOptions) -> str:
    """Commit container ``ref`` as a new image (named ``image`` when given); returns the
    new image's id (its config digest)."""
    from ..image.diff import write_layer
    from ..image.store_refs import load_json, manifest_parts
    from ..image.imports import apply_changes
    from ..oci import image as I
    from .diff import layer_dirs
    from .lifecycle import lookup, pause, unpause
    from .prepare import store

    if options.format not in _TYPES:
        raise InvalidArgument(f"--format {options.format!r}: expected oci or docker")
    name = _name(image) if image else None
    rec = lookup(paths, db, ref)
    s = store(paths)
    base = s.get(rec.image_id)
    config_ref, layer_refs = manifest_parts(s.blobs, base.manifest)
    config = copy.deepcopy(load_json(s.blobs, config_ref.digest, "config"))
    cfg = dict(config.get("config") or {})
    _run_settings(rec.options, cfg)
    apply_changes(cfg, options.changes)
    upper, _ = layer_dirs(paths, rec.id)
    manifest_type, config_type, layer_types = _TYPES[options.format]

    paused = False
    if options.pause and rec.state == RUNNING:
        pause(paths, db, rec.id)
        paused = True
    try:
        with tempfile.TemporaryFile(dir=s.root) as tmp:
            sink = _HashingGzip(tmp)
            write_layer(upper, sink)  # type: ignore[arg-type]
            sink.close()
            size = tmp.tell()
            tmp.seek(0)
            with s.lease() as lease:
                digest = s.blobs.ingest(tmp, None, None, lease=lease)
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                config["config"] = cfg
                config["created"] = now
                if options.author:
                    config["author"] = options.author
                rootfs = dict(config.get("rootfs") or {"type": "layers"})
                rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + [f"sha256:{sink.sha.hexdigest()}"]
                config["rootfs"] = rootfs
                entry: dict[str, Any] = {"created": now,
                                         "created_by": " ".join(rec.config.get("args") or [])}
                if options.author:
                    entry["author"] = options.author
                if options.message:
                    entry["comment"] = options.message
                config["history"] = list(config.get("history") or []) + [entry]
                raw_config = json.dumps(config, separators=(",", ":")).encode()
                cdigest = s.blobs.put(raw_config, lease=lease)
                layers = [I.Descriptor.new(layer_types[MT.LAYERS.get(r.media_type, "gzip")], r.digest, r.size)
                          for r in layer_refs]
                layers.append(I.Descriptor.new(layer_types["gzip"], digest, size))
                manifest = I.Manifest.new(I.Descriptor.new(config_type, cdigest, len(raw_config)), layers,
                                          docker=manifest_type == MT.DOCKER_MANIFEST)
                mdigest = s.blobs.put(I.serialize(manifest), lease=lease)
                new = s.commit_image(mdigest, [name] if name else [])
    finally:
        if paused:
            unpause(paths, db, rec.id)
    s.unpack(new.id)
    return str(new.id)
