"""The durable state of ``soar serve``: one SQLite database in WAL mode in ``--state``.

Tables (created on first open, kept across restarts):

- ``events``: every stored log event, ``log_id`` the PRIMARY KEY, so a
  redelivered batch or a stream restarted from an older cursor adds nothing
  (``INSERT OR IGNORE``); the rowid is the arrival order the detector follows.
- ``cursor``: one row, the last rowid the detector consumed and the newest
  event date it had seen. It is written in the same transaction as the
  incidents those events produced, so after a crash the detector neither
  skips an event nor applies one twice (``engine.serve.worker``).
- ``incidents``, ``evidence``, ``responses``: ``engine.serve.incidents``.

Durability: each batch is stored in a transaction committed with
``synchronous=FULL`` before the endpoint answers 200 (batches of concurrent
requests share one: ``engine.serve.writer``), so an acknowledged batch survives a crash
of the process and of the machine (WAL with ``NORMAL`` would survive the
first only; Auth0 does not send an acknowledged batch again).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.serve.ingest import Item, event_text, read_event
from engine.timeutil import date_key, iso_ms, now_utc, read_date

DB_NAME = "soar-serve.sqlite3"
BUSY_MS = 30_000  # a writer waits this long for the other (ingest and the worker share the file)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    log_id   TEXT PRIMARY KEY,
    date     TEXT,                 -- the event's date as Auth0 writes it (timeutil.date_key)
    data     TEXT NOT NULL,        -- the log event, JSON
    received TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_date ON events (date);
CREATE TABLE IF NOT EXISTS cursor (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    seq    INTEGER NOT NULL,       -- the last events rowid the detector consumed
    newest TEXT                    -- the newest event date consumed (the watermark)
);
CREATE TABLE IF NOT EXISTS incidents (
    id        INTEGER PRIMARY KEY,
    key       TEXT NOT NULL,       -- Detection.key: the rule and its group
    rule      TEXT NOT NULL,
    title     TEXT NOT NULL,
    severity  TEXT NOT NULL,
    grp       TEXT NOT NULL,       -- the group, JSON
    status    TEXT NOT NULL,       -- open | closed
    first     TEXT NOT NULL,       -- event time of the first and last evidence
    last      TEXT NOT NULL,
    quiet     REAL NOT NULL,       -- seconds of event time without evidence that close it
    opened_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open ON incidents (key) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS evidence (
    incident INTEGER NOT NULL REFERENCES incidents (id),
    log_id   TEXT NOT NULL,
    PRIMARY KEY (incident, log_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS responses (
    id          INTEGER PRIMARY KEY,
    incident    INTEGER NOT NULL UNIQUE REFERENCES incidents (id),
    playbook    TEXT NOT NULL,
    inputs      TEXT NOT NULL,     -- the rendered inputs, JSON
    mode        TEXT NOT NULL,     -- dry-run | auto
    status      TEXT NOT NULL,     -- pending | started | succeeded | failed | awaiting_approval | interrupted | error
    run_log     TEXT,
    started_at  TEXT,
    finished_at TEXT,
    error       TEXT
);
"""


def connect(state: Path) -> sqlite3.Connection:
    """A connection to the state database in ``state`` (created), WAL mode, FULL sync.

    Autocommit mode (``isolation_level=None``): each write says where its
    transaction begins (``BEGIN IMMEDIATE``) and ends.
    """
    state.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        state / DB_NAME, isolation_level=None, check_same_thread=False, timeout=BUSY_MS / 1000
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(_SCHEMA)
    return conn


@dataclass(frozen=True)
class Appended:
    """What one batch added: new events, duplicates ignored, the newest rowid after it.

    ``fresh``: the new events in rowid order from ``first`` (rowids are given in
    insertion order inside the batch's transaction), so the detector can take
    them from memory instead of reading them back; None if that cannot be told.
    ``dates``: their dates as stored, so that nothing reads a date twice.
    """

    added: int
    duplicates: int
    tail: int
    first: int = 0
    fresh: list[Mapping[str, Any]] | None = None
    dates: list[str | None] | None = None  # the date key of each fresh event (``date_key``)


