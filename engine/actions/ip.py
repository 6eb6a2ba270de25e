"""``ip.extract``: IPv4 and IPv6 addresses from log events or free text, as they were logged.

Each address is reported once, in the form it was logged (``ip``, its most
frequent form), with every textual form seen (``forms``) so that a later
search can cover them all (Auth0's search matches the logged text exactly;
see ``engine.ipforms``), and with where it was found (``sources``: ``ip``, a
``details`` path such as ``details.request.ip``, or ``text``).

Only an address that stands alone is taken: never one inside a longer dotted
number, a product/version token (``Chrome/114.0.0.0``), a word, or a CIDR
network (``10.0.0.0/8``); and never from a user-agent value in ``details``,
which names software, not a client. The walk over ``details`` is iterative and
stops at ``MAX_DEPTH`` levels: a deeper value is cut, said in ``warnings``,
and the run goes on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.actions.registry import Action, ActionContext, Result
from engine.depth import MAX_DEPTH  # Auth0's own details nest under 10 levels
from engine.ipforms import Address, is_public, key_of, keyed, order_key, parse_address, plain_key
from engine.logs.eventset import EventSet
from engine.timeutil import date_key

# An address stands alone: not after a word character, a dot or a dash, nor
# after "name/" (a product token such as Chrome/114.0.0.0; "//" of a URL is
# fine); not followed by a word character, a dash, ".digit" or "/digit" (CIDR).
# A sentence may end right after one ("from 8.8.8.8."). In IPv6 the dotted
# IPv4 tail is tried first, so ::ffff:10.0.0.3 is not cut to ::ffff:10; a zone
# id (%eth0) is part of the address.
_BEFORE = r"(?<![\w.\-])(?<!\w/)"
_AFTER = r"(?![\w\-]|\.\d|/\d)"
_V4 = rf"{_BEFORE}(?:\d{{1,3}}\.){{3}}\d{{1,3}}{_AFTER}"
_V6 = (
    rf"{_BEFORE}(?<!:)(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}"
    rf"(?:(?:\d{{1,3}}\.){{3}}\d{{1,3}}|[0-9A-Fa-f]{{0,4}})(?:%[0-9A-Za-z_.\-]{{1,32}})?"
    rf"(?!:){_AFTER}"
)
_CANDIDATE = re.compile(f"{_V4}|{_V6}")
MAX_TEXT = 10_000_000
MAX_WARNINGS = 20
MAX_SOURCES = 20
MAX_HOURS = 24 * 31  # an address's events per hour, a month of them (the earliest kept)
_SOFTWARE_KEYS = {"useragent", "user_agent", "user-agent", "ua"}


def _scan(text: str) -> Iterator[tuple[str, Address]]:
    """(form as written, address) for every address standing alone in ``text``."""
    for m in _CANDIDATE.finditer(text[:MAX_TEXT]):
        addr = parse_address(m.group(0))
        if addr is not None:
            yield m.group(0), addr


def _details_strings(details: Any, cut: list[str]) -> Iterator[tuple[str, str]]:
    """(path, string) for every string in ``details``, breadth first, without recursion.

    List positions are written ``[]`` so one shape gives one path. Values
    under a user-agent key are skipped; a container deeper than ``MAX_DEPTH``
    is not entered and its path is added to ``cut``.
    """
    stack: list[tuple[str, Any, int]] = [("details", details, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            yield path, value
            continue
        if not isinstance(value, Mapping | list):
            continue
        if depth >= MAX_DEPTH:
            cut.append(path)
            continue
        if isinstance(value, Mapping):
            for k, v in reversed(list(value.items())):
                if str(k).lower() in _SOFTWARE_KEYS:
                    continue
                stack.append((f"{path}.{k}", v, depth + 1))
        else:
            for v in reversed(value):
                stack.append((f"{path}[]", v, depth + 1))


def widen(row: dict[str, Any], date: Any) -> None:
    """Move a row's ``first_seen``/``last_seen`` out to ``date`` (a no-op without one)."""
    if date and (row["first_seen"] is None or date < row["first_seen"]):
        row["first_seen"] = date
    if date and (row["last_seen"] is None or date > row["last_seen"]):
        row["last_seen"] = date


