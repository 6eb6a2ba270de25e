"""The playbook model (format 1): what the loader builds and the executor runs.

Values under ``with``, ``if``, ``for_each`` and ``outputs`` are kept as written
(strings may hold templates); ``engine.expr.templates`` compiles them, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.issues import Location

InputType = Literal["string", "integer", "number", "boolean", "array", "object"]
DEFAULT_MAX_PARALLEL = 4
DEFAULT_MAX_TARGETS = 25


class _Missing:
    """Marks an input without a default (``None`` is a valid default)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: InputType = "string"
    required: bool = False
    default: Any = MISSING
    description: str = ""
    enum: tuple[Any, ...] | None = None
    format: str | None = None  # string formats: ip, date-time, duration
    location: Location | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` counts the first try; waits grow as ``backoff * 2**n`` with jitter."""

    attempts: int = 1
    backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass(frozen=True)
class Step:
    id: str
    uses: str
    with_: Mapping[str, Any] = field(default_factory=dict)
    if_: Any = None  # None: always run; else a template string or a boolean
    for_each: Any = None  # None, a template string, or a literal list
    max_parallel: int = DEFAULT_MAX_PARALLEL
    continue_on_error: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None  # seconds
    max_targets: int = DEFAULT_MAX_TARGETS
    name: str = ""
    location: Location | None = None


@dataclass(frozen=True)
class Playbook:
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    inputs: Mapping[str, InputSpec] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    format: int = 1
    path: str = "<string>"
    sha256: str = ""

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)
