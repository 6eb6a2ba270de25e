"""Secret redaction for every sink: run log, terminal, structlog output, error messages."""

from __future__ import annotations

import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

from engine.secrets import Secret, all_encodings

MASK = "***"
MIN_SECRET = 4  # shorter values would mask ordinary text; they are refused as secrets


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
            self._forms = all_encodings(self._values)

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