class _Tally:
    """Rows keyed by address: count of events, dates, forms (with counts) and sources."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.forms: dict[str, dict[str, int]] = {}
        self.hours: dict[str, dict[str, int]] = {}  # key -> hour -> events
        self.order: dict[str, tuple[int, int]] = {}  # key -> (IP version, number)

    def add(
        self,
        key: str,
        addr: Address,
        seen: Mapping[str, Mapping[str, None]],
        date: str | None,
        events: int = 1,
        last: str | None = None,
        hours: Iterable[tuple[str, int]] | None = None,
    ) -> None:
        """``events`` events (one by default) found ``addr``, dated ``date`` (to ``last``).

        ``hours``: how many of them fall in each hour (``YYYY-MM-DDTHH``, count); by
        default all in the hour of ``date``, when it is a readable date: each row
        counts its events per hour.
        """
        row = self.rows.get(key)
        if row is None:
            self.order[key] = order_key(addr)
            row = self.rows[key] = {
                "ip": None,
                "address": key,
                "forms": [],
                "count": 0,
                "first_seen": None,
                "last_seen": None,
                "public": is_public(addr),
                "sources": [],
            }
        row["count"] += events
        forms = self.forms.setdefault(key, {})
        for form in seen["forms"]:
            forms[form] = forms.get(form, 0) + events
        for source in sorted(seen["sources"]):
            if source not in row["sources"] and len(row["sources"]) < MAX_SOURCES:
                row["sources"].append(source)
        widen(row, date)
        widen(row, last)
        if hours is None:
            hour = (date_key(date) or "")[:13]
            hours = [(hour, events)] if hour else []  # an undated event has no hour
        per_hour = self.hours.setdefault(key, {})
        for hour, n in hours:
            per_hour[hour] = per_hour.get(hour, 0) + n

    def finish(self) -> list[dict[str, Any]]:
        for key, row in self.rows.items():
            hours = sorted(self.hours.get(key, {}).items())
            row["hours"] = [[f"{h}:00:00.000Z", n] for h, n in hours[:MAX_HOURS]]
            if len(hours) > MAX_HOURS:
                row["hours_cut"] = len(hours) - MAX_HOURS
            counts = self.forms[key]
            # most frequent first; ties keep the order first seen (dicts keep insertion order)
            ordered = sorted(counts, key=lambda f: -counts[f])
            row["forms"] = ordered
            row["ip"] = ordered[0]
            row["sources"].sort()
        return list(self.rows.values())

    def ordered(self, min_count: int) -> list[dict[str, Any]]:
        """The finished rows seen at least ``min_count`` times: most frequent first; then
        IPv4 before IPv6, by numeric address (10.x after 9.x)."""
        rows = [r for r in self.finish() if r["count"] >= min_count]
        order = self.order
        rows.sort(key=lambda r: (-r["count"], *order[r["address"]], r["address"]))
        return rows


def _found(
    found: dict[str, dict[str, Any]], form: str, addr: Address, source: str, key: str | None = None
) -> None:
    # dicts, not sets: the order forms were met in breaks ties between them
    key = key_of(addr) if key is None else key
    entry = found.setdefault(key, {"addr": addr, "forms": {}, "sources": {}})
    entry["forms"][form] = None
    entry["sources"][source] = None


def _own_ip(
    own: Any, found: dict[str, dict[str, Any]], unreadable: dict[str, int], events: int = 1
) -> None:
    """The addresses of an event's ``ip`` value into ``found``; a value naming none is counted."""
    if not isinstance(own, str):
        return
    one = keyed(own)
    if one is not None:
        _found(found, own, one[1], "ip", one[0])
        return
    for form, addr in _scan(own):  # a proxy chain ("203.0.113.7, 10.0.0.1") is scanned like text
        _found(found, form, addr, "ip")
    if not found and own.strip():
        unreadable[own[:64]] = unreadable.get(own[:64], 0) + events


def _by_ip_value(
    events: EventSet,
    tally: _Tally,
    unreadable: dict[str, int],
    min_count: int = 1,
    more: Mapping[str, int] | None = None,
) -> None:
    """The ``ip`` fields of a set, in SQL: each distinct value once, with its events' count and dates.

    The same tally as one event at a time: values come in the order first seen,
    so forms keep their first-seen order; an empty date counts for nothing, as there;
    an unreadable one has no hour. Each value is read as an address once.

    Only the addresses that can reach ``min_count`` events (with ``more``: those
    found elsewhere, by key) are tallied, and only their values' hours read: a
    triage keeping a handful of attackers out of 20,000 addresses builds a handful
    of rows. Unreadable values are counted whatever their number, as before.
    """
    rows = events.query(
        "SELECT ip, count(*), min(date) FILTER (WHERE date <> ''), "
        "max(date) FILTER (WHERE date <> '') FROM {events} WHERE ip IS NOT NULL "
        "GROUP BY ip ORDER BY min(pos)"
    )
    keys_of: list[tuple[str, ...]] = []
    totals: dict[str, int] = dict(more or {})
    for own, n, _first, _last in rows:
        plain = plain_key(own) if isinstance(own, str) else None
        if plain is not None:
            keys: tuple[str, ...] = (plain,)
        else:
            found: dict[str, dict[str, Any]] = {}
            _own_ip(own, found, unreadable, n)
            keys = tuple(found)
        keys_of.append(keys)
        for key in keys:
            totals[key] = totals.get(key, 0) + n
    kept = [i for i, keys in enumerate(keys_of) if any(totals[k] >= min_count for k in keys)]
    if not kept:
        return
    hours: dict[str, list[tuple[str, int]]] = {}
    for own, hour, n in events.query(
        "SELECT ip, left(date_key, 13) AS hour, count(*) FROM {events} "
        "WHERE ip IN (SELECT unnest(?::VARCHAR[])) AND date_key <> '' GROUP BY ip, hour",
        [[rows[i][0] for i in kept]],
    ):
        hours.setdefault(own, []).append((hour, n))
    for i in kept:
        own, n, first, last = rows[i]
        found = {}
        _own_ip(own, found, {}, n)  # its unreadable part is counted already
        for key, entry in found.items():
            if totals[key] >= min_count:
                tally.add(key, entry["addr"], entry, first, n, last, hours=hours.get(own, []))


