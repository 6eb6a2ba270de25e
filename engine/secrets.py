"""Opaque secret values: usable by the code that needs them, invisible everywhere else.

``AS_TEXT`` is how an expression sees a secret: while a template renders,
``engine.expr.secrets`` sets it so that ``str(secret)`` gives a placeholder that
says nothing about the value (see that module); everywhere else it is ``***``.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from engine.depth import walk, walk_keeps

MASK = "***"  # how every sink shows a secret (and what redaction leaves)

AS_TEXT: ContextVar[Callable[[Secret], str] | None] = ContextVar(
    "soar_secret_as_text", default=None
)


class Secret:
    """A secret string that renders as ``***`` in repr, str, templates and JSON.

    Only ``reveal()`` returns the value; code calls it at the last moment (an
    HTTP header, a token request), never to build a message.
    """

    __slots__ = ("_name", "_value")

    def __init__(self, name: str, value: str) -> None:
        self._name = name
        self._value = value

    @property
    def name(self) -> str:
        return self._name

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._name!r}, '***')"

    def __str__(self) -> str:
        as_text = AS_TEXT.get()
        return as_text(self) if as_text is not None else MASK

    def __format__(self, spec: str) -> str:
        if spec:
            raise TypeError("a secret cannot be formatted with a format spec")
        return str(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def masked(value: Any) -> Any:
    """``value`` with every ``Secret`` as ``***`` (iterative, depth-bounded).

    A copy, unless ``value`` is plain JSON within the depth bound
    (``walk_keeps``): then it holds no secret and is returned as it is.
    """
    if walk_keeps(value):
        return value
    return walk(value, lambda v: MASK if isinstance(v, Secret) else v)


def holds_secret(value: Any) -> bool:
    """Whether JSON-like ``value`` holds a ``Secret`` anywhere, at any depth.

    A search, not a copy: iterative, so no nesting can crash it, and not cut at
    a depth limit, so a secret nested deeper than a sink keeps is still found.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Secret):
            return True
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def shown_url(secret: Secret) -> str:
    """A secret URL as an approval or a plan may show it: scheme and host, the rest ``***``.

    A webhook URL's credential is its path (Slack, Teams); the host says where
    a request goes, which an operator approving it needs to see.
    """
    parts = urllib.parse.urlsplit(secret.reveal())
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return MASK
    return f"{parts.scheme}://{host}/{MASK}"


def encodings(value: str) -> set[str]:
    """Every form in which ``value`` may leak.

    Plain; URL-encoded (``%2F`` and ``%2f``, with ``+`` for spaces, and as
    JavaScript's ``encodeURIComponent`` leaves it); hex of its UTF-8 bytes
    (lower and upper case); HTML-escaped (named entities such as ``&amp;``,
    decimal ``&#47;`` and hex ``&#x2F;`` / ``&#x2f;``); base64 (std and
    url-safe). Base64 of a secret embedded in a longer blob (``user:secret``
    in a Basic header) does not contain the secret's own base64 at a fixed
    offset, so the three alignments of the secret inside a base64 stream are
    included too.
    """
    if not value:
        return set()
    raw = value.encode()
    forms = {value, raw.hex(), raw.hex().upper(), *_html_forms(value)}
    for safe in ("", "/", "!'()*"):  # quote(), quote() of a path, encodeURIComponent
        for quoted in (urllib.parse.quote(value, safe=safe), urllib.parse.quote_plus(value, safe)):
            forms |= {quoted, _PERCENT.sub(lambda m: m.group(0).lower(), quoted)}
    for prefix in (b"", b"\0", b"\0\0"):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(prefix + raw).decode()
            # Drop the characters that depend on the unknown neighbours.
            skip = {0: 0, 1: 2, 2: 3}[len(prefix)]
            core = text[skip:].rstrip("=")
            tail = (len(prefix) + len(raw)) % 3
            if tail:
                core = core[:-1]
            if len(core) >= 8:
                forms.add(core)
    return {f for f in forms if f}


_PERCENT = re.compile(r"%[0-9A-F]{2}")
# what HTML escapers encode: the five of html.escape, OWASP's "/" too, every
# character but letters and digits, or all but letters, digits and ",.-_" (ESAPI)
_HTML_SETS: tuple[Callable[[str], bool], ...] = (
    lambda c: c in "&<>\"'",
    lambda c: c in "&<>\"'/",
    lambda c: not c.isalnum(),
    lambda c: not (c.isalnum() or c in ",.-_"),
)
_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "/": "&#x2F;"}


def _html_forms(value: str) -> set[str]:
    """``value`` HTML-escaped the ways escapers do it, one style for all characters at a time."""
    forms: set[str] = set()
    for needs in _HTML_SETS:
        marks = [needs(c) for c in value]
        if not any(marks):
            continue
        for style in _HTML_STYLES:
            forms.add("".join(style(c) if m else c for c, m in zip(value, marks, strict=True)))
    return forms


def _named(c: str, apos: str = "&#x27;") -> str:
    return apos if c == "'" else _NAMED.get(c, f"&#x{ord(c):X};")


# named entities where they exist (with each spelling of the apostrophe),
# else decimal, lower-case hex or upper-case hex for every character
_HTML_STYLES: tuple[Callable[[str], str], ...] = (
    _named,
    lambda c: _named(c, "&#39;"),
    lambda c: _named(c, "&apos;"),
    lambda c: f"&#{ord(c)};",
    lambda c: f"&#x{ord(c):x};",
    lambda c: f"&#x{ord(c):X};",
)


def all_encodings(values: Iterable[str]) -> list[str]:
    """The leak forms of several secrets, longest first so replacements never overlap badly."""
    forms: set[str] = set()
    for v in values:
        forms |= encodings(v)
    return sorted(forms, key=len, reverse=True)
