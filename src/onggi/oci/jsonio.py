"""JSON read/write without importing :mod:`json` on the runtime's hot path.

``import json`` pulls in :mod:`re` (about 11 ms on a small VM, more than the rest of a
container start). CPython's C accelerator ``_json`` does the real work for :mod:`json`
anyway, so this module drives it directly and falls back to :mod:`json` where the
accelerator is missing (another interpreter). Output is byte-compatible with
``json.dumps(obj, separators=(",", ":"))``.
"""

from __future__ import annotations

from ..errors import InvalidArgument

__all__ = ["loads", "dumps", "load_file"]

try:
    import _json as _c
except ImportError:  # pragma: no cover - non-CPython
    _c = None  # type: ignore[assignment]


class _Ctx:
    # the attributes _json.make_scanner reads from its context object
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        # NaN and Infinity are not JSON (Go's encoding/json refuses them too)
        raise ValueError(f"{name} is not a JSON value")


def _default(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_WS = " \t\n\r"
_scan = _c.make_scanner(_Ctx()) if _c is not None else None
_encode = (
    _c.make_encoder(None, _default, _c.encode_basestring_ascii, None, ":", ",", False, False, True)
    if _c is not None
    else None
)


def loads(text: str | bytes, what: str = "JSON") -> object:
    """Parse ``text``; errors are ``InvalidArgument`` naming ``what`` and the position."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidArgument(f"{what}: not UTF-8: {e}") from None
    if _scan is None:  # pragma: no cover
        import json

        try:
            return json.loads(text)
        except ValueError as e:
            raise InvalidArgument(f"{what}: invalid JSON: {e}") from None
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except StopIteration as e:
        raise InvalidArgument(f"{what}: invalid JSON: expecting a value at char {e.value}") from None
    except (ValueError, SystemError) as e0:
        # The accelerator builds its error from json.decoder, which it only finds when
        # already imported: redo the parse with json for an exact message.
        import json

        try:
            json.loads(text)
        except ValueError as e:
            raise InvalidArgument(f"{what}: invalid JSON: {e}") from None
        # json itself accepts what we refuse on purpose (NaN, Infinity)
        raise InvalidArgument(f"{what}: invalid JSON: {e0}") from None
    finally:
        _Ctx.memo.clear()
    rest = text[end:]
    if rest.strip(_WS):
        at = end + len(rest) - len(rest.lstrip(_WS))
        raise InvalidArgument(f"{what}: invalid JSON: extra data at char {at}")
    return obj


def dumps(obj: object) -> str:
    """Compact JSON text of ``obj`` (dicts, lists, str, int, float, bool, None)."""
    if _encode is None:  # pragma: no cover
        import json

        return json.dumps(obj, separators=(",", ":"))
    return "".join(_encode(obj, 0))


def load_file(path: str, what: str | None = None) -> object:
    """Read and parse a JSON file; a missing file is ``NotFound``."""
    from ..errors import NotFound

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise NotFound(f"{what or path}: no such file: {path}") from None
    return loads(data, what or path)
