"""Opaque secret values: usable by the code that needs them, invisible everywhere else."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterable


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
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def encodings(value: str) -> set[str]:
    """Every form in which ``value`` may leak: plain, URL-encoded, base64 (std and url-safe).

    Base64 of a secret embedded in a longer blob (``user:secret`` in a Basic
    header) does not contain the secret's own base64 at a fixed offset, so the
    three alignments of the secret inside a base64 stream are included too.
    """
    if not value:
        return set()
    raw = value.encode()
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
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


def all_encodings(values: Iterable[str]) -> list[str]:
    """The leak forms of several secrets, longest first so replacements never overlap badly."""
    forms: set[str] = set()
    for v in values:
        forms |= encodings(v)
    return sorted(forms, key=len, reverse=True)
