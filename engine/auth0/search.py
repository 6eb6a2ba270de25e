"""Complete log search: every matching event in a window, past Auth0's 1,000-result cap.

Page search keeps the query but reaches only 1,000 results; checkpoint paging
has no cap but ignores the query (auth0-facts.md §1, §9). So the query is kept
and a date window moves: ``(<query>) AND date:[<lower> TO <until>}`` sorted by
``date:1``, pages 0..9 of 100; when 1,000 results are reached the same query
runs again from the last date seen, and log_ids already returned are dropped
(several events can share one timestamp). A short page ends the search, so
the number of requests stays close to ceil(matches / 100).

Each page is one ``auth0.page`` event of the operational log (``mode``,
``window``, ``page``, ``count`` in it, ``events`` so far, ``requests``): the
progress of a long search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from engine.auth0.events import LOGS_PATH, page_read
from engine.errors import DateError, UpstreamError

# the file searches' answers live with the store; named here too, as callers always found them
from engine.logs.answers import SearchResult as SearchResult
from engine.logs.answers import count_events as count_events
from engine.logs.answers import file_result
from engine.logs.answers import search_events as search_events
from engine.logs.eventset import identity
from engine.logs.files import Undated, profile, window_warnings
from engine.logs.files import search_file as scan
from engine.timeutil import date_key, iso_ms, now_utc, read_date

PER_PAGE = 100
MAX_PAGES = 10  # Auth0 serves at most the first 1,000 results of a page search
RETENTION = timedelta(days=30)  # the longest any plan keeps (Enterprise)


class _Getter(Protocol):
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...


def window_query(query: str, lower: datetime, until: datetime) -> str:
    """The user's query (grouped, so its ORs stay inside) AND-ed with the date window."""
    window = f"date:[{iso_ms(lower)} TO {iso_ms(until)}}}"
    query = query.strip()
    return f"({query}) AND {window}" if query else window


def retention_warnings(since: datetime, now: datetime | None = None) -> list[str]:
    """A warning when ``since`` is older than any plan keeps logs (30 days)."""
    now = now or now_utc()
    if now - since > RETENTION:
        return [
            f"the window starts {(now - since).days} days ago, but Auth0 keeps tenant logs for "
            f"1 to 30 days depending on the plan: events older than {iso_ms(now - RETENTION)} "
            "are not available to any search"
        ]
    return []


class Kept(Protocol):
    """Where a search keeps the events it reads, each identity once (``identity``)."""

    def add(self, batch: list[dict[str, Any]], room: int | None) -> int:
        """Keep the events of ``batch`` not kept yet, at most ``room``; how many are kept in all."""
        ...

    def events(self) -> Sequence[dict[str, Any]]:
        """What was kept, in the order it came."""
        ...


class InMemory:
    """The events in a list, identities in a set: for exports and the command line."""

    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []
        self.seen: set[str] = set()

    def add(self, batch: list[dict[str, Any]], room: int | None) -> int:
        for event in batch:
            if room is not None and room <= 0:
                break
            key = identity(event)
            if key not in self.seen:
                self.seen.add(key)
                self.kept.append(event)
                room = None if room is None else room - 1
        return len(self.kept)

    def events(self) -> list[dict[str, Any]]:
        return self.kept


def search(
    client: _Getter,
    query: str,
    since: datetime,
    until: datetime,
    *,
    limit: int | None = None,
    fields: list[str] | None = None,
    kept: Kept | None = None,
) -> SearchResult:
    """Every event matching ``query`` with ``since <= date < until``, oldest first, once each.

    ``query`` must already be safe: values put into it go through
    ``engine.expr.sandbox.lucene``. ``kept``: where each page's new events go
    as it arrives (a run's event store, ``engine.logs.store.PageSink``);
    ``result.events`` is then what it holds. By default, a list.
    """
    from engine.auth0.client import tally  # httpx: an offline search never loads it

    kept = kept if kept is not None else InMemory()
    with tally() as used:
        result = _search(client, query, since, until, limit, fields, kept)
    result.events = kept.events()
    result.stats = used.snapshot()
    return result