def extract(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    tally = _Tally()
    warnings: list[str] = []
    unreadable: dict[str, int] = {}  # ip field values that name no address, and how often
    events = args.get("events") or []
    details = args.get("include_details", True)
    min_count = int(args.get("min_count", 1))
    text = args.get("text")
    found_in_text = [] if not isinstance(text, str) else list(_scan(text))
    if isinstance(events, EventSet) and not details:
        in_text = Counter(key_of(addr) for _form, addr in found_in_text)
        _by_ip_value(events, tally, unreadable, min_count, in_text)
        events = []
    for event in events:
        if not isinstance(event, Mapping):
            continue
        date = event.get("date") if isinstance(event.get("date"), str) else None
        found: dict[str, dict[str, Any]] = {}
        _own_ip(event.get("ip"), found, unreadable)
        if details:
            cut: list[str] = []
            for path, chunk in _details_strings(event.get("details"), cut):
                for form, addr in _scan(chunk):
                    _found(found, form, addr, path)
            if cut and len(warnings) < MAX_WARNINGS:
                where = event.get("log_id") or date or "an event"
                warnings.append(
                    f"{where}: details deeper than {MAX_DEPTH} levels at {cut[0]}; "
                    "the deeper part was not scanned"
                )
        for key, entry in found.items():
            tally.add(key, entry["addr"], entry, date)
    for value, n in list(unreadable.items())[:MAX_WARNINGS]:
        warnings.append(f"ip {value!r} of {n} event(s) is not an IP address; not counted")
    if len(unreadable) > MAX_WARNINGS:
        warnings.append(f"{len(unreadable) - MAX_WARNINGS} more ip values that are not addresses")
    for form, addr in found_in_text:
        tally.add(key_of(addr), addr, {"forms": {form: None}, "sources": {"text": None}}, None)
    rows = tally.ordered(min_count)
    return {"ips": rows, "count": len(rows), "warnings": warnings}


ACTIONS = [
    Action(
        name="ip.extract",
        func=extract,
        input_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "events": {
                    "type": "array",
                    "description": "Auth0 log events; their `ip` (and IPs in `details`).",
                },
                "text": {
                    "type": "string",
                    "description": "Free text to scan for IPv4 and IPv6 addresses.",
                },
                "min_count": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Keep IPs seen at least this often.",
                },
                "include_details": {
                    "type": "boolean",
                    "description": "Also scan `details` of each event (default true; user-agent values are never scanned).",
                },
            },
        },
        output_schema={
            "type": "object",
            "properties": {
                "ips": {
                    "type": "array",
                    "description": "[{ip, address, forms, count, first_seen, last_seen, hours, public, sources}], most frequent first, then by address (IPv4 first). `ip` is the address as logged (its most frequent form), `forms` every form seen (search them all: Auth0 matches the text exactly), `address` the canonical text (an IPv4-mapped IPv6 address is its IPv4 address), `sources` where it was found (`ip`, a `details` path, `text`), `hours` its events per hour ([hour, count], by date; the first 744 hours, `hours_cut` saying how many more). An event counts once per address.",
                },
                "count": {
                    "type": "integer",
                    "description": "How many distinct addresses are listed.",
                },
                "warnings": {
                    "type": "array",
                    "description": "What could not be read: an `ip` value that is no address (e.g. 999.1.1.1, or IPv4 with leading zeros), details nested deeper than 64 levels (cut; the run goes on).",
                },
            },
        },
        effect="read",
        description="Extract IPv4/IPv6 addresses as logged, grouped by address with every form seen, counts, first/last seen, public/private and where each was found.",
    ),
]
