"""One part of a Temporal run: the local engine, run or resumed on the run's own log.

The workflow (``engine.temporal.workflow``) runs a playbook as a sequence of
segments, each one activity: the first starts the run (``run_playbook`` with
the workflow's id as run id); each later one, after an approval decision or
after the worker running the previous attempt died, continues it in the same
log (``resume_run``). The log is the run's state: a segment takes its lock
(one writer), and a retried segment reads what the killed one wrote. That is
how no write is repeated (the local engine's rule, ``engine.run.resume``):
each write is logged as ``action.call`` (fsynced) before it is sent and as
``action.result`` after, under its idempotency key, the run id and the call
key ``<step>:<index>``; a write with a result is never sent again, one cut off
between the two is sent again only when its action is idempotent (and then it
reads the target's state first, so nothing already done is sent), otherwise
the run stops for an operator (``reason: unknown_outcome``).

Nothing here imports Temporal: ``heartbeat`` is the activity's, given by the
worker. A segment that finds its run already finished returns how it ended,
so a segment retried after it completed changes nothing.
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.audit.records import awaited, last_event, read_records
from engine.audit.runlog import jsonable
from engine.errors import RunLogError
from engine.playbook.loader import load_playbook
from engine.run.approval import Approve, Decision
from engine.run.executor import run_playbook
from engine.run.resume import resume_run
from engine.temporal.spec import INLINE_OUTPUTS, RunSpec, Segment, outputs_path
from engine.timeutil import parse_time

if TYPE_CHECKING:
    from engine.actions.registry import ActionRegistry
    from engine.audit.redact import Redactor
    from engine.audit.signing import Signer
    from engine.run.state import Auth0Factory, RunResult
    from engine.secrets import Secret

Heartbeat = Callable[..., None]


@dataclass
class WorkerSettings:
    """What a worker runs every segment with: its environment's, never a payload's.

    Secrets (``SOAR_SECRET_*``, ``AUTH0_*``), the Auth0 client and the signing
    key are the worker's; protected users and addresses are the worker's
    added to the submitter's. ``redactor`` builds a fresh one per segment.
    """

    run_dir: Path
    registry: ActionRegistry
    redactor: Callable[[], Redactor]
    secrets: Mapping[str, str | Secret] = field(default_factory=dict)
    protected_users: Sequence[str] = ()
    protected_ips: Sequence[str] = ()
    auth0_factory: Auth0Factory | None = None
    signer: Signer | None = None


def run_segment(
    spec: RunSpec,
    decision: Decision | None,
    clock: str,
    settings: WorkerSettings,
    heartbeat: Heartbeat,
) -> Segment:
    """Start or continue ``spec``'s run in ``<run_dir>/<run_id>.jsonl``; how this part ended.

    ``clock``: the workflow's start time (ISO 8601), the run's clock: relative
    times (``since: 24h``) count from it in every segment (``run.started``
    records it; a resume keeps it), whenever and wherever the segment runs.
    ``decision``: the operator's answer the run waited for (``None``: none yet;
    the run is approved from the start only with ``spec.yes``). A grant given
    after writes of unknown outcome also confirms that they may be sent again
    (as ``soar resume --resend-unknown --yes``). ``heartbeat`` is called at
    least every second and with each record's sequence number.
    """
    path = settings.run_dir / f"{spec.run_id}.jsonl"
    done = _finished(path)
    if done is not None:
        return done
    beating = _Beat(heartbeat)
    approve: Approve = decision if decision is not None else (True if spec.yes else None)
    common: dict[str, Any] = {
        "registry": settings.registry,
        "approve": approve,
        "auth0_factory": settings.auth0_factory,
        "protected_users": [*settings.protected_users, *spec.protected_users],
        "protected_ips": [*settings.protected_ips, *spec.protected_ips],
        "secrets": settings.secrets,
        "redactor": settings.redactor(),
        "signer": settings.signer,
        "operator": decision.operator if decision is not None else spec.operator,
        "on_event": beating.record,
    }
    try:
        if _started(path):
            resend = _confirms_unknown(read_records(path), decision)
            result = resume_run(path, resend_unknown=resend, **common)
        else:
            playbook = load_playbook(Path(spec.playbook), settings.registry)
            if playbook.sha256 != spec.sha256:
                raise RunLogError(
                    f"{spec.playbook} is not the playbook submitted (its sha256 is "
                    f"{playbook.sha256[:12]}..., the run's {spec.sha256[:12]}...): every "
                    "worker must read the same file"
                )
            result = run_playbook(
                playbook,
                spec.inputs,
                dry_run=spec.dry_run,
                run_dir=settings.run_dir,
                logs_file=Path(spec.logs_file) if spec.logs_file else None,
                cache=spec.cache,
                run_id=spec.run_id,
                clock=parse_time(clock),
                **common,
            )
    finally:
        beating.stop()
    return _segment(result, read_records(result.run_log))


def _confirms_unknown(records: list[dict[str, Any]], decision: Decision | None) -> bool:
    """Whether ``decision`` grants sending again the writes of unknown outcome the run stopped
    for. Only when the run's last act was that stop: writes cut off later (a worker that
    died after the grant) were never shown to the operator, and are asked about anew."""
    last = last_event(records)
    if last.get("type") != "run.finished" or last.get("status") != "awaiting_approval":
        return False
    waiting = awaited(records) or {}
    return waiting.get("reason") == "unknown_outcome" and decision is not None and decision.granted


def _started(path: Path) -> bool:
    """Whether an earlier attempt wrote the run's first record (a resume continues it)."""
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _finished(path: Path) -> Segment | None:
    """How the run ended, when its log says it did (not waiting for approval); else None."""
    if not _started(path):
        return None
    records = read_records(path)
    last = last_event(records)
    if last.get("type") != "run.finished" or last.get("status") == "awaiting_approval":
        return None
    started = records[0]
    out = outputs_path(path)
    return Segment(
        run_id=str(last.get("run_id")),
        status=str(last.get("status")),
        dry_run=bool(started.get("dry_run")),
        run_log=str(path),
        final_hash=str(records[-1].get("hash")),
        error=last.get("error"),
        outputs=None if out.is_file() else last.get("outputs"),
        outputs_file=str(out) if out.is_file() else None,
    )


def _segment(result: RunResult, records: list[dict[str, Any]]) -> Segment:
    """``result`` as a payload: outputs inline while small, else in ``<run_id>.outputs.json``."""
    outputs = jsonable(result.outputs)
    text = json.dumps(outputs, ensure_ascii=False)
    outputs_file = None
    if len(text) > INLINE_OUTPUTS:
        out = outputs_path(result.run_log)
        out.write_text(text, encoding="utf-8")
        outputs, outputs_file = None, str(out)
    waiting = result.status == "awaiting_approval"
    return Segment(
        run_id=result.run_id,
        status=result.status,
        dry_run=result.dry_run,
        run_log=str(result.run_log),
        final_hash=result.final_hash,
        error=result.error,
        outputs=outputs,
        outputs_file=outputs_file,
        awaiting=awaited(records) if waiting else None,
    )


class _Beat:
    """Heartbeats while a segment runs: each second, and with each record's sequence number.

    A worker killed mid-segment stops beating; past the heartbeat timeout the
    server gives the segment to another worker, which continues the log.
    """

    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat
        self.done = threading.Event()
        # in a copy of this context: the activity's heartbeat is found through it
        self.thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._loop,),
            name="soar-heartbeat",
            daemon=True,
        )
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.wait(1.0):
            self.heartbeat()

    def record(self, rec: dict[str, Any]) -> None:
        self.heartbeat(rec.get("seq"))

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
