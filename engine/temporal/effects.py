"""The effects of a Temporal run, one activity each, on the worker that is given it.

The workflow (``engine.temporal.workflow``) decides; these act. Each one
works on the run's ``Session``: the local engine's ``Run`` (its template
context, its clients, its event store) rebuilt on this worker from the run
folder when this worker has not seen the run yet, so any activity may run on
any worker: the steps' outputs are files (``<run_id>.steps/<step>.json``,
event sets as JSON lines beside them), never payloads.

Cancellation never interrupts an effect (``no_thread_cancel_exception``):
Temporal would cancel one running on a thread by raising ``CancelledError``
in it wherever it is (a worker that loses a run's workflow task evicts the
run and cancels its local activities), which left a run log's lock taken and
never given back, logged a cancelled step as failed, and turned a tenant
check into "the settings now point to no tenant". A cancelled effect runs to
its end instead, bounded by its own timeout; what it appended or kept is what
its retry finds (idempotent by sequence number, by idempotency key).

Records: an activity stages what it logs (the local engine's own functions,
``engine.run.step``, write them to a ``Staged`` sink), then appends them
under the log's lock at the sequence number the workflow gave it. An attempt
that finds records already there from that number on (an earlier attempt
appended, then its worker died before answering) appends only what is
missing: a retried append never duplicates a record, and the workflow, which
runs its activities one after another, is the log's one writer.

A send (``send``) carries the write's idempotency key, ``<run id>/<step>:<index>``:
it leaves a marker under that key (``<run_id>.sends/``, fsynced) before the
request goes out and the result beside it after. A retried or redelivered
send that finds the result returns it, sending nothing; one that finds only
the marker was cut off with its outcome unknown: it is sent again only when
the action is idempotent (blocking a user twice changes nothing; the action
reads the target's state first) or the operator confirmed it, else it
answers ``unknown`` and the workflow waits for an operator.
"""

from __future__ import annotations

import json
import os
import platform
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity

from engine.audit.records import awaited, read_records
from engine.audit.runlog import RunLogWriter, jsonable
from engine.depth import loads, walk
from engine.errors import RunLogError
from engine.expr.budget import end_step_limit, step_limit
from engine.logs.eventset import BATCH, EventSet
from engine.playbook.inputs import check_inputs
from engine.playbook.loader import load_playbook
from engine.playbook.model import Playbook, Step
from engine.run.approval import Decision
from engine.run.executor import finish, log_started, render_outputs
from engine.run.guardrails import resolve_targets, targets_of
from engine.run.outcomes import describe, retry_wait, run_action
from engine.run.replay import replay_from
from engine.run.resume import approval_kind, same_tenant
from engine.run.runlock import RunLock
from engine.run.state import Run
from engine.run.step import (
    Prepared,
    call_where,
    conclude,
    failed,
    log_call,
    log_failed,
    log_result,
    planned_call,
    prepare,
)
from engine.secrets import Secret
from engine.temporal.settings import WorkerSettings, beating
from engine.temporal.spec import (
    APPEND,
    CALL,
    FINISH,
    FINISH_STEP,
    INLINE_OUTPUTS,
    INPUTS,
    LOG_CALL,
    LOG_FAILED,
    LOG_RESULT,
    PLAN,
    PREPARE,
    RESUMED,
    SEND,
    START,
    CallResult,
    Opened,
    RunSpec,
    Segment,
    StepInfo,
    StepPlan,
    outputs_path,
    target_data,
)
from engine.timeutil import iso_ms, parse_time

SESSIONS = 32  # runs a worker keeps open; past it the least recently used idle one is closed
IDLE_S = 60.0  # a session unused this long may be closed (rebuilt from the folder if needed)
STALE_S = 1800.0  # one unused this long is closed whatever the count (its run went elsewhere)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}\.jsonl")
_MARK = "\x00"  # a value's marker in a state file; a string of data that starts with it is escaped


