"""A small subset of Go templates, as podman's ``--format`` takes them: ``{{.Field}}``,
nested paths ``{{.State.Status}}``, ``{{json .X}}``, ``{{upper .X}}``, ``{{lower .X}}``,
``{{index .Labels "key"}}``, a leading ``table`` (a header row) and ``\\t``/``\\n``
escapes."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import InvalidArgument

__all__ = ["render", "is_table"]

_ACTION = re.compile(r"{{\s*(.*?)\s*}}")


def is_table(fmt: str) -> bool:
    return fmt.startswith("table")


def _lookup(obj: Any, path: str, fmt: str) -> Any:
    if path == ".":
        return obj
    if not path.startswith("."):
        raise InvalidArgument(f"template {fmt!r}: unexpected {path!r} (expected a field like .Name)")
    cur = obj
    for part in path[1:].split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise InvalidArgument(f"template {fmt!r}: can't evaluate field {part}")
    return cur


def _show(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(_show(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_show(x)}" for k, x in sorted(v.items())) + "]"
    return str(v)


def _eval(expr: str, obj: Any, fmt: str) -> str:
    words = re.findall(r'"[^"]*"|\S+', expr)
    if not words:
        return ""
    fn = words[0]
    if fn.startswith("."):
        return _show(_lookup(obj, fn, fmt))
    if fn == "json" and len(words) == 2:
        return json.dumps(_lookup(obj, words[1], fmt))
    if fn in ("upper", "lower") and len(words) == 2:
        s = _show(_lookup(obj, words[1], fmt))
        return s.upper() if fn == "upper" else s.lower()
    if fn == "index" and len(words) == 3:
        m = _lookup(obj, words[1], fmt)
        key = words[2].strip('"')
        return _show((m or {}).get(key, "<no value>") if isinstance(m, dict) else "<no value>")
    if fn == "join" and len(words) == 3:
        return words[2].strip('"').join(_show(x) for x in _lookup(obj, words[1], fmt) or [])
    raise InvalidArgument(f"template {fmt!r}: unsupported action {{{{{expr}}}}}")


def render(fmt: str, obj: Any) -> str:
    body = fmt[len("table"):].lstrip() if is_table(fmt) else fmt
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    return _ACTION.sub(lambda m: _eval(m.group(1), obj, fmt), body)


def header(fmt: str) -> str:
    """The header row of a ``table`` format: each field's name, upper case."""
    body = fmt[len("table"):].lstrip().replace("\\t", "\t").replace("\\n", "\n")

    def name(m: re.Match) -> str:
        words = m.group(1).split()
        last = words[-1] if words else ""
        return {"ID": "CONTAINER ID", "Names": "NAMES"}.get(last.lstrip(".").split(".")[-1],
                                                            last.lstrip(".").split(".")[-1].upper())

    return _ACTION.sub(name, body)
