"""The emulated tenant's logs: compact storage plus indexes on the fields queries hit most.

Events are kept as pre-serialised JSON bytes in log_id order (a 1,000,000-event
tenant fits in well under 2 GiB); ``type``, ``ip`` and ``user_id`` have posting
lists of positions, and dates are a sorted column searched by bisection, so a
page of ``type:"s" AND ip:"X"`` or of a date window decodes only what it returns.
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections.abc import Iterable, Iterator
from typing import Any

from engine.query import INDEXED, Query, event_date


class LogStore:
    def __init__(self, events: Iterable[dict[str, Any]], *, presorted: bool = False) -> None:
        rows = events if presorted else sorted(events, key=lambda e: str(e.get("log_id")))
        self._raw: list[bytes] = []
        self.ids: list[str] = []
        self.dates: list[str] = []
        self.index: dict[str, dict[str, list[int]]] = {f: {} for f in INDEXED}
        self.columns: dict[str, list[str | None]] = {f: [] for f in INDEXED}
        intern: dict[str, str] = {}
        for pos, event in enumerate(rows):
            self._raw.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
            self.ids.append(str(event.get("log_id")))
            self.dates.append(event_date(event) or "")
            for f in INDEXED:
                value = event.get(f)
                if isinstance(value, str):
                    value = intern.setdefault(value, value)
                    self.index[f].setdefault(value, []).append(pos)
                    self.columns[f].append(value)
                else:
                    self.columns[f].append(None)
        self.dates_sorted = all(a <= b for a, b in zip(self.dates, self.dates[1:], strict=False))

    def __len__(self) -> int:
        return len(self._raw)

    def get(self, pos: int) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self._raw[pos])
        return event

    def raw(self, pos: int) -> bytes:
        return self._raw[pos]

    def position(self, log_id: str) -> int | None:
        pos = bisect.bisect_left(self.ids, log_id)
        return pos if pos < len(self.ids) and self.ids[pos] == log_id else None

    def after(self, log_id: str) -> int:
        """First position whose log_id is greater than ``log_id`` (checkpoint paging)."""
        return bisect.bisect_right(self.ids, log_id)

    def _date_span(self, lo: str | None, hi: str | None) -> tuple[int, int]:
        if not self.dates_sorted:
            return 0, len(self)
        start = bisect.bisect_left(self.dates, lo) if lo else 0
        end = bisect.bisect_left(self.dates, hi) if hi else len(self)
        return start, end

    def candidates(self, query: Query, descending: bool) -> Iterator[int]:
        """Positions that may match, in log_id order, narrowed by the query's hints."""
        h = query.hints
        start, end = self._date_span(h.date_lo, h.date_hi)
        best: list[list[int]] | None = None
        best_field = ""
        for f, values in h.eq.items():
            lists = [self.index[f].get(v, []) for v in values]
            if best is None or sum(map(len, lists)) < sum(map(len, best)):
                best, best_field = lists, f
        if best is None:
            rng = range(end - 1, start - 1, -1) if descending else range(start, end)
            yield from rng
            return
        spans = []
        for lst in best:
            a, b = bisect.bisect_left(lst, start), bisect.bisect_left(lst, end)
            spans.append(lst[a:b][::-1] if descending else lst[a:b])
        merged = spans[0] if len(spans) == 1 else heapq.merge(*spans, reverse=descending)
        others = [(self.columns[f], v) for f, v in h.eq.items() if f != best_field]
        for pos in merged:
            # the other exact constraints are checked on the columns, without decoding
            if all(col[pos] in values for col, values in others):
                yield pos

    def search(
        self, query: Query, *, sort: tuple[str, int] | None, skip: int, take: int
    ) -> list[int]:
        """Positions of matches ``skip .. skip+take`` in the requested order."""
        if take <= 0:
            return []
        field, direction = sort or ("log_id", -1)
        if field in ("log_id", "date") and (field == "log_id" or self.dates_sorted):
            out: list[int] = []
            seen = 0
            for pos in self.candidates(query, descending=direction < 0):
                if query(self.get(pos)):
                    if seen >= skip:
                        out.append(pos)
                        if len(out) >= take:
                            break
                    seen += 1
            return out
        matches = [pos for pos in self.candidates(query, False) if query(self.get(pos))]
        matches.sort(
            key=lambda p: (str(self.get(p).get(field) or ""), self.ids[p]), reverse=direction < 0
        )
        return matches[skip : skip + take]

    def by_user(self, user_id: str) -> list[int]:
        return self.index["user_id"].get(user_id, [])
