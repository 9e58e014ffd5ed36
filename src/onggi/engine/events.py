"""``events``: the state database's event log (what the lifecycle wrote: create, start,
died, stop, kill, pause, unpause, rename, restart, exec, remove), filtered and shown in
podman's text line or JSON object; ``follow`` polls for new rows until interrupted."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from ..errors import InvalidArgument
from .state import StateDB

__all__ = ["Event", "parse_filters", "select", "follow", "text_line", "json_doc"]

_FILTER_KEYS = {"type", "event", "container", "image", "label", "since", "until"}

Event = dict[str, Any]


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """``key=value`` strings -> key -> values (values of one key are OR'd, keys AND'd)."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not value:
            raise InvalidArgument(f"--filter {item!r}: expected KEY=VALUE")
        key = {"status": "event"}.get(key, key)
        if key not in _FILTER_KEYS:
            raise InvalidArgument(f"--filter {item!r}: unknown key {key!r} (known: "
                                  f"{', '.join(sorted(_FILTER_KEYS))})")
        out.setdefault(key, []).append(value)
    return out


def matches(ev: Event, filters: dict[str, list[str]]) -> bool:
    attrs = ev["attributes"]
    for key, wanted in filters.items():
        if key == "type":
            ok = ev["type"] in wanted
        elif key == "event":
            ok = ev["action"] in wanted or ("died" in wanted and ev["action"] == "die")
        elif key == "container":
            ok = any(ev["name"] == w or (len(w) >= 3 and ev["id"].startswith(w)) for w in wanted)
        elif key == "image":
            ok = attrs.get("image") in wanted
        elif key == "label":
            labels = attrs.get("labels") or {}
            ok = any(labels.get(w.partition("=")[0]) == w.partition("=")[2] if "=" in w
                     else w in labels for w in wanted)
        else:  # since/until given as filters are handled by the caller
            ok = True
        if not ok:
            return False
    return True


def select(db: StateDB, filters: dict[str, list[str]], since: float | None = None,
           until: float | None = None, after_seq: int = 0) -> list[Event]:
    """Stored events after ``after_seq`` that pass the filters and time window."""
    out = []
    for ev in db.events(after_seq):
        if since is not None and ev["time"] < since:
            continue
        if until is not None and ev["time"] > until:
            continue
        if matches(ev, filters):
            out.append(ev)
    return out


def follow(db: StateDB, filters: dict[str, list[str]], since: float | None, until: float | None,
           interval: float = 0.1, stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """New events as they are written (and the stored ones too when a time window is
    given, as podman does); ends after ``until``."""
    seq = 0
    if since is None and until is None:
        seq = db.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
    while True:
        for ev in db.events(seq):
            seq = ev["seq"]
            if (since is None or ev["time"] >= since) and (until is None or ev["time"] <= until) \
                    and matches(ev, filters):
                yield ev
        if (until is not None and time.time() > until) or stop():
            return
        time.sleep(interval)


def _stamp(t: float) -> str:
    """podman's Go time text: ``2006-01-02 15:04:05.999999999 +0000 UTC``."""
    d = datetime.fromtimestamp(int(t), tz=timezone.utc)
    nanos = int(round((t - int(t)) * 1e9))
    return f"{d:%Y-%m-%d %H:%M:%S}.{min(nanos, 999999999):09d} +0000 UTC"


def _rfc3339(t: float) -> str:
    d = datetime.fromtimestamp(int(t), tz=timezone.utc)
    nanos = int(round((t - int(t)) * 1e9))
    return f"{d:%Y-%m-%dT%H:%M:%S}.{min(nanos, 999999999):09d}Z"


def text_line(ev: Event) -> str:
    """podman's text line: ``TIME TYPE ACTION ID (image=..., name=..., k=v...)``."""
    attrs = ev["attributes"]
    head = f"{_stamp(ev['time'])} {ev['type']} {ev['action']} {ev['id']}"
    if ev["type"] == "container":
        extra = "".join(f", {k}={v}" for k, v in sorted((attrs.get("labels") or {}).items()))
        return f"{head} (image={attrs.get('image', '')}, name={ev['name']}{extra})"
    return f"{head} (name={ev['name']})" if ev["name"] else head


def json_doc(ev: Event) -> dict[str, Any]:
    """podman's JSON event (``podman events --format json``)."""
    attrs = ev["attributes"]
    doc: dict[str, Any] = {"ID": ev["id"], "Image": attrs.get("image", ""), "Name": ev["name"],
                           "Status": ev["action"], "Time": _rfc3339(ev["time"]), "Type": ev["type"],
                           "Attributes": {"image": attrs.get("image", ""), "name": ev["name"],
                                          **(attrs.get("labels") or {})}}
    if "containerExitCode" in attrs:
        doc["ContainerExitCode"] = attrs["containerExitCode"]
    return doc


def template_doc(ev: Event) -> dict[str, Any]:
    """The fields a ``--format`` template sees (podman's names: .ID .Name .Status ...)."""
    doc = json_doc(ev)
    doc["Time"] = _stamp(ev["time"])
    doc["TimeNano"] = int(ev["time"] * 1e9)
    doc.setdefault("ContainerExitCode", 0)
    return doc


def dumps(ev: Event) -> str:
    return json.dumps(json_doc(ev), separators=(",", ":"))
