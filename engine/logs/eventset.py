"""``EventSet``: log events that stay in the run's DuckDB until something reads them.

A search's answer is a temporary table of ``(rid, pos)``: which events of a
source matched, each identity once, and their order (oldest first, ties by
log id, as ``engine.auth0.search.search_file`` answers). Steps pass the set
by reference; actions that consume events run SQL over it (``rows``,
``query``); anything else sees a ``Sequence`` of event dicts, read back from
the file a batch at a time (``len``, ``[0]``, slices, iteration), so an
expression such as ``events | length`` or ``events[0].ip`` reads only what it
needs. The run log records a set by ``log_summary``: its count, span, the
digest of its log ids and its first events.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, overload

from engine.depth import loads_each
from engine.errors import LogFileError
from engine.logs.files import Profile
from engine.logs.lines import LineIndex
from engine.logs.query import field_text

# a file search's order (``search_file``): by date (unreadable last), log id, place in the file
SEARCH_ORDER = "date_key IS NULL, coalesce(date_key, ''), coalesce(log_id, 'None'), rid"
BATCH = 2048  # events read back from the file at a time when iterating
# events whose lines are asked of the kernel ahead of their reading when iterating: lines
# scattered over an export not in the page cache are read together, not one seek at a time
AHEAD = 8 * BATCH
SUMMARY_EVENTS = 5  # events the run log keeps of a set, by SUMMARY_FIELDS
SUMMARY_FIELDS = ("log_id", "date", "type", "ip", "user_id", "user_name", "client_name")


class Store(Protocol):
    """What a set needs of its store (``engine.logs.store.EventStore``)."""

    con: Any  # duckdb.DuckDBPyConnection: duckdb is imported only where it is used
    lock: threading.RLock

    def new_name(self, prefix: str) -> str: ...

    def pages(self) -> Any:  # a PageSink: events written into the store, a new source
        ...


@dataclass
class Source:
    """One file's events as a relation: ``name`` (rid + columns), a profile, and ``raw``,
    the JSON-lines file whose ``rows`` non-blank lines the rids number.

    Its line index is built on the first read-back (one pass over ``raw``), and
    handed to ``on_index`` (the cache keeps it), so a count never pays for it.
    """

    label: str
    name: str
    raw: Path
    rows: int
    profile: Profile
    unique: bool = False  # no two events share a log id (no redelivery to drop)
    cached: bool = False
    known_index: LineIndex | None = None
    on_index: Callable[[LineIndex], None] | None = None

    @property
    def index(self) -> LineIndex:
        if self.known_index is None:
            self.known_index = LineIndex.build(self.raw, self.rows)
            if self.on_index is not None:
                self.on_index(self.known_index)
        return self.known_index


class EventSet(Sequence[dict[str, Any]]):
    """Matching events of one source, in order; see the module docstring."""

    def __init__(self, store: Store, source: Source, table: str, count: int) -> None:
        self.store = store
        self.source = source
        self.table = table
        self._count = count
        self._span: tuple[str | None, str | None] | None = None
        self._digest: str | None = None

    @classmethod
    def create(
        cls,
        store: Store,
        source: Source,
        where: str,
        params: list[Any],
        limit: int | None,
        order: str = SEARCH_ORDER,
    ) -> EventSet:
        """The events of ``source`` where ``where`` holds (SQL over its columns, ``?`` params)."""
        keep = f"QUALIFY pos < {int(limit)}" if limit is not None else ""
        # each identity once (its first match in the file), unless the source has no repeats
        once = (
            ""
            if source.unique
            else f"QUALIFY row_number() OVER (PARTITION BY {IDENTITY} ORDER BY rid) = 1"
        )
        return cls.kept(
            store,
            source,
            f"SELECT rid, pos, date_key, ident FROM ("
            f"SELECT rid, date_key, ident, row_number() OVER (ORDER BY {order}) - 1 AS pos FROM ("
            f"SELECT rid, date_key, date, log_id, {IDENTITY_TEXT} AS ident FROM {source.name} "
            f"WHERE {where} {once}) {keep}) ORDER BY pos",
            params,
        )

    @classmethod
    def kept(
        cls, store: Store, source: Source, select: str, params: Sequence[Any] = ()
    ) -> EventSet:
        """A set of ``source`` made by ``select`` (``rid, pos, date_key, ident``: each event's
        place, its readable date and its log id), kept as a temporary table: what the run log
        keeps of a set (span, digest) is read from it alone, without joining the source."""
        name = store.new_name("set")
        with store.lock:
            store.con.execute(f"CREATE TEMP TABLE {name} AS {select}", list(params))
            row = store.con.execute(f"SELECT count(*) FROM {name}").fetchone()
        return cls(store, source, name, int(row[0]) if row else 0)

    # -- what a step or the run log asks of the whole set, in SQL --------------------------

    @property
    def relation(self) -> str:
        """A SQL relation of the set's events: ``pos`` and every column of the source."""
        return f"(SELECT s.pos, e.* FROM {self.table} s JOIN {self.source.name} e USING (rid))"

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql``, in which ``{events}`` stands for ``relation``."""
        with self.store.lock:
            rows: list[tuple[Any, ...]] = self.store.con.execute(
                sql.format(events=self.relation), list(params)
            ).fetchall()
        return rows

    def rows(self, *columns: str) -> list[tuple[Any, ...]]:
        """The given columns of every event, in order (field values as text, None if absent)."""
        cols = ", ".join(f'"{c}"' for c in columns)
        return self.query(f"SELECT {cols} FROM {{events}} ORDER BY pos")

    def held(self, *columns: str) -> set[str]:
        """Which of ``columns`` some event of the set has a value for."""
        counts = ", ".join(f'count("{c}")' for c in columns)
        (row,) = self.query(f"SELECT {counts} FROM {{events}}")
        return {c for c, n in zip(columns, row, strict=True) if n}

    def dicts(self, *columns: str) -> list[dict[str, Any]]:
        """Each event as a dict of only ``columns`` (absent ones None): what a loop over
        a few fields needs, without reading the events back."""
        return [dict(zip(columns, row, strict=True)) for row in self.rows(*columns)]

    def subset(self, where: str, params: Sequence[Any]) -> EventSet:
        """The events of this set where ``where`` holds (SQL over its columns), in its order."""
        return self.kept(
            self.store,
            self.source,
            f"SELECT rid, row_number() OVER (ORDER BY pos) - 1 AS pos, date_key, "
            f"{IDENTITY_TEXT} AS ident FROM {self.relation} e WHERE {where} ORDER BY pos",
            params,
        )

    def union(self, others: Sequence[EventSet], order: str) -> EventSet:
        """This set and ``others`` (of the same source) as one, each identity once, in ``order``."""
        tables = " UNION ".join(f"SELECT rid FROM {s.table}" for s in [self, *others])
        return self.kept(
            self.store,
            self.source,
            f"SELECT rid, row_number() OVER (ORDER BY {order}, rid) - 1 AS pos, date_key, "
            f"{IDENTITY_TEXT} AS ident FROM ({tables}) u JOIN {self.source.name} e USING (rid) "
            "ORDER BY pos",
        )

    @property
    def span(self) -> tuple[str | None, str | None]:
        """The first and last readable date (``YYYY-MM-DDTHH:MM:SS.mmmZ``), None when there is none."""
        if self._span is None:
            self._span_and_digest()
        assert self._span is not None
        return self._span

    @property
    def digest(self) -> str:
        """SHA-256 of the events' identities (log ids) in order, one a line."""
        if self._digest is None:
            self._span_and_digest()
        assert self._digest is not None
        return self._digest

    def _span_and_digest(self) -> None:
        """Both from the set's own table, in one query."""
        with self.store.lock:
            row = self.store.con.execute(
                "SELECT min(date_key), max(date_key), "
                "sha256(coalesce(string_agg(coalesce(ident, ''), chr(10) ORDER BY pos), '')) "
                f"FROM {self.table}"
            ).fetchone()
        assert row is not None
        self._span, self._digest = (row[0], row[1]), str(row[2])

    def log_summary(self) -> dict[str, Any]:
        """What the run log keeps of the set: count, span, digest and its first events, each
        by the fields a responder reads first (``SUMMARY_FIELDS``), so that some fit the
        log's budget for a step's output (``engine.audit.runlog.summarize``)."""
        first, last = self.span
        return {
            "event_set": {
                "count": self._count,
                "first_date": first,
                "last_date": last,
                "digest": self.digest,
                "first": self.dicts_at(0, SUMMARY_EVENTS, SUMMARY_FIELDS),
            }
        }

    def dicts_at(self, start: int, stop: int, columns: Sequence[str]) -> list[dict[str, Any]]:
        """Events ``start`` to ``stop`` by the given columns only (absent ones left out)."""
        cols = ", ".join(f'"{c}"' for c in columns)
        rows = self.query(
            f"SELECT {cols} FROM {{events}} WHERE pos >= ? AND pos < ? ORDER BY pos", [start, stop]
        )
        return [{c: v for c, v in zip(columns, row, strict=True) if v is not None} for row in rows]

    # -- the events themselves, read back as needed ----------------------------------------

    def events(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Events ``start`` to ``stop`` (positions), read from the file.

        Each event read back must be the one its columns describe (the same log
        id and type): a file changed since it was read or cached is refused, not
        answered from two versions of itself.
        """
        start, stop = max(start, 0), min(stop, self._count)
        if start >= stop:
            return []
        with self.store.lock:
            rows = self.store.con.execute(
                f"SELECT s.rid, e.log_id, e.type FROM {self.table} s JOIN {self.source.name} e "
                "USING (rid) WHERE s.pos >= ? AND s.pos < ? ORDER BY s.pos",
                [start, stop],
            ).fetchall()
        texts = self.source.index.read(int(r[0]) for r in rows)
        read = loads_each([texts[int(r[0])] for r in rows])
        events = []
        for (rid, log_id, kind), event in zip(rows, read, strict=True):
            if not isinstance(event, dict) or (
                field_text(event.get("log_id")),
                field_text(event.get("type")),
            ) != (log_id, kind):
                raise LogFileError(
                    f"{self.source.raw}: event {int(rid) + 1} is not the one read before "
                    "(the file changed since it was read or cached): run again, or with "
                    "--no-cache, or rebuild the cache with soar logs index FILE --rebuild"
                )
            events.append(event)
        return events

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step == 1:
                return self.events(start, stop)
            return [self[i] for i in range(start, stop, step)]
        i = index + self._count if index < 0 else index
        if not 0 <= i < self._count:
            raise IndexError("event set index out of range")
        return self.events(i, i + 1)[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for start in range(0, self._count, BATCH):
            if start % AHEAD == 0:  # the lines of the next AHEAD events on their way meanwhile
                self._prefetch(start + AHEAD if start else 0, start + 2 * AHEAD)
            yield from self.events(start, start + BATCH)

    def _prefetch(self, start: int, stop: int) -> None:
        """The lines of the events at positions ``start`` to ``stop`` asked of the kernel."""
        if start >= self._count:
            return
        with self.store.lock:
            rows = self.store.con.execute(
                f"SELECT rid FROM {self.table} WHERE pos >= ? AND pos < ?", [start, stop]
            ).fetchall()
        self.source.index.prefetch(int(r[0]) for r in rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventSet | list | tuple):
            return len(other) == self._count and all(
                a == b for a, b in zip(self, other, strict=True)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        first, last = self.span
        return f"<EventSet of {self._count} events, {first} to {last}>"


def identity(event: Mapping[str, Any]) -> str:
    """What makes an event itself: its log_id, or for one without, its whole content.

    Events without a log id are never merged with each other (the string of a
    missing id is not an id): only a byte-identical copy, a redelivery, is one event.
    """
    log_id = event.get("log_id") or event.get("_id")
    if isinstance(log_id, str) and log_id:
        return "id:" + log_id
    return "content:" + json.dumps(event, sort_keys=True, ensure_ascii=False, default=str)


# what makes an event itself in SQL (``identity``): its log id, else its row
IDENTITY = "coalesce(nullif(log_id, ''), nullif(\"_id\", ''), 'rid:' || rid)"
IDENTITY_TEXT = "coalesce(nullif(log_id, ''), nullif(\"_id\", ''))"
