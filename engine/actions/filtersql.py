"""``data.filter``'s condition without Jinja per item: as SQL over an event set, or as a
plain Python test over a list, when its shape allows.

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

Over a plain list (``ip.extract``'s rows), ``item_test`` compiles the same
shapes, and the orderings (``<``, ``<=``, ``>``, ``>=``), into a Python test of
the item's key: the comparison Jinja would make, made directly. Wherever it
could differ from Jinja (a key the item lacks, a value that is not a number,
string, boolean or none, a comparison Python refuses) it says "don't know"
and the action renders the template for that item, which answers or fails
as it always did.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
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
    key = _key(node)
    return key if key in SEARCHABLE else None


def _value(node: nodes.Node, context: Mapping[str, Any], scalars: bool = False) -> Any:
    """A literal, a list of literals, or a chain of names the context holds; else _MISSING.

    From the context: a string, none, or a list of strings (with ``scalars``,
    any number, string, boolean or none, or a list of them).
    """
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_value(n, context, scalars) for n in node.items]
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
    kinds = _SCALAR if scalars else (str, type(None))
    if isinstance(value, kinds):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, kinds) for v in value):
        return list(value)
    return _MISSING


_ORDERINGS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
}
_SCALAR = (int, float, str, bool, type(None))
Test = Callable[[Any], "bool | None"]  # None: render the template for this item


def item_test(ast: nodes.Template, context: Mapping[str, Any]) -> Test | None:
    """A plain test of one item for a ``{{ ... }}`` condition, or None when there is none."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    parts = ast.body[0].nodes
    return _test(parts[0], context) if len(parts) == 1 else None


def _test(node: nodes.Node, context: Mapping[str, Any]) -> Test | None:
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _test(node.left, context), _test(node.right, context)
        if left is None or right is None:
            return None
        both = isinstance(node, nodes.And)
        return lambda item: _combine(left(item), right, item, both)
    if isinstance(node, nodes.Not):
        inner = _test(node.node, context)
        if inner is None:
            return None
        return lambda item: None if (r := inner(item)) is None else not r
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        return _compare_test(node.expr, node.ops[0].op, node.ops[0].expr, context)
    return None


def _combine(first: bool | None, second: Test, item: Any, both: bool) -> bool | None:
    if first is None:
        return None
    if first is not both:  # and: a false left side decides; or: a true one
        return first
    return second(item)


def _compare_test(
    left: nodes.Node, op: str, right: nodes.Node, context: Mapping[str, Any]
) -> Test | None:
    key, value = _key(left), _value(right, context, scalars=True)
    flipped = False
    if key is None:
        key, value, flipped = _key(right), _value(left, context, scalars=True), True
    if key is None or value is _MISSING:
        return None
    if op in _ORDERINGS and isinstance(value, _SCALAR):
        compare: Callable[[Any, Any], Any] = _ORDERINGS[op]

        def ordered(item: Any) -> bool | None:
            if not isinstance(item, dict) or key not in item:
                return None  # Jinja says what a missing key is
            mine = item[key]
            if not isinstance(mine, _SCALAR):
                return None
            try:
                return bool(compare(value, mine) if flipped else compare(mine, value))
            except TypeError:  # 'str' >= 'int': Jinja's error, word for word
                return None

        return ordered
    if op in ("in", "notin") and not flipped and isinstance(value, list):
        wanted = value

        def member(item: Any) -> bool | None:
            if not isinstance(item, dict) or key not in item:
                return None
            mine = item[key]
            if not isinstance(mine, _SCALAR):
                return None
            return (mine in wanted) if op == "in" else (mine not in wanted)

        return member
    return None


def _key(node: nodes.Node) -> str | None:
    """``item.<key>`` or ``item['<key>']``, any key (a plain list's items are dicts)."""
    if isinstance(node, nodes.Getattr):
        name, owner = node.attr, node.node
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        name, owner = node.arg.value, node.node
    else:
        return None
    if isinstance(owner, nodes.Name) and owner.name == "item" and isinstance(name, str):
        return name
    return None
