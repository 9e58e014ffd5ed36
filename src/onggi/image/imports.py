"""``onggi import``: an image of one layer made from a tarball of a root filesystem (as
``podman import``), with ``--change`` instructions applied to its config."""

from __future__ import annotations

import hashlib
import json
import shlex
import tempfile
import time

from ..errors import InvalidArgument
from ..oci import image as I
from ..oci import mediatypes as MT
from ..oci import platform as P
from .compression import open_reader, open_writer
from .store import Image, ImageStore

_CHUNK = 1 << 20


def apply_changes(config: dict, changes: list[str]) -> None:
    """Dockerfile-style ``--change`` lines onto an image config's ``config`` object."""
    for line in changes:
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if not rest:
            raise InvalidArgument(f"--change {line!r}: expected INSTRUCTION VALUE")
        if word in ("CMD", "ENTRYPOINT"):
            if rest.startswith("["):
                try:
                    value = json.loads(rest)
                except ValueError as e:
                    raise InvalidArgument(f"--change {line!r}: bad JSON array: {e}") from None
            else:
                value = ["/bin/sh", "-c", rest]
            config["Cmd" if word == "CMD" else "Entrypoint"] = value
        elif word == "ENV":
            for kv in shlex.split(rest):
                if "=" not in kv:
                    raise InvalidArgument(f"--change {line!r}: expected ENV KEY=VALUE")
                key = kv.split("=", 1)[0]
                env = [e for e in config.get("Env") or [] if not e.startswith(key + "=")]
                config["Env"] = env + [kv]
        elif word == "LABEL":
            for kv in shlex.split(rest):
                k, sep, v = kv.partition("=")
                if not sep:
                    raise InvalidArgument(f"--change {line!r}: expected LABEL KEY=VALUE")
                config.setdefault("Labels", {})[k] = v
        elif word == "EXPOSE":
            for port in rest.split():
                config.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        elif word == "WORKDIR":
            config["WorkingDir"] = rest
        elif word == "USER":
            config["User"] = rest
        elif word == "STOPSIGNAL":
            config["StopSignal"] = rest
        elif word == "VOLUME":
            vols = json.loads(rest) if rest.startswith("[") else rest.split()
            for v in vols:
                config.setdefault("Volumes", {})[v] = {}
        else:
            raise InvalidArgument(f"--change {line!r}: unsupported instruction {word!r} (CMD, ENTRYPOINT, "
                                  f"ENV, LABEL, EXPOSE, WORKDIR, USER, STOPSIGNAL, VOLUME)")


def import_tarball(store: ImageStore, tarball: str, reference: str | None, changes: list[str],
                   message: str = "") -> Image:
    cfg: dict = {}
    apply_changes(cfg, changes)
    diff = hashlib.sha256()
    with open(tarball, "rb") as src, tempfile.TemporaryFile() as gz:
        plain = open_reader(src, "auto", what=f"import {tarball}")
        w = open_writer(gz, "gzip")
        while b := plain.read(_CHUNK):
            diff.update(b)
            w.write(b)
        w.close()
        size = gz.tell()
        gz.seek(0)
        with store.lease() as lease:
            digest = store.blobs.ingest(gz, None, None, lease=lease)
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            host = P.host()
            config = {"created": now, "architecture": host.architecture, "os": host.os,
                      "config": cfg, "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff.hexdigest()}"]},
                      "history": [{"created": now, "created_by": f"/bin/sh -c #(nop) ADD file:{tarball} in /",
                                   "comment": message}]}
            if host.variant:
                config["variant"] = host.variant
            raw_config = json.dumps(config, separators=(",", ":")).encode()
            cdigest = store.blobs.put(raw_config, lease=lease)
            manifest = I.Manifest.new(I.Descriptor.new(MT.OCI_CONFIG, cdigest, len(raw_config)),
                                      [I.Descriptor.new(MT.OCI_LAYER_GZIP, digest, size)])
            raw = I.serialize(manifest)
            mdigest = store.blobs.put(raw, lease=lease)
            # unpacked before the image is named: a tarball that is not one leaves no image
            try:
                store.snapshots.unpack(None, f"sha256:{diff.hexdigest()}",
                                       lambda: store.blobs.open(digest, size), compression="gzip", lease=lease)
            except InvalidArgument as e:
                raise InvalidArgument(f"import {tarball}: not a root filesystem tarball: {e}") from None
            names = [str(_name(reference))] if reference else []
            return store.commit_image(mdigest, names)


def _name(reference: str) -> object:
    from ..oci import reference as R

    ref = R.parse(reference)
    return ref if ref.qualified else R.parse(f"localhost/{reference}")
