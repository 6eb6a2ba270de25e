"""A run's outputs as tables, whatever the playbook calls them (the report, the demo).

Each output is laid out by its shape, never by its name:

- a list of ids or addresses is a table of one row per item; a mapping keyed
  by its items joins it as a column (``compromised_users`` with ``user_names``
  and ``accessed_clients``; ``blocked_users`` too, when they are the same
  users); an item the run counted (an address ``ip.extract`` counted) gets its
  count. The run log keeps outputs in name order, so tables come in that order;
- a list of objects is a table of their fields (the first ``MAX_COLUMNS``; an
  event's date, type, user, address and description first);
- any other mapping is a table of its keys and values; any other value a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_ROWS = 200  # rows of one table: the run log holds them all
MAX_COLUMNS = 8  # fields of a list of objects
# an Auth0 log event's fields a responder reads first, when a list of objects has them
FIRST_FIELDS = ("date", "type", "user_id", "user_name", "ip", "description", "client_name")
COUNTED = "indicator events"  # the column of an item's count, as the run counted it


@dataclass
class Table:
    """One output (``name``) with the outputs joined to it: ``head`` names each column.

    ``rows`` hold raw values (the caller escapes them for its medium); the
    first column is the item itself. ``total`` is the number of rows before
    ``MAX_ROWS`` cut them.
    """

    name: str
    head: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    total: int = 0
    kind: str = "value"  # or "ids" (mappings keyed by its items join it), "objects", "mapping"

    @property
    def count(self) -> str:
        """How many rows it has, and how many are shown when ``MAX_ROWS`` cut them."""
        more = f", the first {len(self.rows)} shown" if self.total > len(self.rows) else ""
        return f"({self.total}{more})"

    def cells(self, item: Callable[[Any], str], text: Callable[[Any], str]) -> list[list[str]]:
        """The rows as a renderer's cells: the first column by ``item`` (a code span) when the
        table is keyed by its items, every other value by ``text``; a list of plain values
        as its items, comma-separated."""
        keyed = self.kind in ("ids", "mapping")

        def cell(value: Any, first: bool) -> str:
            value = joined(value)
            if first and keyed and isinstance(value, str | int):
                return item(value)
            return text("" if value is None else value)

        return [[cell(v, i == 0) for i, v in enumerate(row)] for row in self.rows]


def counted(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Address -> count, from the rows with ``ip`` and ``count`` any step of the run output.

    ``ip.extract`` (``ips``) and ``data.count_by`` (``items``, or its ``first``
    rows) give such rows; the first count seen for an address is kept.
    """
    counts: dict[str, int] = {}
    for rec in records:
        if rec.get("type") != "step.finished" or not isinstance(rec.get("output"), dict):
            continue
        out = rec["output"]
        rows = out.get("items") or out.get("ips")
        if isinstance(rows, dict):
            rows = rows.get("first")
        if isinstance(rows, list):
            for row in rows:
                if isinstance(row, dict) and "ip" in row and "count" in row:
                    counts.setdefault(str(row["ip"]), int(row["count"]))
    return counts


def joined(value: Any) -> Any:
    """A cell's value as shown: a list of plain values as its items, comma-separated."""
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return ", ".join(map(str, value))
    return value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def tables(outputs: Mapping[str, Any], counts: Mapping[str, int] | None = None) -> list[Table]:
    """The outputs as tables, in name order; a mapping keyed by lists' items is in their tables."""
    counts = counts or {}
    lists = {
        name: _ids(name, value, counts)
        for name, value in outputs.items()
        if isinstance(value, list) and all(_scalar(v) for v in value)
    }
    out: list[Table] = []
    for name, value in outputs.items():
        if name in lists:
            out.append(lists[name])
        elif isinstance(value, Mapping) and _join(name, value, lists.values()):
            continue
        elif isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            out.append(_objects(name, value))
        elif isinstance(value, Mapping):
            rows = [[k, v] for k, v in value.items()]
            out.append(Table(name, ["key", name], rows[:MAX_ROWS], len(rows), "mapping"))
        else:
            out.append(Table(name, [name], [[value]], 1))
    return out


def _join(name: str, mapping: Mapping[str, Any], lists: Iterable[Table]) -> bool:
    """Add ``mapping`` as a column to each list of ids holding all its keys; whether any did."""
    keys = set(map(str, mapping))
    joined = False
    for table in lists:
        if keys and keys <= {str(row[0]) for row in table.rows}:
            table.head.append(name)
            for row in table.rows:
                row.append(mapping.get(str(row[0])))
            joined = True
    return joined


def _ids(name: str, value: list[Any], counts: Mapping[str, int]) -> Table:
    table = Table(name, [name], [[v] for v in value[:MAX_ROWS]], len(value), "ids")
    if any(str(v) in counts for v in value):
        table.head.append(COUNTED)
        for row in table.rows:
            row.append(counts.get(str(row[0]), "?"))
    return table


def _objects(name: str, value: list[Mapping[str, Any]]) -> Table:
    seen: list[str] = []
    for item in value[:MAX_ROWS]:
        seen += [str(k) for k in item if str(k) not in seen]
    head = [k for k in FIRST_FIELDS if k in seen] + [k for k in seen if k not in FIRST_FIELDS]
    head = head[:MAX_COLUMNS]
    rows = [[item.get(k) for k in head] for item in value[:MAX_ROWS]]
    return Table(name, head, rows, len(value), "objects")
