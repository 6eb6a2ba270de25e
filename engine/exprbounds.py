"""Size bounds for expressions: no call, operator or filter may build a huge value.

The Jinja sandbox stops attribute escapes and bounds ``range``; it does not stop
``'x'.ljust(10**9)``, ``'%*d' % (10**9, 1)``, ``'{:>1000000000}'.format(1)``,
``'x'|center(10**9)``, ``[1]|batch(10**9, 0)`` or ``lipsum(10**6)``, each of
which builds a gigabyte (or runs for minutes) from a one-line playbook; nor
``('x' * 10**6).join([1] * 10**6)`` or a ``replace`` that multiplies a string. These
checks run before the operation and refuse it with a ``SecurityError`` (which
``Template.render`` reports as "refused by the sandbox"). ``engine.templating``
wires them into its environment; nothing here holds state.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from functools import wraps
from typing import Any

from jinja2 import pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import (
    do_batch,
    do_center,
    do_format,
    do_indent,
    do_replace,
    sync_do_join,
    sync_do_slice,
)

MAX_SIZE = 1_000_000  # the longest string or list one operation may build
MAX_LIPSUM = 100  # paragraphs of lorem ipsum

# str methods whose first argument is an output width
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
# one printf conversion: %[(name)][flags][width][.precision]type
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _big(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > MAX_SIZE


def _refuse(what: str) -> SecurityError:
    return SecurityError(f"{what} is too large for an expression (at most {MAX_SIZE:,})")


def check_printf(fmt: str) -> None:
    """Refuse ``*`` widths and widths or precisions above ``MAX_SIZE`` in a ``%`` format."""
    for m in _PRINTF.finditer(fmt):
        for part in m.groups():
            if part == "*":
                raise SecurityError("'*' widths are not allowed in expressions: write the number")
            if part is not None and _big(int(part)):
                raise _refuse("the width")


def check_format(fmt: str) -> None:
    """Refuse nested fields and widths or precisions above ``MAX_SIZE`` in ``str.format``."""
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise SecurityError("nested {} in a format spec are not allowed in expressions")
        if any(_big(int(d)) for d in _DIGITS.findall(spec)):
            raise _refuse("the width")


def check_replace(text: str, old: Any, new: Any) -> None:
    """Refuse a replacement whose result would exceed ``MAX_SIZE``."""
    if not (isinstance(old, str) and isinstance(new, str)):
        return
    hits = len(text) + 1 if old == "" else text.count(old)
    if len(text) + hits * len(new) > MAX_SIZE:
        raise _refuse("the replaced string")


def check_join(sep: Any, items: Any) -> None:
    """Refuse a join whose separators alone would exceed ``MAX_SIZE``."""
    if isinstance(sep, str) and hasattr(items, "__len__") and len(sep) * len(items) > MAX_SIZE:
        raise _refuse("the joined string")


def check_call(obj: Any, args: tuple[Any, ...], lipsum: Any) -> None:
    """Refuse a call from an expression that would build a huge value."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    name = getattr(target, "__name__", "")
    if isinstance(owner, str):
        if name in _WIDTH_METHODS and args and _big(args[0]):
            raise _refuse("the width")
        if name in ("format", "format_map"):
            check_format(owner)
        if name == "replace" and len(args) >= 2:
            check_replace(owner, args[0], args[1])
        if name == "join" and args:
            check_join(owner, args[0])
    elif obj is lipsum and args and isinstance(args[0], int) and args[0] > MAX_LIPSUM:
        raise SecurityError(f"lipsum is limited to {MAX_LIPSUM} paragraphs")


def _bounded(func: Callable[..., Any], arg: str, *, needs: str | None = None) -> Callable[..., Any]:
    """``func`` (a filter) refusing a value of ``arg`` (its 2nd parameter) above ``MAX_SIZE``.

    With ``needs``, only when that parameter (its 3rd) is also given: ``batch``
    only pads up to the size when asked to ``fill_with`` (``slice`` always loops
    that many times, so it is always bounded).
    """

    @wraps(func)
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        size = kwargs.get(arg, args[0] if args else None)
        padded = needs is None or kwargs.get(needs, args[1] if len(args) > 1 else None) is not None
        if padded and _big(size):
            raise _refuse(f"{func.__name__.removeprefix('sync_').removeprefix('do_')}({arg})")
        return func(value, *args, **kwargs)

    return bounded


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    if isinstance(value, str):
        check_printf(value)
    return do_format(value, *args, **kwargs)


@pass_eval_context
def _replace_filter(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
    check_replace(str(s), old, new)
    return do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _join_filter(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
    items = value if hasattr(value, "__len__") else list(value)
    check_join(d, items)
    return sync_do_join(eval_ctx, items, d, attribute)


def bounded_filters() -> dict[str, Callable[..., Any]]:
    """Replacements for the filters that can build a value of any size."""
    return {
        "replace": _replace_filter,
        "join": _join_filter,
        "center": _bounded(do_center, "width"),
        "indent": _bounded(do_indent, "width"),
        "batch": _bounded(do_batch, "linecount", needs="fill_with"),
        "slice": _bounded(sync_do_slice, "slices"),
        "format": _format_filter,
    }
