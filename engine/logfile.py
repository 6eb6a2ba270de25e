"""Offline Auth0 log files: JSON lines, a JSON array, or log-stream items ``{"log_id", "data"}``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import SoarError
from engine.query import compile_query


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
        handle = p.open("r", encoding="utf-8")
    except OSError as exc:
        raise LogFileError(f"{p}: cannot open: {exc.strerror}") from None
    with handle:
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
                raise LogFileError(f"{p}:{n}: not a JSON line: {exc.msg}") from None
            yield _unwrap(item, f"{p}:{n}")


def search_file(path: str | Path, q: str) -> Iterator[dict[str, Any]]:
    """The events of ``path`` that match the Auth0 log query ``q``, in file order."""
    query = compile_query(q)
    for event in iter_events(path):
        if query(event):
            yield event
