"""The run's workflow: segments of the local engine, approvals as signals, deadlines as timers.

Deterministic: it decides only from its activities' results, its signals and
its own clock (``workflow.now()``: the deadline denial says when by it). A
run that stops for approval waits, durably (a worker restart or a server
restart changes nothing), for the ``decide`` signal of ``soar approve``; at
``approval_timeout_s`` with no decision the deadline denies. The decision,
who gave it and when are written to the run log by the segment that follows
(``approval.granted`` / ``approval.denied`` with ``by`` and ``decided_at``,
``run.resumed`` with ``operator`` and ``approval``).

A segment heartbeats; when its worker dies the server gives it to another
worker after ``heartbeat_s``, and that attempt continues the log (never a
write twice: ``engine.temporal.segments``). A segment that fails for a reason
a retry cannot change (a changed playbook, a tampered log) is not retried.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from engine.run.approval import Decision
    from engine.temporal.spec import DECIDE, SEGMENT, STATE, WORKFLOW, RunSpec, Segment

# what trying again cannot change (matched by exact class name); RunLogBusy (a log another
# attempt still writes: its worker may be alive but cut off) is retried
NON_RETRYABLE = ["RunLogError", "InputError", "PlaybookError", "ConfigError", "UsageError"]


@workflow.defn(name=WORKFLOW)
class RunWorkflow:
    """One playbook run: its id is the run id, its result the last segment."""

    def __init__(self) -> None:
        self.decision: Decision | None = None
        self.state = "running"
        self.awaiting: dict[str, Any] | None = None
        self.deadline: str | None = None

    @workflow.run
    async def run(self, spec: RunSpec) -> Segment:
        decision: Decision | None = None
        clock = workflow.now().isoformat()  # the run's clock: the same in every segment
        while True:
            self.state = "running"
            segment: Segment = await workflow.execute_activity(
                SEGMENT,
                args=[spec, decision, clock],
                result_type=Segment,
                start_to_close_timeout=timedelta(days=1),
                heartbeat_timeout=timedelta(seconds=spec.heartbeat_s),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(seconds=30),
                    maximum_attempts=10,
                    non_retryable_error_types=NON_RETRYABLE,
                ),
            )
            answered = decision is not None and not decision.granted
            if segment.status != "awaiting_approval" or answered or spec.dry_run:
                self.state = "finished"
                return segment
            decision = await self._decision(spec, segment)

    async def _decision(self, spec: RunSpec, segment: Segment) -> Decision:
        """The operator's answer, or the deadline's denial at ``approval_timeout_s``."""
        self.state, self.awaiting, self.decision = "awaiting_approval", segment.awaiting, None
        timeout = timedelta(seconds=spec.approval_timeout_s)
        self.deadline = (workflow.now() + timeout).isoformat()
        try:
            await workflow.wait_condition(lambda: self.decision is not None, timeout=timeout)
        except TimeoutError:  # asyncio's, the same class since Python 3.11
            return Decision(False, "deadline", workflow.now().isoformat())
        return self._answer()

    def _answer(self) -> Decision:
        assert self.decision is not None  # wait_condition returned: it is set
        return self.decision

    @workflow.signal(name=DECIDE)
    def decide(self, decision: Decision) -> None:
        """``soar approve``: the first answer to the question now open counts."""
        if self.state == "awaiting_approval" and self.decision is None:
            self.decision = decision

    @workflow.query(name=STATE)
    def current(self) -> dict[str, Any]:
        """``running``, ``awaiting_approval`` (with what and until when) or ``finished``."""
        return {"state": self.state, "awaiting": self.awaiting, "deadline": self.deadline}
