"""Run a playbook: inputs checked, steps in order, writes approved and guarded, all logged.

``run_playbook`` is the entry point; ``engine.run.resume.resume_run`` continues a
stopped run through the same ``_Run``. Each step ends as one of the frozen
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
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.actions.registry import Action, ActionContext, ActionRegistry
from engine.audit.redact import Redactor
from engine.audit.runlog import RunLogWriter, summarize
from engine.audit.signing import Signer
from engine.errors import ActionError, GuardrailError
from engine.expr.budget import end_step_limit, step_limit
from engine.expr.templates import render_value
from engine.httpguard import DryRunGuard, guarded_client
from engine.playbook.inputs import check_inputs
from engine.playbook.model import Playbook, Step
from engine.run.approval import (
    ApprovalRequest,
    Approvals,
    Approve,
    AwaitingApproval,
    approval_content,
)
from engine.run.guardrails import Guardrails, refused_error, resolve_targets, target_of, targets_of
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
from engine.run.replay import Continuation, describe_changes
from engine.run.runlock import RunLock
from engine.run.state import (
    ENV_SECRETS,
    Auth0Factory,
    Event,
    Replay,
    RunResult,
    client_identity,
    default_auth0_factory,
    new_run_id,
    operator_name,
    tenant_label,
)
from engine.secrets import Secret

if TYPE_CHECKING:
    import httpx

    from engine.auth0 import Auth0Client


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
    run = _Run(
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
        return run.execute()


class _Run:
    """The state of one run. Built per run, never shared between runs."""

    writer: RunLogWriter

    def __init__(
        self,
        playbook: Playbook,
        inputs: dict[str, Any],
        *,
        registry: ActionRegistry,
        dry_run: bool,
        approve: Approve,
        logs_file: Path | None,
        auth0_factory: Auth0Factory | None,
        protected_users: Sequence[str],
        secrets: Mapping[str, str | Secret],
        protected_ips: Sequence[str] = (),
        transport: httpx.BaseTransport | None,
        on_event: Event | None,
        redactor: Redactor | None,
        replay: Replay | None = None,
        http_read_hosts: Sequence[str] | None = None,
    ) -> None:
        self.playbook = playbook
        self.inputs = inputs
        self.registry = registry
        self.dry_run = dry_run
        self.plan_writes = dry_run or logs_file is not None  # offline runs write nothing
        self.on_event = on_event
        self.replay = replay or Replay()
        self.redactor = redactor if redactor is not None else Redactor()
        for name in ENV_SECRETS:
            self.redactor.add(os.environ.get(name))
        self.secrets = {
            name: v if isinstance(v, Secret) else Secret(name, v) for name, v in secrets.items()
        }
        for secret in self.secrets.values():
            self.redactor.add(secret)
        self.guardrails = Guardrails(protected_users, protected_ips)
        self.approve = approve
        self.tenant = tenant_label(logs_file)  # shown at approval; run_playbook may name it
        self.guard = DryRunGuard(self.plan_writes, http_read_hosts)  # the one guard of this run
        self.http = guarded_client(self.guard, transport, timeout=30.0)
        self.auth0_factory = auth0_factory or default_auth0_factory
        self._auth0: Auth0Client | None = None
        self._auth0_lock = threading.Lock()
        self.ctx = ActionContext(
            dry_run=self.plan_writes,
            http=self.http,
            auth0_factory=self.auth0,
            logs_file=logs_file,
            secrets=self.secrets,
        )
        self.steps: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self.continuation = Continuation(self.replay, self.log)

    def auth0(self) -> Auth0Client:
        """The run's one Auth0 client, built on first use (``for_each`` threads may race here)."""
        with self._auth0_lock:
            if self._auth0 is None:
                self._auth0 = self.auth0_factory(self.guard, self.redactor.add)
            return self._auth0

    def tenant_identity(self) -> tuple[dict[str, str | None], str | None]:
        """``{"tenant_url", "client_id"}`` this run's writes go to, and why they are unknown.

        Builds the Auth0 client (no request is sent): its settings are what the
        writes will use. Offline runs and runs without Auth0 settings have none.
        """
        if self.ctx.logs_file is not None:
            return {"tenant_url": None, "client_id": None}, None
        try:
            client = self.auth0()
        except Exception as exc:  # no usable settings: the steps that need them will say so
            return {"tenant_url": None, "client_id": None}, self.redactor.text(describe(exc))
        return client_identity(client)

    def open(self, writer: RunLogWriter) -> None:
        self.writer = writer
        self.approvals = Approvals(self.approve, self.log, self.replay.approved)

    def log(self, type_: str, **fields: Any) -> dict[str, Any]:
        record = self.writer.write(type_, **fields)
        if self.on_event:
            self.on_event(record)
        return record

    def context(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "steps": self.steps,
            "secrets": self.secrets,
            "run": {"id": self.writer.run_id, "dry_run": self.dry_run},
        }

    # -- the run -------------------------------------------------------------
    def execute(self) -> RunResult:
        status, error = "succeeded", None
        precompile(self.playbook)
        try:
            for step in self.playbook.steps:
                outcome = self.run_step(step)
                self.outcomes[step.id] = outcome
                self.steps[step.id] = {"output": outcome.output, "status": outcome.status}
                if isinstance(outcome, Failed) and not step.continue_on_error:
                    # with continue_on_error the failure stays the step's; the run goes on
                    status, error = "failed", f"step {step.id!r} failed: {outcome.error}"
                    break
        except AwaitingApproval as stop:
            status, error = "awaiting_approval", str(stop) or None
        outputs: dict[str, Any] = {}
        if status != "awaiting_approval":
            outputs, out_error = self.render_outputs()
            if out_error and status == "succeeded":
                status, error = "failed", out_error
        self.finish(status, outputs, error)
        return RunResult(
            run_id=self.writer.run_id,
            status=status,
            dry_run=self.dry_run,
            outputs=outputs,
            run_log=self.writer.path,
            final_hash=self.writer.prev,
            steps=dict(self.outcomes),
            error=error,
        )

    def finish(self, status: str, outputs: dict[str, Any], error: str | None) -> None:
        try:
            self.log(
                "run.finished",
                status=status,
                outputs=summarize(outputs, 65536, self.redactor.text),
                error=error,
                records=self.writer.seq + 1,  # this record included
                writes_sent=self.guard.writes_sent,
                writes_refused=self.guard.refused,
            )
        finally:
            self.writer.close()
            self.http.close()
            if self._auth0 is not None:
                self._auth0.close()

    def render_outputs(self) -> tuple[dict[str, Any], str | None]:
        outputs: dict[str, Any] = {}
        error = None
        context = self.context()
        for name, template in self.playbook.outputs.items():
            try:
                outputs[name] = plain(render_value(template, context))
            except Exception as exc:  # an output that cannot render fails the run, not the process
                outputs[name] = None
                error = error or f"output {name!r}: {self.redactor.text(describe(exc))}"
        return outputs, error

    def run_step(self, step: Step) -> StepOutcome:
        start = time.monotonic()
        limit = step_limit(f"step {step.id!r}", step.timeout)  # rendering runs on its clock too
        try:
            action = self.registry.get(step.uses)
            if action is None:
                raise ActionError(f"unknown action {step.uses!r}")
            replayed = self.continuation.replayed(step.id, self.redactor.text)
            if replayed is not None:  # it fed writes already sent: they were sent from this
                return replayed
            if not condition(step, self.context()):
                self.log("step.finished", step=step.id, status="skipped", duration_ms=0)
                return Skipped()
            each = items(step, self.context())
            self.log(
                "step.started",
                step=step.id,
                action=action.name,
                items=None if each is None else len(each),
            )
            calls = render_calls(step, action, each, self.context())
            for args in calls:  # every call checked before the first is sent
                check_args(action, args)
            write = any(action.is_write(args) for args in calls)
            planned = self.plan_writes and any(action.planned_only(args) for args in calls)
            keys = call_keys(step.id, calls) if write or planned else []
            if write:
                self.continuation.writes.add(step.id)
            refused = self.gate(step, action, calls, keys) if write else {}
            results = self.run_calls(step, action, calls, keys, refused)
            if refused:
                raise GuardrailError(refused_error(step.id, targets_of(action, calls), refused))
            output: Any = results if each is not None else results[0]
            duration = time.monotonic() - start
            outcome: StepOutcome = (
                Planned(output, duration) if planned else Succeeded(output, duration)
            )
            self.log(
                "step.finished",
                step=step.id,
                status=outcome.status,
                duration_ms=round(duration * 1000, 3),
                # writes in full, for resume; reads bounded, redacted before any cut
                output=output if write or planned else summarize(output, redact=self.redactor.text),
            )
            return outcome
        except AwaitingApproval:
            raise
        except Exception as exc:  # the step boundary: every failure becomes Failed
            duration = time.monotonic() - start
            message = self.redactor.text(describe(exc))
            self.log(
                "step.finished",
                step=step.id,
                status="failed",
                duration_ms=round(duration * 1000, 3),
                error=message,
            )
            return Failed(message, duration)
        finally:
            end_step_limit(limit)

    def gate(
        self, step: Step, action: Action, calls: list[dict[str, Any]], keys: list[str]
    ) -> dict[int, str]:
        """Guardrails, then approval of the concrete calls: the calls refused (index -> why).

        Raises ``GuardrailError`` (too many targets) or ``AwaitingApproval``.
        """
        targets = resolve_targets(action, self.ctx, calls)
        refused = self.guardrails.check(step.id, targets, step.max_targets)
        for index, why in sorted(refused.items()):
            self.log(
                "action.refused",
                step=step.id,
                action=action.name,
                **targets[index].shown(),
                reason=why,
            )
        if self.plan_writes or len(refused) == len(calls):
            return refused
        values = [t.value for t in targets]
        found = self.continuation.record(step, action.name, calls, keys, values, self.steps)
        self.confirm_unknown(step, action, calls, keys)
        request = approval_content(
            step.id, action.name, targets, tenant=self.tenant, refused=refused
        )
        approvals = self.approvals
        if found:
            # what was approved earlier is not what would be sent now: ask afresh
            approvals = Approvals(self.approve, self.log)
            if self.approve is True:  # --yes was given before anyone saw the difference
                hint = describe_changes(step.id, found)
                self.log("approval.required", **request.content(), reason="changed", hint=hint)
                raise AwaitingApproval(hint)
        try:
            approvals.require(request)
        except AwaitingApproval as stop:
            if found and not str(stop):
                raise AwaitingApproval(describe_changes(step.id, found)) from None
            raise
        return refused

    def confirm_unknown(
        self, step: Step, action: Action, calls: list[dict[str, Any]], keys: list[str]
    ) -> None:
        """Writes cut off in flight earlier in this run: resent only if idempotent or confirmed."""
        if action.idempotent or self.replay.resend_unknown:
            return
        unknown = [
            target_of(action, a)
            for a, k in zip(calls, keys, strict=True)
            if k in self.replay.unknown
        ]
        if unknown:
            self.approvals.stop_unknown(step.id, action.name, unknown)

    def run_calls(
        self,
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
                return self.write_call(step, action, calls[index], index, keys[index])
            return self.attempt(step, action, calls[index], index)

        return run_bounded(len(calls), one, max_parallel=step.max_parallel, timeout=step.timeout)

    def attempt(self, step: Step, action: Action, args: dict[str, Any], index: int) -> Any:
        """One call with the step's retry policy."""

        def on_retry(n: int, message: str, wait_s: float) -> None:
            self.log(
                "action.retry",
                step=step.id,
                index=index,
                attempt=n,
                error=self.redactor.text(message),
                wait_s=round(wait_s, 3),
            )

        return call_with_retry(
            lambda: run_action(action, self.ctx, args, plan=False), step.retry, on_retry=on_retry
        )

    def write_call(
        self, step: Step, action: Action, args: dict[str, Any], index: int, key: str
    ) -> Any:
        target, targets = target_of(action, args), action.targets(args)
        where = {"step": step.id, "index": index, "call": key, "action": action.name}
        if self.plan_writes:
            result = run_action(action, self.ctx, args, plan=True)
            self.log(
                "action.planned", **where, target=target, targets=targets, planned=result["planned"]
            )
            return result
        if key in self.replay.done:
            # the target it was sent to: the arguments may differ now, its result stands
            self.log("action.reused", **where, target=self.replay.sent.get(key, target))
            return self.replay.done[key]
        if key in self.replay.unknown and not (action.idempotent or self.replay.resend_unknown):
            raise ActionError(
                f"{action.name} on {target}: an earlier attempt of this run was sent but its "
                "result was never logged (the run was interrupted), so whether it took effect "
                "is unknown and soar will not send it again; check the target by hand (the "
                "next run can skip it), or confirm with soar resume --resend-unknown"
            )
        self.log("action.call", **where, target=target, targets=targets, args=loggable(args))
        self.writer.sync()  # on disk before the write leaves the process
        try:
            result = self.attempt(step, action, args, index)
        except Exception as exc:
            self.log("action.failed", **where, error=self.redactor.text(describe(exc)))
            self.writer.sync()
            raise
        self.log("action.result", **where, result=result)
        self.writer.sync()
        return result


__all__ = [
    "ENV_SECRETS",
    "ApprovalRequest",
    "Auth0Factory",
    "Event",
    "Replay",
    "RunResult",
    "run_playbook",
]
