"""``soar worker``: poll a task queue, run the workflows of playbook runs and their activities.

Every worker of one task queue must reach the same run folder (shared
storage) and the same playbook files, and hold the settings of the tenant
the queue is for: a queue per tenant (``--task-queue soar-<tenant>``) keeps
one tenant's runs on the workers that hold its credentials, and
``max_per_second`` is Temporal's task-queue rate limit, enforced by the
server across all of that queue's workers (how many activities start per
second); inside an activity each request is paced by the connector's pacer
from the tenant's own ``x-ratelimit-*`` headers, which every worker reads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from engine.temporal.effects import Effects
from engine.temporal.incident import IncidentWorkflow
from engine.temporal.incident_tasks import ACTIVITIES as INCIDENT_ACTIVITIES
from engine.temporal.locks import TargetLock
from engine.temporal.settings import WorkerSettings
from engine.temporal.spec import connect_config
from engine.temporal.workflow import RunWorkflow


def activities(settings: WorkerSettings) -> list[Callable[..., Any]]:
    """The activities of a worker with ``settings`` (they run on the worker's threads)."""
    effects = Effects(settings)
    return [
        effects.start,
        effects.prepare,
        effects.append,
        effects.inputs,
        effects.call,
        effects.plan,
        effects.log_call,
        effects.send,
        effects.log_result,
        effects.log_failed,
        effects.finish_step,
        effects.finish,
        effects.resumed,
    ]


async def connect(address: str, namespace: str) -> Client:
    """A client of the Temporal frontend at ``HOST:PORT``."""
    return await Client.connect(**connect_config(address, namespace))


async def serve(
    address: str,
    settings: WorkerSettings,
    *,
    namespace: str = "default",
    task_queue: str = "soar",
    concurrency: int = 16,
    max_per_second: float | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run a worker until SIGINT or SIGTERM, then finish what it holds (graceful shutdown).

    ``concurrency``: activities run at once (each on a thread: the engine is
    synchronous); workflow tasks are many more, they only decide.
    """
    client = await connect(address, namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[RunWorkflow, IncidentWorkflow, TargetLock],
            activities=[*activities(settings), *INCIDENT_ACTIVITIES],
            activity_executor=pool,
            max_concurrent_activities=concurrency,
            max_task_queue_activities_per_second=max_per_second,
            # a dead worker's workflows go back to the shared queue after this, not 10 s
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
            # SIGTERM: activities in flight finish (and log) before the worker leaves
            graceful_shutdown_timeout=timedelta(seconds=60),
        )
        async with worker:
            if on_ready:
                on_ready()
            await stop.wait()
