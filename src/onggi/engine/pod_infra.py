"""The pod's infra container image. podman runs ``catatonit -P`` from a pause image
(k8s.gcr.io/pause, or one it builds as localhost/podman-pause); onggi has no network to
pull one, so it builds ``localhost/onggi-pause:latest`` on first use: a single layer
holding the host's static catatonit at /catatonit (entrypoint ``/catatonit -P``) and the
empty directories the runtime mounts over. ``pod create --infra-image`` picks another
image, ``--infra-command`` another command."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile

from ..errors import NotFound
from .paths import Paths

__all__ = ["INFRA_IMAGE", "INFRA_COMMAND", "ensure_infra_image", "catatonit_path"]

INFRA_IMAGE = "localhost/onggi-pause:latest"
INFRA_COMMAND = ["/catatonit", "-P"]
_CANDIDATES = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/libexec/catatonit/catatonit")


def catatonit_path() -> str:
    for p in _CANDIDATES:
        if os.path.exists(p):
            return os.path.realpath(p)
    found = shutil.which("catatonit")
    if found:
        return os.path.realpath(found)
    raise NotFound("pod infra container: catatonit is not installed (apt-get install catatonit), or give "
                   "--infra-image / --no-infra")


def _layer(path: str, catatonit: str) -> None:
    with tarfile.open(path, "w") as tar:
        for d in ("dev", "proc", "sys", "etc", "run", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755 if d != "tmp" else 0o1777
            tar.addfile(info)
        for f in ("etc/hosts", "etc/resolv.conf", "etc/hostname"):  # bind-mount targets
            info = tarfile.TarInfo(f)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(b""))
        tar.add(catatonit, "catatonit", recursive=False,
                filter=lambda i: _owned_by_root(i, 0o755))


def _owned_by_root(info: tarfile.TarInfo, mode: int) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = mode
    return info


def ensure_infra_image(paths: Paths) -> str:
    """The default infra image's name, built into the store if it is not there yet."""
    from ..image.imports import import_tarball
    from .prepare import store

    s = store(paths)
    try:
        s.get(INFRA_IMAGE)
        return INFRA_IMAGE
    except NotFound:
        pass
    catatonit = catatonit_path()
    with tempfile.TemporaryDirectory(prefix="onggi-pause-") as tmp:
        layer = os.path.join(tmp, "layer.tar")
        _layer(layer, catatonit)
        import_tarball(s, layer, INFRA_IMAGE, ['ENTRYPOINT ["/catatonit", "-P"]'],
                       message="onggi pod infra image (catatonit)")
    return INFRA_IMAGE
