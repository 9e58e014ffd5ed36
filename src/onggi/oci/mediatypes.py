"""Media types of the OCI image spec (v1.1) and of Docker's image manifest v2 schema 2,
kept exactly as written on the wire. Pure data."""

from __future__ import annotations

# OCI image spec
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

# Docker image manifest v2 schema 2 (and its manifest list)
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"  # uncompressed
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# schema 1 is deprecated and refused, but named so the error can say so
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEXES = frozenset((OCI_INDEX, DOCKER_MANIFEST_LIST))
MANIFESTS = frozenset((OCI_MANIFEST, DOCKER_MANIFEST))
CONFIGS = frozenset((OCI_CONFIG, DOCKER_CONFIG))

# layer media type -> compression ("gzip", "zstd" or "none")
LAYERS = {
    OCI_LAYER: "none", OCI_LAYER_GZIP: "gzip", OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "none", OCI_LAYER_NONDIST_GZIP: "gzip", OCI_LAYER_NONDIST_ZSTD: "zstd",
    DOCKER_LAYER: "none", DOCKER_LAYER_GZIP: "gzip", DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_LAYER_FOREIGN: "none", DOCKER_LAYER_FOREIGN_GZIP: "gzip",
}

# the Accept header a client sends for manifests: everything it can read
MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)


def layer_type(compression: str, docker: bool = False) -> str:
    """The layer media type for a compression ("gzip", "zstd", "none") in an OCI or a
    Docker manifest. zstd in a Docker manifest is refused, as skopeo does (Docker's own
    zstd type is not in its manifest spec)."""
    if docker:
        if compression == "zstd":
            from ..errors import Unsupported

            raise Unsupported("zstd layers cannot be written in a Docker v2 schema 2 manifest: "
                              "use gzip, or an OCI destination")
        return {"gzip": DOCKER_LAYER_GZIP, "none": DOCKER_LAYER}[compression]
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}[compression]
