"""``soar serve --engine temporal``: each incident's response is a Temporal workflow.

``TemporalResponder`` is the ``Responder`` of the local engine with the run
moved to the workers (``soar worker``): for a new incident it prepares the
response as the local serve does (the rule's playbook, inputs rendered from
the group, the mode), marks it started, then signals-with-start the
incident's workflow (``engine.temporal.incident``) under the id derived from
the incident's key, with the incident's evidence. The same incident seen by
another serve (or by this one again after its state was lost) signals the
running workflow instead: one workflow, one response. Evidence that grows an
open incident is signalled too, at most once per ``EVIDENCE_EVERY_S`` per
incident.

Serve follows each response by the workflow's ``incident`` query and records
on the incident, in its own state, what ``soar incidents show`` and ``soar
report --incident`` read: the run log (``--run-dir``, the workers' shared
folder, as this process mounts it), then the outcome. Stopping serve stops
only the following: the responses go on in Temporal, and the next start
follows the incidents still ``started`` (or waiting for a person) again,
instead of marking them interrupted as the local engine must. A response
marked started whose workflow the server does not know (serve was killed
between the two) is submitted then: the workflow id makes that safe.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import structlog
from temporalio.service import RPCError, RPCStatusCode

from engine.errors import TemporalError
from engine.run.state import new_run_id, tenant_label
from engine.serve import incidents
from engine.serve.respond import Prepared, Responder
from engine.temporal.client import connect_client
from engine.temporal.incident import (
    EVIDENCE,
    INCIDENT,
    INCIDENT_STATE,
    Evidence,
    IncidentSpec,
    incident_id,
)
from engine.temporal.spec import RunSpec

POLL_S = 0.5  # how often a response's workflow is asked how it stands
EVIDENCE_EVERY_S = 1.0  # at most one evidence signal per incident this often
log = structlog.get_logger("soar.serve.durable")


def tenant_of(task_queue: str) -> str:
    """The tenant an incident belongs to: ``AUTH0_DOMAIN``'s host, else the task queue (one
    per tenant). Every serve of one tenant must say the same: it is part of the workflow id."""
    label = tenant_label(None)
    return label if os.environ.get("AUTH0_DOMAIN", "").strip() else f"task-queue:{task_queue}"


def resumable(conn: sqlite3.Connection) -> list[int]:
    """Incidents whose response runs in Temporal still, as far as this state knows: followed
    again after a restart (never marked interrupted: the run did not stop with serve)."""
    rows = conn.execute(
        "SELECT incident FROM responses WHERE status IN ('started', 'awaiting_approval') "
        "ORDER BY id"
    ).fetchall()
    return [int(r[0]) for r in rows]


class TemporalResponder(Responder):
    """Responses as incident workflows; see the module docstring."""

    def __init__(
        self,
        *args: Any,
        address: str,
        namespace: str = "default",
        task_queue: str = "soar",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.task_queue = task_queue
        self.tenant = tenant_of(task_queue)
        self.source = f"{socket.gethostname()}:{os.getpid()}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="soar-temporal", daemon=True
        )
        self.thread.start()
        self.dirty: set[int] = set()
        self.dirty_lock = threading.Lock()
        self.follows: set[Future[None]] = set()
        try:
            self.client = self._call(connect_client(address, namespace))
        except BaseException:
            self._stop_loop()
            raise
        self.flusher = asyncio.run_coroutine_threadsafe(self._flush_loop(), self.loop)

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def start(self, incident: int) -> None:
        """Submit (or, after a restart, follow again) ``incident``'s response."""
        future = asyncio.run_coroutine_threadsafe(self._respond_remote(incident), self.loop)
        self.follows.add(future)
        future.add_done_callback(self.follows.discard)

    def update(self, incident: int) -> None:
        """``incident`` has new evidence (the detection worker, after its commit)."""
        with self.dirty_lock:
            self.dirty.add(incident)

    def close(self) -> None:
        """Stop following (the responses go on in Temporal); the last evidence is signalled."""
        self.flusher.cancel()
        for future in list(self.follows):
            future.cancel()
        try:
            self._call(self._flush())
        finally:
            self._stop_loop()
        super().close()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _respond_remote(self, incident_id_: int) -> None:
        try:
            await self._submit_and_follow(incident_id_)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # recorded on the incident, never the end of serve
            log.error("response.error", incident=incident_id_, error=type(exc).__name__)
            self.write(incidents.finish, incident_id_, "error", f"{type(exc).__name__}: {exc}")
            self.notify(incident_id_)

    async def _submit_and_follow(self, incident_id_: int) -> None:
        with self.lock:
            incident = incidents.get_incident(self.conn, incident_id_)
        if incident is None or incident.response is None:
            return
        workflow_id = incident_id(self.tenant, incident.key, incident.rule)
        if incident.response["status"] == "pending":
            if not self.write(incidents.mark_started, incident_id_):
                return  # not pending any more: submitted once already
            submit = True
        else:  # after a restart: a serve killed between marking it started and submitting it
            submit = not await self._exists(workflow_id)
        if submit:
            prepared = self.prepare(incident_id_)
            if prepared is None:
                self.notify(incident_id_)
                return
            await self.client.start_workflow(
                INCIDENT,
                self._spec(prepared),
                id=workflow_id,
                task_queue=self.task_queue,
                start_signal=EVIDENCE,
                start_signal_args=[self._evidence(incident_id_)],
            )
            log.info("response.submitted", incident=incident_id_, workflow=workflow_id)
        await self._follow(incident_id_, workflow_id)

    async def _exists(self, workflow_id: str) -> bool:
        """Whether the server knows an execution of ``workflow_id`` (running or closed)."""
        try:
            await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    def _spec(self, prepared: Prepared) -> IncidentSpec:
        incident, rule, playbook, inputs = prepared
        assert incident.response is not None and rule.response is not None
        mode = str(incident.response["mode"])
        run = RunSpec(
            run_id=new_run_id(),
            playbook=str(Path(rule.response.playbook).resolve()),
            sha256=playbook.sha256,
            inputs=dict(inputs),
            operator=f"soar serve: rule {rule.id}",
            dry_run=mode != "auto",
            protected_users=list(self.protected_users),
            protected_ips=list(self.protected_ips),
        )
        return IncidentSpec(
            key=incident.key,
            tenant=self.tenant,
            rule=rule.id,
            mode=mode,
            max_targets=rule.response.max_targets,
            quiet_s=rule.quiet.total_seconds(),
            run=run,
        )

    def _evidence(self, incident_id_: int) -> Evidence:
        with self.lock:
            incident = incidents.get_incident(self.conn, incident_id_)
            ids = incidents.evidence_of(self.conn, incident_id_)
        assert incident is not None
        return Evidence(self.source, ids, incident.first, incident.last)

    async def _follow(self, incident_id_: int, workflow_id: str) -> None:
        """Record the run log, then each outcome (waiting for a person, finished) as it comes."""
        handle = self.client.get_workflow_handle(workflow_id)
        shown: tuple[Any, ...] | None = None
        run_log: str | None = None
        while True:
            try:
                state = await handle.query(INCIDENT_STATE)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise TemporalError(
                        f"the incident's workflow {workflow_id} is not on the Temporal server "
                        "(its history was removed?): its response cannot be followed"
                    ) from None
                log.warning("response.unreachable", incident=incident_id_, error=exc.message)
                await asyncio.sleep(POLL_S * 4)
                continue
            response = state.get("response") or {}
            if response.get("run_id") and run_log is None:
                run_log = str(self.run_dir / f"{response['run_id']}.jsonl")
                self.write(incidents.set_run_log, incident_id_, run_log)
            now = (response.get("state"), response.get("status"), response.get("error"))
            if now[0] in ("finished", "awaiting_approval") and now != shown:
                shown = now
                self.write(incidents.finish, incident_id_, now[1], now[2])
                log.info("response.finished", incident=incident_id_, status=now[1])
                self.notify(incident_id_)
                if now[0] == "finished":
                    return
            await asyncio.sleep(POLL_S)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(EVIDENCE_EVERY_S)
            await self._flush()

    async def _flush(self) -> None:
        """Signal each incident that gained evidence since the last flush, once."""
        with self.dirty_lock:
            dirty, self.dirty = sorted(self.dirty), set()
        for incident_id_ in dirty:
            with self.lock:
                incident = incidents.get_incident(self.conn, incident_id_)
            if incident is None or incident.response is None:
                continue
            if incident.response["status"] == "pending":
                continue  # its start carries its evidence
            workflow_id = incident_id(self.tenant, incident.key, incident.rule)
            try:
                await self.client.get_workflow_handle(workflow_id).signal(
                    EVIDENCE, self._evidence(incident_id_)
                )
            except RPCError as exc:  # closed after its quiet period: kept here only
                log.info("evidence.unsignalled", incident=incident_id_, error=exc.message)
