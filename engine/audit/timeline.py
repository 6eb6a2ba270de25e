"""What the attack looked like over time, from a run log: the marks of the report's timeline.

Read by shape from what the run recorded, never by a playbook's output names or
step ids:

- **failures**: each address row an output holds (``ip``, ``count``,
  ``first_seen``, ``last_seen``: ``ip.extract``'s rows, kept by a filter) is a
  span from its first to its last indicator event, with its count and, where
  the row has them (``hours``), its events in each hour;
- **login**: each account's first successful login from those addresses (a
  step output's ``first_login``, user id to date, with its ``user_names``);
- **application**: each application an account reached, at its first event
  (a step output's ``clients``, user id to ``client_name`` rows);
- **management**: each Management API call among the events an output holds
  (type ``sapi``/``fapi``/``mgmt_api_read``, or a request to ``/api/v2/``);
- **containment**: each write the run planned, sent or refused, at its record's time.

The run log holds the summaries the run verified, not every event: an address
is one span with its hourly counts, not one mark per failed login. A value whose date cannot be read
is not dropped silently: it is listed in ``Timeline.unplaced``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.audit.rows import write_rows

KINDS = {
    "failures": "indicator events of a suspicious address, per hour",
    "login": "first successful login of a compromised account",
    "application": "application reached by a compromised account",
    "management": "Management API call",
    "containment": "containment write (planned, done or refused)",
}
MAX_MARKS = 500  # of one kind: the report stays small whatever the run found
MANAGEMENT_TYPES = ("sapi", "fapi", "mgmt_api_read")


@dataclass(frozen=True)
class Mark:
    """One thing on the timeline: its kind, the lane it is drawn on, when, and what it is."""

    kind: str
    lane: str
    start: datetime
    end: datetime | None = None  # a span's end (failures); None for a moment
    label: str = ""
    count: int = 1
    hours: tuple[tuple[datetime, int], ...] = ()  # failures: events in each hour, by its start


@dataclass
class Timeline:
    marks: list[Mark] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # values whose date is unreadable
    cut: dict[str, int] = field(default_factory=dict)  # kind -> marks left out (MAX_MARKS)
    counts: dict[str, int] = field(default_factory=dict)  # kind -> marks seen

    def of(self, kind: str) -> list[Mark]:
        return [m for m in self.marks if m.kind == kind]

    def add(self, mark: Mark) -> None:
        self.counts[mark.kind] = self.counts.get(mark.kind, 0) + 1
        if self.counts[mark.kind] > MAX_MARKS:
            self.cut[mark.kind] = self.cut.get(mark.kind, 0) + 1
        else:
            self.marks.append(mark)


def when(value: Any) -> datetime | None:
    """An ISO 8601 date of the run log as an aware UTC datetime; None when it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rows(value: Any) -> list[Any]:
    """A list as the run log holds it: whole, or its first items when it was cut."""
    if isinstance(value, Mapping) and isinstance(value.get("first"), list):
        return list(value["first"])
    return list(value) if isinstance(value, list) else []


def _outputs(records: Iterable[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Any]]:
    """The steps' outputs (mappings) and the run's outputs (values), in record order."""
    steps: list[Mapping[str, Any]] = []
    finals: list[Any] = []
    for rec in records:
        if rec.get("type") == "step.finished" and isinstance(rec.get("output"), Mapping):
            steps.append(rec["output"])
        elif rec.get("type") == "run.finished" and isinstance(rec.get("outputs"), Mapping):
            finals.extend(rec["outputs"].values())
    return steps, finals


