"""Run a playbook: inputs checked, the run log opened, steps in order, outputs, the log closed.

``run_playbook`` is the entry point: it checks the inputs, builds the run's
state (``engine.run.state.Run``), takes the log's lock, writes ``run.started``
and hands the run to ``execute``, which runs the steps in order
(``engine.run.step.run_step``: one step's life, its gates and calls), renders
the outputs and ends the log with ``run.finished``.
``engine.run.resume.resume_run`` continues a stopped run the same way: it
builds a ``Run``, opens it on the stopped run's log and hands it to ``execute``.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from structlog.contextvars import bound_contextvars

from engine import __version__
from engine.actions.registry import ActionRegistry
from engine.audit.redact import Redactor
from engine.audit.runlog import RunLogWriter, summarize
from engine.audit.signing import Signer
from engine.expr.templates import render_value
from engine.playbook.inputs import check_inputs
from engine.playbook.model import Playbook
from engine.run.approval import Approve, AwaitingApproval
from engine.run.outcomes import Failed, describe
from engine.run.plan import plain, precompile
from engine.run.runlock import RunLock
from engine.run.state import Auth0Factory, Event, Run, RunResult, new_run_id, operator_name
from engine.run.step import run_step
from engine.secrets import Secret
from engine.timeutil import iso_ms

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
    cache: bool = True,
    run_id: str | None = None,
    clock: datetime | None = None,
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
    - ``cache``: whether a ``logs_file`` is read from and kept in the cache
      (``engine.logs.cache``; ``soar run --no-cache`` turns it off).
    - ``on_event``: called with each run-log record (redacted), e.g. progress.
    - ``from_cli``: input values are ``-i`` strings to convert to declared types.
    - ``run_id``: the run's id (a Temporal workflow's, ``engine.temporal``); by
      default a new one (``new_run_id``).
    - ``clock``: the instant relative times (``since: 24h``) count from, recorded
      in ``run.started`` and kept by every resume (a workflow's start time); by
      default each search counts from the current time.
    - ``signer``: signs the log (its key id in ``run.started``, a ``run.signed``
      record at the end); without one the log is unsigned.
    """
    values = check_inputs(playbook.inputs, inputs, from_cli=from_cli)
    run_id = run_id or new_run_id()
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
        cache=cache,
        clock=clock,
    )
    run.tenant = tenant or run.tenant
    with RunLock.acquire(path, who):  # one writer per log, for the whole run
        run.open(RunLogWriter(path, run_id, run.redactor, signer=signer))
        log_started(run, who, signer)
        return execute(run)


def log_started(run: Run, operator: str, signer: Signer | None) -> None:
    """The run's first record, ``run.started``: what it runs, with what, by whom, where."""
    playbook, logs_file = run.playbook, run.ctx.logs_file
    identity, _ = run.tenant_identity()
    run.log(
        "run.started",
        playbook={"path": playbook.path, "sha256": playbook.sha256, "name": playbook.name},
        inputs=run.inputs,
        operator=operator,
        signing_key_id=signer.key_id if signer else None,
        host=platform.node(),
        pid=os.getpid(),
        engine_version=__version__,
        tenant=run.tenant,
        **identity,  # tenant_url, client_id: what a resume must write to again
        dry_run=run.dry_run,
        logs_file=str(logs_file) if logs_file else None,
        secrets=sorted(run.secrets),
        protected_users=run.guardrails.shown,
        protected_ips=run.guardrails.shown_ips,
        http_read_hosts=sorted(run.guard.read_hosts),
        **({"clock": iso_ms(run.clock)} if run.clock else {}),
    )


def execute(run: Run) -> RunResult:
    """Run the playbook of an opened ``run`` from its first step, render its outputs, end its log.

    Steps run in order; a failed step stops the run unless it continues on
    error; a step waiting for approval stops it with ``awaiting_approval``.
    """
    status, error = "succeeded", None
    precompile(run.playbook)
    try:
        for step in run.playbook.steps:
            # every operational log event of the step carries both (outcomes copies them to threads)
            with bound_contextvars(run_id=run.writer.run_id, step_id=step.id):
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
        outputs, out_error = render_outputs(run)
        if out_error and status == "succeeded":
            status, error = "failed", out_error
    finish(run, status, outputs, error)
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


def finish(run: Run, status: str, outputs: dict[str, Any], error: str | None) -> None:
    """Log ``run.finished`` (outputs bounded and redacted), then close the run, whatever happens."""
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


def render_outputs(run: Run) -> tuple[dict[str, Any], str | None]:
    """The playbook's outputs, and the first one that could not render (it is ``None``)."""
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


__all__ = ["execute", "finish", "log_started", "render_outputs", "run_playbook"]
