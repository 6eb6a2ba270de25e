"""What actions need to take events as lists or as event sets alike.

A file's search answers with an ``EventSet`` (``engine.logs.eventset``): the
events stay in the run's DuckDB. An action that reads a few fields of each
event asks for just those (``fields_of``): a set gives them from its columns,
without reading a single event back; a list is used as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.logs.eventset import EventSet

# the order find_successful_logins has always given: by the date as logged, then log id
LOGGED_ORDER = "coalesce(date, 'None'), coalesce(log_id, 'None')"


def fields_of(events: Iterable[Any], *names: str) -> Iterable[Any]:
    """``events``, or for an event set each event as a dict of only ``names``.

    A field's value in a set is its text (``engine.logs.query.field_text``):
    the same as the event's for the strings Auth0 writes.
    """
    if isinstance(events, EventSet):
        return events.dicts(*names)
    return events


def joined(parts: Sequence[Sequence[Mapping[str, Any]]]) -> Sequence[Mapping[str, Any]]:
    """The events of several searches as one, by date as logged then log id.

    Sets stay a set: of one source, a union in SQL; of several (a tenant's searches, each
    its own pages), their events gathered into one more set. Lists give a sorted list.
    """
    if parts and all(isinstance(p, EventSet) for p in parts):
        sets = [p for p in parts if isinstance(p, EventSet)]
        if len({s.source.name for s in sets}) == 1:
            return sets[0].union(sets[1:], LOGGED_ORDER)
        gathered = sets[0].store.pages()
        for s in sets:
            gathered.add(list(s), None)
        together: EventSet = gathered.events(order=LOGGED_ORDER)
        return together
    events = [e for part in parts for e in part]
    events.sort(key=lambda e: (str(e.get("date")), str(e.get("log_id"))))
    return events