def _search(
    client: _Getter,
    query: str,
    since: datetime,
    until: datetime,
    limit: int | None,
    fields: list[str] | None,
    kept: Kept,
) -> SearchResult:
    result = SearchResult(events=[], warnings=retention_warnings(since))
    count = 0  # events kept so far
    lower = since
    params: dict[str, Any] = {"per_page": PER_PAGE, "sort": "date:1"}
    if fields:
        params["fields"] = ",".join(sorted({*fields, "log_id", "date"}))
        params["include_fields"] = "true"
    while True:
        result.windows += 1
        q = window_query(query, lower, until)
        last_date: str | None = None
        full = True
        for page in range(MAX_PAGES):
            batch = client.get("/logs", {**params, "q": q, "page": page})
            result.requests += 1
            if not isinstance(batch, list):
                raise UpstreamError("GET", LOGS_PATH, 200, "expected a list of log events")
            last_date = _latest(batch, last_date)
            count = kept.add(batch, None if limit is None else limit - count)
            page_read("search", len(batch), count, result.requests, result.windows, page)
            if limit is not None and count >= limit:
                return result
            if len(batch) < PER_PAGE:
                full = False
                break
        if not full:
            return result
        next_lower = parse_date(last_date) if last_date else None
        if next_lower is None:
            result.warnings.append(
                "the log events carry no readable date: the search stopped at the first 1,000"
            )
            return result
        if next_lower <= lower:
            result.warnings.append(
                f"more than 1,000 events share the timestamp {last_date}: events beyond the "
                "first 1,000 of that instant may be missing; narrow the query"
            )
            next_lower = lower + timedelta(milliseconds=1)
        lower = next_lower  # strictly later each time: the loop ends once it reaches `until`


def _latest(batch: list[Any], last_date: str | None) -> str | None:
    """The latest date key in ``batch`` or before (every item checked to be an event object)."""
    for event in batch:
        if not isinstance(event, dict):
            raise UpstreamError("GET", LOGS_PATH, 200, "a log event is not an object")
        date = date_key(event.get("date"))
        if date is not None and (last_date is None or date > last_date):
            last_date = date  # the latest seen, even if the server ignored the sort
    return last_date


def parse_date(date: str) -> datetime | None:
    """An event date read by the one date reader (``timeutil.read_date``), None if unreadable."""
    try:
        return read_date(date)
    except DateError:
        return None


def search_file(
    path: Path,
    query: str,
    since: datetime | None,
    until: datetime | None,
    *,
    limit: int | None = None,
) -> SearchResult:
    """The same search over an exported log file, with the Python evaluator, event by event.

    Runs answer from the event store (``search_events``); this is the reference
    its answers are checked against, event for event (tests/logs/test_store.py).

    Oldest first and each log_id once, as online: log streams deliver at least
    once, so an exported stream may hold an event twice. A file has no
    retention limit; when no event of the file falls in the window at all, the
    warning says so with the file's own span, so an empty answer is never
    mistaken for "all clear". ``since`` and ``until`` None: that side is open
    (both None: the whole file, events with unreadable dates last).
    """
    undated = Undated()
    by_id: dict[str, dict[str, Any]] = {}
    for event in scan(path, query, since, until, undated):
        by_id.setdefault(identity(event), event)
    events = sorted(by_id.values(), key=_file_order)
    if limit is not None:
        events = events[:limit]
    return file_result(
        path,
        events,
        since,
        until,
        undated,
        lambda lo, hi: window_warnings(path, lo, hi),
        lambda: profile(path).events,
    )


def _file_order(event: Mapping[str, Any]) -> tuple[bool, str, str]:
    """Oldest first, ties by log_id; an event whose date cannot be read comes last."""
    date = date_key(event.get("date"))
    return (date is None, date or "", str(event.get("log_id")))
