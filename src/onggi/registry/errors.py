"""The distribution spec's error codes and the one exception the HTTP layer turns into
``{"errors": [{"code", "message", "detail"}]}`` with the code's HTTP status.

Library errors of onggi (``NotFound``, ``InvalidArgument`` ...) are mapped here once, by
the caller's choice of code (a missing blob and a missing manifest are both NotFound).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import OnggiError

__all__ = ["CODES", "RegistryError", "body"]

# code -> (HTTP status, the spec's short message)
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (404, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),  # the reference's
}


_CATEGORIES = {400: "invalid-argument", 404: "not-found", 405: "unsupported", 413: "invalid-argument",
               416: "failed-precondition", 401: "permission-denied", 403: "permission-denied",
               408: "unavailable", 429: "unavailable"}


class RegistryError(OnggiError):
    """An answer of the spec's error kind. ``status`` defaults to the code's own;
    ``headers`` are added to the response (``Range``, ``Allow``, ``WWW-Authenticate``).
    Its onggi ``category`` follows the HTTP status."""

    def __init__(self, code: str, message: str | None = None, detail: Any = None,
                 status: int | None = None, headers: dict[str, str] | None = None) -> None:
        default_status, default_message = CODES[code]
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        self.headers = headers or {}
        self.category = _CATEGORIES.get(self.status, "unknown")
        super().__init__(f"{code}: {self.message}")


def body(code: str, message: str, detail: Any = None) -> bytes:
    """The spec's JSON error body for one error."""
    err: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        err["detail"] = detail
    return json.dumps({"errors": [err]}).encode()
