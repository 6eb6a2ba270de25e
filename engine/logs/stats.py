"""What a set of log events holds, at a glance: types, top addresses and users, time span.

``soar logs stats`` prints it before a responder writes a single query. An
address is counted once whatever form Auth0 logged it in (``::ffff:1.2.3.4``
and ``1.2.3.4`` are one, ``engine.ipforms.address_key``); a user is its
``user_id``, shown with the ``user_name`` seen most often beside it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.eventcodes import lookup
from engine.ipforms import address_key
from engine.logs.eventset import EventSet
from engine.timeutil import date_key


@dataclass
class LogStats:
    """Counts over events; ``top`` bounds each ranked list."""

    events: int = 0
    undated: int = 0  # events whose date cannot be read
    first: str | None = None
    last: str | None = None
    types: Counter[str] = field(default_factory=Counter)
    ips: Counter[str] = field(default_factory=Counter)
    users: Counter[str] = field(default_factory=Counter)
    names: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        date = date_key(event.get("date"))
        if date is None:
            self.undated += 1
        else:
            self.first = date if self.first is None or date < self.first else self.first
            self.last = date if self.last is None or date > self.last else self.last
        kind = event.get("type")
        self.types[kind if isinstance(kind, str) else str(kind)] += 1
        ip = event.get("ip")
        key = address_key(ip) if isinstance(ip, str) else None
        if key is not None:
            self.ips[key] += 1
        uid = event.get("user_id")
        if isinstance(uid, str) and uid:
            self.users[uid] += 1
            name = event.get("user_name")
            if isinstance(name, str) and name:
                self.names.setdefault(uid, Counter())[name] += 1

    def as_dict(self, top: int) -> dict[str, Any]:
        """The counts as JSON-ready data: each ranked list most frequent first, ``top`` long."""
        return {
            "events": self.events,
            "undated": self.undated,
            "first": self.first,
            "last": self.last,
            "types": [
                {"type": t, "count": n, "meaning": _meaning(t)} for t, n in _ranked(self.types)
            ],
            "ips": [{"ip": ip, "count": n} for ip, n in _ranked(self.ips)[:top]],
            "users": [
                {"user_id": uid, "user_name": self._name(uid), "count": n}
                for uid, n in _ranked(self.users)[:top]
            ],
        }

    def _name(self, uid: str) -> str | None:
        seen = self.names.get(uid)
        return _ranked(seen)[0][0] if seen else None


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most frequent first, ties in name order: the same file always prints the same list."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _meaning(code: str) -> str:
    known = lookup(code)
    return known.description if known else "not in Auth0's event catalog"


def stats_of(events: Iterable[Mapping[str, Any]]) -> LogStats:
    """The stats of ``events``: an event set's are counted in SQL, without reading it back."""
    if isinstance(events, EventSet):
        return _set_stats(events)
    found = LogStats()
    for event in events:
        found.add(event)
    return found


def _set_stats(events: EventSet) -> LogStats:
    """``stats_of`` for a set: each distinct value of a column counted once, then read here."""
    found = LogStats(events=len(events))
    row = events.query(
        "SELECT count(*) FILTER (WHERE date_key IS NULL), min(date_key), max(date_key) FROM {events}"
    )[0]
    found.undated, found.first, found.last = int(row[0]), row[1], row[2]
    for kind, n in events.query('SELECT "type", count(*) FROM {events} GROUP BY "type"'):
        found.types[str(kind)] += n
    for ip, n in events.query("SELECT ip, count(*) FROM {events} WHERE ip IS NOT NULL GROUP BY ip"):
        key = address_key(ip)
        if key is not None:
            found.ips[key] += n
    for uid, name, n in events.query(
        "SELECT user_id, user_name, count(*) FROM {events} WHERE user_id <> '' "
        "GROUP BY user_id, user_name"
    ):
        found.users[uid] += n
        if name:
            found.names.setdefault(uid, Counter())[name] += n
    return found
