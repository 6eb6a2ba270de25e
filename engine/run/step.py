"""One step's life, top to bottom: condition, items, arguments, gates, calls, outcome, record.

``run_step`` is the sequence; the phases below it are plain functions that a
Temporal run's workflow composes too (``engine.temporal.workflow``: the same
decisions, each effect an activity): ``prepare`` (condition, items, arguments),
``refusals`` (the guardrails' decision, logged), the write's three parts (``log_call``, the send, ``log_result`` or
``log_failed``) and ``conclude`` / ``failed`` (the outcome, logged).
Each step ends as one of the frozen outcomes of ``engine.run.outcomes``; no
exception crosses a step boundary (``AwaitingApproval`` stops the run).

A write passes three gates: guardrails (``max_targets``, protected users,
checked on each target's resolved record), approval of its concrete calls,
and, in a dry or offline run, the ``DryRunGuard`` in the HTTP layer, which
refuses every request with effect even when an action's own ``plan``
misbehaves. In a dry or offline run a call is planned, not sent, when it
writes or when its action says it must not leave the process then
(``Action.planned_only``: every ``http.request`` but a declared lookup).

Every write call is logged as ``action.call`` and fsynced *before* it is sent,
and its full result as ``action.result`` after, so a crash never hides a write
that completed (see docs/run-log.md). Step timeouts: ``engine.run.outcomes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.actions.registry import Action
from engine.audit.runlog import summarize
from engine.errors import ActionError, GuardrailError
from engine.expr.budget import end_step_limit, step_limit
from engine.playbook.model import Step
from engine.run.approval import Approvals, AwaitingApproval, approval_content
from engine.run.guardrails import (
    Guardrails,
    Target,
    refused_error,
    resolve_targets,
    target_of,
    targets_of,
)
from engine.run.outcomes import (
    Failed,
    Planned,
    Skipped,
    StepOutcome,
    Succeeded,
    call_with_retry,
    check_args,
    describe,
    run_action,
    run_bounded,
)
from engine.run.plan import call_keys, condition, items, loggable, render_calls
from engine.run.replay import describe_changes
from engine.run.state import Run

Log = Callable[..., Any]


@dataclass(frozen=True)
class Prepared:
    """A step that runs: its action, its rendered and checked calls, and what kind they are.

    ``keys``: each call's identity (``<step>:<index>``) when the step writes or
    plans; ``planned``: the run plans instead of sending (dry or offline).
    """

    action: Action
    calls: list[dict[str, Any]]
    each: list[Any] | None
    keys: list[str]
    write: bool
    planned: bool


def run_step(run: Run, step: Step) -> StepOutcome:
    """One step's life, top to bottom; no exception but ``AwaitingApproval`` leaves it.

    Everything, rendering included, runs under the step's ``timeout``. A write
    step's calls pass its gates before any is sent or planned: the guardrails
    (``max_targets``, protected users and addresses), then, in a live run,
    approval of the concrete calls. Refused calls are never sent; the others
    are, and the step then fails naming the refused ones.
    """
    start = time.monotonic()
    limit = step_limit(f"step {step.id!r}", step.timeout)  # rendering runs on its clock too
    try:
        ready = prepare(run, step, start)
        if not isinstance(ready, Prepared):
            return ready
        refused: dict[int, str] = {}
        if ready.write:
            targets = resolve_targets(ready.action, run.ctx, ready.calls)
            refused = refusals(
                run.guardrails, run.log, step.id, step.max_targets, ready.action.name, targets
            )
            if not run.plan_writes and len(refused) < len(ready.calls):
                _approval(run, step, ready.action, ready.calls, ready.keys, targets, refused)
        results = _run_calls(run, step, ready.action, ready.calls, ready.keys, refused)
        return conclude(run, step, ready, results, refused, start)
    except AwaitingApproval:
        raise
    except Exception as exc:  # the step boundary: every failure becomes Failed
        return failed(run, step, exc, start)
    finally:
        end_step_limit(limit)


def prepare(run: Run, step: Step, start: float) -> Prepared | StepOutcome:
    """A step up to its gates: replayed, skipped (both logged and final), or ``Prepared``.

    Logs ``step.started``; raises what fails the step (an unknown action, a
    template that does not render, an argument its schema refuses).
    """
    action = run.registry.get(step.uses)
    if action is None:
        raise ActionError(f"unknown action {step.uses!r}")
    replayed = run.continuation.replayed(step.id, run.redactor.text)
    if replayed is not None:  # it fed writes already sent: they were sent from this
        return replayed
    if not condition(step, run.context()):
        run.log("step.finished", step=step.id, status="skipped", duration_ms=0)
        return Skipped()
    each = items(step, run.context())
    run.log(
        "step.started",
        step=step.id,
        action=action.name,
        items=None if each is None else len(each),
    )
    calls = render_calls(step, action, each, run.context())
    for args in calls:  # every call checked before the first is sent
        check_args(action, args)
    write = any(action.is_write(args) for args in calls)
    planned = run.plan_writes and any(action.planned_only(args) for args in calls)
    keys = call_keys(step.id, calls) if write or planned else []
    if write:
        run.continuation.writes.add(step.id)
    return Prepared(action, calls, each, keys, write, planned)


def conclude(
    run: Run,
    step: Step,
    ready: Prepared,
    results: list[Any],
    refused: Mapping[int, str],
    start: float,
) -> StepOutcome:
    """The outcome of a step whose calls ran (``results``, in call order), logged.

    Raises ``GuardrailError`` naming the refused calls: the step then fails.
    """
    if refused:
        targets = targets_of(ready.action, ready.calls)
        raise GuardrailError(refused_error(step.id, targets, refused))
    output: Any = results if ready.each is not None else results[0]
    # writes in full, for resume; reads bounded, redacted before any cut
    full = ready.write or ready.planned
    return _finished(run, step, output, start, planned=ready.planned, full=full)


def _finished(
    run: Run, step: Step, output: Any, start: float, *, planned: bool, full: bool
) -> StepOutcome:
    """The step's outcome, logged as ``step.finished``; ``full``: its output unabridged."""
    duration = time.monotonic() - start
    outcome: StepOutcome = Planned(output, duration) if planned else Succeeded(output, duration)
    run.log(
        "step.finished",
        step=step.id,
        status=outcome.status,
        duration_ms=round(duration * 1000, 3),
        output=output if full else summarize(output, redact=run.redactor.text),
    )
    return outcome


