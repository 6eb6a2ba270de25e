"""Secret redaction for every sink: run log, terminal, structlog output, error messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

from engine.depth import walk
from engine.errors import ConfigError
from engine.secrets import MASK, Secret, all_encodings

# A configured secret shorter or plainer than this would mask ordinary words
# (a secret "success" would eat every status line): it is refused at
# configuration time by ``check_secret``. Values learnt at run time (access
# tokens) below MIN_SECRET are not masked.
MIN_SECRET = 12
MIN_ONE_KIND = 24  # a secret of one kind of character only (all letters, all digits)
MIN_DISTINCT = 6


def _kinds(value: str) -> int:
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


def check_secret(name: str, value: str) -> None:
    """Refuse a configured secret too short or too plain to be masked safely.

    The message names the setting, never the value.
    """
    long_enough = len(value) >= (MIN_SECRET if _kinds(value) > 1 else MIN_ONE_KIND)
    if not long_enough or len(set(value)) < MIN_DISTINCT:
        raise ConfigError(
            f"{name} is too weak to be a secret soar can mask: use at least {MIN_SECRET} "
            f"characters mixing letters, digits or symbols (or {MIN_ONE_KIND} of one kind), "
            f"with {MIN_DISTINCT} different characters (set it to the real credential)"
        )


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
        """Mask ``value`` from now on; a ``Secret`` (a configured one) is checked first.

        Raises ``ConfigError`` for a ``Secret`` that ``check_secret`` refuses.
        """
        if isinstance(value, Secret):
            check_secret(value.name, value.reveal())
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
        """A copy of a JSON-like value with secrets masked in keys and strings; Secrets shown as ***.

        The walk is iterative and cuts what is nested deeper than
        ``engine.depth.SINK_DEPTH`` (hostile data cannot exhaust the stack).
        """
        return walk(value, self._leaf, lambda k: self.text(str(k)))

    def json_value(self, value: Any) -> Any:
        """``value`` (plain JSON, as ``runlog.jsonable`` makes it) with secrets masked.

        The same as ``value`` for such a value, found sooner: when no form of
        any secret, nor its JSON-escaped text, is in the value's JSON text, no
        string or key holds one (escaping maps a string character by character),
        and the value is returned as it is; otherwise it is walked.
        """
        if self._forms and self.in_json(json.dumps(value, ensure_ascii=False)):
            return self.value(value)
        return value

    def in_json(self, text: str) -> bool:
        """Whether a form of a secret, or its JSON-escaped text, is in JSON ``text`` (written
        with ``ensure_ascii=False``): when not, no string or key of the value holds one."""
        return any(
            f in text or json.dumps(f, ensure_ascii=False)[1:-1] in text for f in self._forms
        )

    def _leaf(self, value: Any) -> Any:
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        return value

    def processor(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor."""
        redacted: dict[str, Any] = self.value(dict(event))
        return redacted
