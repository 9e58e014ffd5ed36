"""The one exception tree of onggi.

Every error raised on purpose by library code is an ``OnggiError`` of exactly one
category; each surface (CLI exit code, HTTP status, gRPC code) maps the category once,
at its own boundary::

    OnggiError
    ├── NotFound             a container, image, file, cgroup ... does not exist
    ├── AlreadyExists        an id or name is taken
    ├── InvalidArgument      bad input: config.json field, flag, reference
    ├── FailedPrecondition   the object is in the wrong state for the operation
    ├── Conflict             another operation holds the object
    ├── PermissionDenied     the kernel or policy refused
    ├── Unavailable          a peer or resource is (temporarily) unreachable
    └── Unsupported          this host or build cannot do what was asked

Messages name the id, path, field or digest involved. Library code never prints or
exits. This module imports nothing, so every layer (``oci/`` included) may use it.
"""

from __future__ import annotations

__all__ = [
    "OnggiError",
    "NotFound",
    "AlreadyExists",
    "InvalidArgument",
    "FailedPrecondition",
    "Conflict",
    "PermissionDenied",
    "Unavailable",
    "Unsupported",
]


class OnggiError(Exception):
    """Root of every deliberate onggi error."""

    category = "unknown"


class NotFound(OnggiError):
    category = "not-found"


class AlreadyExists(OnggiError):
    category = "already-exists"


class InvalidArgument(OnggiError):
    category = "invalid-argument"


class FailedPrecondition(OnggiError):
    category = "failed-precondition"


class Conflict(OnggiError):
    category = "conflict"


class PermissionDenied(OnggiError):
    category = "permission-denied"


class Unavailable(OnggiError):
    category = "unavailable"


class Unsupported(OnggiError):
    category = "unsupported"
