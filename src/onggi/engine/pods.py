"""Pods (podman's, the CRI's unit): a named group of containers that share namespaces held
by an infra container. A pod is a row of the ``pods`` table; a container belongs to a pod
when its RunOptions' ``pod`` is the pod's id. The infra container is an ordinary container
of the pod (its ``network``, ports, hostname, /etc files are the pod's); the others join
its namespaces (:mod:`.pod_join`). Lifecycle (start, stop, rm...) is in :mod:`.pod_ops`, ps/inspect in :mod:`.pod_query`."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import AlreadyExists, InvalidArgument, NotFound
from .options import RunOptions
from .paths import Paths
from .state import Record, StateDB

__all__ = ["Pod", "PodSpec", "create_pod", "get_pod", "list_pods", "members", "pod_status", "ensure_infra",
           "DEFAULT_SHARE"]

DEFAULT_SHARE = ["ipc", "net", "uts"]  # podman's default --share
_SHAREABLE = ("ipc", "net", "uts", "pid")


@dataclass
class Pod:
    id: str
    name: str
    created: float
    infra_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)   # share, hostname, infra_image...

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Pod":
        return cls(id=row["id"], name=row["name"], created=row["created"], infra_id=row["infra_id"],
                   labels=json.loads(row["labels"]), options=json.loads(row["options"]))


@dataclass
class PodSpec:
    """What ``pod create`` was asked (podman's flags)."""

    name: str | None = None
    infra: bool = True
    infra_image: str | None = None
    infra_command: list[str] | None = None
    infra_name: str | None = None
    share: list[str] = field(default_factory=lambda: list(DEFAULT_SHARE))
    publish: list[str] = field(default_factory=list)
    network: str = "bridge"
    hostname: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    add_hosts: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)


def _parse_share(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        for name in filter(None, (s.strip() for s in item.split(","))):
            if name not in _SHAREABLE:
                raise InvalidArgument(f"--share {name!r}: expected some of {', '.join(_SHAREABLE)}")
            if name not in out:
                out.append(name)
    return out


def create_pod(paths: Paths, spec: PodSpec) -> Pod:
    """Make the pod and (unless ``spec.infra`` is off) its infra container (created, not
    started: ``pod start`` starts it, as podman does)."""
    from .create import check_name, create, random_name

    share = _parse_share(spec.share)
    if not spec.infra:
        if spec.publish:
            raise InvalidArgument("you must have an infra container to publish port bindings to the host")
        share = []
    pid = secrets.token_hex(32)
    db = StateDB(paths.db)
    try:
        name = check_name(spec.name) if spec.name else random_name()
        opts = {"share": share, "hostname": spec.hostname or "", "infra": spec.infra}  # podman: "" unless given
        try:
            with db.write() as w:
                w.execute("INSERT INTO pods (id, name, created, infra_id, labels, options) VALUES (?, ?, ?, '', ?, ?)",
                          (pid, name, time.time(), json.dumps(spec.labels), json.dumps(opts)))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"{name}: pod already exists") from None
        if spec.infra:
            try:
                infra = create(paths, _infra_options(paths, pid, name, spec), db)
            except BaseException:
                with db.write() as w:
                    w.execute("DELETE FROM pods WHERE id = ?", (pid,))
                raise
            with db.write() as w:
                w.execute("UPDATE pods SET infra_id = ? WHERE id = ?", (infra.id, pid))
        return get_pod(db, pid)
    finally:
        db.close()


def _infra_options(paths: Paths, pod_id: str, name: str, spec: PodSpec) -> RunOptions:
    from .pod_infra import INFRA_COMMAND, ensure_infra_image

    image = spec.infra_image or ensure_infra_image(paths)
    command = spec.infra_command or (INFRA_COMMAND if not spec.infra_image else None)
    return RunOptions(image=image, entrypoint=command, command=[] if command else None,
                      name=spec.infra_name or f"{pod_id[:12]}-infra", network=spec.network or "bridge",
                      publish=list(spec.publish), hostname=spec.hostname or name, add_hosts=list(spec.add_hosts),
                      dns=list(spec.dns), pod=pod_id, pull="never" if not spec.infra_image else "missing")


def get_pod(db: StateDB, ref: str) -> Pod:
    """The pod named ``ref``, or whose id is or starts with ``ref``."""
    c = db.conn
    row = c.execute("SELECT * FROM pods WHERE id = ? OR name = ?", (ref, ref)).fetchone()
    if row is None and ref and all(ch in "0123456789abcdef" for ch in ref):
        rows = c.execute("SELECT * FROM pods WHERE id LIKE ?", (ref + "%",)).fetchall()
        if len(rows) > 1:
            raise InvalidArgument(f"more than one result for pod ID {ref}")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"no pod with name or ID {ref} found: no such pod")
    return Pod.from_row(row)


def list_pods(db: StateDB) -> list[Pod]:
    return [Pod.from_row(r) for r in db.conn.execute("SELECT * FROM pods ORDER BY created").fetchall()]


def members(paths: Paths, db: StateDB, pod: Pod) -> list[Record]:
    """The pod's containers (the infra one included), their states reconciled."""
    from .lifecycle import lookup

    out = []
    for rec in db.all():
        if rec.options.get("pod") == pod.id:
            try:
                out.append(lookup(paths, db, rec.id))
            except NotFound:
                continue
    return out


def pod_status(recs: list[Record]) -> str:
    """podman's pod status from its containers' states."""
    states = [r.state for r in recs]
    if not states:
        return "Created"
    running = sum(s == "running" for s in states)
    if running == len(states):
        return "Running"
    if running:
        return "Degraded"
    if all(s == "paused" for s in states):
        return "Paused"
    if all(s == "created" for s in states):
        return "Created"
    if all(s == "stopped" for s in states):
        return "Stopped"
    if all(s in ("exited", "stopped", "created") for s in states):
        return "Exited"
    return "Degraded"


def ensure_infra(paths: Paths, rec: Record) -> None:
    """Before container ``rec`` starts: start what it joins if that is not running, the
    pod's infra container or ``--network container:NAME``'s NAME (podman starts them too)."""
    from ..errors import OnggiError
    from .lifecycle import StartError, lookup, start_detached
    from .state import LIVE

    db = StateDB(paths.db)
    try:
        other = ""
        if rec.options.get("pod"):
            pod = get_pod(db, str(rec.options["pod"]))
            other = pod.infra_id
        network = str(rec.options.get("network", ""))
        if not other and network.startswith("container:"):
            other = network.split(":", 1)[1]
        if not other or other == rec.id:
            return
        try:
            state = lookup(paths, db, other).state
        except NotFound as e:
            msg = (f"pod {pod.name}: its infra container {other[:12]} was removed: remove the pod (onggi pod rm) "
                   f"and create it again") if rec.options.get("pod") else str(e)
            raise StartError(msg) from None
        if state not in LIVE:
            try:
                start_detached(paths, db, other)
            except StartError:
                raise
            except OnggiError as e:  # a StartError: ``run --rm`` removes the container it made
                raise StartError(f"starting {other[:12]}, whose namespaces {rec.name} joins: {e}") from None
    finally:
        db.close()
