"""Image transports, registered in one place, and the parsing of skopeo-style image
names ``TRANSPORT:REFERENCE`` (``docker://busybox``, ``oci:/srv/layout:v1``, ``dir:/tmp/x``).

Each transport is loaded only when used. Higher layers (the local image store) add
their own with :func:`register`.
"""

from __future__ import annotations

from ..errors import InvalidArgument
from .base import Descriptor, ImageDestination, ImageSource, Transport

__all__ = ["Descriptor", "ImageDestination", "ImageSource", "Transport", "get", "parse", "register", "names"]

# name -> "module:Class" (loaded lazily) or a Transport instance
_REGISTRY: dict[str, object] = {
    "docker": "onggi.transports.docker:DockerTransport",
    "dir": "onggi.transports.dirlayout:DirTransport",
    "oci": "onggi.transports.ocilayout:OCITransport",
    "oci-archive": "onggi.transports.ociarchive:OCIArchiveTransport",
    "docker-archive": "onggi.transports.dockerarchive:DockerArchiveTransport",
}


def register(name: str, transport: object) -> None:
    """Add a transport: a :class:`Transport` instance or a ``"module:Class"`` string."""
    _REGISTRY[name] = transport


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Transport:
    t = _REGISTRY.get(name)
    if t is None:
        raise InvalidArgument(f"unknown transport {name!r} (known: {', '.join(names())})")
    if isinstance(t, str):
        import importlib

        mod, _, cls = t.partition(":")
        t = getattr(importlib.import_module(mod), cls)()
        _REGISTRY[name] = t
    return t  # type: ignore[return-value]


def parse(image: str) -> tuple[Transport, str]:
    """``TRANSPORT:REF`` -> (transport, REF). ``docker://NAME`` keeps skopeo's spelling:
    the reference after ``//``."""
    name, sep, ref = image.partition(":")
    if not sep or not name:
        raise InvalidArgument(f"invalid image name {image!r}: expected TRANSPORT:REFERENCE "
                              f"(transports: {', '.join(names())})")
    t = get(name)
    if name == "docker":
        if not ref.startswith("//"):
            raise InvalidArgument(f"invalid image name {image!r}: docker references start with "
                                  f"docker:// (docker://REGISTRY/NAME:TAG)")
        ref = ref[2:]
    t.validate(ref)
    return t, ref
