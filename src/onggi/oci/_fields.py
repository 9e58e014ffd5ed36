"""Typed field readers for the wire's JSON objects.

Each reader takes the parent object, the key and the dotted path of the parent (for
messages such as ``config.json: process.user.uid: expected an integer``).
"""

from __future__ import annotations

from ..errors import InvalidArgument

_MISSING = object()


def bad(path: str, msg: str) -> InvalidArgument:
    return InvalidArgument(f"config.json: {path}: {msg}")


def obj(d: object, path: str) -> dict:
    if not isinstance(d, dict):
        raise bad(path, "expected an object")
    return d


def _get(d: dict, key: str, path: str, required: bool) -> object:
    v = d.get(key, _MISSING)
    if v is _MISSING or v is None:
        if required:
            raise bad(_join(path, key), "is required")
        return _MISSING
    return v


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def string(d: dict, key: str, path: str, default: str | None = None, required: bool = False) -> str | None:
    v = _get(d, key, path, required)
    if v is _MISSING:
        return default
    if not isinstance(v, str):
        raise bad(_join(path, key), "expected a string")
    return v


def integer(d: dict, key: str, path: str, default: int | None = None, required: bool = False,
            lo: int | None = None, hi: int | None = None) -> int | None:
    v = _get(d, key, path, required)
    if v is _MISSING:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise bad(_join(path, key), "expected an integer")
    if lo is not None and v < lo:
        raise bad(_join(path, key), f"{v} is below the minimum {lo}")
    if hi is not None and v > hi:
        raise bad(_join(path, key), f"{v} is above the maximum {hi}")
    return v


def boolean(d: dict, key: str, path: str, default: bool = False) -> bool:
    v = _get(d, key, path, False)
    if v is _MISSING:
        return default
    if not isinstance(v, bool):
        raise bad(_join(path, key), "expected true or false")
    return v


def strings(d: dict, key: str, path: str, required: bool = False) -> list[str]:
    v = _get(d, key, path, required)
    if v is _MISSING:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise bad(_join(path, key), "expected a list of strings")
    return v


def ints(d: dict, key: str, path: str) -> list[int]:
    v = _get(d, key, path, False)
    if v is _MISSING:
        return []
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise bad(_join(path, key), "expected a list of integers")
    return v


def str_map(d: dict, key: str, path: str) -> dict[str, str]:
    v = _get(d, key, path, False)
    if v is _MISSING:
        return {}
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise bad(_join(path, key), "expected an object of strings")
    return v


def child(d: dict, key: str, path: str) -> dict | None:
    v = _get(d, key, path, False)
    if v is _MISSING:
        return None
    return obj(v, _join(path, key))


def items(d: dict, key: str, path: str) -> list[tuple[dict, str]]:
    """The objects of a list field, each with its own path (``linux.devices[2]``)."""
    v = _get(d, key, path, False)
    if v is _MISSING:
        return []
    p = _join(path, key)
    if not isinstance(v, list):
        raise bad(p, "expected a list")
    return [(obj(x, f"{p}[{i}]"), f"{p}[{i}]") for i, x in enumerate(v)]
