"""The time and loops one render may spend: a deadline and a count of iterations.

Size bounds (``engine.expr.bounds``) stop an expression from building a huge
value; they do not stop ``{% for a in x %}{% for b in x %}...`` from running
for hours. Each render runs on a ``Budget``: a deadline (the step's
``timeout`` when one is nearer than ``MAX_RENDER_SECONDS``) and at most
``MAX_ITERATIONS`` loop iterations, all loops together, and at most
``MAX_BUILT`` characters and items built, all values together (each value is
bounded by ``engine.expr.bounds``; a loop could still keep a million of them).
Every loop iteration,
call, operator, attribute access and output chunk of a template charges it
(``spent``), so a render that runs long stops with an error naming the step.

The executor sets the step's limit (``step_limit``) for its own thread; work
that renders later on another thread (``Deferred``) carries the limit it was
made under. The budget and the limit are the only state, in context variables.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.errors import TemplateError

MAX_ITERATIONS = 1_000_000  # loop iterations in one render, all loops together
MAX_RENDER_SECONDS = 60.0  # one render, when no step timeout is nearer
MAX_BUILT = 100_000_000  # characters and items one render may build, all values together


@dataclass
class Budget:
    """What one render may still spend: until ``deadline``, at most ``MAX_ITERATIONS`` loops."""

    deadline: float
    label: str | None
    seconds: float | None
    iterations: int = 0
    built: int = 0


@dataclass(frozen=True)
class StepLimit:
    """The deadline of the step in progress (``label`` names it in errors)."""

    label: str
    deadline: float
    seconds: float


_step: contextvars.ContextVar[StepLimit | None] = contextvars.ContextVar(
    "soar_step_limit", default=None
)
_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "soar_render_budget", default=None
)


def step_limit(label: str, seconds: float | None) -> contextvars.Token[StepLimit | None]:
    """Renders in this context from now on stop at ``seconds`` from now; undo with the token."""
    limit = None if seconds is None else StepLimit(label, time.monotonic() + seconds, seconds)
    return _step.set(limit)


def end_step_limit(token: contextvars.Token[StepLimit | None]) -> None:
    _step.reset(token)


def current_step_limit() -> StepLimit | None:
    """The step limit in force, for work that renders later or in another thread."""
    return _step.get()


def start_budget(limit: StepLimit | None) -> contextvars.Token[Budget | None]:
    """A fresh budget for one render, under ``limit`` (or the current step's)."""
    limit = limit or _step.get()
    deadline = time.monotonic() + MAX_RENDER_SECONDS
    if limit is not None and limit.deadline < deadline:
        return _budget.set(Budget(limit.deadline, limit.label, limit.seconds))
    return _budget.set(Budget(deadline, None, None))


def end_budget(token: contextvars.Token[Budget | None]) -> None:
    _budget.reset(token)


def spent(iterations: int = 0, built: int = 0) -> None:
    """Charge the render's budget (loop iterations, characters or items built); raise
    ``TemplateError`` once it is spent."""
    budget = _budget.get()
    if budget is None:
        return
    budget.iterations += iterations
    budget.built += built
    if budget.built > MAX_BUILT:
        raise TemplateError(
            f"the expression was stopped after building {MAX_BUILT:,} characters and items"
            " in all (each value is bounded, and so is their sum; split the work into steps)"
        )
    if budget.iterations > MAX_ITERATIONS:
        raise TemplateError(
            f"the expression was stopped after {MAX_ITERATIONS:,} loop iterations"
            " (loops in one expression are bounded; split the work into steps)"
        )
    if time.monotonic() > budget.deadline:
        if budget.label is not None:
            raise TemplateError(
                f"{budget.label}: the expression was stopped when the step's timeout of"
                f" {budget.seconds:g}s passed"
            )
        raise TemplateError(f"the expression was stopped after {MAX_RENDER_SECONDS:g}s")


def loop_items(items: Any) -> Iterator[Any]:
    """The items of a ``{% for %}`` loop, each charged to the render's budget.

    The clock is read every 16 iterations (and by every call and operator the
    body makes); the count is exact.
    """
    budget = _budget.get()
    for n, item in enumerate(items):
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS or n & 15 == 0:
                spent()
        yield item
