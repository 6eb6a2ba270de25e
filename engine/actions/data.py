"""Data helpers: unique, filter, count_by, set. Pure functions over step outputs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from engine.actions.events import fields_of
from engine.actions.filtersql import item_test, where_of
from engine.actions.registry import Action, ActionContext, Result
from engine.depth import dumps
from engine.errors import ActionError, TemplateError
from engine.expr.templates import Deferred
from engine.logs.eventset import EventSet
from engine.logs.query import SEARCHABLE

_ITEMS = {
    "type": "array",
    "description": "The list to work on, e.g. {{ steps.logins.output.events }}.",
}
_KEY = {
    "type": "string",
    "description": "Field of each item to use (dotted for nested: location_info.country_code).",
}


def _get(item: Any, key: str | None) -> Any:
    if key is None:
        return item
    value = item
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _hashable(value: Any) -> Any:
    """A hashable stand-in for a JSON value; ``True`` and ``1`` stay distinct.

    Containers are keyed by their canonical JSON, cut at the depth limit
    (``engine.depth``): an event's hostile nesting cannot exhaust the stack.
    """
    if isinstance(value, Mapping | list | tuple):
        return ("json", dumps(value, sort_keys=True))
    if isinstance(value, bool):
        return ("bool", value)
    return value


def _label(value: Any) -> str:
    """The key of ``value`` in a JSON object: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    return dumps(value, sort_keys=True)


def _items(args: Mapping[str, Any]) -> Iterable[Any]:
    """The items to read ``key`` of: an event set gives that one column, without its events."""
    key = args.get("key")
    if isinstance(key, str) and key in SEARCHABLE:
        return fields_of(args["items"], key)
    return args["items"]  # type: ignore[no-any-return]


def unique(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    seen: set[Any] = set()
    values: list[Any] = []
    for item in _items(args):
        value = _get(item, args.get("key"))
        if value is None or value == "":
            continue
        marker = _hashable(value)
        if marker not in seen:
            seen.add(marker)
            values.append(value)
    return {"values": values, "count": len(values)}


def filter_items(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    where = args["where"]
    if not isinstance(where, Deferred):
        raise ActionError("data.filter: 'where' must be an expression such as {{ item.count > 5 }}")
    items = args["items"]
    if isinstance(items, EventSet):
        sql = where_of(where.template.ast, where.context)
        if sql is not None:  # tested in SQL on the set's columns: no event read back
            subset = items.subset(*sql)
            return {"items": subset, "count": len(subset)}
    test = item_test(where.template.ast, where.context)
    kept = []
    for i, item in enumerate(items):
        if test is not None and i % 4096 == 0 and _past(where):
            test = None  # the step's time is up: the template says so, as it would have
        keep = test(item) if test is not None else None
        if keep is None:  # no plain test, or not for this item: as Jinja says
            try:
                keep = where.render(item=item, index=i)
            except TemplateError as exc:
                raise ActionError(f"data.filter: 'where' failed on item {i}: {exc}") from None
        if keep:
            kept.append(item)
    return {"items": kept, "count": len(kept)}


def _past(where: Deferred) -> bool:
    return where.limit is not None and time.monotonic() > where.limit.deadline


def count_by(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    """``top`` keeps each value as it is (most frequent first, ties in first-seen order);
    ``counts`` is keyed by its text (numbers, booleans, lists as JSON: ``1`` -> ``"1"``)."""
    counts: Counter[Any] = Counter()
    first: dict[Any, Any] = {}
    for item in _items(args):
        value = _get(item, args["key"])
        if value is None:
            continue
        marker = _hashable(value)
        first.setdefault(marker, value)
        counts[marker] += 1
    top = [{"value": first[m], "count": n} for m, n in counts.most_common()]
    by_label: dict[str, int] = {}
    for row in top:
        label = _label(row["value"])
        # "1" and 1 share a key in a JSON object: their counts add up there
        by_label[label] = by_label.get(label, 0) + row["count"]
    return {"counts": by_label, "top": top}


def set_value(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    return {"value": args.get("value")}


ACTIONS = [
    Action(
        name="data.unique",
        func=unique,
        input_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["items"],
            "properties": {"items": _ITEMS, "key": _KEY},
        },
        output_schema={
            "type": "object",
            "properties": {
                "values": {"type": "array", "description": "Distinct values, first-seen order."},
                "count": {"type": "integer", "description": "How many distinct values."},
            },
        },
        effect="read",
        description="Distinct values of a list (or of one field of its items), in first-seen order; nulls and empty strings skipped.",
    ),
    Action(
        name="data.filter",
        func=filter_items,
        input_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["items", "where"],
            "properties": {
                "items": _ITEMS,
                "where": {
                    "type": "string",
                    "x-template": "deferred",
                    "description": "Condition over `item` (and `index`), e.g. {{ item.count >= inputs.min_failures }}; evaluated per item.",
                },
            },
        },
        output_schema={
            "type": "object",
            "properties": {
                "items": {"type": "array", "description": "The items kept, in their order."},
                "count": {"type": "integer", "description": "How many items were kept."},
            },
        },
        effect="read",
        description="Keep the items for which a condition over `item` is true.",
    ),
    Action(
        name="data.count_by",
        func=count_by,
        input_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["items", "key"],
            "properties": {"items": _ITEMS, "key": _KEY},
        },
        output_schema={
            "type": "object",
            "properties": {
                "counts": {
                    "type": "object",
                    "description": "value -> number of items (non-string values keyed as JSON: 1 -> '1').",
                },
                "top": {"type": "array", "description": "[{value, count}] most frequent first"},
            },
        },
        effect="read",
        description="Count items by the value of one field.",
    ),
    Action(
        name="data.set",
        func=set_value,
        input_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["value"],
            "properties": {
                "value": {"description": "Any value built with expressions: lists, mappings."}
            },
        },
        output_schema={
            "type": "object",
            "properties": {"value": {"description": "The value, as the expressions built it."}},
        },
        effect="read",
        description="Build a value (a list, a mapping) from expressions; the result is steps.<id>.output.value.",
    ),
]
