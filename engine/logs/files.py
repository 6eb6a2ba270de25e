"""Offline Auth0 log files: every shape a responder is handed, read exactly or refused.

Layouts: JSON lines (one JSON value a line), a JSON array, or one or more
JSON documents one after another (a saved API page, a pretty-printed
EventBridge event, ``jq .`` output). Every value must be one of:

- an Auth0 log event: an object whose ``type`` is a non-empty string and
  which has a ``date`` (whatever its value: an unreadable date is reported
  by the searches, not refused here);
- a log-stream item ``{"log_id", "data": <event>}`` (extra wrapper keys, as
  SIEM exports add, are ignored); a ``data`` without ``log_id`` keeps the
  wrapper's;
- an Amazon EventBridge event ``{"version", "id", "detail-type", "source",
  "account", "time", "region", "resources", "detail": {"log_id", "data"}}``
  (or with the event itself as ``detail``);
- a Management API page ``{"start", "limit", "length", "total", "logs"}`` or a
  webhook body ``{"logs": [...]}``, whose ``logs`` hold events or stream items.

Anything else is refused with a ``LogFileError`` naming the file and line:
soar never guesses which part of an unknown object is the event.

Reading is streamed in bounded memory. ``search_file`` skips the JSON lines
that cannot match without decoding them (when the query requires exact
values, a line lacking every JSON-encoded value of one required field); it
first checks the whole file once (``profile``, cached while the file is
unchanged), so a line the filter skips has still been validated.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeGuard

from engine.depth import MAX_DEPTH, bounded, loads, too_deep, value_end
from engine.errors import LogFileError
from engine.logs.query import Event, Query, compile_query, event_date
from engine.timeutil import iso_ms

CHUNK = 1 << 20  # characters read at a time from a JSON array or document
MAX_ITEM = 64 << 20  # a value larger than this is an error, not a reason to read on
# A JSON line longer than this is refused without being read whole (an Auth0
# log event is a few KB; even a Management API call with its request body is
# far below): a hostile or broken file cannot make the reader hold a huge line.
MAX_LINE = 8 << 20
# values a JSON encoder writes verbatim between quotes (no escapes, no "\/")
_VERBATIM = re.compile(r"[A-Za-z0-9 ._:@|+-]+")
# values that are also the text of a non-string JSON value (``field_text``), which a
# line may spell otherwise (1e5 for 100000.0) and never between quotes
_JSON_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|-?Infinity|NaN|true|false")
_PAGE_KEYS = frozenset({"start", "limit", "length", "total", "logs"})
_SHAPES = (
    'expected Auth0 log events (objects with "type" and "date"), log-stream items '
    '{"log_id", "data"}, EventBridge events {"detail": {"data"}}, or pages {"logs": [...]}'
)
LineFilter = Callable[[str], bool]


@dataclass
class Undated:
    """Events a date window had to leave out because their ``date`` cannot be read.

    They cannot be placed in time, so no window holds them, on any path; the
    search that met them says so (count and the first one) instead of
    answering as if the file held nothing else.
    """

    count: int = 0
    first: dict[str, Any] | None = None

    def add(self, event: Event) -> None:
        self.count += 1
        if self.first is None:
            self.first = {"log_id": event.get("log_id"), "date": _shown(event.get("date"))}

    def warning(self) -> str:
        first = self.first or {}
        which = f"log_id {first['log_id']}" if first.get("log_id") else "an event without log_id"
        return (
            f"{self.count} matching event(s) have no readable date and are outside every "
            f"window (first: {which}, date {first.get('date')}); "
            "Auth0 writes dates such as 2023-06-02T10:58:05.996Z"
        )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_log_event(value: Any) -> TypeGuard[dict[str, Any]]:
    """Whether ``value`` is an Auth0 log event: a non-empty string ``type`` and a ``date``.

    The date's value is not judged here: one that cannot be read (a number, a
    local format) is the searches' to report, so the event is read, not refused.
    """
    if not isinstance(value, dict) or "date" not in value:
        return False
    kind = value.get("type")
    return isinstance(kind, str) and bool(kind)


def _with_id(event: dict[str, Any], wrapper_id: Any) -> dict[str, Any]:
    """The event, given the wrapper's ``log_id`` when it has none of its own."""
    if "log_id" not in event and isinstance(wrapper_id, str) and wrapper_id:
        return {**event, "log_id": wrapper_id}
    return event


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        keys = [json.dumps(k, ensure_ascii=True)[:40] for k in list(value)[:6]]
        more = ", ..." if len(value) > 6 else ""
        return f"an object with keys {', '.join(keys)}{more}" if keys else "an empty object"
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def unwrap(value: Any, where: str, *, nested: bool = False) -> Iterator[dict[str, Any]]:
    """The log events ``value`` holds (see the module docstring), or a ``LogFileError``."""
    if is_log_event(value):
        yield value
        return
    if isinstance(value, dict):
        data = value.get("data")
        if is_log_event(data):  # a log-stream item
            yield _with_id(data, value.get("log_id"))
            return
        detail = value.get("detail")
        if isinstance(detail, dict):  # an Amazon EventBridge event
            inner = detail.get("data")
            if is_log_event(inner):
                yield _with_id(inner, detail.get("log_id"))
                return
            if is_log_event(detail):
                yield detail
                return
        logs = value.get("logs")
        if not nested and isinstance(logs, list) and set(value) <= _PAGE_KEYS:
            length = value.get("length")
            if isinstance(length, int) and not isinstance(length, bool) and length != len(logs):
                raise LogFileError(
                    f"{where}: the page says length {length} but holds {len(logs)} events "
                    "(a cut or edited page: export it again)"
                )
            for i, item in enumerate(logs):
                yield from unwrap(item, f"{where}: logs[{i}]", nested=True)
            return
    raise LogFileError(f"{where}: not an Auth0 log event: {_kind(value)} ({_SHAPES})")


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as an exported log file, as the operator is told; None
    for a file. A pipe is refused, not read: its events cannot be read twice or cached."""
    if path.is_file():
        return None
    if path.is_dir():
        return "a folder, not a file"
    if path.is_symlink() and not path.exists():
        return "a link to no file"
    if path.exists():
        return "not a regular file (a pipe, socket or device)"
    return "no such file"


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
    """The events of an open file: a JSON array, JSON lines, or JSON documents in a row."""
    first = ""
    while not first:  # a character at a time: the first line may be a whole minified array
        ch = handle.read(1)
        if not ch:
            return
        first = ch.strip()
    handle.seek(0)
    if first == "[":
        yield from _documents(p, handle, array=True)
        return
    if first == "{":
        head = ""
        while not head.strip():
            head = handle.readline(MAX_ITEM)
        handle.seek(0)
        try:
            loads(head)  # depth-bounded: a first event nested 3,000 levels deep is still one line
        except json.JSONDecodeError:  # a pretty-printed object: not one value a line
            yield from _documents(p, handle, array=False)
            return
    yield from _lines(p, handle, keep)


def _lines(p: Path, handle: TextIO, keep: LineFilter | None) -> Iterator[dict[str, Any]]:
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
        yield from unwrap(item, f"{p}:{n}")


def _documents(p: Path, handle: TextIO, *, array: bool) -> Iterator[dict[str, Any]]:
    """The values of a JSON array, or of JSON documents in a row, one at a time.

    Decoded from a sliding buffer, so a file of any size is read in bounded
    memory; a single value may not exceed ``MAX_ITEM`` characters.
    """
    decoder = json.JSONDecoder()
    buf = handle.read(CHUNK)
    pos = buf.index("[") + 1 if array else 0
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
                if array:
                    raise fail(pos, "the array is not closed with ]")
                return
            buf, pos = buf[pos:] + handle.read(CHUNK), 0
            eof = pos >= len(buf)
            continue
        ch = buf[pos]
        if array and ch == "]" and (n == 0 or not want_item):
            rest = buf[pos + 1 :] + handle.read()
            if rest.strip():
                raise fail(pos + 1, "extra data after the array")
            return
        if array and not want_item:
            if ch != ",":
                raise fail(pos, "expected ',' or ']' between events")
            pos += 1
            want_item = True
            continue
        try:
            item, end = _decode_item(decoder, buf, pos)
        except json.JSONDecodeError as exc:
            if eof or len(buf) - pos > MAX_ITEM:
                raise fail(exc.pos, exc.msg) from None
            more = handle.read(CHUNK)  # the value runs past the buffer: read on and retry
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        where = f"{p}:{line}: item {n}" if array else f"{p}:{line}"
        line += buf.count("\n", pos, end)
        pos = end
        yield from unwrap(item, where)
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


@dataclass(frozen=True)
class Profile:
    """What a whole file holds: its event count and the span of its readable dates."""

    events: int
    undated: int  # events whose date cannot be read
    first: str | None  # the earliest readable date (normalised), None if there is none
    last: str | None


_profiles: dict[tuple[str, int, int], Profile] = {}
_profiles_lock = threading.Lock()


def profile(path: str | Path) -> Profile:
    """Read every event of ``path`` once (refusing the file if any value is not one).

    Cached while the file's size and modification time stay the same.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise LogFileError(f"{p}: cannot open: {exc.strerror}") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _profiles_lock:
        known = _profiles.get(key)
    if known is not None:
        return known
    events = undated = 0
    first: str | None = None
    last: str | None = None
    for event in iter_events(p):
        events += 1
        date = event_date(event)
        if date is None:
            undated += 1
            continue
        first = date if first is None or date < first else first
        last = date if last is None or date > last else last
    found = Profile(events, undated, first, last)
    with _profiles_lock:
        _profiles[key] = found
    return found


