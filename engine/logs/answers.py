"""A file search's answer: the events found, oldest first and each once, and what it must say.

``search_events`` answers from the run's event store (``engine.logs.store``),
``count_events`` at the cost of a count; both say why an answer is empty
(the window misses the file's span, the file holds nothing) and what a
window left out (undated events), as ``engine.auth0.search.search_file``,
the event-by-event reference, does with the same ``file_result``. Kept apart
from the tenant's search so that searching a file imports no HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.logs.files import Undated, window_message
from engine.timeutil import iso_ms

if TYPE_CHECKING:
    from engine.logs.store import EventStore


@dataclass
class SearchResult:
    """The events (oldest first, each once) and what it took.

    ``events`` is a list for a tenant's pages and an ``EventSet`` (a
    ``Sequence`` of events kept in the run's DuckDB) for a file.

    ``requests``: pages asked for; ``windows``: date windows searched;
    ``stats``: ``{requests, retries, throttled, waited_s}`` as sent on the wire
    (retries and token requests included), for this search only.
    """

    events: Sequence[dict[str, Any]]
    requests: int = 0
    windows: int = 0
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def search_events(
    store: EventStore,
    path: Path,
    query: str,
    since: datetime | None,
    until: datetime | None,
    *,
    limit: int | None = None,
) -> SearchResult:
    """``search_file``'s answer, from the run's event store: an ``EventSet``, same events, same order."""
    undated = Undated()
    events = store.select(path, query, since, until, limit=limit, undated=undated)
    return file_result(
        path,
        events,
        since,
        until,
        undated,
        lambda lo, hi: store.window_warnings(path, lo, hi),
        lambda: store.source(path).profile.events,
        said=store.take_warnings(),  # said once, with the search that met them
    )


def count_events(
    store: EventStore,
    path: Path,
    query: str,
    since: datetime | None,
    until: datetime | None,
    *,
    limit: int | None = None,
) -> tuple[int, list[str]]:
    """How many events ``search_events`` finds, and its warnings, at the cost of a count.

    Straight from the file's columns when the store can (``EventStore.count``),
    else by the search itself.
    """
    span = (since or EARLIEST, until or LATEST)
    counted = store.count(path, query, since, until, span)
    if counted is None:
        result = search_events(store, path, query, since, until, limit=limit)
        return len(result.events), result.warnings
    found = counted.found if limit is None else min(counted.found, limit)

    def why_empty(lo: datetime, hi: datetime) -> list[str]:
        assert counted is not None and counted.profile is not None  # read for a window
        return window_message(path, counted.profile, iso_ms(lo), iso_ms(hi), counted.inside)

    return found, file_warnings(
        path,
        found > 0,
        since,
        until,
        Undated(),  # a count read straight from the file holds no undated event
        why_empty,
        lambda: counted.events,
        said=store.take_warnings(),
    )


def file_result(
    path: Path,
    events: Sequence[dict[str, Any]],
    since: datetime | None,
    until: datetime | None,
    undated: Undated,
    why_empty: Callable[[datetime, datetime], list[str]],
    held: Callable[[], int],
    said: list[str] | None = None,
) -> SearchResult:
    """A file search's answer with what it must say (``file_warnings``)."""
    stats = {"requests": 0, "retries": 0, "throttled": 0, "waited_s": 0.0}
    warnings = file_warnings(path, bool(events), since, until, undated, why_empty, held, said)
    if undated.count:
        stats["undated"] = undated.count
    return SearchResult(events=events, warnings=warnings, stats=stats)


def file_warnings(
    path: Path,
    found: bool,
    since: datetime | None,
    until: datetime | None,
    undated: Undated,
    why_empty: Callable[[datetime, datetime], list[str]],
    held: Callable[[], int],
    said: list[str] | None = None,
) -> list[str]:
    """What a file search must say: why it is empty (``found`` none), what it left out.

    ``why_empty``: the warnings of a window that holds none of the file's events;
    ``held``: how many events the file holds (asked only for an empty answer).
    """
    warnings: list[str] = list(said or [])
    if not found and (since is not None or until is not None):
        warnings += why_empty(since or EARLIEST, until or LATEST)
    elif not found and held() == 0:
        warnings.append(f"{path} holds no log events")
    if undated.count:
        warnings.append(undated.warning())
    return warnings


# the bounds a window open on one side is checked with (``window_warnings``)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
