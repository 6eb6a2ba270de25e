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
from engine.auth0.search import search

TAKE = 100


def checkpoint(since: datetime) -> str:
    return "900" + since.astimezone(UTC).strftime("%Y%m%d%H%M%S") + "0" * 39


def _next_params(link: str | None) -> dict[str, str] | None:
    if not link or 'rel="next"' not in link:
        return None
    url = link[link.index("<") + 1 : link.index(">")]
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def export(
    client: Auth0Client,
    out: IO[str],
    since: datetime,
    until: datetime,
    query: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write matching events as JSON lines; returns counts."""
    written = 0
    requests = 0
    if query:
        result = search(client, query, since, until, progress=progress)
        for event in result.events:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
        return {"events": len(result.events), "requests": result.requests, "mode": "search"}
    params: dict[str, str] | None = {"from": checkpoint(since), "take": str(TAKE)}
    stop_id = checkpoint(until)
    while params is not None:
        response = client.request("GET", "/logs", params=params)
        requests += 1
        batch = response.json()
        if not batch:
            break
        for event in batch:
            if str(event.get("log_id")) >= stop_id:
                return {"events": written, "requests": requests, "mode": "checkpoint"}
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
            written += 1
        if progress:
            progress(written, requests)
        params = _next_params(response.headers.get("link"))
    return {"events": written, "requests": requests, "mode": "checkpoint"}


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
