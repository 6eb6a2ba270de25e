"""``soar resume``: continue a run from its log without repeating a completed write."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import RunLogError
from engine.executor import ApprovalRequest, Auth0Factory, Replay, RunResult, _Run
from engine.loader import load_playbook
from engine.redact import Redactor
from engine.registry import ActionRegistry
from engine.runlog import RunLogWriter, read_records, verify

if TYPE_CHECKING:
    import httpx


def replay_from(records: list[dict[str, Any]]) -> Replay:
    """Completed writes (full results) and writes whose outcome the log does not know."""
    replay = Replay()
    called: set[tuple[str, int]] = set()
    for rec in records:
        kind = rec.get("type")
        key = (str(rec.get("step")), int(rec.get("index", 0)))
        if kind == "action.call":
            called.add(key)
        elif kind == "action.result":
            replay.done[key] = rec.get("result")
        elif kind == "action.failed":
            called.discard(key)
        elif kind == "approval.granted":
            replay.approved.add(str(rec.get("step")))
    replay.unknown = called - set(replay.done)
    return replay


def resume_run(
    run_log: str | Path,
    *,
    registry: ActionRegistry,
    approve: bool | Callable[[ApprovalRequest], bool] | None = None,
    auth0_factory: Auth0Factory | None = None,
    protected_users: Sequence[str] = (),
    secrets: Mapping[str, str] | None = None,
    redact: Sequence[str] = (),
    transport: httpx.BaseTransport | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    redactor: Redactor | None = None,
) -> RunResult:
    """Continue an interrupted or approval-stopped run, appending to the same log.

    Read steps run again (their logged outputs are summaries); writes whose
    results were logged are reused, never re-sent. A write that was sent but
    whose result was not logged is re-sent only when its action is idempotent.
    """
    path = Path(run_log)
    check = verify(path)
    if check.code in (1, 2):
        raise RunLogError(f"cannot resume {path}: {check.message}")
    records = read_records(path)
    started = records[0]
    if started.get("type") != "run.started":
        raise RunLogError(f"cannot resume {path}: the first record is not run.started")
    last = records[-1]
    if last.get("type") == "run.finished" and last.get("status") != "awaiting_approval":
        raise RunLogError(f"{path}: the run already finished with status {last.get('status')!r}")
    meta = started["playbook"]
    playbook_path = Path(meta["path"])
    try:
        digest = hashlib.sha256(playbook_path.read_bytes()).hexdigest()
    except OSError as exc:
        raise RunLogError(f"cannot resume: playbook {playbook_path} unreadable: {exc}") from None
    if digest != meta["sha256"]:
        raise RunLogError(
            f"cannot resume: {playbook_path} changed since the run started "
            f"(sha256 {digest[:12]}... is not {meta['sha256'][:12]}...)"
        )
    playbook = load_playbook(playbook_path, registry)
    logs_file = Path(started["logs_file"]) if started.get("logs_file") else None
    run = _Run(
        playbook,
        dict(started.get("inputs") or {}),
        registry=registry,
        dry_run=bool(started.get("dry_run")),
        approve=approve,
        logs_file=logs_file,
        auth0_factory=auth0_factory,
        protected_users=protected_users,
        secrets=secrets or {},
        redact=redact,
        transport=transport,
        on_event=on_event,
        replay=replay_from(records),
        redactor=redactor,
    )
    run.writer = RunLogWriter.resume(path, run.redactor)
    run.log(
        "run.resumed",
        after_seq=last.get("seq"),
        completed_writes=len(run.replay.done),
        unknown_writes=sorted(f"{s}[{i}]" for s, i in run.replay.unknown),
    )
    return run.execute()
