"""The emulated tenant's logs: compact storage plus indexes on the fields queries hit most.

Events are kept as pre-serialised JSON bytes in log_id order, each compressed on
its own, and their log ids and dates packed too (``engine.emulator.packed``: a
1,000,000-event tenant is served in about 590 MiB, against 1.6 GiB before).
``type``, ``ip`` and ``user_id`` have posting lists of positions (4 bytes each),
and dates are a sorted column searched by bisection. Every searchable field is
also a dictionary-encoded column (1, 2 or 4 bytes an event), so a query is
evaluated on a ``Row`` view of the columns: nothing is decoded from JSON, or
decompressed, except the page that is returned.

Events keep their ids as they came: one without a ``log_id`` (a file can hold
such events, a tenant never does) has none here either: it is never matched
by a ``log_id`` query, fetched by ``GET /logs/{id}`` or reached by checkpoint
paging, and is never taken for another id-less event. A file that holds one
log_id twice (log streams deliver at least once) is one event in the tenant.

Why not the run's DuckDB store (issue 12 item 7, measured on 1,000,000 events
with ``bench/bench_emulator.py`` on the 2-core machine): a DuckDB table of the
same columns with ``engine.logs.sql.where_sql`` gave the same answers and served
in 494 MiB (this store peaks at 1.6 GiB), but a page of ``type:"s" AND ip:"X"``
took 30.7 ms median and 80.6 ms p99 (here 11 ms): without posting lists every
such query scans the ``type`` and ``ip`` columns of the whole tenant, where
this store reads one posting list of a few hundred positions.
"""

from __future__ import annotations

import bisect
import heapq
import json
from array import array
from collections.abc import Iterable, Iterator
from itertools import pairwise
from typing import Any, TypeAlias

from engine.emulator.packed import Packed, Texts
from engine.errors import EmulatorError
from engine.logs.query import INDEXED, SEARCHABLE, Query, event_date, field_text

MAX_RUNS = 16  # more date-sorted runs than this (a shuffled file): sort the matches instead
_COLUMNS = tuple(sorted(SEARCHABLE - {"log_id", "date"}))
# array("I") of positions, in order: 4 bytes each, where a list of ints takes about 36
Postings: TypeAlias = "array[int]"
_NO_POSTINGS: Postings = array("I")  # what a value no event holds has (never appended to)
# a column's codes take 1 byte each while it has at most 256 values, then 2, then 4
_CODE_LIMITS = {"B": 1 << 8, "H": 1 << 16, "I": 1 << 32}
_WIDER = {"B": "H", "H": "I"}


def _posting(index: dict[str, Postings], value: str) -> Postings:
    """The posting list of ``value`` in ``index``, made empty the first time."""
    found = index.get(value)
    if found is None:
        found = index[value] = array("I")
    return found


class Row:
    """One event seen through the store's columns: what a compiled query reads."""

    __slots__ = ("pos", "store")

    def __init__(self, store: LogStore, pos: int) -> None:
        self.store, self.pos = store, pos

    def get(self, name: str, default: Any = None) -> Any:
        return self.store.value(name, self.pos, default)