def window_warnings(path: str | Path, since: datetime, until: datetime) -> list[str]:
    """Why a window over ``path`` can find nothing, if no event of the file falls in it."""
    lo, hi = iso_ms(since), iso_ms(until)
    return window_message(
        path,
        profile(path),
        lo,
        hi,
        lambda: any(lo <= (event_date(e) or "") < hi for e in iter_events(path)),
    )


def window_message(
    path: str | Path, prof: Profile, lo: str, hi: str, inside: bool | Callable[[], bool]
) -> list[str]:
    """Why the window ``[lo, hi)`` over a file of profile ``prof`` finds nothing, if it does.

    ``inside``: whether any event falls in the window (or how to find out: only
    asked when the window lies within the file's span, where a gap may hold none).
    """
    if prof.events == 0:
        return [f"{path} holds no log events"]
    if prof.first is None or prof.last is None:
        return [
            f"none of the {prof.events} events in {path} has a readable date: "
            "no window can select them"
        ]
    said = (
        f"no event in {path} falls in the window {lo} to {hi}: the file's events run "
        f"from {prof.first} to {prof.last} ({prof.events} events)"
    )
    if prof.last < lo or prof.first >= hi:
        return [f"{said}; set since/until inside that span (e.g. -i since={prof.first[:10]})"]
    if not (inside() if callable(inside) else inside):
        return [f"{said}, none of them inside this window"]
    return []


def _line_filter(query: Query) -> LineFilter | None:
    """A raw-line test that no line holding a match can fail, when the query allows one."""
    needles = [
        [json.dumps(v) for v in values]
        for values in query.hints.eq.values()
        if values and all(_VERBATIM.fullmatch(v) and not _JSON_SCALAR.fullmatch(v) for v in values)
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
    keep = _line_filter(query)
    if keep is not None:
        profile(path)  # every line checked once, before the filter skips some unread
    lo = iso_ms(since) if since is not None else None
    hi = iso_ms(until) if until is not None else None
    for event in _events(Path(path), keep):
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
