"""Log events as an operator reads them: a table, JSON, JSON lines or CSV, always safe.

Every value of an event may be the attacker's (``user_name``, ``user_agent``,
``description``, ``details``), so no format lets one reach a terminal raw:
the table and CSV escape control characters visibly (``engine.textsafe.safe``),
JSON and JSON lines are ASCII (``engine.textsafe.json_text``), and every
value is walked depth-bounded (``engine.depth``) before it is serialised.

CSV cells that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) get a leading ``'``, as
OWASP's CSV-injection guidance says: a spreadsheet then shows the text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from engine.depth import bounded
from engine.logs.query import field_text
from engine.textsafe import json_text, safe

Format = Literal["table", "json", "jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("table", "json", "jsonl", "csv")
TABLE_FIELDS = ("date", "type", "ip", "user_name", "client_name", "description")
CELL_WIDTH = 40  # a table cell is cut here, so one hostile value cannot widen every row
DATE_WIDTH = 24  # 2026-11-18T10:00:00.000Z whole
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def parse_fields(text: str) -> list[str]:
    """``a,b,details.request.ip`` as a list of dotted paths, blanks dropped."""
    return [f.strip() for f in text.split(",") if f.strip()]


def pick(event: Mapping[str, Any], path: str, held: set[str] | None = None) -> Any:
    """The value at the dotted ``path`` (``details.request.ip``), None where it is absent;
    ``held``: where a path found is added (which picked fields no event has, ``render``)."""
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if held is not None:
        held.add(path)
    return value


def text_of(value: Any) -> str:
    """A value as one cell's text: the text a query reads (``field_text``), None empty."""
    return field_text(value) or ""


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table_lines(
    events: Sequence[Mapping[str, Any]], fields: Sequence[str], held: set[str] | None = None
) -> Iterator[str]:
    """A header and one line per event; each cell terminal-safe and cut to its width."""
    rows = [
        [
            _cut(safe(text_of(pick(e, f, held))), DATE_WIDTH if f == "date" else CELL_WIDTH)
            for f in fields
        ]
        for e in events
    ]
    header = [safe(f) for f in fields]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        yield "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()


def csv_cell(value: Any) -> str:
    """One CSV cell: terminal-safe, and never a formula a spreadsheet would run."""
    text = text_of(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    return safe(text)


def csv_text(
    events: Iterable[Mapping[str, Any]], fields: Sequence[str], held: set[str] | None = None
) -> str:
    """A header of ``fields`` and one row per event."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(f) for f in fields])
    for event in events:
        writer.writerow([csv_cell(pick(event, f, held)) for f in fields])
    return out.getvalue()


def _shaped(event: Mapping[str, Any], fields: Sequence[str] | None, held: set[str] | None) -> Any:
    if fields is None:
        return bounded(event)
    return bounded({f: pick(event, f, held) for f in fields})


def render(
    events: Sequence[Mapping[str, Any]],
    fmt: Format,
    fields: Sequence[str] | None = None,
    held: set[str] | None = None,
) -> str:
    """``events`` in ``fmt``, ready for stdout; ``fields`` None means the format's default.

    The table's default columns are ``TABLE_FIELDS``; CSV's too; JSON and JSON
    lines give whole events unless fields are picked. ``held``: where each
    field some event has is added, so that the caller can say which fields no
    event has (a misspelt name reads as empty everywhere, never as an answer).
    """
    if fmt == "json":
        return json_text([_shaped(e, fields, held) for e in events]) + "\n"
    if fmt == "jsonl":
        return "".join(json_text(_shaped(e, fields, held)) + "\n" for e in events)
    columns = list(fields) if fields is not None else list(TABLE_FIELDS)
    if fmt == "csv":
        return csv_text(events, columns, held)
    if not events:
        return ""
    return "".join(line + "\n" for line in table_lines(events, columns, held))