class LogStore:
    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        """Store ``events`` (any order; consumed once, never held as dicts all at once)."""
        rows = events
        self._raw = Packed()
        self.ids = Texts()  # "" for an event without a log_id (sorts first)
        self.no_id = bytearray()  # 1 where the event has no log_id at all
        self.dates = Texts()
        self.index: dict[str, dict[str, Postings]] = {f: {} for f in INDEXED}
        self.codes: dict[str, array[int]] = {f: array("B") for f in _COLUMNS}
        self.values: dict[str, list[Any]] = {f: [None] for f in _COLUMNS}
        code_of: dict[str, dict[Any, int]] = {f: {None: 0} for f in _COLUMNS}
        self.raw_dates: list[Any] = []
        for pos, event in enumerate(rows):
            self._raw.add(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
            log_id = event.get("log_id")
            self.ids.append("" if log_id is None else str(log_id))
            self.no_id.append(log_id is None)
            key = event_date(event) or ""
            self.dates.append(key)
            date = event.get("date")
            self.raw_dates.append(date if key != date else None)
            self._add_columns(pos, event, code_of)
        if any(a > b or (a == b and b) for a, b in pairwise(self.ids)):
            self._reorder(self._unique(sorted(range(len(self.ids)), key=self.ids.__getitem__)))
        self.runs = self._runs()
        self.dates_sorted = len(self.runs) <= 1
        self._code_of = code_of  # value -> code per column, for events appended later

    def append(self, event: dict[str, Any]) -> None:
        """Add an event the tenant writes while serving; its log_id must sort after every other.

        Handler threads may be reading: every column grows at its end only, and the
        log_id list last, so a reader sees either the whole event or none of it.
        """
        log_id = str(event["log_id"])
        if self.ids and log_id <= self.ids[-1]:
            raise EmulatorError(f"appended log_id {log_id} does not sort after {self.ids[-1]}")
        pos = len(self._raw)
        self._raw.add(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
        date = event_date(event) or ""
        self.no_id.append(0)
        self.dates.append(date)
        self.raw_dates.append(event.get("date") if date != event.get("date") else None)
        self._add_columns(pos, event, self._code_of)
        # the last date-sorted run grows, or a new one starts (a date before the last)
        if self.runs and self.dates[self.runs[-1][1] - 1] <= date:
            self.runs[-1] = (self.runs[-1][0], pos + 1)
        else:
            self.runs.append((pos, pos + 1))
        self.dates_sorted = len(self.runs) <= 1
        self.ids.append(log_id)

    def _add_columns(
        self, pos: int, event: dict[str, Any], code_of: dict[str, dict[Any, int]]
    ) -> None:
        """The event's value in every column (dictionary-encoded) and in the indexes."""
        for f in _COLUMNS:
            value = field_text(event.get(f))  # what a query reads: a number as its JSON text
            codes = code_of[f]
            code = codes.get(value)
            if code is None:
                code = codes[value] = len(self.values[f])
                self.values[f].append(value)
                if code >= _CODE_LIMITS[self.codes[f].typecode]:  # a wider code, same codes
                    self.codes[f] = array(_WIDER[self.codes[f].typecode], self.codes[f])
            self.codes[f].append(code)
            if f in INDEXED and isinstance(value, str):
                _posting(self.index[f], value).append(pos)

    def _runs(self) -> list[tuple[int, int]]:
        """Spans ``[a, b)`` of positions within which dates do not decrease.

        A tenant's ids sort by prefix first and by time only within a prefix,
        so its events form one date-sorted run per prefix; a date window is
        then a bisection in each run, and date order a merge of the runs.
        """
        runs: list[tuple[int, int]] = []
        start = 0
        for i, (before, date) in enumerate(pairwise(self.dates), 1):
            if date < before:
                runs.append((start, i))
                start = i
        if self.dates:
            runs.append((start, len(self.dates)))
        return runs

    def _unique(self, order: list[int]) -> list[int]:
        """``order`` without the later copies of a log_id already seen (a redelivery)."""
        kept: list[int] = []
        for pos in order:
            if kept and self.ids[pos] and self.ids[pos] == self.ids[kept[-1]]:
                continue
            kept.append(pos)
        return kept

    def _reorder(self, perm: list[int]) -> None:
        """Put the events in log_id order (a file need not be): every column follows ``perm``."""
        self._raw = self._raw.reordered(perm)
        self.ids = self.ids.reordered(perm)
        self.no_id = bytearray(self.no_id[i] for i in perm)
        self.dates = self.dates.reordered(perm)
        self.raw_dates = [self.raw_dates[i] for i in perm]
        for f, codes in self.codes.items():
            self.codes[f] = array(codes.typecode, map(codes.__getitem__, perm))
        for f in INDEXED:
            index: dict[str, Postings] = {}
            values = self.values[f]
            for pos, code in enumerate(self.codes[f]):
                value = values[code]
                if isinstance(value, str):
                    _posting(index, value).append(pos)
            self.index[f] = index

    def value(self, name: str, pos: int, default: Any = None) -> Any:
        """Field ``name`` of the event at ``pos`` (searchable fields only), without decoding."""
        if name == "log_id":
            return None if self.no_id[pos] else self.ids[pos]
        if name == "date":
            # the normalised date, unless the event's own string differs (kept aside)
            return self.raw_dates[pos] or self.dates[pos] or None
        codes = self.codes.get(name)
        if codes is None:
            return self.get(pos).get(name, default)
        return self.values[name][codes[pos]]

    def matches(self, query: Query, pos: int) -> bool:
        return query(Row(self, pos))  # type: ignore[arg-type]  # Row reads like an event

    def __len__(self) -> int:
        return len(self._raw)

    def get(self, pos: int) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self._raw[pos])
        return event

    def raw(self, pos: int) -> bytes:
        return self._raw[pos]

    def position(self, log_id: str) -> int | None:
        """Where the event with this log_id is; an empty id names no event."""
        if not log_id:
            return None
        pos = bisect.bisect_left(self.ids, log_id)
        return pos if pos < len(self.ids) and self.ids[pos] == log_id else None

    def after(self, log_id: str) -> int:
        """First position whose log_id is greater than ``log_id`` (checkpoint paging)."""
        return bisect.bisect_right(self.ids, log_id)

    def _date_spans(self, lo: str | None, hi: str | None) -> list[tuple[int, int]]:
        """The positions whose date is in ``[lo, hi)``: one span per run (all, past MAX_RUNS)."""
        if len(self.runs) > MAX_RUNS:
            return [(0, len(self))]
        spans = []
        for a, b in self.runs:
            start = bisect.bisect_left(self.dates, lo, a, b) if lo else a
            end = bisect.bisect_left(self.dates, hi, a, b) if hi else b
            if start < end:
                spans.append((start, end))
        return spans

    def candidates(self, query: Query, descending: bool, by_date: bool = False) -> Iterator[int]:
        """Positions that may match, in log_id (or date) order, narrowed by the query's hints."""
        spans = [
            self._candidates(query, descending, a, b)
            for a, b in self._date_spans(query.hints.date_lo, query.hints.date_hi)
        ]
        if by_date:
            key: Any = lambda p: (self.dates[p], self.ids[p])  # noqa: E731
            yield from heapq.merge(*spans, key=key, reverse=descending)
        else:  # spans are in position order, which is log_id order
            for span in reversed(spans) if descending else spans:
                yield from span

    def _candidates(self, query: Query, descending: bool, start: int, end: int) -> Iterator[int]:
        h = query.hints
        best: list[Postings] | None = None
        best_field = ""
        for f, values in h.eq.items():
            lists = [self.index[f].get(v, _NO_POSTINGS) for v in values]
            if best is None or sum(map(len, lists)) < sum(map(len, best)):
                best, best_field = lists, f
        if best is None:
            rng = range(end - 1, start - 1, -1) if descending else range(start, end)
            yield from rng
            return
        spans: list[Iterator[int]] = []
        for lst in best:
            a, b = bisect.bisect_left(lst, start), bisect.bisect_left(lst, end)
            # lazily: a page needs the first few hundred of a posting list, not a copy of it
            order = range(b - 1, a - 1, -1) if descending else range(a, b)
            spans.append(map(lst.__getitem__, order))
        merged = spans[0] if len(spans) == 1 else heapq.merge(*spans, reverse=descending)
        others = [
            (self.codes[f], {c for c, x in enumerate(self.values[f]) if x in v})
            for f, v in h.eq.items()
            if f != best_field
        ]
        for pos in merged:
            # the other exact constraints are checked on the codes, without decoding
            if all(codes[pos] in wanted for codes, wanted in others):
                yield pos

    def search(
        self, query: Query, *, sort: tuple[str, int] | None, skip: int, take: int
    ) -> list[int]:
        """Positions of matches ``skip .. skip+take`` in the requested order."""
        if take <= 0:
            return []
        field, direction = sort or ("log_id", -1)
        by_date = field == "date" and not self.dates_sorted
        if field == "log_id" or (field == "date" and len(self.runs) <= MAX_RUNS):
            out: list[int] = []
            seen = 0
            for pos in self.candidates(query, descending=direction < 0, by_date=by_date):
                if self.matches(query, pos):
                    if seen >= skip:
                        out.append(pos)
                        if len(out) >= take:
                            break
                    seen += 1
            return out
        matches = [pos for pos in self.candidates(query, False) if self.matches(query, pos)]
        # dates sort by instant (their normalised key), not by how each one is written
        column = self.dates if field == "date" else None
        matches.sort(
            key=lambda p: (column[p] if column else str(self.value(field, p) or ""), self.ids[p]),
            reverse=direction < 0,
        )
        return matches[skip : skip + take]

    def by_user(self, user_id: str) -> Postings:
        return self.index["user_id"].get(user_id, _NO_POSTINGS)
