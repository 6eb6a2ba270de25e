"""Offline Auth0 log files: JSON lines, a JSON array, or log-stream items ``{"log_id", "data"}``.

Both forms are streamed in bounded memory: JSON lines line by line, a JSON
array item by item (decoded from a sliding buffer). ``search_file`` skips the
JSON lines that cannot match without decoding them: when the query requires
exact values (``type:"s" AND ip:"X"``), a complete line lacking every
JSON-encoded value of one required field is dropped unread (a malformed or cut
line is still decoded, so still reported with its line number).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from engine.depth import MAX_DEPTH, bounded, loads, too_deep, value_end
from engine.errors import SoarError
from engine.query import Query, Undated, compile_query, event_date
from engine.timeutil import iso_ms


class LogFileError(SoarError):
    """A log file that cannot be read as Auth0 log events."""


CHUNK = 1 << 20  # characters read at a time from a JSON array
MAX_ITEM = 64 << 20  # an array item larger than this is an error, not a reason to read on
# A JSON line longer than this is refused without being read whole (an Auth0
# log event is a few KB; even a Management API call with its request body is
# far below): a hostile or broken file cannot make the reader hold a huge line.
MAX_LINE = 8 << 20
# values a JSON encoder writes verbatim between quotes (no escapes, no "\/")
_VERBATIM = re.compile(r"[A-Za-z0-9 ._:@|+-]+")
LineFilter = Callable[[str], bool]


def _unwrap(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise LogFileError(f"{where}: expected a JSON object (an Auth0 log event)")
    data = item.get("data")
    if isinstance(data, dict) and "log_id" in item and len(item) <= 3:
        return data  # a log-stream item {"log_id", "data"}
    return item


def iter_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream the events of ``path`` in bounded memory; errors name the line."""
    return _events(Path(path), None)


def _events(p: Path, keep: LineFilter | None) -> Iterator[dict[str, Any]]:
    try:
        # utf-8-sig: exports saved by some editors and tools start with a BOM
        handle = p.open("r", encoding="utf-8-sig")
    except OSError as exc:
        raise LogFileError(f"{p}: cannot open: {exc.strerror}") from None
    try:
        yield from _read(p, handle, keep)
    except UnicodeDecodeError as exc:
        raise LogFileError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    finally:
        handle.close()


def _read(p: Path, handle: TextIO, keep: LineFilter | None) -> Iterator[dict[str, Any]]:
    """The events of an open file: a JSON array, else JSON lines."""
    first = ""
    while not first:
        ch = handle.read(1)
        if not ch:
            return
        first = ch.strip()
    if first == "[":
        handle.seek(0)
        yield from _array(p, handle)
        return
    handle.seek(0)
    n = 0
    while line := handle.readline(MAX_LINE + 1):
        n += 1
        if len(line) > MAX_LINE:
            raise LogFileError(
                f"{p}:{n}: line longer than {MAX_LINE} characters, not read (one Auth0 log "
                "event per line is expected; check the file is a log export)"
            )
        stripped = line.strip()
        if not stripped:
            continue
        if keep is not None and stripped[-1] == "}" and not keep(line):
            continue
        try:
            item = loads(line)  # nesting deeper than engine.depth.MAX_DEPTH is cut
        except json.JSONDecodeError as exc:
            raise LogFileError(
                f"{p}:{n}: not a JSON line: {exc.msg} (expected one Auth0 log event per "
                "line, or a JSON array of events)"
            ) from None
        yield _unwrap(item, f"{p}:{n}")


def _array(p: Path, handle: TextIO) -> Iterator[dict[str, Any]]:
    """The items of a JSON array, decoded one at a time from a sliding buffer."""
    decoder = json.JSONDecoder()
    buf = handle.read(CHUNK)
    pos = buf.index("[") + 1
    line = 1 + buf.count("\n", 0, pos)
    eof = False
    n = 0
    want_item = True  # after "[" or ","

    def fail(at: int, msg: str) -> LogFileError:
        return LogFileError(f"{p}:{line + buf.count(chr(10), pos, at)}: not valid JSON: {msg}")

    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n":
            line += buf[pos] == "\n"
            pos += 1
        if pos >= len(buf):
            if eof:
                raise fail(pos, "the array is not closed with ]")
            buf, pos = buf[pos:] + handle.read(CHUNK), 0
            eof = pos >= len(buf)
            continue
        ch = buf[pos]
        if ch == "]" and (n == 0 or not want_item):
            rest = buf[pos + 1 :] + handle.read()
            if rest.strip():
                raise fail(pos + 1, "extra data after the array")
            return
        if not want_item:
            if ch != ",":
                raise fail(pos, "expected ',' or ']' between events")
            pos += 1
            want_item = True
            continue
        if ch != "{":
            raise LogFileError(f"{p}: item {n}: expected a JSON object (an Auth0 log event)")
        try:
            item, end = _decode_item(decoder, buf, pos)
        except json.JSONDecodeError as exc:
            if eof or len(buf) - pos > MAX_ITEM:
                raise fail(exc.pos, exc.msg) from None
            more = handle.read(CHUNK)  # the item runs past the buffer: read on and retry
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        line += buf.count("\n", pos, end)
        pos = end
        yield _unwrap(item, f"{p}: item {n}")
        n += 1
        want_item = False
        if pos > CHUNK:
            buf, pos = buf[pos:], 0


def _decode_item(decoder: json.JSONDecoder, buf: str, pos: int) -> tuple[Any, int]:
    """One array item from ``buf[pos:]`` and where it ends, nesting cut at ``MAX_DEPTH``."""
    try:
        item, end = decoder.raw_decode(buf, pos)
    except RecursionError:  # too deep for the decoder: cut in the text, then decode
        end = value_end(buf, pos) or len(buf)
        return loads(buf[pos:end]), end
    if too_deep(buf[pos:end]):
        item = bounded(item, MAX_DEPTH)
    return item, end


def _line_filter(query: Query) -> LineFilter | None:
    """A raw-line test that no line holding a match can fail, when the query allows one."""
    needles = [
        [json.dumps(v) for v in values]
        for values in query.hints.eq.values()
        if values and all(_VERBATIM.fullmatch(v) for v in values)
    ]
    if not needles:
        return None
    return lambda line: all(any(n in line for n in group) for group in needles)


def search_file(
    path: str | Path,
    q: str,
    since: datetime | None = None,
    until: datetime | None = None,
    undated: Undated | None = None,
) -> Iterator[dict[str, Any]]:
    """The events of ``path`` that match the Auth0 log query ``q``, in file order.

    ``since`` (inclusive) and ``until`` (exclusive) bound the event ``date``;
    with either given, a matching event whose date cannot be read is left out
    and counted in ``undated``.
    """
    query = compile_query(q)
    lo = iso_ms(since) if since is not None else None
    hi = iso_ms(until) if until is not None else None
    for event in _events(Path(path), _line_filter(query)):
        if lo is not None or hi is not None:
            date = event_date(event)
            if date is None:
                if undated is not None and query(event):
                    undated.add(event)
                continue
            if (lo is not None and date < lo) or (hi is not None and date >= hi):
                continue
        if query(event):
            yield event