def _mappings(values: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    for value in values:
        for row in _rows(value):
            if isinstance(row, Mapping):
                yield row


def _request(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """A Management API event's ``details.request`` (method, path, ...); empty when absent."""
    details = event.get("details")
    request = details.get("request") if isinstance(details, Mapping) else None
    return request if isinstance(request, Mapping) else {}


def _is_management(event: Mapping[str, Any]) -> bool:
    path = _request(event).get("path")
    return event.get("type") in MANAGEMENT_TYPES or (
        isinstance(path, str) and path.startswith("/api/v2/")
    )


def _failures(line: Timeline, finals: list[Any]) -> None:
    seen: set[str] = set()
    for row in _mappings(finals):
        if not {"ip", "count", "first_seen", "last_seen"} <= row.keys() or str(row["ip"]) in seen:
            continue
        seen.add(str(row["ip"]))
        start, end = when(row["first_seen"]), when(row["last_seen"])
        count = row["count"] if isinstance(row["count"], int) else 0
        if start is None or end is None:
            dated = f"first_seen {row['first_seen']!r}, last_seen {row['last_seen']!r}"
            line.unplaced.append(f"address {row['ip']}: {dated}")
            continue
        line.add(
            Mark(
                "failures",
                str(row["ip"]),
                start,
                end,
                f"{count} indicator events",
                count,
                _hours(row.get("hours")),
            )
        )


def _hours(value: Any) -> tuple[tuple[datetime, int], ...]:
    """``ip.extract``'s ``hours`` ([hour, count] pairs) as dates; what is not one is left out."""
    found = []
    for pair in value if isinstance(value, list) else []:
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], int):
            moment = when(pair[0])
            if moment is not None and pair[1] > 0:
                found.append((moment, pair[1]))
    return tuple(found)


def _accounts(line: Timeline, steps: list[Mapping[str, Any]]) -> dict[str, str]:
    """Logins and applications; returns user id -> the lane (the name the logs show)."""
    names: dict[str, str] = {}
    for out in steps:
        if isinstance(out.get("user_names"), Mapping):
            names.update({str(k): str(v) for k, v in out["user_names"].items()})
    shared = {n for n in names.values() if list(names.values()).count(n) > 1}
    # two accounts the logs show under one name keep a lane each, told apart by their ids
    names = {u: f"{n} ({u})" if n in shared else n for u, n in names.items()}
    for out in steps:
        first = out.get("first_login")
        for user, date in first.items() if isinstance(first, Mapping) else ():
            lane = names.get(str(user), str(user))
            moment = when(date)
            if moment is None:
                line.unplaced.append(f"login of {lane}: {date!r}")
                continue
            line.add(Mark("login", lane, moment, label=f"{user} first logged in"))
    for out in steps:
        clients = out.get("clients")
        for user, rows in clients.items() if isinstance(clients, Mapping) else ():
            lane = names.get(str(user), str(user))
            for row in _mappings([rows]):
                moment, app = when(row.get("first_seen")), row.get("client_name")
                if moment is None:
                    line.unplaced.append(
                        f"application {app!r} of {lane}: {row.get('first_seen')!r}"
                    )
                    continue
                n = row["count"] if isinstance(row.get("count"), int) else 1
                line.add(Mark("application", lane, moment, label=str(app), count=n))
    return names


def build(records: list[dict[str, Any]]) -> Timeline:
    """The timeline of the run whose records are ``records``."""
    line = Timeline()
    steps, finals = _outputs(records)
    _failures(line, finals)
    _accounts(line, steps)
    seen: set[tuple[Any, ...]] = set()
    for event in _mappings(finals):
        key = (event.get("log_id"), event.get("date"), event.get("description"))
        if "date" not in event or not _is_management(event) or key in seen:
            continue
        seen.add(key)
        moment = when(event.get("date"))
        if moment is None:
            line.unplaced.append(f"Management API call: date {event.get('date')!r}")
            continue
        request = _request(event)
        what = event.get("description") or f"{request.get('method', '')} {request.get('path', '')}"
        by = event.get("user_name") or event.get("user_id") or ""
        line.add(Mark("management", "Management API", moment, label=f"{what} by {by}"))
    for w in write_rows(records):
        moment = when(w.ts)
        if moment is None:
            line.unplaced.append(f"{w.kind} write of {w.target}: ts {w.ts!r}")
            continue
        line.add(
            Mark("containment", "containment", moment, label=f"{w.kind}: {w.action} {w.target}")
        )
    line.marks.sort(key=lambda m: m.start)
    return line
