"""Secrets inside expressions: placeholders while a template renders, sealed after.

A secret's value never enters the template engine. While a template renders,
``str(secret)`` (and so ``~``, ``|string``, ``|join``, ``%``, ``format``, output
``{{ }}``, block captures) gives a placeholder: a private-use delimiter, a
nonce random to this render and the secret's index. The placeholder says
nothing about the value (not its length, not a character), so an expression
can reverse it, slice it, spell it into an error message or compare it, and
learn nothing. Operations on the ``Secret`` object itself are refused by
Python (it has no length, no items, no iteration, no attributes in the sandbox).

When the render ends, ``Scope.seal`` turns every string holding whole
placeholders into a ``Secret`` whose value has them replaced by the real
values (``"Bearer {{ secrets.token }}"`` is a ``Secret``), to be revealed only
by the code that sends it. A placeholder that an expression changed (a slice,
``|upper``, ``|reverse``, ``|urlencode``) is refused with a clear error rather
than sent broken; error messages have placeholders shown as ``***``.
"""

from __future__ import annotations

import re
import secrets as pysecrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from engine.errors import TemplateError
from engine.secrets import AS_TEXT, MASK, Secret

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: no real text carries them
_PIECES = (_OPEN, _CLOSE, "\\ue000", "\\ue001")  # the delimiters, raw or as repr() shows them
MAX_SEAL_DEPTH = 200  # a value built around a secret deeper than this is refused, not walked


_MARKER = re.compile(f"{_OPEN}([0-9a-f]{{16}})\\.(\\d+){_CLOSE}")


class Scope:
    """The placeholders of one render (made on first use: most renders touch no secret)."""

    def __init__(self) -> None:
        self.nonce = ""
        self.used: list[Secret] = []
        self._index: dict[int, int] = {}

    def placeholder(self, secret: Secret) -> str:
        if not self.nonce:
            self.nonce = pysecrets.token_hex(8)
        index = self._index.get(id(secret))
        if index is None:
            index = self._index[id(secret)] = len(self.used)
            self.used.append(secret)
        return f"{_OPEN}{self.nonce}.{index}{_CLOSE}"

    def _whole(self, text: str, real: Callable[[re.Match[str]], str]) -> str:
        """``text`` with each whole placeholder of this render replaced by ``real(match)``."""

        def one(m: re.Match[str]) -> str:
            return real(m) if m.group(1) == self.nonce else m.group(0)

        return _MARKER.sub(one, text)

    def holds(self, text: str) -> bool:
        """Whether ``text`` carries a placeholder of this render, whole or changed."""
        if not self.used:
            return False
        if any(piece in text for piece in _PIECES):  # a piece of one (|list, a slice, a repr)
            return True
        lowered = text.lower()
        return self.nonce in lowered or self.nonce[::-1] in lowered

    def scrub(self, text: str) -> str:
        """``text`` with this render's placeholders shown as ``***`` (for error messages)."""
        if not self.used:
            return text
        text = self._whole(text, lambda m: MASK)
        nonce = (
            rf"[{_OPEN}{_CLOSE}\\\w.]*(?:{self.nonce}|{self.nonce[::-1]})[{_OPEN}{_CLOSE}\\\w.]*"
        )
        text = re.sub(nonce, MASK, text, flags=re.IGNORECASE)
        for piece in _PIECES:
            text = text.replace(piece, "")
        return text

    def seal(self, value: Any, depth: int = 0) -> Any:
        """``value`` with each string holding placeholders turned into a ``Secret``."""
        if not self.used:
            return value  # no secret became text in this render: nothing to find
        if depth > MAX_SEAL_DEPTH:
            raise TemplateError("a value built around a secret nests too deeply")
        if isinstance(value, str):
            return self._seal_text(value)
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                if isinstance(key, str) and self.holds(key):
                    raise TemplateError("a secret cannot be used as a mapping key")
                out[key] = self.seal(item, depth + 1)
            return out
        if isinstance(value, list | tuple):
            return [self.seal(item, depth + 1) for item in value]
        return value

    def _seal_text(self, text: str) -> str | Secret:
        if not self.holds(text):
            return text
        names: list[str] = []

        def real(m: re.Match[str]) -> str:
            secret = self.used[int(m.group(2))]
            names.append(secret.name)
            return secret.reveal()

        rest = self._whole(text, lambda m: "")
        if self.holds(rest):
            raise TemplateError(
                "a secret was changed inside the expression (a slice, filter, case change, "
                "reversal or encoding): a secret can only be placed whole into a string"
            )
        value = self._whole(text, real)
        return Secret("+".join(dict.fromkeys(names)), value)


@contextmanager
def placeholders() -> Iterator[Scope]:
    """Secrets become this render's placeholders when turned into text, until the block ends."""
    scope = Scope()
    token = AS_TEXT.set(scope.placeholder)
    try:
        yield scope
    finally:
        AS_TEXT.reset(token)


def current() -> Scope | None:
    """The scope of the render in progress in this context, if any."""
    as_text = AS_TEXT.get()
    owner = getattr(as_text, "__self__", None)
    return owner if isinstance(owner, Scope) else None
