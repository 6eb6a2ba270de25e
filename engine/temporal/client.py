"""The submitting side: start a run's workflow, follow it to its end or its approval, decide.

``soar run --engine temporal`` starts the workflow (its id is the run id: the
same run cannot start twice) and follows it: it reads the run log as the
workers write it (the shared run folder) and shows each record as the local
engine's progress does, until the workflow finishes or waits for an
approval. ``soar approve`` signals the decision, then follows the same way.
The result is a ``RunResult``, so the CLI reports it exactly as a local run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from engine.audit.records import read_records
from engine.errors import RunLogError, TemporalError, UsageError
from engine.run.approval import Decision
from engine.run.state import RunResult
from engine.temporal.spec import (
    DECIDE,
    STATE,
    RunSpec,
    Segment,
    connect_config,
    failure_cause,
    read_outputs,
)
from engine.temporal.workflow import RunWorkflow

Event = Callable[[dict[str, Any]], None]
POLL_S = 0.2


async def connect_client(address: str, namespace: str) -> Client:
    """A client of the Temporal frontend at ``address``; a ``TemporalError`` saying so if not."""
    try:
        return await Client.connect(**connect_config(address, namespace))
    except Exception as exc:  # the SDK's connection errors have no common public type
        raise TemporalError(
            f"cannot reach the Temporal server at {address} (namespace {namespace!r}): {exc}"
        ) from None


def submit_and_follow(
    spec: RunSpec,
    *,
    address: str,
    namespace: str,
    task_queue: str,
    run_dir: Path,
    on_event: Event | None = None,
) -> RunResult:
    """Start ``spec``'s workflow on ``task_queue`` and follow it (``follow``)."""

    async def go() -> RunResult:
        client = await connect_client(address, namespace)
        # a dead worker's workflow task (and the local activities in it: its reads, its
        # appends) moves to another worker after the heartbeat timeout, not Temporal's 10 s
        handle = await client.start_workflow(
            RunWorkflow.run,
            spec,
            id=spec.run_id,
            task_queue=task_queue,
            task_timeout=timedelta(seconds=max(1.0, spec.heartbeat_s)),
        )
        return await _follow(handle, run_dir, spec.run_id, on_event)

    return asyncio.run(go())


def decide(
    run_id: str,
    decision: Decision,
    *,
    address: str,
    namespace: str,
    run_dir: Path,
    on_event: Event | None = None,
) -> RunResult:
    """Give a waiting run its decision, then follow it to its end or next approval."""

    async def go() -> RunResult:
        client = await connect_client(address, namespace)
        handle = client.get_workflow_handle(run_id, result_type=Segment)
        try:
            state = await handle.query(STATE)
        except RPCError as exc:
            raise TemporalError(f"run {run_id}: {exc.message}") from None
        if state.get("state") != "awaiting_approval":
            raise UsageError(
                f"run {run_id} is not waiting for an approval (it is {state.get('state')}); "
                "nothing was decided"
            )
        await handle.signal(DECIDE, decision)
        answered = state.get("deadline")
        return await _follow(handle, run_dir, run_id, on_event, answered=answered)

    return asyncio.run(go())


async def _follow(
    handle: WorkflowHandle[Any, Segment],
    run_dir: Path,
    run_id: str,
    on_event: Event | None,
    *,
    answered: str | None = None,
) -> RunResult:
    """Show the run log's records as they come; stop when the run ends or waits again.

    ``answered``: the deadline of the wait a decision was just signalled for; that
    wait is not a new one (a new wait has its own deadline). Only records
    written after the call are shown when one is given.
    """
    tail = _Tail(run_dir / f"{run_id}.jsonl", on_event, skip_to_end=answered is not None)
    result = asyncio.ensure_future(handle.result())
    while True:
        done, _ = await asyncio.wait({result}, timeout=POLL_S)
        tail.read()
        if done:
            try:
                segment = result.result()
            except WorkflowFailureError as exc:
                raise TemporalError(
                    f"run {run_id} failed on the workers: {failure_cause(exc)}"
                ) from None
            return _run_result(segment, run_dir)
        state = await handle.query(STATE)
        if state.get("state") == "awaiting_approval" and state.get("deadline") != answered:
            result.cancel()
            tail.read()  # the records of the stop, written before the wait began
            return _waiting(run_id, run_dir, state)


def _run_result(segment: Segment, run_dir: Path) -> RunResult:
    return RunResult(
        run_id=segment.run_id,
        status=segment.status,
        dry_run=segment.dry_run,
        outputs=read_outputs(segment, run_dir),
        run_log=run_dir / Path(segment.run_log).name,
        final_hash=segment.final_hash,
        error=segment.error,
    )


def _waiting(run_id: str, run_dir: Path, state: dict[str, Any]) -> RunResult:
    """A run that waits, durably, for ``soar approve``: reported as the local engine's stop."""
    log = run_dir / f"{run_id}.jsonl"
    try:
        records = read_records(log)
    except (RunLogError, OSError):  # not mounted here: the workers' folder is not this one
        records = []
    awaiting = state.get("awaiting") or {}
    unknown = awaiting.get("reason") == "unknown_outcome"
    why = (
        "writes were cut off in flight and their outcome is unknown; check the targets by "
        "hand, then confirm they may be sent again"
        if unknown
        else "the run waits for an approval of its writes"
    )
    return RunResult(
        run_id=run_id,
        status="awaiting_approval",
        dry_run=False,
        outputs={},
        run_log=log,
        final_hash=str(records[-1].get("hash")) if records else "",
        error=(
            f"{why} (until {state.get('deadline')}, then it is denied): soar approve "
            f"{run_id} --yes, or --deny"
        ),
    )


class _Tail:
    """The complete lines a growing run log has gained since the last ``read``."""

    def __init__(self, path: Path, on_event: Event | None, *, skip_to_end: bool) -> None:
        self.path = path
        self.on_event = on_event
        self.offset = 0
        if skip_to_end and path.is_file():
            self.offset = path.stat().st_size

    def read(self) -> None:
        if self.on_event is None or not self.path.is_file():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a torn last line waits for its end
        self.offset += end
        for line in chunk[:end].splitlines():
            if line.strip():
                self.on_event(json.loads(line))
