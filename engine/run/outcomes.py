"""Step outcomes and how one step's action calls run: arguments checked, retried, bounded.

The outcomes are a closed set of frozen types; the executor turns every failure
into ``Failed`` with a one-line message, so no raw exception crosses a step.

``run_bounded`` runs a step's calls (one, or one per ``for_each`` item) on at
most ``max_parallel`` daemon threads and waits at most ``timeout`` seconds for
all of them. Python cannot kill a thread: when the timeout expires, no further
item is started, the step fails, and calls still in flight are abandoned. They
finish (or hit their own HTTP timeout) in the background; their results are
discarded, and being daemon threads they never keep the process alive. A write
abandoned this way has its ``action.call`` record in the run log but no result,
which ``soar resume`` treats as "outcome unknown".
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from engine.actions.registry import Action, ActionContext
from engine.backoff import backoff
from engine.errors import ActionError, DryRunViolation, GuardrailError, SoarError, StepTimeout
from engine.expr.templates import Deferred
from engine.playbook.model import RetryPolicy
from engine.secrets import masked

Status = Literal["succeeded", "failed", "skipped", "planned"]


@dataclass(frozen=True)
class Succeeded:
    """The action ran; ``output`` is its result (a list for ``for_each``)."""

    output: Any
    duration: float
    status: Status = "succeeded"


@dataclass(frozen=True)
class Planned:
    """A write in a dry run: ``output`` is ``{"dry_run": true, "planned": [...]}`` (or a list)."""

    output: Any
    duration: float
    status: Status = "planned"


@dataclass(frozen=True)
class Skipped:
    """``if`` was false; the output is ``null``."""

    duration: float = 0.0
    output: Any = None
    status: Status = "skipped"


@dataclass(frozen=True)
class Failed:
    """The step failed; ``error`` is a one-line, redacted message."""

    error: str
    duration: float
    output: Any = None
    status: Status = "failed"


StepOutcome = Succeeded | Planned | Skipped | Failed


def check_args(action: Action, args: Mapping[str, Any]) -> None:
    """Rendered arguments against the action's input schema (deferred ones excepted).

    Raises ``ActionError`` naming the argument. A ``Secret`` is checked as the
    string it stands for, without revealing it.
    """
    # a Secret as "***": a string of the right type whose value never reaches messages
    plain = {k: masked(v) for k, v in args.items() if not isinstance(v, Deferred)}
    errors = sorted(action.arg_validator.iter_errors(plain), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "arguments"
        raise ActionError(f"{action.name}: argument {where}: {_short(err.message)}")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def retryable(exc: BaseException) -> bool:
    """Whether trying ``exc``'s call again could change it (a refusal or a dry-run violation cannot)."""
    return not isinstance(exc, GuardrailError | DryRunViolation)


def retry_wait(policy: RetryPolicy, attempt: int, exc: BaseException) -> float | None:
    """How long to wait after failed attempt ``attempt`` (1 is the first) before the next one;
    ``None``: no next one (the policy's attempts are spent, or trying again cannot help).

    One decision for both engines: the local one sleeps it (``call_with_retry``), a Temporal
    run's workflow waits it on its timer (``engine.temporal.workflow``)."""
    if attempt >= policy.attempts or not retryable(exc):
        return None
    return backoff(attempt, policy.backoff, policy.max_backoff)


def call_with_retry(
    fn: Callable[[], Any],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> Any:
    """Run ``fn``; on failure wait (``engine.backoff.backoff``) and try again, ``policy.attempts``
    in all.

    Guardrail refusals and dry-run violations are never retried: trying again
    cannot change them.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            wait = retry_wait(policy, attempt, exc)
            if wait is None:
                raise
            if on_retry:
                on_retry(attempt, describe(exc), wait)
            sleep(wait)


def describe(exc: BaseException) -> str:
    """A one-line message for a failed action; never a traceback."""
    text = str(exc) if isinstance(exc, SoarError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def run_action(action: Action, ctx: ActionContext, args: Mapping[str, Any], plan: bool) -> Any:
    """Call the action (or, for a planned write, its ``plan``) with checked ``args``."""
    if plan:
        assert action.plan is not None  # Action.__post_init__ requires it for writes
        return {"dry_run": True, "planned": action.plan(ctx, args)}
    return action.func(ctx, args)


class _Batch:
    """Shared state of one ``run_bounded`` call."""

    def __init__(self, count: int, fn: Callable[[int], Any]) -> None:
        self.count = count
        self.fn = fn
        self.cond = threading.Condition()
        self.next = 0
        self.running = 0
        self.stop = False
        self.results: list[Any] = [None] * count
        self.errors: dict[int, BaseException] = {}
        self.completed = 0

    def work(self) -> None:
        while True:
            with self.cond:
                if self.stop or self.next >= self.count:
                    self.running -= 1
                    self.cond.notify_all()
                    return
                index = self.next
                self.next += 1
            try:
                self.results[index] = self.fn(index)
            except BaseException as exc:  # handed to the caller, never lost in a thread
                with self.cond:
                    self.errors[index] = exc
                    self.stop = True  # start no further item once one failed
            with self.cond:
                self.completed += 1


def run_bounded(
    count: int, fn: Callable[[int], Any], *, max_parallel: int, timeout: float | None
) -> list[Any]:
    """``[fn(0), ..., fn(count-1)]`` with at most ``max_parallel`` at once, in index order.

    After a failure no new item starts; items in flight finish, then the
    lowest-index failure is raised. Past ``timeout`` seconds ``StepTimeout`` is
    raised and calls in flight are abandoned (see the module docstring).
    """
    if count == 0:
        return []
    if count == 1 and timeout is None:
        return [fn(0)]
    batch = _Batch(count, fn)
    workers = max(1, min(max_parallel, count))
    batch.running = workers
    for n in range(workers):
        # each worker runs in a copy of this context: the log's run_id and step_id go along
        work = contextvars.copy_context().run
        threading.Thread(
            target=work, args=(batch.work,), name=f"soar-step-{n}", daemon=True
        ).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    with batch.cond:
        while batch.running > 0:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                batch.stop = True
                raise StepTimeout(
                    f"timed out after {timeout:g}s with {count - batch.completed} of {count} "
                    "call(s) unfinished (calls in flight were abandoned; raise 'timeout' "
                    "or make the action faster)"
                )
            batch.cond.wait(left)
    if batch.errors:
        raise batch.errors[min(batch.errors)]
    return batch.results
