"""``soar resume``: continue a stopped run in its own log, never repeating a completed write.

A run stops early when it is killed (the log has no ``run.finished``) or when
it waits for approval (``run.finished`` with status ``awaiting_approval``).
Resuming takes the log's lock (``engine.run.runlock``: one writer per log), checks
that the log verifies, that the playbook is unchanged (same sha256) and that
the Auth0 settings name the tenant and client id ``run.started`` recorded,
then appends ``run.resumed`` (who, where, with what approval) and runs the
playbook again from the top with the recorded inputs:

- a write is identified by step and occurrence (``<step>:<index>``); one whose
  ``action.result`` is logged is not sent again: its recorded result stands
  (``action.reused``);
- read steps that fed writes already sent are replayed from the log, not run
  again; other read steps run again, and a write step whose calls now differ
  from the ones last shown stops for a new approval (``engine.run.replay``);
- a write with an ``action.call`` but no result was in flight when the run
  stopped: whether it took effect is unknown. It is sent again only when its
  action is ``idempotent`` (blocking a user twice changes nothing) or the
  operator, having checked the target by hand, passes ``resend_unknown``
  (``--resend-unknown``); otherwise the run stops before that step with
  status ``awaiting_approval`` and says so (``approval.required`` with
  ``reason: "unknown_outcome"``), so that it can be resumed once checked;
- approvals already granted cover the same targets; new targets are asked for.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.actions.registry import ActionRegistry
from engine.audit.redact import Redactor
from engine.audit.runlog import RunLogWriter, last_event, read_records, verify
from engine.audit.signing import Signer
from engine.errors import RunLogError
from engine.playbook.loader import load_playbook
from engine.run.approval import Approve, Decision
from engine.run.executor import execute
from engine.run.replay import replay_from
from engine.run.runlock import RunLock
from engine.run.state import Auth0Factory, Event, Run, RunResult, operator_name, tenant_label
from engine.secrets import Secret
from engine.timeutil import parse_time

if TYPE_CHECKING:
    import httpx


def _playbook_path(meta: Mapping[str, Any], log_path: Path) -> Path:
    recorded = Path(str(meta.get("path", "")))
    candidates = [recorded]
    if not recorded.is_absolute():
        candidates.append(log_path.parent / recorded)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RunLogError(
        f"cannot resume: the playbook {recorded} is not found (run soar resume from the "
        "directory the run was started in)"
    )


def resume_run(
    run_log: str | Path,
    *,
    registry: ActionRegistry,
    approve: Approve = None,
    auth0_factory: Auth0Factory | None = None,
    protected_users: Sequence[str] | None = None,
    protected_ips: Sequence[str] | None = None,
    secrets: Mapping[str, str | Secret] | None = None,
    transport: httpx.BaseTransport | None = None,
    on_event: Event | None = None,
    redactor: Redactor | None = None,
    resend_unknown: bool = False,
    operator: str | None = None,
    signer: Signer | None = None,
) -> RunResult:
    """Continue the run logged in ``run_log``, appending to it; arguments as ``run_playbook``.

    ``resend_unknown``: send again the writes whose outcome the log does not
    know (the operator checked them by hand); idempotent writes always are.
    ``signer``: a signed log is resumed only with its own key (its signatures
    are checked with it first); an unsigned log stays unsigned.

    Raises ``RunLogError`` when another process is writing the log, the log is
    tampered or unreadable, the run already finished, the playbook changed
    since the run started, or the Auth0 settings now name another tenant or
    client than the run was started with.
    """
    path = Path(run_log)
    if not path.is_file():
        raise RunLogError(f"cannot resume {path}: no such run log")
    who = operator or operator_name()
    with RunLock.acquire(path, who):  # before reading: what it reads is what it continues
        check = verify(path)
        if check.code in (1, 2):
            raise RunLogError(f"cannot resume {path}: {check.message}")
        records = read_records(path)
        started = records[0]
        last = last_event(records)
        run = _prepare(
            path,
            records,
            registry,
            approve=approve,
            auth0_factory=auth0_factory,
            protected_users=protected_users or (),
            protected_ips=protected_ips or (),
            secrets=secrets or {},
            transport=transport,
            on_event=on_event,
            redactor=redactor,
        )
        run.replay.resend_unknown = resend_unknown
        identity = same_tenant(path, started, run)
        run.open(RunLogWriter.reopen(path, run.redactor, signer))
        run.log(
            "run.resumed",
            after_seq=last.get("seq"),
            operator=who,
            host=platform.node(),
            pid=os.getpid(),
            tenant=tenant_label(run.ctx.logs_file),
            **identity,
            approval=approval_kind(approve),
            completed_writes=len(run.replay.done),
            unknown_writes=sorted(run.replay.unknown),
            replayed_steps=sorted(run.replay.outputs),
            resend_unknown=resend_unknown,
            interrupted=last.get("type") != "run.finished",
        )
        return execute(run)


def _prepare(
    path: Path, records: list[dict[str, Any]], registry: ActionRegistry, **options: Any
) -> Run:
    """The run to continue, after checking that it can be: started, unfinished, same playbook.

    ``options``: the remaining keyword arguments of ``Run`` (approve, secrets, ...).
    """
    started = records[0]
    if started.get("type") != "run.started":
        raise RunLogError(f"cannot resume {path}: the first record is not run.started")
    last = last_event(records)
    if last.get("type") == "run.finished" and last.get("status") != "awaiting_approval":
        raise RunLogError(
            f"{path}: the run already finished with status {last.get('status')!r}; "
            "nothing to resume (start a new run instead)"
        )
    meta = started.get("playbook") or {}
    playbook_path = _playbook_path(meta, path)
    digest = hashlib.sha256(playbook_path.read_bytes()).hexdigest()
    if digest != meta.get("sha256"):
        raise RunLogError(
            f"cannot resume: {playbook_path} changed since the run started (sha256 "
            f"{digest[:12]}... is not {str(meta.get('sha256'))[:12]}...); start a new run"
        )
    playbook = load_playbook(playbook_path, registry)
    missing = sorted(set(started.get("secrets") or []) - set(options["secrets"]))
    if missing:
        raise RunLogError(
            f"cannot resume: the run used secrets {', '.join(missing)}; set "
            + ", ".join(f"SOAR_SECRET_{m.upper()}" for m in missing)
        )
    logs_file = Path(started["logs_file"]) if started.get("logs_file") else None
    clock = parse_time(str(started["clock"])) if started.get("clock") else None
    return Run(
        playbook,
        dict(started.get("inputs") or {}),
        registry=registry,
        dry_run=bool(started.get("dry_run")),
        logs_file=logs_file,
        replay=replay_from(records),
        clock=clock,  # a run with its own clock keeps it: since: 24h means what it meant
        **options,
    )


def same_tenant(path: Path, started: Mapping[str, Any], run: Run) -> dict[str, str | None]:
    """The tenant and client the run was started with, or ``RunLogError`` naming both."""
    if "tenant_url" not in started or "client_id" not in started:
        raise RunLogError(
            f"cannot resume {path}: its run.started does not record the tenant and client id "
            "(written by an older soar), so soar cannot make sure a resume writes where the "
            "run was approved; start a new run"
        )
    was = {"tenant_url": started.get("tenant_url"), "client_id": started.get("client_id")}
    now, problem = run.tenant_identity()
    if now != was:
        where = _where(now) if problem is None else f"no tenant ({problem})"
        fix = (
            f"set AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET for {was['tenant_url']}"
            if was["tenant_url"]
            else "unset AUTH0_DOMAIN and the AUTH0_* credentials"
        )
        raise RunLogError(
            f"cannot resume {path}: the run was started against {_where(was)}, but the Auth0 "
            f"settings now point to {where}; a resumed run writes only where it was approved: "
            f"{fix}, or start a new run for the other tenant"
        )
    return now


def _where(identity: Mapping[str, str | None]) -> str:
    url, client = identity.get("tenant_url"), identity.get("client_id")
    if url is None:
        return "no tenant (offline, or AUTH0_DOMAIN not set)"
    return f"tenant {url} with client id {client or '(none)'}"


def approval_kind(approve: Approve) -> str:
    """How this resume approves writes: ``--yes``, ``prompt`` (a terminal), ``granted`` or
    ``denied`` (a ``Decision``: its operator is the resume's), or ``none``."""
    if isinstance(approve, Decision):
        return "granted" if approve.granted else "denied"
    if approve is True:
        return "--yes"
    return "prompt" if callable(approve) else "none"
