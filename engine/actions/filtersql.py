"""``data.filter``'s condition as SQL, when its items are an event set and SQL can say it.

The condition is a Jinja expression over ``item`` (``{{ item.type == 'sapi' }}``).
Over an event set, the common conditions are translated from its syntax
tree into SQL over the set's columns, so no event is read back to test it:

- ``item.<field> == v`` and ``!=``, ``v`` a string or ``none``;
- ``item.<field> in [...]`` and ``not in``, over a list of strings;
- ``and``, ``or``, ``not`` and parentheses of those.

``<field>`` is a searchable field (a column, its value the field's text:
``engine.logs.query.field_text``); ``v`` a literal or a name the step's
context holds (``inputs.kind``, ``steps.x.output.value``), read from the
context, never from the data. Values are bound parameters. Anything else
(``item.count > 5``, a filter, a call, a field that is not a column) gives
``None``, and the action tests each event in Python as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import nodes

from engine.logs.query import SEARCHABLE

Sql = tuple[str, list[Any]]
_MISSING = object()


def where_of(ast: nodes.Template, context: Mapping[str, Any]) -> Sql | None:
    """The condition of a ``{{ ... }}`` template as SQL, or None when it cannot be."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    parts = ast.body[0].nodes
    if len(parts) != 1:
        return None
    return _expr(parts[0], context)


def _expr(node: nodes.Node, context: Mapping[str, Any]) -> Sql | None:
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _expr(node.left, context), _expr(node.right, context)
        if left is None or right is None:
            return None
        op = "AND" if isinstance(node, nodes.And) else "OR"
        return f"({left[0]} {op} {right[0]})", left[1] + right[1]
    if isinstance(node, nodes.Not):
        inner = _expr(node.node, context)
        return None if inner is None else (f"(NOT {inner[0]})", inner[1])
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        return _compare(node.expr, node.ops[0].op, node.ops[0].expr, context)
    return None


def _compare(
    left: nodes.Node, op: str, right: nodes.Node, context: Mapping[str, Any]
) -> Sql | None:
    column = _field(left)
    value = _value(right, context)
    if column is None and op in ("eq", "ne"):  # 'sapi' == item.type
        column, value = _field(right), _value(left, context)
    if column is None or value is _MISSING:
        return None
    col = f'"{column}"'
    if op in ("eq", "ne") and (value is None or isinstance(value, str)):
        if value is None:  # a missing field and null are both none
            return (f"({col} IS NULL)" if op == "eq" else f"({col} IS NOT NULL)"), []
        test = f"({col} IS NOT DISTINCT FROM ?)" if op == "eq" else f"({col} IS DISTINCT FROM ?)"
        return test, [value]
    if op in ("in", "notin") and isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            return None
        if not value:
            return ("FALSE" if op == "in" else "TRUE"), []
        marks = ", ".join("?" for _ in value)
        test = f"coalesce({col} IN ({marks}), false)"
        return (test if op == "in" else f"(NOT {test})"), list(value)
    return None


def _field(node: nodes.Node) -> str | None:
    """``item.<field>`` or ``item['<field>']`` for a column, else None."""
    if isinstance(node, nodes.Getattr):
        name, owner = node.attr, node.node
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        name, owner = node.arg.value, node.node
    else:
        return None
    if isinstance(owner, nodes.Name) and owner.name == "item" and name in SEARCHABLE:
        return str(name)
    return None


def _value(node: nodes.Node, context: Mapping[str, Any]) -> Any:
    """A literal, a list of literals, or a chain of names the context holds; else _MISSING."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_value(n, context) for n in node.items]
        return _MISSING if any(i is _MISSING for i in items) else items
    chain: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            chain.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            chain.append(node.arg.value)
        else:
            return _MISSING
        node = node.node
    if not isinstance(node, nodes.Name) or node.name in ("item", "index"):
        return _MISSING
    value: Any = context.get(node.name, _MISSING)
    for key in reversed(chain):
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING  # what Jinja would read as undefined: let it say so
        value = value[key]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return _MISSING
