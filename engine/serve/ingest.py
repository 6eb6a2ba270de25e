"""A log-stream batch as Auth0 posts it: every content format read, or the batch refused.

Auth0's custom-webhook log stream sends each batch in the content format the
stream is configured with (``httpContentFormat``): JSON lines (one item per
line), a JSON array of items, or a JSON object (one item, or ``{"logs":
[items]}``). Each item is ``{"log_id": "...", "data": {<log event>}}``
(docs/serve.md). ``parse_batch`` reads any of them into ``Item``s or raises
``engine.errors.BatchError`` saying what is wrong and where (the line or the item), so that
the endpoint answers 400 and stores nothing of the batch: Auth0 then retries
the whole batch, and a batch soar cannot read is never half stored.

Every value is data: nested deeper than ``engine.depth.MAX_DEPTH`` it is cut
(never a ``RecursionError``); a log id longer than ``MAX_LOG_ID`` or an item
that is not an object is refused. Messages quote no value of the body, only
positions and field names: a body may carry anything, the stream's own token
included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from engine import depth
from engine.errors import BatchError

MAX_LOG_ID = 256  # Auth0's log ids are 56 digits; anything much longer is not one
MAX_ITEMS = 100_000  # items in one batch: far above what Auth0 sends, below what hurts
# orjson reads an integer past 64 bits as a float. Such a JSON number has 20 digits, or 19
# after a minus, and follows ":", "," or "[" (spaces aside; the digits of a string, such as
# a log id, follow a quote): ``long_integers`` looks for ":" and 19 zeros once every digit
# is made 0, "," and "[" made ":", and spaces and minus signs dropped
_FLAT = bytes.maketrans(b"123456789,[", b"000000000::")
_DROPPED = b" \t\r\n-"
_LONG = b":" + b"0" * 19


@dataclass(frozen=True)
class Item:
    """One log-stream item: its log id and the log event (``data``, with ``log_id`` set)."""

    log_id: str
    data: Mapping[str, Any]

    @property
    def date(self) -> str | None:
        value = self.data.get("date")
        return value if isinstance(value, str) else None


def parse_batch(body: bytes) -> list[Item]:
    """The items of one posted batch, in order, in any of Auth0's content formats.

    Raises ``BatchError`` for a body that is not UTF-8, not JSON (nor JSON
    lines), or holds an item that is not ``{"log_id": str, "data": object}``.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchError(f"the body is not UTF-8 (byte {exc.start})") from None
    stripped = text.strip()
    if not stripped:
        raise BatchError("the body is empty: expected log-stream items")
    exact = long_integers(body)
    if _is_json_lines(stripped, exact):
        return _items(_lines(text, exact), "line")
    try:
        whole = loads(stripped, exact)
    except ValueError:
        if stripped[0] != "{":
            raise BatchError(_json_problem(stripped, "the body")) from None
        return _items(_lines(text, exact), "line")
    if isinstance(whole, list):
        return _items(enumerate(whole, 1), "item")
    if isinstance(whole, dict):
        if "logs" in whole and "log_id" not in whole:
            logs = whole["logs"]
            if not isinstance(logs, list):
                raise BatchError('"logs" is not a list of log-stream items')
            return _items(enumerate(logs, 1), "item")
        return _items([(1, whole)], "item")
    raise BatchError("the body is not a JSON object, array or JSON lines of log-stream items")


def _is_json_lines(text: str, exact: bool) -> bool:
    """Whether ``text`` is JSON lines of objects: its first line a whole object, more after it.

    Decided on the first line alone, so a large JSON-lines batch is not first
    tried (and failed) as one JSON document.
    """
    first, newline, rest = text.partition("\n")
    if not newline or not rest.strip() or not first.rstrip().endswith("}"):
        return False
    try:
        return isinstance(loads(first, exact), dict)
    except ValueError:
        return False


def _lines(text: str, exact: bool) -> Iterator[tuple[int, Any]]:
    """JSON lines: each non-blank line one JSON value (numbered from 1)."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, loads(line, exact)
        except ValueError:
            raise BatchError(_json_problem(line, f"line {number}")) from None


def long_integers(raw: bytes) -> bool:
    """Whether JSON ``raw`` may hold an integer orjson cannot read exactly (past 64 bits).

    May say so of text that has none (19 digits after ``:`` inside a string, or a
    positive 19-digit integer, which orjson reads exactly); never the other way.
    """
    return _LONG in raw.translate(_FLAT, _DROPPED)


def loads(text: str, exact: bool = False) -> Any:
    """``engine.depth.loads`` (values deeper than its bound cut), read by orjson where it can.

    orjson reads the ordinary text several times faster than the standard
    library; what it refuses (``NaN``, a number past a double's range, a lone
    surrogate, text that is not JSON) is read by the standard library, and so
    is all of it when ``exact`` (``long_integers`` found an integer orjson would
    make a float of): a batch means the same and fails with the same message
    either way. Raises ``ValueError``.
    """
    if depth.too_deep(text):
        text = depth.cut_text(text)
    if not exact:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def event_text(data: Mapping[str, Any]) -> str:
    """A log event as stored: compact JSON (orjson; the standard library for what it refuses,
    an integer past 64 bits or a lone surrogate)."""
    try:
        return orjson.dumps(data).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(data)


def read_event(text: str) -> dict[str, Any]:
    """A stored log event (``event_text``) read back, as ``loads`` reads it."""
    value = loads(text, long_integers(text.encode("utf-8", "surrogatepass")))
    return value if isinstance(value, dict) else dict(value)


def _json_problem(text: str, where: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{where} is not JSON: {exc.msg} at column {exc.colno}"
    except (ValueError, RecursionError):
        pass
    return f"{where} is not JSON"


def _items(values: Iterator[tuple[int, Any]] | list[tuple[int, Any]], unit: str) -> list[Item]:
    items: list[Item] = []
    for number, value in values:
        if len(items) >= MAX_ITEMS:
            raise BatchError(f"more than {MAX_ITEMS} items in one batch: send smaller batches")
        items.append(_item(value, unit, number))
    if not items:
        raise BatchError("the batch holds no log-stream items")
    return items


def _item(value: Any, unit: str, number: int) -> Item:
    """One item checked (its place, ``unit number``, written only into a refusal)."""
    log_id = value.get("log_id") if isinstance(value, dict) else None
    data = value.get("data") if isinstance(value, dict) else None
    if (
        isinstance(log_id, str)
        and isinstance(data, dict)
        and 0 < len(log_id) <= MAX_LOG_ID
        and data.get("log_id") == log_id
        and not log_id.isspace()
    ):
        return Item(log_id, data)  # the common case, as Auth0 sends it
    where = f"{unit} {number}"
    if not isinstance(value, dict):
        raise BatchError(f'{where}: expected a log-stream item {{"log_id", "data"}}')
    if not isinstance(log_id, str) or not log_id.strip():
        raise BatchError(f'{where}: "log_id" is missing or not a non-empty string')
    if len(log_id) > MAX_LOG_ID:
        raise BatchError(f'{where}: "log_id" is longer than {MAX_LOG_ID} characters')
    if not isinstance(data, dict):
        raise BatchError(f'{where}: "data" is missing or not an object (the log event)')
    inner = data.get("log_id")
    if inner is None:
        data = {**data, "log_id": log_id}
    elif inner != log_id:
        raise BatchError(f'{where}: "log_id" differs from "data.log_id"')
    return Item(log_id, data)
