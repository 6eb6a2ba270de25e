"""One step's life, top to bottom: condition, items, arguments, gates, calls, outcome, record.

``run_step`` is the sequence; the helpers below it are the gates and the calls.
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
from typing import Any

from engine.actions.registry import Action
from engine.audit.runlog import summarize
from engine.errors import ActionError, GuardrailError
from engine.expr.budget import end_step_limit, step_limit
from engine.playbook.model import Step
from engine.run.approval import Approvals, AwaitingApproval, approval_content
from engine.run.guardrails import (
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
        refused: dict[int, str] = {}
        if write:
            run.continuation.writes.add(step.id)
            targets, refused = _guardrails(run, step, action, calls)
            if not run.plan_writes and len(refused) < len(calls):
                _approval(run, step, action, calls, keys, targets, refused)
        results = _run_calls(run, step, action, calls, keys, refused)
        if refused:
            raise GuardrailError(refused_error(step.id, targets_of(action, calls), refused))
        output: Any = results if each is not None else results[0]
        # writes in full, for resume; reads bounded, redacted before any cut
        return _finished(run, step, output, start, planned=planned, full=write or planned)
    except AwaitingApproval:
        raise
    except Exception as exc:  # the step boundary: every failure becomes Failed
        return _failed(run, step, exc, start)
    finally:
        end_step_limit(limit)


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


def _failed(run: Run, step: Step, exc: Exception, start: float) -> Failed:
    """The step's failure as one redacted line, logged as ``step.finished``."""
    duration = time.monotonic() - start
    message = run.redactor.text(describe(exc))
    run.log(
        "step.finished",
        step=step.id,
        status="failed",
        duration_ms=round(duration * 1000, 3),
        error=message,
    )
    return Failed(message, duration)


def _guardrails(
    run: Run, step: Step, action: Action, calls: list[dict[str, Any]]
) -> tuple[list[Target], dict[int, str]]:
    """Each call's resolved target, and the calls refused (index -> why), logged.

    Raises ``GuardrailError`` when the step has more targets than its ``max_targets``.
    """
    targets = resolve_targets(action, run.ctx, calls)
    refused = run.guardrails.check(step.id, targets, step.max_targets)
    for index, why in sorted(refused.items()):
        run.log(
            "action.refused",
            step=step.id,
            action=action.name,
            **targets[index].shown(),
            reason=why,
        )
    return targets, refused


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


def _write_call(
    run: Run, step: Step, action: Action, args: dict[str, Any], index: int, key: str
) -> Any:
    """One write: planned in a dry run; on resume its logged result reused, or, if it was
    in flight when the run stopped, refused unless safe to resend; else logged, sent, logged."""
    target, targets = target_of(action, args), action.targets(args)
    where = {"step": step.id, "index": index, "call": key, "action": action.name}
    if run.plan_writes:
        result = run_action(action, run.ctx, args, plan=True)
        run.log(
            "action.planned", **where, target=target, targets=targets, planned=result["planned"]
        )
        return result
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
    run.log("action.call", **where, target=target, targets=targets, args=loggable(args))
    run.writer.sync()  # on disk before the write leaves the process
    try:
        result = _attempt(run, step, action, args, index)
    except Exception as exc:
        run.log("action.failed", **where, error=run.redactor.text(describe(exc)))
        run.writer.sync()
        raise
    run.log("action.result", **where, result=result)
    run.writer.sync()
    return result
