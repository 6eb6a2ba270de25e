"""Size bounds for expressions: no call, operator or filter may build a huge value.

The Jinja sandbox stops attribute escapes and bounds ``range``; it does not stop
``'x'.ljust(10**9)``, ``'%*d' % (10**9, 1)``, ``'{:>1000000000}'.format(1)``,
``'x'|center(10**9)``, ``[1]|batch(10**9, 0)`` or ``lipsum(10**6)``, each of
which builds a gigabyte (or runs for minutes) from a one-line playbook; nor
``('x' * 10**6).join([1] * 10**6)`` or a ``replace`` that multiplies a string. These
checks run before the operation and refuse it with a ``SecurityError`` (which
``Template.render`` reports as "refused by the sandbox"). ``engine.expr.templates``
wires them into its environment.

Beyond single calls, every string and list an expression builds is bounded:
``~`` and ``+`` (``join_text``, ``check_add``), the text of a container turned
into a string (``text_size``: ``[s] * 1000`` holds 1,000 references to one
string but prints as 1,000 copies), the output of a template, a ``{% set %}``
block or a macro (``bounded_concat``), and ``|sum``. Time and loops are bounded by
``engine.expr.budget``. Nothing here holds state.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from jinja2 import pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import (
    do_batch,
    do_capitalize,
    do_center,
    do_forceescape,
    do_format,
    do_indent,
    do_lower,
    do_pprint,
    do_replace,
    do_striptags,
    do_title,
    do_tojson,
    do_trim,
    do_truncate,
    do_upper,
    do_urlencode,
    do_wordcount,
    do_wordwrap,
    do_xmlattr,
    make_attrgetter,
    sync_do_join,
    sync_do_slice,
)
from jinja2.utils import pass_environment
from markupsafe import soft_str

from engine.expr.budget import spent

MAX_SIZE = 1_000_000  # the longest string or list one operation may build
MAX_LIPSUM = 100  # paragraphs of lorem ipsum
MAX_INT_BITS = 65_536  # the largest integer a product may build (about 20,000 digits)

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
    size = len(text) + hits * (len(new) - len(old))
    if size > MAX_SIZE:
        raise _refuse("the replaced string")
    spent(built=size)


def check_formatted(fmt: str, args: Any) -> None:
    """Refuse formatting whose arguments' text, with the format, would exceed ``MAX_SIZE``."""
    size = text_size(args) + len(fmt)
    if size > MAX_SIZE:
        raise _refuse("the formatted string")
    spent(built=size)


def check_join(sep: Any, items: Any) -> None:
    """Refuse a join whose result (separators and items' text) would exceed ``MAX_SIZE``."""
    if not hasattr(items, "__len__"):
        return
    if isinstance(sep, str) and len(sep) * len(items) > MAX_SIZE:
        raise _refuse("the joined string")
    size = text_size(items) - 2 * len(items)  # less the quotes text_size counts
    if size > MAX_SIZE:
        raise _refuse("the joined string")
    spent(built=size)


def check_call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], lipsum: Any) -> None:
    """Refuse a call from an expression that would build a huge value."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    name = getattr(target, "__name__", "")
    if isinstance(owner, str):
        if name in _WIDTH_METHODS and args and _big(args[0]):
            raise _refuse("the width")
        if name in _WIDTH_METHODS and args and isinstance(args[0], int):
            spent(built=args[0])
        if name in ("format", "format_map"):
            check_format(owner)
            check_formatted(owner, [args, kwargs])
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
        check_formatted(value, [args, kwargs])
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


def _textual(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``func`` (a filter that turns its value into text) refusing a value too long as text."""
    # jinja passes the environment or eval context first to filters marked for it
    passes = getattr(func, "jinja_pass_arg", None)

    @wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value = args[1] if passes is not None else args[0]
        check_text(value, f"the text of |{name}")
        spent(built=len(value) if isinstance(value, str) else text_size(value))
        return func(*args, **kwargs)

    return bounded


