"""Run a playbook: inputs checked, steps in order, writes approved and guarded, all logged.

``run_playbook`` is the one entry point (``resume_run`` in ``engine.resume``
continues a stopped run). Each step ends as one of the frozen outcomes of
``engine.steps``; no exception crosses a step boundary. Writes go through three
gates: approval, ``max_targets`` / protected users, and (in a dry run) the
``DryRunGuard`` in the HTTP layer, which refuses any non-GET request even when
an action's own dry-run logic is wrong.

A step ``timeout`` bounds how long the run waits for the step; an action
thread still running then cannot be killed in Python: it finishes in the
background and its result is discarded (writes it sends are still logged).
"""

from __future__ import annotations

import getpass
import os
import platform
import secrets as pysecrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.errors import ActionError, GuardrailError, SoarError, TemplateError
from engine.httpguard import DryRunGuard, guarded_client
from engine.inputs import check_inputs
from engine.model import Playbook, Step
from engine.redact import Redactor
from engine.registry import Action, ActionContext, ActionRegistry
from engine.runlog import RunLogWriter, summarize
from engine.secrets import Secret
from engine.steps import (
    Failed,
    Planned,
    Skipped,
    StepOutcome,
    Succeeded,
    call_with_retry,
    describe,
    run_action,
)
from engine.templating import Deferred, compile_template, is_template, render_value

if TYPE_CHECKING:
    import httpx

    from engine.auth0 import Auth0Client

Auth0Factory = Callable[[DryRunGuard, Callable[[str], None]], "Auth0Client"]


@dataclass(frozen=True)
class ApprovalRequest:
    """What an operator approves: one write step and its concrete targets."""

    step_id: str
    action: str
    targets: list[str]


@dataclass
class RunResult:
    run_id: str
    status: str  # succeeded | failed | awaiting_approval
    dry_run: bool
    outputs: dict[str, Any]
    run_log: Path
    final_hash: str
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Replay:
    """What a resumed run already did: full write results per (step, item index)."""

    done: dict[tuple[str, int], Any] = field(default_factory=dict)
    unknown: set[tuple[str, int]] = field(default_factory=set)
    approved: set[str] = field(default_factory=set)


class _AwaitingApproval(Exception):
    pass


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + pysecrets.token_hex(3)


def default_auth0_factory(guard: DryRunGuard, on_secret: Callable[[str], None]) -> Auth0Client:
    from engine.auth0 import client_from_env

    return client_from_env(guard, on_secret=on_secret)


def tenant_label(logs_file: Path | None) -> str:
    if logs_file is not None:
        return f"offline:{logs_file}"
    return os.environ.get("AUTH0_DOMAIN", "") or "(not configured)"


