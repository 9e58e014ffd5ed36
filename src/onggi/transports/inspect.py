"""What ``onggi image inspect`` shows of an image in any transport: the raw manifest,
the config, or skopeo's summary (digest, tags, created, platform, labels, layers, env)."""

from __future__ import annotations

import json

from ..oci.digest import Verifier, of_bytes
from . import manifests as M
from .base import ImageSource


def raw_manifest(src: ImageSource) -> bytes:
    """The top-level manifest or index, exactly as stored."""
    return src.get_manifest()[0]


def _image_manifest(src: ImageSource, platform: object) -> tuple[bytes, str, str]:
    """(raw, media type, digest of the top-level document) of the image for ``platform``
    (the top-level document itself when it is not an index)."""
    raw, mt = src.get_manifest()
    top = of_bytes(raw)
    if M.is_index(mt):
        from .copy import choose_instance

        chosen = choose_instance(M.instances_of(raw, f"{src.reference}: index"), platform, src.reference)
        raw, mt = src.get_manifest(chosen.digest)
    return raw, mt, top


def config_bytes(src: ImageSource, platform: object = None) -> bytes:
    raw, _, _ = _image_manifest(src, platform)
    config, _ = M.blobs_of(raw, f"{src.reference}: manifest")
    stream = src.get_blob(config)
    try:
        data = stream.read()
    finally:
        stream.close()
    v = Verifier(config.digest, config.size, f"{src.reference}: config {config.digest}")
    v.update(data)
    v.finish()
    return data


def summary(src: ImageSource, platform: object = None, name: str | None = None,
            tags: list[str] | None = None) -> dict:
    """skopeo inspect's document."""
    raw, _, top = _image_manifest(src, platform)
    _, layers = M.blobs_of(raw, f"{src.reference}: manifest")
    cfg = M.load(config_bytes(src, platform), f"{src.reference}: config")
    inner = cfg.get("config") or {}
    out: dict = {}
    if name is not None:
        out["Name"] = name
    out.update({
        "Digest": top,
        "RepoTags": tags or [],
        "Created": cfg.get("created"),
        "DockerVersion": cfg.get("docker_version", ""),
        "Labels": inner.get("Labels"),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Layers": [d.digest for d in layers],
        "LayersData": [{"MIMEType": d.media_type, "Digest": d.digest, "Size": d.size,
                        "Annotations": d.annotations} for d in layers],
        "Env": inner.get("Env"),
    })
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    return out


def dumps(doc: object) -> str:
    """Indented JSON as skopeo prints it (4 spaces, no HTML escaping)."""
    return json.dumps(doc, indent=4, ensure_ascii=False)
