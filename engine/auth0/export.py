"""Export a tenant's log events to JSON lines, for offline analysis and drills (``--logs``).

Without a query, checkpoint paging (``from``/``take``) walks the events by
log_id, following the ``Link: rel="next"`` URL until a page comes back empty.
A log_id is a 3-digit prefix, the ingest time ``YYYYMMDDhhmmss`` and 39 more
digits, and the prefix is not always ``900`` (an EU tenant's ``800…`` ids are
in public test data, auth0-facts.md section 1): ids sort by prefix first, and
by time only within one prefix. So the walk starts below every prefix
(``"000" + since``), and inside each prefix it jumps: from an id older than
``since`` to that prefix's ``since`` checkpoint, from an id at or past
``until`` to the end of that prefix. Every event of the window is written,
whatever its prefix, at the cost of about one request per prefix. An id that
does not have this layout says nothing about time: its event is kept when its
``date`` falls in the window. With a query, the complete windowed search is used.
Each page read is one ``auth0.page`` event of the operational log (``mode``
``checkpoint`` or ``search``, ``count``, ``events`` written so far, ``requests``).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from engine.auth0.client import Auth0Client
from engine.auth0.events import LOGS_PATH, page_read
from engine.auth0.search import retention_warnings, search
from engine.depth import loads
from engine.errors import UpstreamError
from engine.logs.query import event_date
from engine.timeutil import iso_ms

TAKE = 100


_LOG_ID = re.compile(r"(\d{3})(\d{14})\d*")  # prefix, ingest time, the rest


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def checkpoint(since: datetime, prefix: str = "900") -> str:
    """A synthetic log_id just before ``since`` in ``prefix``: ``from`` is an exclusive bound."""
    return prefix + _stamp(since) + "0" * 39


def _next_params(link: str | None) -> dict[str, str] | None:
    """``from``/``take`` of the ``rel="next"`` URL in a Link header, if there is one."""
    for part in (link or "").split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            url = part[part.index("<") + 1 : part.index(">")]
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
            if query.get("from"):
                return {"from": query["from"], "take": query.get("take", str(TAKE))}
    return None


def export(
    client: Auth0Client,
    out: IO[str],
    since: datetime,
    until: datetime,
    query: str = "",
) -> dict[str, Any]:
    """Write matching events as JSON lines; returns ``{events, requests, mode, warnings}``."""
    if query:
        result = search(client, query, since, until)
        for event in result.events:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
        return {
            "events": len(result.events),
            "requests": result.requests,
            "mode": "search",
            "warnings": result.warnings,
        }
    written = requests = 0
    lo, hi = _stamp(since), _stamp(until)
    params: dict[str, str] = {"from": checkpoint(since, "000"), "take": str(TAKE)}
    while True:
        response = client.request("GET", "/logs", params=params)
        requests += 1
        try:
            batch = loads(response.content)  # nesting cut at engine.depth.MAX_DEPTH
        except ValueError:
            batch = None
        if not isinstance(batch, list) or not all(isinstance(e, dict) for e in batch):
            raise UpstreamError(
                "GET", LOGS_PATH, response.status_code, "expected a list of log events"
            )
        if not batch:
            page_read("checkpoint", 0, written, requests)
            break  # an empty page: caught up with the tenant
        jump: str | None = None
        for event in batch:
            log_id = event.get("log_id")
            m = _LOG_ID.fullmatch(log_id) if isinstance(log_id, str) else None
            if m is not None and m.group(2) < lo:
                jump = checkpoint(since, m.group(1))  # this prefix's events before `since`
                break
            if m is not None and m.group(2) >= hi:
                jump = m.group(1) + "9" * 53  # the rest of this prefix is past `until`
                break
            if m is None and not _dated_in(event, since, until):
                continue
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
            written += 1
        page_read("checkpoint", len(batch), written, requests)
        last = next((e["log_id"] for e in reversed(batch) if isinstance(e.get("log_id"), str)), "")
        # Follow Link rel="next" (only its from/take: the host is always the tenant's);
        # without one, continue after the last log_id seen.
        following = (
            {"from": jump, "take": str(TAKE)}
            if jump
            else _next_params(response.headers.get("link")) or {"from": last, "take": str(TAKE)}
        )
        if not following["from"] or following["from"] <= params["from"]:
            raise UpstreamError(
                "GET", LOGS_PATH, response.status_code, "the log checkpoint did not advance"
            )
        params = following
    return {
        "events": written,
        "requests": requests,
        "mode": "checkpoint",
        "warnings": retention_warnings(since),
    }


def _dated_in(event: dict[str, Any], since: datetime, until: datetime) -> bool:
    date = event_date(event)
    return date is not None and iso_ms(since) <= date < iso_ms(until)


def export_to_file(
    client: Auth0Client,
    path: Path,
    since: datetime,
    until: datetime,
    query: str = "",
) -> dict[str, Any]:
    tmp = path.with_suffix(path.suffix + ".partial")
    with tmp.open("w", encoding="utf-8") as f:
        stats = export(client, f, since, until, query)
    tmp.replace(path)  # a crash leaves a .partial file, never a silently short export
    return stats
