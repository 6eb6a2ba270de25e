"""Secret redaction for every sink: run log, terminal, structlog output, error messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

from engine.secrets import Secret, all_encodings

MASK = "***"
MIN_SECRET = 4  # shorter values would mask ordinary text; they are refused as secrets


def escaped_forms(value: str) -> set[str]:
    """``value`` as it appears escaped in JSON or a Python repr (``"``, ``\\``, non-ASCII).

    An upstream error body quoted raw into a message, an exception showing a
    repr, or output printed as JSON carries the escaped form, which the plain
    form does not match.
    """
    forms = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms.add(repr(value)[1:-1])
    return forms - {value}


class Redactor:
    """Replaces every known secret, in every encoding, by ``***``.

    Secrets can be added while a run goes on (an access token obtained by the
    Auth0 client); ``add`` is thread-safe.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._forms: list[str] = []
        for v in values:
            self.add(v)

    def add(self, value: str | Secret | None) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not value or len(value) < MIN_SECRET:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            forms = set(all_encodings(self._values))
            for v in self._values:
                forms |= escaped_forms(v)
            self._forms = sorted(forms, key=len, reverse=True)  # longest first, as all_encodings

    def text(self, text: str) -> str:
        forms = self._forms
        for form in forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with secrets masked in keys and strings; Secrets shown as ***."""
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def processor(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor."""
        redacted: dict[str, Any] = self.value(dict(event))
        return redacted