class EventStore:
    """The ``events`` table and the detector's cursor; safe to share between threads."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()  # one statement sequence at a time on this connection

    def append(self, items: Sequence[Item]) -> Appended:
        """Store a batch in one transaction, durably; events already stored are ignored."""
        return self.append_many([items])[0]

    def append_many(self, batches: Sequence[Sequence[Item]]) -> list[Appended]:
        """Store batches in one transaction and one fsync, in order: what each added.

        An event already stored, or in an earlier batch of the same call, is
        ignored. All of them are stored, or (an exception) none.
        """
        received = iso_ms(now_utc())
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                added = [self._insert(items, received) for items in batches]
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return added

    def _insert(self, items: Sequence[Item], received: str) -> Appended:
        """One batch's new events inserted (inside the caller's transaction)."""
        before = self._tail()
        new = self._new(items)
        dates = [date_key(i.data.get("date")) for i in new]
        self.conn.executemany(
            "INSERT OR IGNORE INTO events (log_id, date, data, received) VALUES (?, ?, ?, ?)",
            [
                (i.log_id, date, event_text(i.data), received)
                for i, date in zip(new, dates, strict=True)
            ],
        )
        tail = self._tail()
        added = tail - before
        if added != len(new):
            return Appended(added, len(items) - added, tail, before + 1)
        return Appended(added, len(items) - added, tail, before + 1, [i.data for i in new], dates)

    def _new(self, items: Sequence[Item]) -> list[Item]:
        """The items of a batch not stored yet, each log id once, in batch order."""
        seen: set[str] = set()
        ids = [i.log_id for i in items]
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT log_id FROM events WHERE log_id IN ({marks})"  # noqa: S608 -- placeholders only
            seen.update(row[0] for row in self.conn.execute(query, part))
        new = []
        for i in items:
            if i.log_id not in seen:
                seen.add(i.log_id)
                new.append(i)
        return new

    def tail(self) -> int:
        """The rowid of the newest stored event (0: none)."""
        with self.lock:
            return self._tail()

    def _tail(self) -> int:
        row = self.conn.execute("SELECT max(rowid) FROM events").fetchone()
        return int(row[0] or 0)

    def after(self, seq: int, limit: int) -> list[tuple[int, str | None, dict[str, Any]]]:
        """Up to ``limit`` events stored after rowid ``seq``, in arrival order: (rowid, date
        key as stored, event)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT rowid, date, data FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [(int(r[0]), r[1], read_event(r[2])) for r in rows]

    def replay(
        self, upto: int, newest: str | None, horizon: timedelta, chunk: int = 5000
    ) -> Iterator[list[dict[str, Any]]]:
        """Events up to rowid ``upto`` dated within ``horizon`` of ``newest``, in arrival order.

        What a restarted detector is fed again to rebuild its windows (undated
        events cannot be in a window; they are skipped).
        """
        if newest is None:
            return
        since = iso_ms(read_date(newest) - horizon)
        seq = 0
        while True:
            with self.lock:
                rows = self.conn.execute(
                    "SELECT rowid, data FROM events WHERE rowid > ? AND rowid <= ? AND date >= ? "
                    "ORDER BY rowid LIMIT ?",
                    (seq, upto, since, chunk),
                ).fetchall()
            if not rows:
                return
            seq = int(rows[-1][0])
            yield [read_event(r[1]) for r in rows]

    def cursor(self) -> tuple[int, str | None]:
        """The last rowid the detector consumed and the newest event date it saw."""
        with self.lock:
            row = self.conn.execute("SELECT seq, newest FROM cursor WHERE id = 1").fetchone()
        return (int(row[0]), row[1]) if row else (0, None)

    def count(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def newest_date(self) -> str | None:
        """The newest event date stored (for /healthz)."""
        with self.lock:
            row = self.conn.execute("SELECT max(date) FROM events").fetchone()
        return row[0] if row else None


def advance(conn: sqlite3.Connection, seq: int, newest: str | None) -> None:
    """Move the cursor (inside the caller's transaction, with the incidents of those events)."""
    conn.execute(
        "INSERT INTO cursor (id, seq, newest) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, newest = excluded.newest",
        (seq, newest),
    )