def failed(run: Run, step: Step, exc: Exception | str, start: float) -> Failed:
    """The step's failure as one redacted line, logged as ``step.finished``.

    ``exc``: the exception, or the one line already said of it (a Temporal activity's).
    """
    duration = time.monotonic() - start
    message = run.redactor.text(exc if isinstance(exc, str) else describe(exc))
    run.log(
        "step.finished",
        step=step.id,
        status="failed",
        duration_ms=round(duration * 1000, 3),
        error=message,
    )
    return Failed(message, duration)


def refusals(
    guardrails: Guardrails,
    log: Log,
    step_id: str,
    max_targets: int,
    action: str,
    targets: list[Target],
) -> dict[int, str]:
    """The calls the guardrails refuse (index -> why), each logged as ``action.refused``.

    Raises ``GuardrailError`` when the step has more targets than its ``max_targets``.
    """
    refused = guardrails.check(step_id, targets, max_targets)
    for index, why in sorted(refused.items()):
        log("action.refused", step=step_id, action=action, **targets[index].shown(), reason=why)
    return refused


def _approval(
    run: Run,
    step: Step,
    action: Action,
    calls: list[dict[str, Any]],
    keys: list[str],
    targets: list[Target],
    refused: dict[int, str],
) -> None:
    """Return when a live write step may send its calls; else raise ``AwaitingApproval``.

    Logs ``step.inputs`` first (what a resume compares with). A resumed step
    whose calls differ from those approved earlier is asked afresh, and
    ``--yes`` does not cover the difference: nobody has seen it yet.
    """
    values = [t.value for t in targets]
    found = run.continuation.record(step, action.name, calls, keys, values, run.steps)
    _confirm_unknown(run, step, action, calls, keys)
    request = approval_content(step.id, action.name, targets, tenant=run.tenant, refused=refused)
    approvals = run.approvals
    if found:
        # what was approved earlier is not what would be sent now: ask afresh
        approvals = Approvals(run.approve, run.log)
        if run.approve is True:  # --yes was given before anyone saw the difference
            hint = describe_changes(step.id, found)
            run.log("approval.required", **request.content(), reason="changed", hint=hint)
            raise AwaitingApproval(hint)
    try:
        approvals.require(request)
    except AwaitingApproval as stop:
        if found and not str(stop):
            raise AwaitingApproval(describe_changes(step.id, found)) from None
        raise