class Staged:
    """A run's records as an activity writes them: kept, to be appended at their sequence number."""

    def __init__(self, path: Path, run_id: str, seq: int) -> None:
        self.path = path
        self.run_id = run_id
        self.seq = seq
        self.prev = ""
        self.records: list[tuple[str, dict[str, Any]]] = []

    def write(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.records.append((type_, fields))
        self.seq += 1
        return {**fields, "type": type_}

    def sync(self) -> None:
        return None  # the append fsyncs

    def close(self) -> None:
        return None


@dataclass
class Session:
    """One run as this worker holds it: the local engine's ``Run`` and the steps' plans."""

    spec: RunSpec
    run: Run
    prepared: dict[str, Prepared] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    used: float = field(default_factory=time.monotonic)
    results: dict[tuple[str, int], Any] = field(default_factory=dict)  # (step, index) -> result

    @property
    def path(self) -> Path:
        return Path(self.run.writer.path)

    def step(self, step_id: str) -> Step:
        for step in self.run.playbook.steps:
            if step.id == step_id:
                return step
        raise RunLogError(f"run {self.spec.run_id}: its playbook has no step {step_id!r}")


class Effects:
    """The activities of one worker (its methods, each named by ``engine.temporal.spec``):
    its settings and the sessions of the runs it serves."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.lock = threading.Lock()

    # -- the activities ------------------------------------------------------------------

    @activity.defn(name=START, no_thread_cancel_exception=True)
    def start(self, spec: RunSpec, clock: str) -> Opened:
        """Log ``run.started`` (once: a retried start finds it) and say what the run is."""
        session = self._session(spec, clock)
        run = session.run
        if not _started(session.path):
            staged = self._staged(session, 0)
            log_started(run, spec.operator, self.settings.signer)
            seq = self._append(session, staged, 0)
        else:  # tried again (its answer lost): its one record is there, the log may be longer
            seq = 1
        steps = [
            StepInfo(
                step.id,
                step.uses,
                step.max_targets,
                step.continue_on_error,
                step.max_parallel,
                step.timeout,
                bool(getattr(run.registry.get(step.uses), "idempotent", False)),
            )
            for step in run.playbook.steps
        ]
        return Opened(
            seq,
            run.tenant,
            steps,
            list(run.guardrails.shown),
            list(run.guardrails.shown_ips),
            run.plan_writes,
        )

    @activity.defn(name=PREPARE, no_thread_cancel_exception=True)
    def prepare(self, spec: RunSpec, step_id: str, seq: int) -> StepPlan:
        """The step up to its gates: skipped or failed (logged, final), or its calls and the
        resolved targets of its writes, which the workflow's guardrails check."""
        session = self._session(spec)
        step = session.step(step_id)
        staged = self._staged(session, seq)
        start = time.monotonic()
        limit = step_limit(f"step {step.id!r}", step.timeout)
        targets: list[dict[str, Any]] = []
        try:
            ready = prepare(session.run, step, start)
            if isinstance(ready, Prepared):
                session.prepared[step.id] = ready
                if ready.write:
                    resolved = resolve_targets(ready.action, session.run.ctx, ready.calls)
                    targets = [target_data(t) for t in resolved]
        except Exception as exc:  # the step boundary, as run_step's
            ready = failed(session.run, step, exc, start)
        finally:
            end_step_limit(limit)
        if not isinstance(ready, Prepared):
            self._save_step(session, step, ready.status, None)
            error = getattr(ready, "error", None)
            return StepPlan(self._append(session, staged, seq), ready.status, error=error)
        return StepPlan(
            self._append(session, staged, seq),
            "ready",
            len(ready.calls),
            ready.write,
            list(ready.keys),
            targets,
        )

    @activity.defn(name=APPEND, no_thread_cancel_exception=True)
    def append(self, spec: RunSpec, seq: int, records: list[dict[str, Any]]) -> int:
        """Records the workflow made (its gates' and approvals'), each ``{"type", "fields"}``."""
        session = self._session(spec)
        staged = self._staged(session, seq)
        for rec in records:
            session.run.log(str(rec["type"]), **dict(rec.get("fields") or {}))
        return self._append(session, staged, seq)

    @activity.defn(name=INPUTS, no_thread_cancel_exception=True)
    def inputs(self, spec: RunSpec, step_id: str, seq: int) -> int:
        """``step.inputs`` of a live write step: its calls and the reads they come from."""
        session, step, ready, staged = self._on(spec, step_id, seq)
        targets = targets_of(ready.action, ready.calls)
        session.run.continuation.record(
            step, ready.action.name, ready.calls, ready.keys, targets, session.run.steps
        )
        return self._append(session, staged, seq)

    @activity.defn(name=CALL, no_thread_cancel_exception=True)
    def call(self, spec: RunSpec, step_id: str, index: int, attempt: int) -> CallResult:
        """One read call, once: its result kept in the run folder; a failure said, with the
        step's retry policy's wait (the workflow waits it and tries again)."""
        session = self._session(spec)
        step = session.step(step_id)
        ready = self._prepared(session, step)
        with beating(activity.heartbeat):  # a queued activity: its worker's death is seen
            try:
                result = run_action(ready.action, session.run.ctx, ready.calls[index], plan=False)
            except Exception as exc:
                return _failure(session, step, attempt, exc)
        self._keep(session, step.id, index, result)
        return CallResult(True)

    @activity.defn(name=PLAN, no_thread_cancel_exception=True)
    def plan(self, spec: RunSpec, step_id: str, index: int, seq: int) -> int:
        """One write of a dry or offline run, planned (``action.planned``); nothing sent."""
        session, step, ready, staged = self._on(spec, step_id, seq)
        args, key = ready.calls[index], ready.keys[index]
        result = planned_call(session.run, step, ready.action, args, index, key)
        self._keep(session, step.id, index, result)
        return self._append(session, staged, seq)

    @activity.defn(name=LOG_CALL, no_thread_cancel_exception=True)
    def log_call(self, spec: RunSpec, step_id: str, index: int, seq: int) -> int:
        """``action.call`` of one write, fsynced: the first of its three activities."""
        session, step, ready, staged = self._on(spec, step_id, seq)
        where = call_where(step, ready.action, index, ready.keys[index])
        log_call(session.run, where, ready.action, ready.calls[index])
        return self._append(session, staged, seq)

    @activity.defn(name=SEND, no_thread_cancel_exception=True)
    def send(
        self, spec: RunSpec, step_id: str, index: int, attempt: int, resend: bool
    ) -> CallResult:
        """One write sent, recognised by its idempotency key when tried again (module docstring).

        ``resend``: the operator confirmed a write of unknown outcome may be sent again.
        """
        session = self._session(spec)
        step = session.step(step_id)
        ready = self._prepared(session, step)
        done = _call_file(session, step.id, index)
        if done.is_file():  # sent and answered; only the answer to the workflow was lost
            return CallResult(True)
        mark = _send_mark(session, ready.keys[index])
        earlier = _read_mark(mark)
        if earlier is not None and not (ready.action.idempotent or resend):
            return CallResult(False, unknown=True, redelivered=earlier)
        _write_mark(mark, f"{spec.run_id}/{ready.keys[index]}", activity.info().attempt)
        with beating(activity.heartbeat):
            try:
                result = run_action(ready.action, session.run.ctx, ready.calls[index], plan=False)
            except Exception as exc:  # it said it failed: trying again is a fresh attempt
                mark.unlink(missing_ok=True)
                return _failure(session, step, attempt, exc)
        self._keep(session, step.id, index, result)
        return CallResult(True, redelivered=earlier)

    @activity.defn(name=LOG_RESULT, no_thread_cancel_exception=True)
    def log_result(
        self, spec: RunSpec, step_id: str, index: int, seq: int, redelivered: dict[str, Any] | None
    ) -> int:
        """``action.result`` of one write (its full result, from the run folder), fsynced."""
        session, step, ready, staged = self._on(spec, step_id, seq)
        result = self._result(session, step.id, index)
        where = call_where(step, ready.action, index, ready.keys[index])
        extra = {"redelivered": redelivered} if redelivered else {}
        log_result(session.run, where, result, **extra)
        return self._append(session, staged, seq)

    @activity.defn(name=LOG_FAILED, no_thread_cancel_exception=True)
    def log_failed(self, spec: RunSpec, step_id: str, index: int, seq: int, error: str) -> int:
        """``action.failed`` of one write (its one line, redacted), fsynced."""
        session, step, ready, staged = self._on(spec, step_id, seq)
        log_failed(session.run, call_where(step, ready.action, index, ready.keys[index]), error)
        return self._append(session, staged, seq)

    @activity.defn(name=FINISH_STEP, no_thread_cancel_exception=True)
    def finish_step(
        self,
        spec: RunSpec,
        step_id: str,
        seq: int,
        duration_s: float,
        refused: dict[str, str],
        error: str | None,
    ) -> StepPlan:
        """The step's outcome from its calls' results (``refused``: index -> why), logged."""
        session = self._session(spec)
        step = session.step(step_id)
        staged = self._staged(session, seq)
        start = time.monotonic() - duration_s
        outcome: Any
        try:
            if error is not None:
                raise _Said(error)
            ready = self._prepared(session, step)
            gates = {int(i): why for i, why in refused.items()}
            results = self._results(session, step.id, len(ready.calls), gates)
            outcome = conclude(session.run, step, ready, results, gates, start)
        except Exception as exc:
            outcome = failed(session.run, step, str(exc) if isinstance(exc, _Said) else exc, start)
            self._save_step(session, step, outcome.status, None)
        else:
            shape = {"calls": len(ready.calls), "each": ready.each is not None, "refused": refused}
            self._save_step(session, step, outcome.status, outcome.output, shape)
        return StepPlan(
            self._append(session, staged, seq),
            outcome.status,
            error=outcome.error if outcome.status == "failed" else None,
        )

    @activity.defn(name=RESUMED, no_thread_cancel_exception=True)
    def resumed(self, spec: RunSpec, seq: int, decision: Decision, resend: bool) -> int:
        """``run.resumed``: the run goes on after its stop, with the operator's decision."""
        session = self._session(spec)
        records = read_records(session.path)
        replay = replay_from(records)
        staged = self._staged(session, seq)
        identity, _ = session.run.tenant_identity()
        session.run.log(
            "run.resumed",
            after_seq=records[-1].get("seq"),
            operator=decision.operator,
            host=platform.node(),
            pid=os.getpid(),
            tenant=session.run.tenant,
            **identity,
            approval=approval_kind(decision),
            completed_writes=len(replay.done),
            unknown_writes=sorted(replay.unknown),
            replayed_steps=[],
            resend_unknown=resend,
            interrupted=False,
        )
        return self._append(session, staged, seq)

    @activity.defn(name=FINISH, no_thread_cancel_exception=True)
    def finish(self, spec: RunSpec, seq: int, status: str, error: str | None) -> Segment:
        """``run.finished`` (outputs rendered unless it stops for approval), signed; how it ended."""
        session = self._session(spec)
        run = session.run
        staged = self._staged(session, seq)
        outputs: dict[str, Any] = {}
        if status != "awaiting_approval":
            outputs, out_error = render_outputs(run)
            if out_error and status == "succeeded":
                status, error = "failed", out_error
        with self.lock:
            self.sessions.pop(spec.run_id, None)
        finish(run, status, outputs, error)  # which closes the run's clients and store
        end = self._append(session, staged, seq)
        return _segment(spec, session.path, end, status, error, outputs)

    # -- sessions ------------------------------------------------------------------------

    def _on(self, spec: RunSpec, step_id: str, seq: int) -> tuple[Session, Step, Prepared, Staged]:
        """A prepared step of the run, its records staged from ``seq`` on."""
        session = self._session(spec)
        step = session.step(step_id)
        ready = self._prepared(session, step)
        return session, step, ready, self._staged(session, seq)

    def _session(self, spec: RunSpec, clock: str | None = None) -> Session:
        with self.lock:
            session = self.sessions.get(spec.run_id)
            if session is None:
                session = self._build(spec, clock)
                self.sessions[spec.run_id] = session
            session.used = time.monotonic()
            self.sessions.move_to_end(spec.run_id)
            self._evict()
        with session.lock:
            self._load_steps(session)
        return session

    def _evict(self) -> None:
        """Close the sessions this worker no longer needs, least recently used first; never
        one used in the last ``IDLE_S`` (an activity may hold it). Under ``self.lock``."""
        now = time.monotonic()
        for run_id, session in list(self.sessions.items()):
            idle = now - session.used
            if idle > STALE_S or (len(self.sessions) > SESSIONS and idle > IDLE_S):
                del self.sessions[run_id]
                session.run.close()

    def _build(self, spec: RunSpec, clock: str | None) -> Session:
        """The run as the local engine holds it, from the spec and what its log says."""
        settings = self.settings
        path = settings.run_dir / f"{spec.run_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        playbook = _playbook(spec, settings)
        started = read_records(path)[0] if _started(path) else None
        if started is not None:
            inputs = dict(started.get("inputs") or {})
            clock = str(started["clock"]) if started.get("clock") else clock
        else:
            inputs = check_inputs(playbook.inputs, spec.inputs)
        worker = f"{platform.node()}-{os.getpid()}-{time.monotonic_ns()}"
        run = Run(
            playbook,
            inputs,
            registry=settings.registry,
            dry_run=spec.dry_run,
            approve=None,
            logs_file=Path(spec.logs_file) if spec.logs_file else None,
            auth0_factory=settings.auth0_factory,
            protected_users=[*settings.protected_users, *spec.protected_users],
            protected_ips=[*settings.protected_ips, *spec.protected_ips],
            secrets=settings.secrets,
            transport=None,
            on_event=None,
            redactor=settings.redactor(),
            cache=spec.cache,
            clock=parse_time(clock) if clock else None,
            events_dir=settings.run_dir / f"{spec.run_id}.events" / worker,
        )
        run.open(Staged(path, spec.run_id, 0))
        if started is not None:  # a worker holding another tenant's settings never writes here
            same_tenant(path, started, run)
        return Session(spec, run)

    def _load_steps(self, session: Session) -> None:
        """The outputs of the steps that finished since this worker last looked, in order."""
        run = session.run
        for step in run.playbook.steps:
            if step.id in run.steps:
                continue
            state = _step_file(session, step.id)
            if not state.is_file():
                return
            doc = loads(state.read_text(encoding="utf-8"))
            if doc.get("write"):
                run.continuation.writes.add(step.id)
            output = None
            if isinstance(doc.get("calls"), int):  # its calls' results, as conclude made them
                gates = {int(i): str(why) for i, why in (doc.get("refused") or {}).items()}
                results = self._results(session, step.id, doc["calls"], gates)
                output = results if doc.get("each") else results[0]
            run.steps[step.id] = {"output": output, "status": doc.get("status")}

    def _prepared(self, session: Session, step: Step) -> Prepared:
        """The step's calls, rendered by this worker if another prepared it (the same, by
        the same templates over the same outputs)."""
        with session.lock:
            ready = session.prepared.get(step.id)
            if ready is None:
                staged = Staged(session.path, session.spec.run_id, 0)
                writer, session.run.writer = session.run.writer, staged
                try:
                    found = prepare(session.run, step, time.monotonic())
                finally:
                    session.run.writer = writer
                if not isinstance(found, Prepared):
                    raise RunLogError(f"step {step.id!r} no longer renders its calls")
                ready = session.prepared[step.id] = found
            return ready

    # -- the log and the run folder ------------------------------------------------------

    def _staged(self, session: Session, seq: int) -> Staged:
        staged = Staged(session.path, session.spec.run_id, seq)
        session.run.writer = staged
        return staged

    def _append(self, session: Session, staged: Staged, seq: int) -> int:
        """Append ``staged``'s records from ``seq`` on, those not there yet; the sequence number
        after them, which is the workflow's next (never the log's length: an activity run again
        after its worker lost the workflow task's record of it finds the log longer, written by
        the activities after it, which run again too, each at its own number)."""
        path, run = session.path, session.run
        # the effects of one run (its parallel reads' appends, a send's record) may ask for
        # the lock at the same moment, each holding it only to append: wait for it
        with RunLock.acquire(path, session.spec.operator, wait=LOCK_WAIT_S):
            if _started(path):
                writer = RunLogWriter.reopen(path, run.redactor, self.settings.signer)
            else:
                writer = RunLogWriter(
                    path, session.spec.run_id, run.redactor, signer=self.settings.signer
                )
            signed = writer.signer is not None  # a run.finished then goes with its run.signed
            try:
                have = writer.seq - seq
                if have < 0:
                    raise RunLogError(
                        f"{path}: the run log has {writer.seq} records, the workflow expects "
                        f"{seq}: it is not this run's log, or records were removed"
                    )
                for type_, fields in staged.records[have:]:
                    writer.write(type_, **fields)
                writer.sync()
            finally:
                writer.signer = None  # a signature goes with run.finished, never per append
                writer.close()
            return seq + sum(
                2 if signed and type_ == "run.finished" else 1 for type_, _ in staged.records
            )

    def _save_step(
        self,
        session: Session,
        step: Step,
        status: str,
        output: Any,
        shape: dict[str, Any] | None = None,
    ) -> None:
        """A finished step in the run folder: its status, and how its output is made of its
        calls' results (``shape``: their count, ``for_each`` or not, the refused ones)."""
        run = session.run
        run.steps[step.id] = {"output": output, "status": status}
        doc = {"status": status, "write": step.id in run.continuation.writes, **(shape or {})}
        _write_atomic(_step_file(session, step.id), json.dumps(doc, ensure_ascii=False))

    def _keep(self, session: Session, step_id: str, index: int, result: Any) -> None:
        """A call's result: in the run folder (for any worker), and in this session."""
        self._save(session, _call_file(session, step_id, index), result)
        session.results[(step_id, index)] = result

    def _result(self, session: Session, step_id: str, index: int) -> Any:
        """A call's result: this session's, or the run folder's (another worker's call)."""
        if (step_id, index) not in session.results:
            found = self._load(session, _call_file(session, step_id, index))
            session.results[(step_id, index)] = found
        return session.results[(step_id, index)]

    def _results(
        self, session: Session, step_id: str, count: int, refused: dict[int, str]
    ) -> list[Any]:
        """A step's calls' results in call order; a refused call's says why (never sent)."""
        return [
            {"refused": True, "reason": refused[i]}
            if i in refused
            else self._result(session, step_id, i)
            for i in range(count)
        ]

    def _save(self, session: Session, target: Path, value: Any) -> None:
        """``value`` as a file of the run folder: event sets as JSON lines beside it."""
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = _steps_dir(session)
        stem = ".".join(target.relative_to(folder).with_suffix("").parts)
        sets = 0

        def leaf(item: Any) -> Any:
            nonlocal sets
            if isinstance(item, EventSet):
                sets += 1
                name = f"{stem}.{sets}.jsonl"  # in the steps folder, whatever file refers to it
                _write_lines(folder / name, iter(item))
                return f"{_MARK}events:{name}"
            if isinstance(item, Secret):
                return f"{_MARK}secret:{item.name}"
            if isinstance(item, str) and item.startswith(_MARK):
                return _MARK + item
            return item

        text = json.dumps({"output": jsonable(walk(value, leaf))}, ensure_ascii=False)
        _write_atomic(target, text)

    def _load(self, session: Session, source: Path) -> Any:
        if not source.is_file():
            raise RunLogError(f"{source}: a call's result is missing from the run folder")
        return self._decode(session, loads(source.read_text(encoding="utf-8")).get("output"))

    def _decode(self, session: Session, value: Any) -> Any:
        run = session.run
        folder = _steps_dir(session)

        def leaf(item: Any) -> Any:
            if not isinstance(item, str) or not item.startswith(_MARK):
                return item
            body = item[1:]
            if body.startswith(_MARK):
                return body
            kind, _, name = body.partition(":")
            if kind == "secret" and name in run.secrets:
                return run.secrets[name]
            if kind == "events" and _NAME.fullmatch(name):
                return _read_set(run, folder / name)
            raise RunLogError(f"{folder}: a step's output refers to {kind} {name[:80]!r}")

        return walk(value, leaf)


class _Said(Exception):
    """A failure already said in one line (by the workflow or another activity)."""


def _failure(session: Session, step: Step, attempt: int, exc: Exception) -> CallResult:
    wait = retry_wait(step.retry, attempt, exc)
    return CallResult(False, session.run.redactor.text(describe(exc)), wait)


def _playbook(spec: RunSpec, settings: WorkerSettings) -> Playbook:
    playbook = load_playbook(Path(spec.playbook), settings.registry)
    if playbook.sha256 != spec.sha256:
        raise RunLogError(
            f"{spec.playbook} is not the playbook submitted (its sha256 is "
            f"{playbook.sha256[:12]}..., the run's {spec.sha256[:12]}...): every "
            "worker must read the same file"
        )
    return playbook


def _started(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _steps_dir(session: Session) -> Path:
    """``<run_id>.steps/``: each finished step's output, each call's result, their event sets."""
    return session.path.with_name(f"{session.spec.run_id}.steps")


def _step_file(session: Session, step_id: str) -> Path:
    return _steps_dir(session) / f"{step_id}.json"


def _call_file(session: Session, step_id: str, index: int) -> Path:
    return _steps_dir(session) / step_id / f"{index}.json"


def _send_mark(session: Session, key: str) -> Path:
    return session.path.with_name(f"{session.spec.run_id}.sends") / f"{key.replace(':', '.')}.json"


def _write_mark(mark: Path, key: str, attempt: int) -> None:
    """The send's mark: its idempotency key and which delivery of the activity sends it."""
    mark.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "idempotency_key": key,
        "attempt": attempt,
        "host": platform.node(),
        "pid": os.getpid(),
        "at": iso_ms(datetime.now(UTC)),
    }
    _write_atomic(mark, json.dumps(doc))


def _read_mark(mark: Path) -> dict[str, Any] | None:
    try:
        doc = loads(mark.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


LOCK_WAIT_S = 30.0  # an append holds the run log's lock for milliseconds


def _write_atomic(target: Path, text: str) -> None:
    """``text`` as ``target``, whole or not at all, on disk (fsynced) before this returns
    (its folder made if it is the first: a step whose every call was refused has none yet)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _write_lines(target: Path, events: Iterator[dict[str, Any]]) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for event in events:
            f.write(json.dumps(jsonable(event), ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _read_set(run: Run, source: Path) -> EventSet:
    """An event set from its JSON lines, into this worker's store of the run, in its order."""
    sink = run.event_store().pages()
    batch: list[dict[str, Any]] = []
    with source.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                batch.append(loads(line))
            if len(batch) >= BATCH:
                sink.add(batch, None)
                batch = []
    if batch:
        sink.add(batch, None)
    return sink.events()


def _segment(
    spec: RunSpec, path: Path, end: int, status: str, error: str | None, outputs: dict[str, Any]
) -> Segment:
    """How the run ended (its log's first ``end`` records), as a payload: outputs inline while
    small, else in a file."""
    records = read_records(path)[:end]
    value = jsonable(outputs)
    text = json.dumps(value, ensure_ascii=False)
    outputs_file = None
    if len(text) > INLINE_OUTPUTS:
        out = outputs_path(path)
        _write_atomic(out, text)
        value, outputs_file = None, str(out)
    return Segment(
        run_id=spec.run_id,
        status=status,
        dry_run=spec.dry_run,
        run_log=str(path),
        final_hash=str(records[-1].get("hash")),
        error=error,
        outputs=value,
        outputs_file=outputs_file,
        awaiting=awaited(records) if status == "awaiting_approval" else None,
        records=end,
    )
