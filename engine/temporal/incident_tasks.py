"""Activities on the Temporal server: an incident watching its child run; any run asking a lock.

Both are ``async`` activities: they only talk to the Temporal server, through
the worker's own client (``activity.client()``), and run on the worker's event
loop, never on the threads the runs' own activities use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from engine.temporal.incident import WATCH
from engine.temporal.locks import ACQUIRE, LOCK, REQUEST_LOCK, Holder, LockState
from engine.temporal.spec import STATE

POLL_S = 0.25


@activity.defn(name=WATCH)
async def watch_run(run_id: str, answered: str | None) -> dict[str, Any]:
    """The run's ``state`` once it asks a question other than ``answered`` (its deadline) or
    has finished. Heartbeats while it waits: a worker that dies hands the watch on, and a
    worker shutting down (SIGTERM) gives it back at once rather than hold its shutdown."""
    handle = activity.client().get_workflow_handle(run_id)
    while True:
        activity.heartbeat()
        if activity.is_worker_shutdown():  # a watch never ends by itself: another worker's
            raise ApplicationError(f"worker shutting down: the watch of run {run_id} moves on")
        try:
            state: dict[str, Any] = await handle.query(STATE)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            state = {"state": "starting"}  # started as a child: not visible yet
        if state.get("state") == "finished":
            return state
        if state.get("state") == "awaiting_approval" and state.get("deadline") != answered:
            return state
        await asyncio.sleep(POLL_S)


@activity.defn(name=REQUEST_LOCK)
async def request_lock(lock: str, holder: Holder) -> None:
    """Join ``lock``'s queue (signal-with-start: the lock workflow starts if it is not open)."""
    await activity.client().start_workflow(
        LOCK,
        LockState(),
        id=lock,
        task_queue=activity.info().task_queue,
        start_signal=ACQUIRE,
        start_signal_args=[holder],
    )


ACTIVITIES: list[Callable[..., Any]] = [watch_run, request_lock]
