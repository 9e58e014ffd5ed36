"""Registry answers as onggi errors.

A registry explains a failure with a status and, usually, a body
``{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "...", "detail": ...}]}``. The error
code decides the category when onggi knows it, else the status does:

=============================================  ======================================
codes                                          category
=============================================  ======================================
UNAUTHORIZED, DENIED; HTTP 401, 403            PermissionDenied
BLOB_UNKNOWN, BLOB_UPLOAD_UNKNOWN,             NotFound
MANIFEST_UNKNOWN, NAME_UNKNOWN; HTTP 404
DIGEST_INVALID                                 DigestMismatch (a FailedPrecondition)
MANIFEST_BLOB_UNKNOWN; HTTP 412                FailedPrecondition
*_INVALID, MANIFEST_UNVERIFIED, RANGE_INVALID  InvalidArgument
SIZE_INVALID, PAGINATION_NUMBER_INVALID;
other 4xx
UNSUPPORTED; HTTP 405, 501                     Unsupported
HTTP 409                                       Conflict
TOOMANYREQUESTS; 429, 5xx, connection errors   Unavailable (after the retries)
=============================================  ======================================

Every message names the action, the registry host, the repository and the tag or
digest (``reading manifest 127.0.0.1:5000/app:v1: MANIFEST_UNKNOWN: manifest unknown
(HTTP 404)``); a refusal also says whether credentials were sent. The raised error
carries ``status`` (HTTP status, 0 for a transport failure) and ``codes`` (the
registry's error codes) as attributes.
"""

from __future__ import annotations

import json

import httpx

from ..errors import (Conflict, FailedPrecondition, InvalidArgument, NotFound, OnggiError,
                      PermissionDenied, Unavailable, Unsupported)
from ..oci.digest import DigestMismatch

__all__ = ["parse_body", "error_for", "transport_error", "CODES"]

CODES: dict[str, type[OnggiError]] = {
    "UNAUTHORIZED": PermissionDenied, "DENIED": PermissionDenied,
    "BLOB_UNKNOWN": NotFound, "BLOB_UPLOAD_UNKNOWN": NotFound, "MANIFEST_UNKNOWN": NotFound,
    "NAME_UNKNOWN": NotFound,
    "DIGEST_INVALID": DigestMismatch,
    "MANIFEST_BLOB_UNKNOWN": FailedPrecondition,
    "BLOB_UPLOAD_INVALID": InvalidArgument, "MANIFEST_INVALID": InvalidArgument,
    "MANIFEST_UNVERIFIED": InvalidArgument, "NAME_INVALID": InvalidArgument,
    "TAG_INVALID": InvalidArgument, "SIZE_INVALID": InvalidArgument,
    "RANGE_INVALID": InvalidArgument, "PAGINATION_NUMBER_INVALID": InvalidArgument,
    "UNSUPPORTED": Unsupported,
    "TOOMANYREQUESTS": Unavailable,
}

_STATUS: dict[int, type[OnggiError]] = {
    401: PermissionDenied, 403: PermissionDenied, 404: NotFound, 405: Unsupported,
    409: Conflict, 412: FailedPrecondition, 429: Unavailable, 501: Unsupported,
}


def parse_body(content: bytes) -> list[tuple[str, str, str]]:
    """(code, message, detail) for each error in a registry error body; [] when the body
    is not one (plain text, HTML from a proxy, empty)."""
    try:
        doc = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        return []
    errs = doc.get("errors") if isinstance(doc, dict) else None
    out = []
    for e in errs if isinstance(errs, list) else ():
        if not isinstance(e, dict):
            continue
        code = e.get("code")
        msg = e.get("message")
        detail = e.get("detail")
        if detail is not None and not isinstance(detail, str):
            detail = json.dumps(detail, separators=(",", ":"), sort_keys=True)
        out.append((str(code or "UNKNOWN").upper(), str(msg or ""), str(detail or "")))
    return out


def _category(status: int, codes: list[str]) -> type[OnggiError]:
    for c in codes:
        if c in CODES:
            return CODES[c]
    if status in _STATUS:
        return _STATUS[status]
    if status >= 500:
        return Unavailable
    if 400 <= status < 500:
        return InvalidArgument
    return Unavailable


def _explain(errors: list[tuple[str, str, str]], content: bytes, status: int) -> str:
    if errors:
        parts = []
        for code, msg, detail in errors[:3]:
            s = f"{code}: {msg}" if msg else code
            if detail and len(detail) <= 200:
                s += f" ({detail})"
            parts.append(s)
        return "; ".join(parts)
    text = content[:200].decode("utf-8", "replace").strip().splitlines()
    if text:
        return text[0]
    return httpx.codes.get_reason_phrase(status) or "no details"


def error_for(status: int, content: bytes, *, action: str, target: str,
              credentials_note: str = "") -> OnggiError:
    """The error for a registry's answer ``status`` / ``content`` to ``action`` (``reading
    manifest``) on ``target`` (``host/repo:tag`` or ``host/repo@digest``)."""
    errors = parse_body(content)
    codes = [e[0] for e in errors]
    cls = _category(status, codes)
    msg = f"{action} {target}: {_explain(errors, content, status)} (HTTP {status})"
    if cls is PermissionDenied and credentials_note:
        msg += f"; {credentials_note}"
    err = cls(msg)
    err.status = status  # type: ignore[attr-defined]
    err.codes = tuple(codes)  # type: ignore[attr-defined]
    return err


def transport_error(exc: BaseException, *, action: str, target: str, tries: int) -> Unavailable:
    """A connection failure (refused, reset, timeout, TLS) after ``tries`` tries."""
    kind = type(exc).__name__
    detail = str(exc) or kind
    err = Unavailable(f"{action} {target}: {detail} ({kind}, after {tries} "
                      f"{'try' if tries == 1 else 'tries'})")
    err.status = 0  # type: ignore[attr-defined]
    err.codes = ()  # type: ignore[attr-defined]
    return err
