"""Depth-bounded handling of data: no value from a tenant can crash a walk by its nesting.

Event data is attacker-controlled (a Management API call's ``details`` holds
the request body the caller sent), and Python's recursive walkers, the JSON
encoder and decoder included, fail with ``RecursionError`` somewhere below
1,000 levels. So data is cut where it enters (``loads``: offline files,
Auth0 and webhook responses, emulator request bodies) and every sink walks it
again with ``bounded`` / ``walk`` (iterative, never recursive) before it is
serialised: a container nested deeper than the limit is replaced by a visible
marker such as ``"…(cut: deeper than 64 levels)"`` and the run goes on.

Levels are counted in containers: ``{"a": [1]}`` is 2 levels deep; scalars
add none. ``MAX_DEPTH`` is the limit for data; ``SINK_DEPTH`` leaves room for
the engine's own wrappers (a step result, a record) around data already cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MAX_DEPTH = 64
SINK_DEPTH = MAX_DEPTH + 16


def marker(limit: int) -> str:
    """What stands in for a value nested deeper than ``limit`` levels."""
    return f"…(cut: deeper than {limit} levels)"


def _same(value: Any) -> Any:
    return value


def walk(
    value: Any,
    leaf: Callable[[Any], Any] = _same,
    key: Callable[[Any], Any] = _same,
    limit: int = SINK_DEPTH,
) -> Any:
    """An iterative copy of a JSON-like value: mappings -> dicts, lists/tuples -> lists.

    ``leaf`` maps every non-container value, ``key`` every mapping key; a
    container deeper than ``limit`` becomes ``marker(limit)``. No recursion,
    so any depth is safe to walk.
    """
    if not isinstance(value, Mapping | list | tuple):
        return leaf(value)
    cut = marker(limit)
    root: list[Any] = [None]
    # (source container, destination, slot in destination, depth of source)
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 1)]
    while stack:
        src, dst, slot, depth = stack.pop()
        if depth > limit:
            dst[slot] = cut
            continue
        if isinstance(src, Mapping):
            out: Any = {}
            dst[slot] = out
            for k, v in src.items():
                k2 = key(k)
                if isinstance(v, Mapping | list | tuple):
                    out[k2] = None
                    stack.append((v, out, k2, depth + 1))
                else:
                    out[k2] = leaf(v)
        else:
            out = [None] * len(src)
            dst[slot] = out
            for i, v in enumerate(src):
                if isinstance(v, Mapping | list | tuple):
                    stack.append((v, out, i, depth + 1))
                else:
                    out[i] = leaf(v)
    return root[0]


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def walk_keeps(value: Any, limit: int = SINK_DEPTH) -> bool:
    """Whether ``value`` is plain JSON within ``limit`` levels, so a walk would only copy it.

    Plain JSON: dicts, lists, tuples, strings, numbers, booleans and None, and
    nothing else anywhere (no ``Secret``, no event set, no other mapping). Told
    at C speed by the encoder and ``too_deep``: a walker whose leaves change only
    other values may then use ``value`` as it is, instead of copying an output
    of thousands of events item by item.
    """
    try:
        text = json.dumps(value, default=_refuse, check_circular=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return not too_deep(text, limit)


def bounded(value: Any, limit: int = SINK_DEPTH) -> Any:
    """``value`` with every container deeper than ``limit`` levels cut (a copy)."""
    return walk(value, limit=limit)


def depth_of(value: Any) -> int:
    """How many container levels ``value`` has (iterative)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, Mapping):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list | tuple):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


def dumps(value: Any, limit: int = SINK_DEPTH, **kwargs: Any) -> str:
    """``json.dumps`` of ``value`` cut at ``limit`` levels (``default=str`` unless given)."""
    kwargs.setdefault("default", str)
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(bounded(value, limit), **kwargs)


_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'  # a whole JSON string, escapes included
# what is left of a string once its escaped quotes and backslashes are gone: no quote inside
_BARE_STRINGS = re.compile(rb'"[^"]*"')
_INNERMOST = re.compile(rb"\[\]|\{\}")  # one pass: every innermost pair, of either kind, once
_KEEP = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
# the tokens that matter for nesting: whole strings (skipped at C speed) and brackets
_TOKENS = re.compile(_STRING + r"|[\[\]{}]", re.DOTALL)


