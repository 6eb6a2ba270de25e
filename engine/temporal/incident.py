"""One incident, one workflow: its response as a child run, its evidence as signals.

``soar serve --engine temporal`` (``engine.serve.durable``) signals-with-start
``IncidentWorkflow`` under an id derived from the incident's key (tenant,
rule, group: ``incident_id``), so the same incident detected again (a
restarted serve, a second serve on the same stream) signals the running
workflow with its evidence instead of starting another: the server keeps at
most one open execution per id, and the response is started once, by the
workflow, as the child ``RunWorkflow`` whose id is the run id.

The response runs as the local serve runs it (``engine.serve.respond``): a
dry run, or under ``respond: auto`` a live run whose writes are approved
without a person, recorded as ``approval.granted`` by ``rule <id> (auto)``.
The child is started without ``yes``, so it stops at its first write step
and asks (the ``state`` query shows the step and its targets); this workflow
then checks the step against the rule's ``max_targets`` and answers with the
``decide`` signal. A step over ``max_targets``, or writes of unknown outcome,
are left for a person (``soar approve RUN_ID``). Containment of one account is
serialized across workflows by the run itself: each of its writes takes its
target's lock (``engine.temporal.locks``), as every run's does, whoever started it.

Evidence signalled while the response runs, or after, is added to the
incident (a set of log ids, bounded) and never starts a second response. The
workflow stays open ``quiet_s`` after the last evidence (the incident's
window), then ends; a detection after that is a new incident.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ChildWorkflowError, FailureError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from engine.run.approval import Decision
    from engine.temporal.spec import DECIDE, WORKFLOW, RunSpec, Segment, failure_cause

INCIDENT = "soar.incident"
EVIDENCE = "evidence"  # the signal of each detection
INCIDENT_STATE = "incident"  # the query soar serve follows the response by
WATCH = "soar.watch-run"  # activity: until the child run asks a question or ends
MAX_IDS = 2000  # log ids of evidence kept (each at most 200 characters: a payload stays small)


def incident_id(tenant: str, key: str, rule: str) -> str:
    """The workflow id of the incident ``key`` (rule + group) in ``tenant``: stable, bounded."""
    digest = hashlib.sha256(f"{tenant}\n{key}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"soar-incident:{rule[:100]}:{digest[:32]}"


@dataclass
class Evidence:
    """One detection of the incident: its log ids (at most the detector's 1000) and dates.

    ``source``: who saw it (``host:pid`` of a ``soar serve``), for the record.
    """

    source: str
    log_ids: list[str]
    first: str
    last: str


@dataclass
class Response:
    """How the incident's response stands (the ``incident`` query's ``response``)."""

    run_id: str
    state: str = "running"  # running | awaiting_approval | finished
    status: str | None = None
    error: str | None = None
    run_log: str | None = None
    approved_by: str | None = None


@dataclass
class Carried:
    """What an incident holds after its response, carried across continue-as-new."""

    ids: list[str]
    signals: int
    sources: list[str]
    first: str | None
    last: str | None
    response: Response


@dataclass
class IncidentSpec:
    """An incident's response as ``soar serve`` decides it; ``run`` is the child's spec."""

    key: str
    tenant: str
    rule: str
    mode: str  # "auto" | "dry-run"
    max_targets: int | None
    quiet_s: float
    run: RunSpec
    carried: Carried | None = None


@workflow.defn(name=INCIDENT)
class IncidentWorkflow:
    """One incident: a response at most, every detection's evidence, then the quiet period."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.signals = 0
        self.sources: set[str] = set()
        self.first: str | None = None
        self.last: str | None = None
        self.response: Response | None = None
        self.spec: IncidentSpec | None = None

    @workflow.run
    async def run(self, spec: IncidentSpec) -> dict[str, Any]:
        self.spec = spec
        if spec.carried is not None:  # continued as new after its response: only the window
            self._restore(spec.carried)
            await self._quiet(spec)
            return self.current()
        self.response = Response(run_id=spec.run.run_id)
        await self._respond(spec)
        await self._quiet(spec)
        return self.current()

    async def _respond(self, spec: IncidentSpec) -> None:
        """Run the response as the child run, answer its questions, record how it ended."""
        assert self.response is not None
        child: ChildWorkflowHandle[Any, Segment] = await workflow.start_child_workflow(
            WORKFLOW, spec.run, id=spec.run.run_id, result_type=Segment
        )
        try:
            if spec.mode == "auto" and not spec.run.dry_run:
                await self._approve(spec, child)
            segment: Segment = await child
            status, error, run_log = segment.status, segment.error, segment.run_log
        except ChildWorkflowError as exc:  # the run failed on the workers: said, not hidden
            status, error, run_log = "error", f"the response run failed: {failure_cause(exc)}", None
        response = self.response
        response.state, response.status, response.error = "finished", status, error
        response.run_log = run_log

    async def _approve(self, spec: IncidentSpec, child: ChildWorkflowHandle[Any, Segment]) -> None:
        """Answer the child's questions as the rule's pre-approval would."""
        assert self.response is not None
        answered: str | None = None
        while True:
            watch = workflow.start_activity(
                WATCH,
                args=[spec.run.run_id, answered],
                result_type=dict,
                start_to_close_timeout=timedelta(days=2),
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )
            # the child's end (a failure too) ends the watch: its query cannot say "failed"
            await workflow.wait([child, watch], return_when=asyncio.FIRST_COMPLETED)
            if child.done():
                watch.cancel()
                return
            state: dict[str, Any] = watch.result()
            if state.get("state") != "awaiting_approval":
                return
            answered = state.get("deadline")
            awaiting = state.get("awaiting") or {}
            why = self._refusal(spec, awaiting)
            if why is not None:  # a person decides: soar approve
                self.response.state, self.response.status = "awaiting_approval", "awaiting_approval"
                self.response.error = why
                continue
            by = f"rule {spec.rule} (auto)"
            step = str(awaiting.get("step") or "")
            try:
                # this step's answer only: each write step is checked against the rule's
                # max_targets before it is approved
                await child.signal(DECIDE, Decision(True, by, workflow.now().isoformat(), step))
            except FailureError:  # it ended between the question and the answer
                return
            self.response.state, self.response.error, self.response.approved_by = (
                "running",
                None,
                by,
            )

    def _refusal(self, spec: IncidentSpec, awaiting: dict[str, Any]) -> str | None:
        """Why this question is not the rule's to answer, or None."""
        assert self.response is not None
        ask = f"soar approve {spec.run.run_id} --yes, or --deny"
        if awaiting.get("reason") == "unknown_outcome":
            return f"writes were cut off in flight, their outcome is unknown: check them, {ask}"
        count = len(awaiting.get("targets") or [])
        if spec.max_targets is not None and count > spec.max_targets:
            return (
                f"rule {spec.rule} (auto) approves at most {spec.max_targets} target(s) without "
                f"a person; step {awaiting.get('step')!r} has {count}: {ask}"
            )
        return None

    async def _quiet(self, spec: IncidentSpec) -> None:
        """Stay open while evidence keeps coming: until ``quiet_s`` pass without any.

        A long attack signals for hours: when the server suggests it, the
        workflow continues as new with what it holds, so its history stays bounded.
        """
        while True:
            seen = self.signals
            try:
                await workflow.wait_condition(
                    partial(self._signalled_since, seen), timeout=timedelta(seconds=spec.quiet_s)
                )
            except TimeoutError:  # asyncio's: quiet for quiet_s
                return
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(replace(spec, carried=self._carried()))

    def _carried(self) -> Carried:
        assert self.response is not None
        return Carried(
            sorted(self.ids),
            self.signals,
            sorted(self.sources),
            self.first,
            self.last,
            self.response,
        )

    def _restore(self, carried: Carried) -> None:
        self.ids, self.signals = set(carried.ids), carried.signals
        self.sources, self.first, self.last = set(carried.sources), carried.first, carried.last
        self.response = carried.response

    def _signalled_since(self, seen: int) -> bool:
        return self.signals != seen

    @workflow.signal(name=EVIDENCE)
    def evidence(self, found: Evidence) -> None:
        """A detection of this incident: its evidence is added; a response is never restarted."""
        self.signals += 1
        self.sources.add(found.source[:200])
        for log_id in found.log_ids:
            if len(self.ids) >= MAX_IDS:
                break
            self.ids.add(str(log_id)[:200])
        if found.first and (self.first is None or found.first < self.first):
            self.first = found.first
        if found.last and (self.last is None or found.last > self.last):
            self.last = found.last

    @workflow.query(name=INCIDENT_STATE)
    def current(self) -> dict[str, Any]:
        spec, response = self.spec, self.response
        return {
            "rule": spec.rule if spec else None,
            "key": spec.key if spec else None,
            "evidence": len(self.ids),
            "signals": self.signals,
            "sources": sorted(self.sources),
            "first": self.first,
            "last": self.last,
            "response": None if response is None else vars(response).copy(),
        }
