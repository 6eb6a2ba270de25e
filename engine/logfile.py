"""Offline Auth0 log files: JSON lines, a JSON array, or log-stream items ``{"log_id", "data"}``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from engine.errors import SoarError
from engine.query import compile_query, event_date
from engine.timeutil import iso_ms


class LogFileError(SoarError):
    """A log file that cannot be read as Auth0 log events."""


def _unwrap(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise LogFileError(f"{where}: expected a JSON object (an Auth0 log event)")
    data = item.get("data")
    if isinstance(data, dict) and "log_id" in item and len(item) <= 3:
        return data  # a log-stream item {"log_id", "data"}
    return item


def iter_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream the events of ``path``; JSON lines are read line by line (bounded memory)."""
    p = Path(path)
    try:
        # utf-8-sig: exports saved by some editors and tools start with a BOM
        handle = p.open("r", encoding="utf-8-sig")
    except OSError as exc:
        raise LogFileError(f"{p}: cannot open: {exc.strerror}") from None
    try:
        yield from _read(p, handle)
    except UnicodeDecodeError as exc:
        raise LogFileError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    finally:
        handle.close()


def _read(p: Path, handle: TextIO) -> Iterator[dict[str, Any]]:
    """The events of an open file: a JSON array, else JSON lines."""
    first = ""
    while not first:
        ch = handle.read(1)
        if not ch:
            return
        first = ch.strip()
    if first == "[":
        handle.seek(0)
        try:
            items = json.load(handle)
        except json.JSONDecodeError as exc:
            raise LogFileError(f"{p}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        for n, item in enumerate(items):
            yield _unwrap(item, f"{p}: item {n}")
        return
    handle.seek(0)
    for n, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LogFileError(
                f"{p}:{n}: not a JSON line: {exc.msg} (expected one Auth0 log event per "
                "line, or a JSON array of events)"
            ) from None
        yield _unwrap(item, f"{p}:{n}")


def search_file(
    path: str | Path, q: str, since: datetime | None = None, until: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The events of ``path`` that match the Auth0 log query ``q``, in file order.

    ``since`` (inclusive) and ``until`` (exclusive) bound the event ``date``;
    with either given, an event without a readable date is left out.
    """
    query = compile_query(q)
    lo = iso_ms(since) if since is not None else None
    hi = iso_ms(until) if until is not None else None
    for event in iter_events(path):
        if lo is not None or hi is not None:
            date = event_date(event)
            if date is None or (lo is not None and date < lo) or (hi is not None and date >= hi):
                continue
        if query(event):
            yield event