def may_be_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """A cheap test no deeply nested JSON text can fail: it has more brackets than ``limit``."""
    return text.count("{") + text.count("[") > limit


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``text`` nests deeper than ``limit``, at C speed for ordinary text.

    Strings and everything but brackets are dropped, at the speed of bytes: the
    escaped backslashes go first (pairs, left to right, as the decoder reads
    them), then the escaped quotes, so the quotes left are the strings' ends;
    everything but quotes and brackets is deleted and the strings with it.
    Then each pass deletes the innermost pairs (one level: ``{[]}`` takes two
    passes), so ``limit`` passes empty the brackets of text at most ``limit`` deep. (Malformed text may count as
    deep; the decoder then reports it. It never counts as shallow a prefix the
    decoder would read deep: up to the decoder's first error, the quotes pair
    as the decoder pairs them.)
    """
    if not may_be_deep(text, limit):
        return False
    raw = text.encode("utf-8", "surrogatepass").replace(b"\\\\", b"").replace(b'\\"', b"")
    # a string without brackets is "" now: gone in one C pass (two strings with no bracket
    # between them may merge; what is inside quotes stays inside); the rest, if any, by regex
    brackets = raw.translate(None, _DROP).replace(b'""', b"")
    if b'"' in brackets:
        brackets = _BARE_STRINGS.sub(b"", brackets)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST.sub(b"", brackets)
    return bool(brackets)


def cut_text(text: str, limit: int = MAX_DEPTH) -> str:
    """JSON text with every value nested deeper than ``limit`` replaced by the marker string.

    Works on the text, so a value far too deep for the decoder (100,000
    levels) is cut without ever being decoded; brackets inside strings are
    skipped. Text that is not valid JSON stays invalid (the decoder then says
    where).
    """
    parts: list[str] = []
    depth = 0
    cut_from = -1  # where the value being cut started, or -1
    kept_to = 0
    for m in _TOKENS.finditer(text):
        tok = m.group(0)
        if tok[0] == '"':
            continue
        if tok in "[{":
            depth += 1
            if depth == limit + 1 and cut_from < 0:
                cut_from = m.start()
        elif depth > 0:
            depth -= 1
            if depth == limit and cut_from >= 0:
                parts += [text[kept_to:cut_from], json.dumps(marker(limit), ensure_ascii=False)]
                kept_to, cut_from = m.end(), -1
    if cut_from >= 0:  # an unclosed over-deep value: keep it as it is, the decoder reports it
        return text
    parts.append(text[kept_to:])
    return "".join(parts)


def loads(text: str | bytes, limit: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """``json.loads`` that cuts values nested deeper than ``limit`` (any depth is safe).

    Raises ``ValueError`` (``json.JSONDecodeError``) for text that is not JSON,
    as ``json.loads`` does; never ``RecursionError``.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8-sig")
    if too_deep(text, limit):
        text = cut_text(text, limit)
    return json.loads(text, **kwargs)


def loads_each(texts: Sequence[str], limit: int = MAX_DEPTH) -> list[Any]:
    """``loads`` of each text, their depth told in one pass over them all.

    Read back from a file by the thousand, each event's own ``too_deep`` cost
    more than decoding it. The texts joined as one JSON array are too deep at
    ``limit + 1`` exactly when one of them is at ``limit``, provided each is JSON
    (its quotes pair within it); one that is not is refused by ``json.loads``,
    as ``loads`` refuses it. When the array is too deep, each text is cut on its own.
    """
    if too_deep("[" + ",".join(texts) + "]", limit + 1):
        return [loads(text, limit) for text in texts]
    return [json.loads(text) for text in texts]


def value_end(text: str, start: int) -> int | None:
    """Where the JSON object or array beginning at ``text[start]`` ends, or None if not in ``text``."""
    depth = 0
    for m in _TOKENS.finditer(text, start):
        tok = m.group(0)
        if tok[0] == '"':
            continue
        depth += 1 if tok in "[{" else -1
        if depth == 0:
            return m.end()
    return None