def _confirm_unknown(
    run: Run, step: Step, action: Action, calls: list[dict[str, Any]], keys: list[str]
) -> None:
    """Writes cut off in flight earlier in this run: resent only if idempotent or confirmed."""
    if action.idempotent or run.replay.resend_unknown:
        return
    unknown = [
        target_of(action, a) for a, k in zip(calls, keys, strict=True) if k in run.replay.unknown
    ]
    if unknown:
        run.approvals.stop_unknown(step.id, action.name, unknown)


def _run_calls(
    run: Run,
    step: Step,
    action: Action,
    calls: list[dict[str, Any]],
    keys: list[str],
    refused: dict[int, str],
) -> list[Any]:
    """Each call's result, in call order: writes (they have ``keys``) one by one as
    ``_write_call``, reads with retries; a refused call is neither sent nor planned."""
    write = bool(keys)

    def one(index: int) -> Any:
        if index in refused:  # never sent nor planned
            return {"refused": True, "reason": refused[index]}
        if write:
            return _write_call(run, step, action, calls[index], index, keys[index])
        return _attempt(run, step, action, calls[index], index)

    return run_bounded(len(calls), one, max_parallel=step.max_parallel, timeout=step.timeout)


def _attempt(run: Run, step: Step, action: Action, args: dict[str, Any], index: int) -> Any:
    """One call with the step's retry policy."""

    def on_retry(n: int, message: str, wait_s: float) -> None:
        run.log(
            "action.retry",
            step=step.id,
            index=index,
            attempt=n,
            error=run.redactor.text(message),
            wait_s=round(wait_s, 3),
        )

    return call_with_retry(
        lambda: run_action(action, run.ctx, args, plan=False), step.retry, on_retry=on_retry
    )


def call_where(step: Step, action: Action, index: int, key: str) -> dict[str, Any]:
    """The fields every record of one write call carries: step, index, call key, action."""
    return {"step": step.id, "index": index, "call": key, "action": action.name}


def planned_call(
    run: Run, step: Step, action: Action, args: dict[str, Any], index: int, key: str
) -> Any:
    """A write of a dry or offline run: its plan, logged as ``action.planned``; nothing sent."""
    result = run_action(action, run.ctx, args, plan=True)
    run.log(
        "action.planned",
        **call_where(step, action, index, key),
        target=target_of(action, args),
        targets=action.targets(args),
        planned=result["planned"],
    )
    return result


def log_call(run: Run, where: Mapping[str, Any], action: Action, args: dict[str, Any]) -> None:
    """``action.call``, on disk (fsynced) before the write leaves the process.

    ``idempotency_key``: the write's identity across every attempt and engine,
    ``<run id>/<step>:<index>`` (run, step, occurrence).
    """
    run.log(
        "action.call",
        **where,
        target=target_of(action, args),
        targets=action.targets(args),
        args=loggable(args),
        idempotency_key=f"{run.writer.run_id}/{where['call']}",
    )
    run.writer.sync()


def log_result(run: Run, where: Mapping[str, Any], result: Any, **extra: Any) -> None:
    """``action.result``: the write's full result, fsynced."""
    run.log("action.result", **where, result=result, **extra)
    run.writer.sync()


def log_failed(run: Run, where: Mapping[str, Any], error: str) -> None:
    """``action.failed``: the write failed (its one line, redacted), fsynced."""
    run.log("action.failed", **where, error=run.redactor.text(error))
    run.writer.sync()


def _write_call(
    run: Run, step: Step, action: Action, args: dict[str, Any], index: int, key: str
) -> Any:
    """One write: planned in a dry run; on resume its logged result reused, or, if it was
    in flight when the run stopped, refused unless safe to resend; else logged, sent, logged."""
    target = target_of(action, args)
    where = call_where(step, action, index, key)
    if run.plan_writes:
        return planned_call(run, step, action, args, index, key)
    if key in run.replay.done:
        # the target it was sent to: the arguments may differ now, its result stands
        run.log("action.reused", **where, target=run.replay.sent.get(key, target))
        return run.replay.done[key]
    if key in run.replay.unknown and not (action.idempotent or run.replay.resend_unknown):
        raise ActionError(
            f"{action.name} on {target}: an earlier attempt of this run was sent but its "
            "result was never logged (the run was interrupted), so whether it took effect "
            "is unknown and soar will not send it again; check the target by hand (the "
            "next run can skip it), or confirm with soar resume --resend-unknown"
        )
    log_call(run, where, action, args)
    try:
        result = _attempt(run, step, action, args, index)
    except Exception as exc:
        log_failed(run, where, describe(exc))
        raise
    log_result(run, where, result)
    return result