@pass_environment
def _sum_filter(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """``|sum``, stopped once a sum of strings or lists (``sum(start=[])``) passes ``MAX_SIZE``."""
    total = list(start) if isinstance(start, list) else start  # extended in place below
    value_of = make_attrgetter(environment, attribute) if attribute is not None else None
    for item in iterable:
        total += value_of(item) if value_of is not None else item
        if isinstance(total, str | list | tuple) and len(total) > MAX_SIZE:
            raise _refuse("the sum")
    if isinstance(total, str | list | tuple):
        spent(built=len(total))
    return total


def bounded_filters() -> dict[str, Callable[..., Any]]:
    """Replacements for the filters that can build a value of any size."""
    textual: dict[str, Callable[..., Any]] = {
        "capitalize": do_capitalize,
        "forceescape": do_forceescape,
        "lower": do_lower,
        "pprint": do_pprint,
        "string": soft_str,
        "striptags": do_striptags,
        "title": do_title,
        "tojson": do_tojson,
        "trim": do_trim,
        "truncate": do_truncate,
        "upper": do_upper,
        "urlencode": do_urlencode,
        "wordcount": do_wordcount,
        "wordwrap": do_wordwrap,
        "xmlattr": do_xmlattr,
    }
    return {
        **{name: _textual(func, name) for name, func in textual.items()},
        "sum": _sum_filter,
        "replace": _replace_filter,
        "join": _join_filter,
        "center": _bounded(do_center, "width"),
        "indent": _bounded(do_indent, "width"),
        "batch": _bounded(do_batch, "linecount", needs="fill_with"),
        "slice": _bounded(sync_do_slice, "slices"),
        "format": _format_filter,
    }


# -- the text an operation would build --------------------------------------------


def text_size(value: Any, limit: int = MAX_SIZE) -> int:
    """About how long ``str(value)`` is, counted only up to just past ``limit``.

    Containers are walked (without building anything) because their text
    repeats what they reference: quotes, separators and nested items counted.
    """
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2
        else:
            total += 24  # numbers, None, booleans, secrets (a placeholder), other objects
    return total


def check_text(value: Any, what: str) -> None:
    """Refuse turning ``value`` into a string longer than ``MAX_SIZE``."""
    if not isinstance(value, str) and text_size(value) > MAX_SIZE:
        raise _refuse(what)


def join_text(parts: Iterable[Any]) -> str:
    """``a ~ b ~ c``: the parts as one string, refused before it is built if too long."""
    items = list(parts)
    size = sum(len(p) if isinstance(p, str) else text_size(p) for p in items)
    if size > MAX_SIZE:
        raise _refuse("the concatenated string")
    spent(built=size)
    return "".join(str(p) for p in items)


def check_add(left: Any, right: Any) -> None:
    """``+`` on strings, lists or tuples: refused when the result would exceed ``MAX_SIZE``."""
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        if len(left) + len(right) > MAX_SIZE:
            raise _refuse("the sum")
        spent(built=len(left) + len(right))


def check_product(left: Any, right: Any) -> None:
    """``*``: sequences repeated and integers multiplied, refused above the bounds."""
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int):
            if len(seq) * count > MAX_SIZE:
                raise _refuse("the repetition")
            spent(built=len(seq) * max(count, 0))
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise SecurityError("the product is too large for an expression")


def bounded_concat(parts: Iterable[Any]) -> str:
    """A template's (or a block's, a macro's) output, stopped once it passes ``MAX_SIZE``.

    The parts come from a generator, so a loop that outputs is stopped while it
    runs, not after it has queued gigabytes.
    """
    out: list[str] = []
    total = 0
    for n, part in enumerate(parts):
        total += len(part)
        if total > MAX_SIZE:
            raise _refuse("the rendered text")
        if n & 1023 == 0:
            spent()
        out.append(part)
    spent(built=total)
    return "".join(out)
