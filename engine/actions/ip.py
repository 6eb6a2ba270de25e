"""``ip.extract``: IPv4 and IPv6 addresses from log events or free text, with counts."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.registry import Action, ActionContext, Result

# A candidate is never part of a longer dotted number (1.2.3.4.5), yet may end a
# sentence ("from 8.8.8.8."). In IPv6 the dotted IPv4 tail is tried first, so
# ::ffff:10.0.0.3 is not cut to ::ffff:10.
_V4 = r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)"
_V6 = (
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?![\w:]|\.\d)"
)
_CANDIDATE = re.compile(f"{_V4}|{_V6}")
MAX_TEXT = 10_000_000


def _parse(text: str) -> str | None:
    """The normalised address in ``text``, or None (invalid, or unspecified like ``::``).

    An IPv4-mapped IPv6 address (``::ffff:203.0.113.7``, as dual-stack servers
    log IPv4 clients) is the IPv4 address: the same client counts once.
    """
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return None if addr.is_unspecified else str(addr)


def _order(row: Mapping[str, Any]) -> tuple[int, int, int]:
    """Most frequent first; then IPv4 before IPv6, by numeric address (10.x after 9.x)."""
    addr = ipaddress.ip_address(row["ip"])
    return (-row["count"], addr.version, int(addr))


def _scan(text: str) -> Iterator[str]:
    for m in _CANDIDATE.finditer(text[:MAX_TEXT]):
        ip = _parse(m.group(0))
        if ip:
            yield ip


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


class _Tally:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, ip: str, date: str | None) -> None:
        row = self.rows.setdefault(
            ip,
            {
                "ip": ip,
                "count": 0,
                "first_seen": None,
                "last_seen": None,
                "public": ipaddress.ip_address(ip).is_global,
            },
        )
        row["count"] += 1
        if date:
            if row["first_seen"] is None or date < row["first_seen"]:
                row["first_seen"] = date
            if row["last_seen"] is None or date > row["last_seen"]:
                row["last_seen"] = date


def extract(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    tally = _Tally()
    for event in args.get("events") or []:
        if not isinstance(event, Mapping):
            continue
        date = event.get("date") if isinstance(event.get("date"), str) else None
        found: set[str] = set()
        own = event.get("ip")
        if isinstance(own, str):
            one = _parse(own)
            # a proxy chain ("203.0.113.7, 10.0.0.1") is scanned like text
            found.update([one] if one else _scan(own))
        if args.get("include_details", True):
            for chunk in _strings(event.get("details")):
                found.update(_scan(chunk))
        for addr in found:
            tally.add(addr, date)
    text = args.get("text")
    if isinstance(text, str):
        for addr in _scan(text):
            tally.add(addr, None)
    min_count = int(args.get("min_count", 1))
    rows = [r for r in tally.rows.values() if r["count"] >= min_count]
    rows.sort(key=_order)
    return {"ips": rows, "count": len(rows)}


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
                    "description": "Also scan `details` of each event (default true).",
                },
            },
        },
        output_schema={
            "type": "object",
            "properties": {
                "ips": {
                    "type": "array",
                    "description": "[{ip, count, first_seen, last_seen, public}], most frequent first, then by address (IPv4 first); an event counts once per IP; IPv4-mapped IPv6 addresses count as IPv4.",
                },
                "count": {"type": "integer", "description": "How many distinct IPs are listed."},
            },
        },
        effect="read",
        description="Extract IPv4/IPv6 addresses with counts, first/last seen and public/private; invalid addresses skipped.",
    ),
]
