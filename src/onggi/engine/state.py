"""The engine's state: one SQLite database (WAL mode) at :attr:`Paths.db`.

Writers take the database lock up front (``BEGIN IMMEDIATE``) and wait for it through
``busy_timeout``, so parallel ``onggi run`` commands queue instead of failing; readers
never block writers (WAL). The schema carries a version (``meta.schema``).

After a reboot (``/proc/sys/kernel/random/boot_id`` differs from the one stored) every
container that was created, running or paused is marked exited: its processes, mounts and
network namespace went with the old boot (leftovers are cleaned lazily by the lifecycle).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

from ..errors import AlreadyExists, NotFound

__all__ = ["Record", "StateDB", "CREATED", "RUNNING", "PAUSED", "STOPPED", "EXITED", "REMOVING"]

SCHEMA_VERSION = 2
CREATED, RUNNING, PAUSED, STOPPED, EXITED, REMOVING = (
    "created", "running", "paused", "stopped", "exited", "removing")
LIVE = (RUNNING, PAUSED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,
    image_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL NOT NULL DEFAULT 0,
    finished REAL NOT NULL DEFAULT 0,
    exit_code INTEGER NOT NULL DEFAULT 0,
    oom_killed INTEGER NOT NULL DEFAULT 0,
    pid INTEGER NOT NULL DEFAULT 0,
    pid_start INTEGER NOT NULL DEFAULT 0,
    monitor_pid INTEGER NOT NULL DEFAULT 0,
    monitor_start INTEGER NOT NULL DEFAULT 0,
    restart_count INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    options TEXT NOT NULL,
    network TEXT NOT NULL DEFAULT '{}',
    labels TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    type TEXT NOT NULL,
    action TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}'
);
"""
_JSON = ("options", "network", "labels", "config")
# schema steps: version -> what takes a database from the version before to it
_STEPS = {
    2: """CREATE TABLE IF NOT EXISTS pods (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    infra_id TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}'
)""",
}


