"""Export a tenant's log events to JSON lines, for offline analysis and drills (``--logs``).

Without a query, checkpoint paging (``from``/``take``) walks every event newer
than a synthetic checkpoint for ``since`` (``"900" + YYYYMMDDhhmmss + 39 zeros``,
as Elastic's integration does), following the ``Link: rel="next"`` URL until a
page comes back empty. With a query, the complete windowed search is used.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from engine.auth0.client import Auth0Client
from engine.auth0.search import retention_warnings, search
from engine.depth import loads
from engine.errors import UpstreamError

TAKE = 100


def checkpoint(since: datetime) -> str:
    """A synthetic log_id just before ``since``: ``from`` is an exclusive lower bound."""
    return "900" + since.astimezone(UTC).strftime("%Y%m%d%H%M%S") + "0" * 39


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
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write matching events as JSON lines; returns ``{events, requests, mode, warnings}``."""
    if query:
        result = search(client, query, since, until, progress=progress)
        for event in result.events:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
        return {
            "events": len(result.events),
            "requests": result.requests,
            "mode": "search",
            "warnings": result.warnings,
        }
    written = requests = 0
    params: dict[str, str] = {"from": checkpoint(since), "take": str(TAKE)}
    stop_id = checkpoint(until)
    while True:
        response = client.request("GET", "/logs", params=params)
        requests += 1
        try:
            batch = loads(response.content)  # nesting cut at engine.depth.MAX_DEPTH
        except ValueError:
            batch = None
        if not isinstance(batch, list):
            raise UpstreamError(
                "GET", "/api/v2/logs", response.status_code, "expected a list of log events"
            )
        if not batch:
            break  # an empty page: caught up with the tenant
        past_until = False
        for event in batch:
            if str(event.get("log_id")) >= stop_id:
                past_until = True  # ordered by log_id: everything further is past `until`
                break
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
            written += 1
        if progress:
            progress(written, requests)
        if past_until:
            break
        # Follow Link rel="next" (only its from/take: the host is always the tenant's);
        # without one, continue after the last log_id seen.
        params = _next_params(response.headers.get("link")) or {
            "from": str(batch[-1].get("log_id")),
            "take": str(TAKE),
        }
    return {
        "events": written,
        "requests": requests,
        "mode": "checkpoint",
        "warnings": retention_warnings(since),
    }


def export_to_file(
    client: Auth0Client,
    path: Path,
    since: datetime,
    until: datetime,
    query: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    tmp = path.with_suffix(path.suffix + ".partial")
    with tmp.open("w", encoding="utf-8") as f:
        stats = export(client, f, since, until, query, progress)
    tmp.replace(path)  # a crash leaves a .partial file, never a silently short export
    return stats
