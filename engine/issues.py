"""Validation problems as data: severity, message, location and hint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based position in a source file."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Issue:
    """One problem found in a playbook; never raised, always collected."""

    severity: Severity
    message: str
    location: Location
    hint: str | None = None

    def format(self) -> str:
        """``path:line:col: error|warning: message (hint)``, the validate output line."""
        text = f"{self.location}: {self.severity}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text
