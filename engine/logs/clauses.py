"""How luqum's tree of an Auth0 query reads as Lucene reads it: clause lists, operator mixes.

Lucene has no operator precedence: a side-by-side sequence, with the AND and
OR operands around it, is one clause list (``clause_list``), whatever tree
luqum builds. ``ambiguities`` names the operator mixes that engines read
differently, so ``soar validate`` can ask for parentheses.
"""

from __future__ import annotations

import itertools
from typing import Any

from luqum import tree


def clause_list(node: tree.Item) -> list[list[Any]]:
    """``node`` as Lucene's flat clause list: ``[occur, item]``, occur must, should or not."""
    if isinstance(node, tree.Not | tree.Prohibit):
        return [["not", node.a]]
    if isinstance(node, tree.Plus):
        return [["must", node.a]]
    if isinstance(node, tree.UnknownOperation | tree.OrOperation):
        return [c for child in node.children for c in clause_list(child)]
    if isinstance(node, tree.AndOperation):
        parts = [clause_list(child) for child in node.children]
        for left, right in itertools.pairwise(parts):  # AND joins its neighbours
            for clause in (left[-1], right[0]):
                if clause[0] == "should":
                    clause[0] = "must"
        return [c for part in parts for c in part]
    return [["should", node]]


def holds_side_by_side(node: tree.Item) -> bool:
    """Whether an ungrouped sequence of side-by-side terms is among ``node``'s operands."""
    if isinstance(node, tree.UnknownOperation):
        return True
    if isinstance(node, tree.AndOperation | tree.OrOperation):
        return any(holds_side_by_side(child) for child in node.children)
    return False


_BOOL = (tree.AndOperation, tree.OrOperation, tree.UnknownOperation)
_OP_NAMES = {
    tree.AndOperation: "AND",
    tree.OrOperation: "OR",
    tree.UnknownOperation: "side-by-side terms",
}


def ambiguities(node: tree.Item) -> list[str]:
    """Operator mixes without parentheses, which Lucene engines read differently."""
    found: list[str] = []
    for item in _walk(node):
        if not isinstance(item, _BOOL):
            continue
        mixed = {type(c) for c in item.children if isinstance(c, _BOOL)} - {type(item)}
        if mixed == {tree.OrOperation} and isinstance(item, tree.UnknownOperation):
            continue  # terms side by side and OR mean the same
        if mixed:
            ops = sorted({_OP_NAMES[type(item)], *(_OP_NAMES[m] for m in mixed)})
            text = str(item).strip()
            shown = text if len(text) <= 80 else text[:77] + "..."
            found.append(f"'{shown}' mixes {' and '.join(ops)} without parentheses")
    return found


def _walk(node: tree.Item) -> list[tree.Item]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out
