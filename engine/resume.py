"""``soar resume``: continue a stopped run in its own log, never repeating a completed write.

A run stops early when it is killed (the log has no ``run.finished``) or when
it waits for approval (``run.finished`` with status ``awaiting_approval``).
Resuming appends ``run.resumed`` to the same log and runs the playbook again
from the top with the recorded inputs:

- read steps run again (their logged outputs are bounded summaries);
- a write whose ``action.result`` is logged is not sent again: its recorded
  result is reused (``action.reused``). Writes are matched by step and
  arguments (``call_key``), not by position, so a re-run read step that finds
  the targets in another order still matches;
- a write with an ``action.call`` but no result was in flight when the run
  stopped: whether it took effect is unknown. It is sent again only when its
  action is ``idempotent`` (blocking a user twice changes nothing) or the
  operator, having checked the target by hand, passes ``resend_unknown``
  (``--resend-unknown``); otherwise the run stops before that step with
  status ``awaiting_approval`` and says so (``approval.required`` with
  ``reason: "unknown_outcome"``), so that it can be resumed once checked;
- approvals already granted cover the same targets; new targets are asked for.

The playbook file must be unchanged (same sha256) since the run started.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.approval import Approve
from engine.errors import RunLogError
from engine.executor import Auth0Factory, Event, Replay, RunResult, _Run
from engine.loader import load_playbook
from engine.redact import Redactor
from engine.registry import ActionRegistry
from engine.runlog import RunLogWriter, last_event, read_records, verify
from engine.secrets import Secret
from engine.signing import Signer

if TYPE_CHECKING:
    import httpx


def replay_from(records: list[dict[str, Any]]) -> Replay:
    """Completed writes (full results), writes of unknown outcome, and approvals given."""
    replay = Replay()
    called: set[str] = set()
    for rec in records:
        kind = rec.get("type")
        key = rec.get("call")
        if kind == "action.call" and isinstance(key, str):
            called.add(key)
        elif kind == "action.result" and isinstance(key, str):
            replay.done[key] = rec.get("result")
        elif kind == "action.failed" and isinstance(key, str):
            called.discard(key)  # it failed: sending it again is a fresh attempt
        elif kind == "approval.granted":
            targets = rec.get("targets") or []
            replay.approved.setdefault(str(rec.get("step")), set()).update(map(str, targets))
    replay.unknown = called - set(replay.done)
    return replay


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
    secrets: Mapping[str, str | Secret] | None = None,
    transport: httpx.BaseTransport | None = None,
    on_event: Event | None = None,
    redactor: Redactor | None = None,
    resend_unknown: bool = False,
    signer: Signer | None = None,
) -> RunResult:
    """Continue the run logged in ``run_log``, appending to it; arguments as ``run_playbook``.

    ``resend_unknown``: send again the writes whose outcome the log does not
    know (the operator checked them by hand); idempotent writes always are.
    ``signer``: a signed log is resumed only with its own key (its signatures
    are checked with it first); an unsigned log stays unsigned.

    Raises ``RunLogError`` when the log is tampered or unreadable, the run
    already finished, or the playbook changed since the run started.
    """
    path = Path(run_log)
    check = verify(path)
    if check.code in (1, 2):
        raise RunLogError(f"cannot resume {path}: {check.message}")
    records = read_records(path)
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
    missing = sorted(set(started.get("secrets") or []) - set(secrets or {}))
    if missing:
        raise RunLogError(
            f"cannot resume: the run used secrets {', '.join(missing)}; set "
            + ", ".join(f"SOAR_SECRET_{m.upper()}" for m in missing)
        )
    logs_file = Path(started["logs_file"]) if started.get("logs_file") else None
    run = _Run(
        playbook,
        dict(started.get("inputs") or {}),
        registry=registry,
        dry_run=bool(started.get("dry_run")),
        approve=approve,
        logs_file=logs_file,
        auth0_factory=auth0_factory,
        protected_users=protected_users or (),
        secrets=secrets or {},
        transport=transport,
        on_event=on_event,
        redactor=redactor,
        replay=replay_from(records),
    )
    run.replay.resend_unknown = resend_unknown
    run.open(RunLogWriter.reopen(path, run.redactor, signer))
    run.log(
        "run.resumed",
        after_seq=last.get("seq"),
        completed_writes=len(run.replay.done),
        unknown_writes=sorted(run.replay.unknown),
        resend_unknown=resend_unknown,
        interrupted=last.get("type") != "run.finished",
    )
    return run.execute()