def run_playbook(
    playbook: Playbook,
    inputs: Mapping[str, Any],
    *,
    registry: ActionRegistry,
    dry_run: bool = False,
    approve: bool | Callable[[ApprovalRequest], bool] | None = None,
    run_dir: str | Path = "runs",
    logs_file: Path | None = None,
    auth0_factory: Auth0Factory | None = None,
    protected_users: Sequence[str] = (),
    secrets: Mapping[str, str] | None = None,
    redact: Sequence[str] = (),
    transport: httpx.BaseTransport | None = None,
    operator: str | None = None,
    tenant: str | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    from_cli: bool = False,
    redactor: Redactor | None = None,
) -> RunResult:
    """Run ``playbook``. Raises ``InputError`` before anything runs when inputs are bad.

    ``approve``: True grants every write (``--yes``); a callable is asked per
    write step with its targets; None stops before the first write with status
    ``awaiting_approval``. ``secrets`` become ``secrets.<name>`` (opaque) and,
    with ``redact``, are masked in every sink. In a dry run, or when
    ``logs_file`` replaces the tenant, writes are only planned.
    """
    values = check_inputs(playbook.inputs, inputs, from_cli=from_cli)
    run_id = new_run_id()
    path = Path(run_dir) / f"{run_id}.jsonl"
    run = _Run(
        playbook,
        values,
        registry=registry,
        dry_run=dry_run,
        approve=approve,
        logs_file=logs_file,
        auth0_factory=auth0_factory,
        protected_users=protected_users,
        secrets=secrets or {},
        redact=redact,
        transport=transport,
        on_event=on_event,
    )
    run.writer = RunLogWriter(path, run_id, run.redactor)
    run.log(
        "run.started",
        playbook={"path": playbook.path, "sha256": playbook.sha256, "name": playbook.name},
        inputs=values,
        operator=operator or _operator(),
        host=platform.node(),
        engine_version=__version__,
        tenant=tenant or tenant_label(logs_file),
        dry_run=dry_run,
        logs_file=str(logs_file) if logs_file else None,
    )
    return run.execute()


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class _Run:
    """The state of one run. Built per run, never shared."""

    writer: RunLogWriter

    def __init__(
        self,
        playbook: Playbook,
        inputs: dict[str, Any],
        *,
        registry: ActionRegistry,
        dry_run: bool,
        approve: bool | Callable[[ApprovalRequest], bool] | None,
        logs_file: Path | None,
        auth0_factory: Auth0Factory | None,
        protected_users: Sequence[str],
        secrets: Mapping[str, str],
        redact: Sequence[str],
        transport: httpx.BaseTransport | None,
        on_event: Callable[[dict[str, Any]], None] | None,
        replay: Replay | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.playbook = playbook
        self.inputs = inputs
        self.registry = registry
        self.dry_run = dry_run
        self.plan_writes = dry_run or logs_file is not None
        self.approve = approve
        self.protected = {p.strip().lower() for p in protected_users if p.strip()}
        self.on_event = on_event
        self.replay = replay or Replay()
        self.redactor = redactor or Redactor()
        for value in [*secrets.values(), *redact]:
            self.redactor.add(value)
        self.secrets = {name: Secret(name, value) for name, value in secrets.items()}
        self.guard = DryRunGuard(dry_run)
        self.http = guarded_client(self.guard, transport, timeout=30.0)
        factory = auth0_factory or default_auth0_factory
        self.ctx = ActionContext(
            dry_run=self.plan_writes,
            http=self.http,
            auth0_factory=lambda: factory(self.guard, self.redactor.add),
            logs_file=logs_file,
            secrets=self.secrets,
        )
        self.steps: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self._lock = threading.Lock()

    # -- logging -------------------------------------------------------------
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
        status = "succeeded"
        error: str | None = None
        try:
            for step in self.playbook.steps:
                outcome = self.run_step(step)
                self.outcomes[step.id] = outcome
                self.steps[step.id] = {"output": outcome.output, "status": outcome.status}
                if isinstance(outcome, Failed) and not step.continue_on_error:
                    status, error = "failed", f"step {step.id!r} failed: {outcome.error}"
                    break
                if isinstance(outcome, Failed):
                    status = "failed"
        except _AwaitingApproval:
            status = "awaiting_approval"
        outputs: dict[str, Any] = {}
        if status != "awaiting_approval":
            outputs, out_error = self.render_outputs()
            if out_error and status == "succeeded":
                status, error = "failed", out_error
        self.log(
            "run.finished",
            status=status,
            outputs=summarize(outputs, 65536),
            error=error,
            records=self.writer.seq + 1,
            writes_sent=self.guard.writes_sent,
            writes_refused=self.guard.refused,
        )
        self.writer.close()
        self.http.close()
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

    def render_outputs(self) -> tuple[dict[str, Any], str | None]:
        outputs: dict[str, Any] = {}
        error = None
        for name, template in self.playbook.outputs.items():
            try:
                outputs[name] = _plain(render_value(template, self.context()))
            except SoarError as exc:
                outputs[name] = None
                error = error or f"output {name!r}: {exc}"
        return outputs, error

    def run_step(self, step: Step) -> StepOutcome:
        start = time.monotonic()
        action = self.registry.get(step.uses)
        try:
            if action is None:
                raise ActionError(f"unknown action {step.uses!r}")
            if not self.condition(step):
                self.log("step.finished", step=step.id, status="skipped", duration_ms=0)
                return Skipped()
            items = self.items(step)
            self.log(
                "step.started",
                step=step.id,
                action=action.name,
                items=None if items is None else len(items),
            )
            calls = self.render_calls(step, action, items)
            is_write = any(action.is_write(args) for args in calls)
            if is_write:
                self.gate(step, action, calls)
            results = self.run_calls(step, action, calls, is_write)
            output: Any = results if items is not None else results[0]
            duration = time.monotonic() - start
            planned = is_write and self.plan_writes
            outcome: StepOutcome = (
                Planned(output, duration) if planned else Succeeded(output, duration)
            )
            self.log(
                "step.finished",
                step=step.id,
                status=outcome.status,
                duration_ms=round(duration * 1000, 3),
                output=output if is_write else summarize(output),
            )
            return outcome
        except _AwaitingApproval:
            raise
        except Exception as exc:
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

    def condition(self, step: Step) -> bool:
        if step.if_ is None:
            return True
        if isinstance(step.if_, bool):
            return step.if_
        return bool(compile_template(str(step.if_)).render(self.context()))

    def items(self, step: Step) -> list[Any] | None:
        if step.for_each is None:
            return None
        value = render_value(step.for_each, self.context())
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise ActionError(
                f"for_each must give a list, got {type(value).__name__} (check the expression)"
            )
        return list(value)

    def render_calls(
        self, step: Step, action: Action, items: list[Any] | None
    ) -> list[dict[str, Any]]:
        props = action.input_schema.get("properties", {})
        deferred = {k for k, v in props.items() if v.get("x-template") == "deferred"}
        base = self.context()
        calls = []
        for index, item in enumerate(items if items is not None else [None]):
            ctx = {**base, "item": item, "index": index} if items is not None else base
            args: dict[str, Any] = {}
            for key, value in step.with_.items():
                if key in deferred and is_template(value):
                    args[key] = Deferred(compile_template(value), ctx)
                else:
                    args[key] = render_value(value, ctx)
            calls.append(args)
        return calls

    # -- writes: guardrails and approval -------------------------------------
    def targets(self, action: Action, calls: list[dict[str, Any]]) -> list[str]:
        if action.target:
            return [str(args.get(action.target)) for args in calls]
        return [self.redactor.text(str(args.get("url", action.name))) for args in calls]

    def gate(self, step: Step, action: Action, calls: list[dict[str, Any]]) -> None:
        targets = self.targets(action, calls)
        if len(targets) > step.max_targets:
            raise GuardrailError(
                f"step {step.id!r} would write to {len(targets)} targets, more than its "
                f"max_targets of {step.max_targets}; narrow the selection or raise max_targets"
            )
        hit = [t for t in targets if t.lower() in self.protected]
        if hit:
            raise GuardrailError(
                f"step {step.id!r} refused: protected user(s) {', '.join(hit)} "
                "(SOAR_PROTECTED_USERS); soar never writes to them"
            )
        if self.plan_writes or step.id in self.replay.approved:
            return
        request = ApprovalRequest(step.id, action.name, targets)
        self.log("approval.requested", step=step.id, action=action.name, targets=targets)
        if self.approve is True:
            self.log("approval.granted", step=step.id, by="--yes")
            return
        if callable(self.approve):
            if self.approve(request):
                self.log("approval.granted", step=step.id, by="prompt")
                return
            self.log("approval.denied", step=step.id, by="prompt")
            raise _AwaitingApproval
        self.log(
            "approval.required",
            step=step.id,
            action=action.name,
            targets=targets,
            hint="run again with --yes, or resume this run log with --yes",
        )
        raise _AwaitingApproval

    # -- calls ----------------------------------------------------------------
    def run_calls(
        self, step: Step, action: Action, calls: list[dict[str, Any]], is_write: bool
    ) -> list[Any]:
        results: list[Any] = [None] * len(calls)

        def one(index: int) -> None:
            results[index] = self.call(step, action, calls[index], index, is_write)

        if len(calls) == 1 and step.timeout is None:
            one(0)
            return results
        pool = ThreadPoolExecutor(max_workers=min(step.max_parallel, len(calls)) or 1)
        try:
            futures = [pool.submit(one, i) for i in range(len(calls))]
            done, pending = wait(futures, timeout=step.timeout, return_when=FIRST_EXCEPTION)
            for f in futures:
                if f in done and f.exception() is not None:
                    exc = f.exception()
                    assert exc is not None
                    raise exc
            if pending:
                raise ActionError(f"step timed out after {step.timeout:g}s")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return results

    def call(
        self, step: Step, action: Action, args: dict[str, Any], index: int, is_write: bool
    ) -> Any:
        key = (step.id, index)
        if key in self.replay.done:
            return self.replay.done[key]
        target = self.targets(action, [args])[0] if is_write else None
        if is_write and self.plan_writes:
            result = run_action(action, self.ctx, args, plan=True)
            self.log(
                "action.planned",
                step=step.id,
                index=index,
                action=action.name,
                target=target,
                planned=result["planned"],
            )
            return result
        if key in self.replay.unknown and not action.idempotent:
            raise ActionError(
                f"item {index} ({target}): the run stopped after this write was sent and before "
                "its result was logged; its outcome is unknown. Check the target by hand, then "
                "run the playbook again for it"
            )
        if is_write:
            self.log(
                "action.call",
                step=step.id,
                index=index,
                action=action.name,
                target=target,
                args=_loggable(args),
            )
            self.writer.sync()

        def attempt() -> Any:
            return run_action(action, self.ctx, args, plan=False)

        def on_retry(n: int, message: str, wait_s: float) -> None:
            self.log(
                "action.retry",
                step=step.id,
                index=index,
                attempt=n,
                error=self.redactor.text(message),
                wait_s=round(wait_s, 3),
            )

        try:
            result = call_with_retry(attempt, step.retry, on_retry=on_retry)
        except Exception as exc:
            if is_write:
                self.log(
                    "action.failed",
                    step=step.id,
                    index=index,
                    error=self.redactor.text(describe(exc)),
                )
                self.writer.sync()
            raise
        if is_write:
            self.log("action.result", step=step.id, index=index, result=result)
            self.writer.sync()
        return result


def _loggable(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(v.template.source) if isinstance(v, Deferred) else v) for k, v in args.items()}


def _plain(value: Any) -> Any:
    """Outputs as plain JSON values: secrets masked."""
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


__all__ = ["ApprovalRequest", "Replay", "RunResult", "TemplateError", "run_playbook"]