@dataclass
class Record:
    """One container's row. ``options`` is the RunOptions JSON, ``network`` the network
    setup JSON, ``config`` what the lifecycle resolved (command, env, user, bundle...)."""

    id: str
    name: str
    image: str
    image_id: str
    state: str
    created: float
    options: dict[str, Any]
    started: float = 0.0
    finished: float = 0.0
    exit_code: int = 0
    oom_killed: bool = False
    pid: int = 0
    pid_start: int = 0
    monitor_pid: int = 0
    monitor_start: int = 0
    restart_count: int = 0
    stop_requested: bool = False
    network: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Record":
        kw = {k: row[k] for k in row.keys()}
        for k in _JSON:
            kw[k] = json.loads(kw[k])
        kw["oom_killed"] = bool(kw["oom_killed"])
        kw["stop_requested"] = bool(kw["stop_requested"])
        return cls(**kw)

    def row(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in _JSON:
            out[k] = json.dumps(out[k], sort_keys=True)
        out["oom_killed"] = int(self.oom_killed)
        out["stop_requested"] = int(self.stop_requested)
        return out


_COLUMNS = [f.name for f in fields(Record)]


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


_OPEN: "weakref.WeakSet[StateDB]" = weakref.WeakSet()


def close_all() -> None:
    """Close every connection of this process (before a fork: SQLite connections must
    not cross one); each reopens on its next use."""
    for db in list(_OPEN):
        db.close()


class StateDB:
    """The database; one connection per instance, closed before a fork and reopened on
    the next use."""

    def __init__(self, path: str, *, timeout: float = 60.0) -> None:
        self.path = path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _OPEN.add(self)
        self._setup()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            c = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            c.row_factory = sqlite3.Row
            c.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._conn = c
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _setup(self) -> None:
        c = self.conn
        mode = c.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = NORMAL")
        row = None
        try:
            row = c.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:
            pass
        if row is None:
            with self.write() as w:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        w.execute(stmt)
                for step in _STEPS.values():
                    w.execute(step)
                w.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                w.execute("INSERT OR IGNORE INTO meta VALUES ('boot_id', ?)", (boot_id(),))
        elif int(row[0]) > SCHEMA_VERSION:
            from ..errors import FailedPrecondition

            raise FailedPrecondition(f"{self.path}: schema version {row[0]} is newer than this onggi "
                                     f"knows ({SCHEMA_VERSION})")
        elif int(row[0]) < SCHEMA_VERSION:
            self._upgrade()
        self._reconcile_boot()

    def _upgrade(self) -> None:
        """Run the schema steps this database has not had yet, in one transaction."""
        with self.write() as w:
            have = int(w.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0])
            for version in sorted(v for v in _STEPS if v > have):
                w.execute(_STEPS[version])
            w.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def _reconcile_boot(self) -> None:
        now = boot_id()
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'boot_id'").fetchone()
        if row is not None and row[0] == now:
            return
        with self.write() as w:
            row = w.execute("SELECT value FROM meta WHERE key = 'boot_id'").fetchone()
            if row is not None and row[0] == now:
                return
            w.execute("UPDATE containers SET state = ?, pid = 0, pid_start = 0, monitor_pid = 0, "
                      "monitor_start = 0, finished = CASE WHEN finished = 0 THEN ? ELSE finished END "
                      "WHERE state IN (?, ?, ?, ?)", (EXITED, time.time(), RUNNING, PAUSED, STOPPED, REMOVING))
            w.execute("UPDATE containers SET state = ? WHERE state = ? AND started > 0", (EXITED, CREATED))
            w.execute("INSERT OR REPLACE INTO meta VALUES ('boot_id', ?)", (now,))

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: the lock is taken at once (BEGIN IMMEDIATE)."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    # ---- containers -------------------------------------------------------------------
    def add(self, rec: Record) -> None:
        row = rec.row()
        try:
            with self.write() as w:
                w.execute(f"INSERT INTO containers ({', '.join(_COLUMNS)}) VALUES "
                          f"({', '.join('?' for _ in _COLUMNS)})", [row[k] for k in _COLUMNS])
                self._event(w, "container", "create", rec.id, rec.name,
                            {"image": rec.image, **({"labels": rec.labels} if rec.labels else {})})
        except sqlite3.IntegrityError:
            other = self.find_exact(rec.name)
            by = other.id if other else "another container"
            raise AlreadyExists(f"creating container storage: the container name \"{rec.name}\" is "
                                f"already in use by {by}. You have to remove that container to be able "
                                f"to reuse that name: that name is already in use") from None

    def update(self, cid: str, event: str | None = None, **values: Any) -> None:
        """Set columns of one container (and log an event in the same transaction)."""
        for k in _JSON:
            if k in values:
                values[k] = json.dumps(values[k], sort_keys=True)
        for k in ("oom_killed", "stop_requested"):
            if k in values:
                values[k] = int(values[k])
        with self.write() as w:
            cur = w.execute(f"UPDATE containers SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                            [*values.values(), cid])
            if cur.rowcount == 0:
                raise NotFound(f"no container with id {cid}")
            if event:
                name, image, labels = w.execute("SELECT name, image, labels FROM containers WHERE id = ?",
                                                (cid,)).fetchone()
                attrs: dict[str, Any] = {"image": image}
                if labels != "{}":
                    attrs["labels"] = json.loads(labels)
                if event == "died" and "exit_code" in values:
                    attrs["containerExitCode"] = values["exit_code"]
                self._event(w, "container", event, cid, name, attrs)

    def remove(self, cid: str) -> None:
        with self.write() as w:
            row = w.execute("SELECT name, image, labels FROM containers WHERE id = ?", (cid,)).fetchone()
            w.execute("DELETE FROM containers WHERE id = ?", (cid,))
            if row is not None:
                labels = json.loads(row[2])
                self._event(w, "container", "remove", cid, row[0],
                            {"image": row[1], **({"labels": labels} if labels else {})})

    def get(self, cid: str) -> Record:
        row = self.conn.execute("SELECT * FROM containers WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise NotFound(f"no container with name or ID \"{cid}\" found: no such container")
        return Record.from_row(row)

    def find_exact(self, name_or_id: str) -> Record | None:
        row = self.conn.execute("SELECT * FROM containers WHERE id = ? OR name = ?",
                                (name_or_id, name_or_id)).fetchone()
        return Record.from_row(row) if row else None

    def lookup(self, ref: str) -> Record:
        """A container by full id, name, or unique id prefix (podman's rules and text)."""
        rec = self.find_exact(ref)
        if rec is not None:
            return rec
        if ref and all(c in "0123456789abcdef" for c in ref):
            rows = self.conn.execute("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()
            if len(rows) == 1:
                return Record.from_row(rows[0])
            if len(rows) > 1:
                from ..errors import Conflict

                raise Conflict(f"more than one result for container ID {ref}")
        raise NotFound(f"no container with name or ID \"{ref}\" found: no such container")

    def all(self) -> list[Record]:
        rows = self.conn.execute("SELECT * FROM containers ORDER BY created").fetchall()
        return [Record.from_row(r) for r in rows]

    # ---- events -----------------------------------------------------------------------
    @staticmethod
    def _event(w: sqlite3.Connection, typ: str, action: str, cid: str, name: str, attrs: dict) -> None:
        w.execute("INSERT INTO events (time, type, action, id, name, attributes) VALUES (?, ?, ?, ?, ?, ?)",
                  (time.time(), typ, action, cid, name, json.dumps(attrs)))

    def event(self, typ: str, action: str, cid: str, name: str, attrs: dict | None = None) -> None:
        with self.write() as w:
            self._event(w, typ, action, cid, name, attrs or {})

    def events(self, since_seq: int = 0) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM events WHERE seq > ? ORDER BY seq", (since_seq,)).fetchall()
        return [{**{k: r[k] for k in r.keys()}, "attributes": json.loads(r["attributes"])} for r in rows]
