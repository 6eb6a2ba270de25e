"""Run a playbook: inputs checked, steps in order, writes approved and guarded, all logged.

``run_playbook`` is the entry point; ``engine.run.resume.resume_run`` continues a
stopped run the same way: it builds a ``Run``, opens it on the stopped run's log
and hands it to ``execute``. Each step ends as one of the frozen
outcomes of ``engine.run.outcomes``; no exception crosses a step boundary. A write
passes three gates: guardrails (``max_targets``, protected users, checked on
each target's resolved record), approval of its concrete calls, and, in a dry
or offline run, the ``DryRunGuard`` in the HTTP layer, which refuses every
request with effect even when an action's own ``plan`` misbehaves. In a dry
or offline run a call is planned, not sent, when it writes or when its action
says it must not leave the process then (``Action.planned_only``: every
``http.request`` but a declared lookup).

Every write call is logged as ``action.call`` and fsynced *before* it is sent,
and its full result as ``action.result`` after, so a crash never hides a write
that completed (see docs/run-log.md). Step timeouts: ``engine.run.outcomes``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.actions.registry import Action, ActionRegistry
from engine.audit.redact import Redactor
from engine.audit.runlog import RunLogWriter, summarize
from engine.audit.signing import Signer
from engine.errors import ActionError, GuardrailError
from engine.expr.budget import end_step_limit, step_limit
from engine.expr.templates import render_value
from engine.playbook.inputs import check_inputs
from engine.playbook.model import Playbook, Step
from engine.run.approval import (
    Approvals,
    Approve,
    AwaitingApproval,
    approval_content,
)
from engine.run.guardrails import refused_error, resolve_targets, target_of, targets_of
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
from engine.run.plan import (
    call_keys,
    condition,
    items,
    loggable,
    plain,
    precompile,
    render_calls,
)
from engine.run.replay import describe_changes
from engine.run.runlock import RunLock
from engine.run.state import (
    Auth0Factory,
    Event,
    Run,
    RunResult,
    new_run_id,
    operator_name,
)
from engine.secrets import Secret

if TYPE_CHECKING:
    import httpx


def run_playbook(
    playbook: Playbook,
    inputs: Mapping[str, Any],
    *,
    registry: ActionRegistry,
    dry_run: bool = False,
    approve: Approve = None,
    run_dir: str | Path = "runs",
    logs_file: Path | None = None,
    auth0_factory: Auth0Factory | None = None,
    protected_users: Sequence[str] | None = None,
    protected_ips: Sequence[str] | None = None,
    secrets: Mapping[str, str | Secret] | None = None,
    transport: httpx.BaseTransport | None = None,
    operator: str | None = None,
    tenant: str | None = None,
    on_event: Event | None = None,
    redactor: Redactor | None = None,
    signer: Signer | None = None,
    from_cli: bool = False,
    http_read_hosts: Sequence[str] | None = None,
) -> RunResult:
    """Run ``playbook`` with ``inputs``; the log goes to ``<run_dir>/<run_id>.jsonl``.

    Raises ``InputError`` before anything runs (or is logged) when the inputs do
    not match the declared ones; every other problem ends in the result.

    - ``approve``: ``True`` grants every write (``--yes``); a callable is asked
      per write step with an ``ApprovalRequest``; ``None`` stops before the
      first write with status ``awaiting_approval``.
    - ``dry_run`` (and ``logs_file``, which replaces the tenant by an exported
      log file): reads run, writes are only planned; no approval needed.
    - ``secrets``: ``secrets.<name>`` in templates, as opaque ``Secret``s; their
      values, ``AUTH0_CLIENT_SECRET``/``AUTH0_TOKEN`` and every secret the Auth0
      client reports are redacted from the log and from ``redactor``'s sinks.
    - ``transport``: the httpx transport under the guarded ``http.request`` client.
    - ``protected_users``: user ids, emails or usernames no write may touch.
    - ``protected_ips``: addresses or CIDRs no address write may block.
    - ``http_read_hosts``: where a lookup (``effect: read``) may go in a dry or
      offline run (default: ``SOAR_HTTP_READ_HOSTS``).
    - ``on_event``: called with each run-log record (redacted), e.g. progress.
    - ``from_cli``: input values are ``-i`` strings to convert to declared types.
    - ``signer``: signs the log (its key id in ``run.started``, a ``run.signed``
      record at the end); without one the log is unsigned.
    """
    values = check_inputs(playbook.inputs, inputs, from_cli=from_cli)
    run_id = new_run_id()
    path = Path(run_dir) / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    who = operator or operator_name()
    run = Run(
        playbook,
        values,
        registry=registry,
        dry_run=dry_run,
        approve=approve,
        logs_file=logs_file,
        auth0_factory=auth0_factory,
        protected_users=protected_users or (),
        protected_ips=protected_ips or (),
        secrets=secrets or {},
        transport=transport,
        on_event=on_event,
        redactor=redactor,
        http_read_hosts=http_read_hosts,
    )
    run.tenant = tenant or run.tenant
    with RunLock.acquire(path, who):  # one writer per log, for the whole run
        run.open(RunLogWriter(path, run_id, run.redactor, signer=signer))
        identity, _ = run.tenant_identity()
        run.log(
            "run.started",
            playbook={"path": playbook.path, "sha256": playbook.sha256, "name": playbook.name},
            inputs=values,
            operator=who,
            signing_key_id=signer.key_id if signer else None,
            host=platform.node(),
            pid=os.getpid(),
            engine_version=__version__,
            tenant=run.tenant,
            **identity,  # tenant_url, client_id: what a resume must write to again
            dry_run=dry_run,
            logs_file=str(logs_file) if logs_file else None,
            secrets=sorted(run.secrets),
            protected_users=run.guardrails.shown,
            protected_ips=run.guardrails.shown_ips,
            http_read_hosts=sorted(run.guard.read_hosts),
        )
        return execute(run)


def execute(run: Run) -> RunResult:
    """Run the playbook of an opened ``run`` from its first step, render its outputs, end its log.

    Steps run in order; a failed step stops the run unless it continues on
    error; a step waiting for approval stops it with ``awaiting_approval``.
    """
    status, error = "succeeded", None
    precompile(run.playbook)
    try:
        for step in run.playbook.steps:
            outcome = run_step(run, step)
            run.outcomes[step.id] = outcome
            run.steps[step.id] = {"output": outcome.output, "status": outcome.status}
            if isinstance(outcome, Failed) and not step.continue_on_error:
                # with continue_on_error the failure stays the step's; the run goes on
                status, error = "failed", f"step {step.id!r} failed: {outcome.error}"
                break
    except AwaitingApproval as stop:
        status, error = "awaiting_approval", str(stop) or None
    outputs: dict[str, Any] = {}
    if status != "awaiting_approval":
        outputs, out_error = _render_outputs(run)
        if out_error and status == "succeeded":
            status, error = "failed", out_error
    _finish(run, status, outputs, error)
    return RunResult(
        run_id=run.writer.run_id,
        status=status,
        dry_run=run.dry_run,
        outputs=outputs,
        run_log=run.writer.path,
        final_hash=run.writer.prev,
        steps=dict(run.outcomes),
        error=error,
    )


def _finish(run: Run, status: str, outputs: dict[str, Any], error: str | None) -> None:
    try:
        run.log(
            "run.finished",
            status=status,
            outputs=summarize(outputs, 65536, run.redactor.text),
            error=error,
            records=run.writer.seq + 1,  # this record included
            writes_sent=run.guard.writes_sent,
            writes_refused=run.guard.refused,
        )
    finally:
        run.close()


def _render_outputs(run: Run) -> tuple[dict[str, Any], str | None]:
    outputs: dict[str, Any] = {}
    error = None
    context = run.context()
    for name, template in run.playbook.outputs.items():
        try:
            outputs[name] = plain(render_value(template, context))
        except Exception as exc:  # an output that cannot render fails the run, not the process
            outputs[name] = None
            error = error or f"output {name!r}: {run.redactor.text(describe(exc))}"
    return outputs, error


def run_step(run: Run, step: Step) -> StepOutcome:
    """One step's life, top to bottom; no exception but ``AwaitingApproval`` leaves it.

    Its action; a read step that fed writes already sent is replayed from the
    log; its condition (``if``: false, skipped); its items (``for_each``);
    each call's arguments rendered, then all checked before the first is
    sent; a write's gates (guardrails, then approval: ``_gate``); the calls;
    the refused targets fail the step; its outcome, logged as ``step.finished``.
    Everything, rendering included, runs under the step's ``timeout``.
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
        if write:
            run.continuation.writes.add(step.id)
        refused = _gate(run, step, action, calls, keys) if write else {}
        results = _run_calls(run, step, action, calls, keys, refused)
        if refused:
            raise GuardrailError(refused_error(step.id, targets_of(action, calls), refused))
        output: Any = results if each is not None else results[0]
        duration = time.monotonic() - start
        outcome: StepOutcome = Planned(output, duration) if planned else Succeeded(output, duration)
        run.log(
            "step.finished",
            step=step.id,
            status=outcome.status,
            duration_ms=round(duration * 1000, 3),
            # writes in full, for resume; reads bounded, redacted before any cut
            output=output if write or planned else summarize(output, redact=run.redactor.text),
        )
        return outcome
    except AwaitingApproval:
        raise
    except Exception as exc:  # the step boundary: every failure becomes Failed
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
    finally:
        end_step_limit(limit)


def _gate(
    run: Run, step: Step, action: Action, calls: list[dict[str, Any]], keys: list[str]
) -> dict[int, str]:
    """Guardrails, then approval of the concrete calls: the calls refused (index -> why).

    Raises ``GuardrailError`` (too many targets) or ``AwaitingApproval``.
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
    if run.plan_writes or len(refused) == len(calls):
        return refused
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
    return refused


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
    target = target_of(action, args)
    where = {"step": step.id, "index": index, "call": key, "action": action.name}
    if run.plan_writes:
        result = run_action(action, run.ctx, args, plan=True)
        run.log("action.planned", **where, target=target, planned=result["planned"])
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
    run.log("action.call", **where, target=target, args=loggable(args))
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


__all__ = ["execute", "run_playbook"]
