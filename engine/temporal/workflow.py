"""The run's workflow: the step loop as deterministic workflow code, each effect an activity.

The workflow decides what the local engine's step loop decides, with the
same functions (``engine.run.step``, ``engine.run.guardrails``,
``engine.run.approval``): the order of the steps, when one stops the run, the
guardrails and protected users (``refusals``, checked here, on the targets a
worker resolved, before any send), what is approved (``approval_content``,
``Approvals``), how a failed call is tried again (the wait the step's retry
policy gives, on the workflow's timer, with its ``action.retry`` record). It
never touches a tenant, a file or a template: those are the activities'
(``engine.temporal.effects``), one per effect:

- a step's condition, items and calls are rendered on a worker (``prepare``):
  templates read the steps' outputs, which hold event sets and secrets, and
  both stay in the run folder and the worker; the activity's answer is a
  decision (skipped, failed, or so many calls of such targets), recorded in
  the history, so a replay takes it as it was;
- each read call is one activity (retried by Temporal when its worker dies,
  by the step's policy when the action fails);
- each write is three, in order: ``log_call`` (``action.call``, fsynced), ``send``
  (with its idempotency key, run id and call key ``<step>:<index>``),
  ``log_result`` (or ``log_failed``). A send cut off and tried again is
  recognised by its key: an idempotent write is sent again, any other waits
  for an operator (``approval.required``, ``reason: unknown_outcome``), as
  ``soar resume`` does;
- every record goes through an append at the sequence number the workflow
  keeps: a retried append never duplicates one, and the workflow is the
  log's one writer.

The activities on the run log and folder are local activities (no queue,
idempotent, run again if their worker dies); a call and a send, which reach
the tenant, are queued and heartbeat, so a dead worker's goes to another.

Time is the workflow's: ``workflow.now()`` at the start is the run's clock
(``since: 24h`` counts from it in every activity and on every replay), and it
times the steps and the approval deadline. A run that needs approval logs
its stop (``run.finished``, ``awaiting_approval``) and waits, durably, for
the ``decide`` signal of ``soar approve``; at ``approval_timeout_s`` with no
decision the deadline denies. The decision goes on from where the run
stopped (``run.resumed``, then ``approval.granted`` or ``approval.denied``,
with ``by`` and ``decided_at``): the calls approved are the calls shown.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from engine.errors import GuardrailError
    from engine.run.approval import Approvals, AwaitingApproval, Decision, approval_content
    from engine.run.guardrails import Guardrails, Target
    from engine.run.step import refusals
    from engine.temporal.locks import GRANTED, PING, RELEASE, REQUEST_LOCK, Holder, lock_id
    from engine.temporal.spec import (
        APPEND,
        CALL,
        DECIDE,
        FINISH,
        FINISH_STEP,
        INPUTS,
        LOG_CALL,
        LOG_FAILED,
        LOG_RESULT,
        PLAN,
        PREPARE,
        RESUMED,
        SEND,
        START,
        STATE,
        WORKFLOW,
        CallResult,
        Opened,
        RunSpec,
        Segment,
        StepInfo,
        StepPlan,
        failure_cause,
        target_from,
    )

# what trying again cannot change (Temporal matches an error by its exact class name): soar's
# own errors (a playbook or input refused, a run log that is not this run's, a bad setting),
# a bug, and a file of the run folder in the way; what may pass is tried a few times, never
# for ever. RunLogBusy (a log another attempt still appends to: its worker may be alive but
# cut off; each attempt waits LOCK_WAIT_S for it), a worker's death or timeout, an I/O error
# of shared storage and an upstream error outside an action are what may pass.
NON_RETRYABLE = [
    *("SoarError", "UsageError", "ConfigError", "EmulatorError", "TemporalError"),
    *("InvalidError", "PlaybookError", "InputError", "DrillError", "DetectionError"),
    *("DateError", "TemplateError", "QueryError", "LogFileError", "DamagedCache"),
    *("BatchError", "RunLogError"),
    *("DuplicateActionError", "ActionError", "StepTimeout", "GuardrailError", "DryRunViolation"),
    *("TypeError", "AttributeError", "NameError", "KeyError", "IndexError", "LookupError"),
    *("ValueError", "JSONDecodeError", "UnicodeDecodeError", "UnicodeEncodeError"),
    *("AssertionError", "NotImplementedError", "RecursionError", "ZeroDivisionError"),
    *("FileExistsError", "IsADirectoryError", "NotADirectoryError", "PermissionError"),
]
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,  # then the run fails with the error (``_broken``), as a local run does
    non_retryable_error_types=NON_RETRYABLE,
)
CALL_TIMEOUT = timedelta(hours=1)  # one call, when its step sets no timeout
LOCAL_TIMEOUT = timedelta(minutes=10)  # one local activity (a step's preparation, an append)
NO_TENANT = "-"  # the tenant label of a run without one (its writes are not Auth0's)
# what reaches a tenant or a peer: queued, heartbeating, another worker's if need be. A read may
# take long (pages of logs); as a local activity it ran inside the workflow task, which a
# loaded worker then let time out (10 s) again and again, each retry running the read anew
REMOTE = frozenset({SEND, CALL})


class _Stopped(Exception):
    """The run ends where it waited: denied, by an operator or by the deadline."""

    def __init__(self, segment: Segment) -> None:
        super().__init__(segment.status)
        self.segment = segment


class _Records:
    """The records the workflow's own decisions make (gates, approvals, retries), in order."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.records.append({"type": type_, "fields": fields})
        return fields

    def take(self) -> list[dict[str, Any]]:
        taken, self.records = self.records, []
        return taken


@workflow.defn(name=WORKFLOW)
class RunWorkflow:
    """One playbook run: its id is the run id, its result how the run ended."""

    def __init__(self) -> None:
        self.decision: Decision | None = None
        self.state = "running"
        self.awaiting: dict[str, Any] | None = None
        self.deadline: str | None = None
        self.seq = 0
        self.pending = _Records()
        self.appending = asyncio.Lock()
        self.step_id: str | None = None
        self.granted: set[str] = set()  # the target locks granted to this run (held now)

    @workflow.run
    async def run(self, spec: RunSpec) -> Segment:
        self.spec = spec
        clock = workflow.now().isoformat()  # the run's clock: the same in every activity
        opened: Opened = await self._act(START, spec, clock, result=Opened)
        self.seq = opened.seq
        self.opened = opened
        self.guardrails = Guardrails(opened.protected_users, opened.protected_ips)
        self.approvals = Approvals(True if spec.yes else None, self.pending)
        status, error = "succeeded", None
        try:
            for info in opened.steps:
                outcome, why = await self._step(info)
                if outcome == "failed" and not info.continue_on_error:
                    # with continue_on_error the failure stays the step's; the run goes on
                    status, error = "failed", f"step {info.id!r} failed: {why}"
                    break
        except _Stopped as stop:
            self.state = "finished"
            return stop.segment
        except ActivityError as exc:  # an effect failed for good: so does the run, saying why
            status, error = "failed", await self._broken(exc)
        segment = await self._finish(status, error)
        self.state = "finished"
        return segment

    # -- one step ------------------------------------------------------------------------

    async def _step(self, info: StepInfo) -> tuple[str, str | None]:
        """One step's life, as ``engine.run.step.run_step``; its status and error."""
        began = workflow.now()
        self.step_id, self.step_began = info.id, began
        plan: StepPlan = await self._act(PREPARE, self.spec, info.id, self.seq, result=StepPlan)
        self.seq = plan.seq
        if plan.status != "ready":
            return plan.status, plan.error
        refused: dict[int, str] = {}
        error = None
        if plan.write:
            targets = [target_from(t) for t in plan.targets]
            try:
                refused = refusals(
                    self.guardrails, self.pending, info.id, info.max_targets, info.action, targets
                )
            except GuardrailError as exc:
                error = str(exc)
            await self._flush()
            if error is None and not self.opened.plan_writes and len(refused) < plan.calls:
                self.seq = await self._act(INPUTS, self.spec, info.id, self.seq, result=int)
                await self._approve(info, targets, refused)
        if error is None:
            if plan.keys and self.opened.plan_writes:
                for index in range(plan.calls):
                    if index not in refused:
                        self.seq = await self._act(
                            PLAN, self.spec, info.id, index, self.seq, result=int
                        )
            elif plan.keys:
                error = await self._writes(info, plan, refused)
            else:
                error = await self._reads(info, plan)
        took = (workflow.now() - began).total_seconds()
        shown = {str(k): v for k, v in refused.items()}
        done: StepPlan = await self._act(
            FINISH_STEP, self.spec, info.id, self.seq, took, shown, error, result=StepPlan
        )
        self.seq = done.seq
        return done.status, done.error

    async def _reads(self, info: StepInfo, plan: StepPlan) -> str | None:
        """Each read call an activity, ``max_parallel`` at once; the first failure's error."""
        errors: dict[int, str] = {}

        broken: list[ActivityError] = []

        async def one(index: int) -> None:
            attempt = 1
            while True:
                try:
                    got: CallResult = await self._act(
                        CALL, self.spec, info.id, index, attempt, result=CallResult, info=info
                    )
                except ActivityError as exc:  # not the action's failure: an effect's, for good
                    broken.append(exc)
                    errors[index] = str(exc)
                    return
                if got.ok:
                    return
                if got.wait is None:
                    errors[index] = got.error or "failed"
                    return
                await self._retry(info, index, attempt, got)
                attempt += 1

        async def all_calls() -> None:
            for first in range(0, plan.calls, max(1, info.max_parallel)):
                batch = range(first, min(plan.calls, first + max(1, info.max_parallel)))
                await asyncio.gather(*(one(i) for i in batch))
                if errors:  # no further call starts once one failed
                    return

        if info.timeout_s is None:
            await all_calls()
        else:
            try:
                await asyncio.wait_for(all_calls(), timeout=info.timeout_s)
            except TimeoutError:
                return (
                    f"timed out after {info.timeout_s:g}s (calls in flight were abandoned; "
                    "raise 'timeout' or make the action faster)"
                )
        if broken:  # the others of its batch have ended: the run fails with the first
            raise broken[0]
        return errors[min(errors)] if errors else None

    async def _writes(self, info: StepInfo, plan: StepPlan, refused: dict[int, str]) -> str | None:
        """Each write as three activities in order; the first failure stops the step."""
        for index in range(plan.calls):
            if index in refused:  # never sent
                continue
            target = str(plan.targets[index].get("value"))
            lock = await self._lock(target)
            try:
                error = await self._write(info, index, target, lock)
            finally:
                await self._unlock(lock)
            if error is not None:
                return error
        return None

    async def _write(self, info: StepInfo, index: int, target: str, lock: str) -> str | None:
        """One write, under its target's lock (``lock``, held from before ``action.call``
        until its result is logged); its error, or None."""
        self.seq = await self._act(LOG_CALL, self.spec, info.id, index, self.seq, result=int)
        attempt, resend = 1, False
        while True:
            got: CallResult = await self._act(
                SEND, self.spec, info.id, index, attempt, resend, result=CallResult, info=info
            )
            if got.ok:
                self.seq = await self._act(
                    LOG_RESULT, self.spec, info.id, index, self.seq, got.redelivered, result=int
                )
                return None
            if got.unknown:
                # a person checks the target, for hours maybe: the target is not kept from
                # other runs meanwhile; the lock is taken again before the write is resent
                await self._unlock(lock)
                await self._unknown(info, target)
                await self._lock(target)
                resend = True  # the operator checked the target and confirmed
                continue
            if got.wait is None:
                error = got.error or "failed"
                self.seq = await self._act(
                    LOG_FAILED, self.spec, info.id, index, self.seq, error, result=int
                )
                return error
            await self._retry(info, index, attempt, got)
            attempt += 1

    # -- target locks: one writer per (tenant, target) across every run -----------------

    async def _lock(self, target: str) -> str:
        """Wait until this run holds ``target``'s lock (``engine.temporal.locks``); its id.

        Whoever started the run (``soar run``, ``soar serve``), its writes to one account
        wait for each other's: a lock is asked for before ``action.call`` and given back
        once the result is logged, so a run holds one lock at a time and none waits for
        another while holding one (no deadlock).
        """
        lock = lock_id(self.opened.tenant or NO_TENANT, target)
        await workflow.execute_activity(
            REQUEST_LOCK,
            args=[lock, self._holder()],
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
        )
        await workflow.wait_condition(lambda: lock in self.granted)
        return lock

    async def _unlock(self, lock: str) -> None:
        """Give ``lock`` back (or leave its queue); a lock already gone holds nothing."""
        if lock not in self.granted:
            return
        self.granted.discard(lock)
        try:
            await workflow.get_external_workflow_handle(lock).signal(RELEASE, self._holder())
        except FailureError:  # that lock is not running (terminated by hand): nothing held
            workflow.logger.warning("lock %s gone before its release", lock)

    def _holder(self) -> Holder:
        info = workflow.info()
        return Holder(info.workflow_id, info.run_id)

    @workflow.signal(name=GRANTED)
    def lock_granted(self, lock: str) -> None:
        self.granted.add(lock)

    @workflow.signal(name=PING)
    def lock_ping(self, _lock: str) -> None:
        """A lock checking that its holder is still running: receiving it is the answer."""

    async def _retry(self, info: StepInfo, index: int, attempt: int, got: CallResult) -> None:
        """``action.retry``, then the wait the step's policy gave, on the workflow's timer."""
        wait = float(got.wait or 0.0)
        async with self.appending:
            self.pending(
                "action.retry",
                step=info.id,
                index=index,
                attempt=attempt,
                error=got.error,
                wait_s=round(wait, 3),
            )
            await self._flush()
        await workflow.sleep(wait)

    # -- approvals -----------------------------------------------------------------------

    async def _approve(
        self, info: StepInfo, targets: list[Target], refused: dict[int, str]
    ) -> None:
        """Return when the step may send; ``_Stopped`` when the answer is no."""
        request = approval_content(
            info.id, info.action, targets, tenant=self.opened.tenant, refused=refused
        )
        try:
            self.approvals.require(request)
            await self._flush()
            return
        except AwaitingApproval as stop:
            decision = await self._wait(str(stop) or None, resend=False)
        self.approvals.approve = decision
        try:
            self.approvals.require(request)
        except AwaitingApproval as stop:  # denied: the run ends where it waited
            await self._flush()
            raise _Stopped(await self._finish("awaiting_approval", str(stop) or None)) from None
        if decision.step is not None:  # this step's answer only: the next write step asks
            self.approvals.approve = None
        await self._flush()

    async def _unknown(self, info: StepInfo, target: str) -> None:
        """A write cut off in flight, not idempotent: wait for an operator to confirm it."""
        try:
            self.approvals.stop_unknown(info.id, info.action, [target])
        except AwaitingApproval as stop:
            decision = await self._wait(str(stop), resend=True)
        if decision.granted:
            return
        self.pending(
            "approval.denied",
            step=info.id,
            action=info.action,
            targets=[target],
            reason="unknown_outcome",
            by=decision.operator,
            decided_at=decision.at,
        )
        await self._flush()
        raise _Stopped(await self._finish("awaiting_approval", None))

    async def _wait(self, why: str | None, *, resend: bool) -> Decision:
        """Log the stop, wait for the decision (or the deadline), log the run going on."""
        await self._flush()
        segment = await self._finish("awaiting_approval", why)
        decision = await self._decision(segment)
        self.state = "running"
        granted = resend and decision.granted
        self.seq = await self._act(RESUMED, self.spec, self.seq, decision, granted, result=int)
        return decision

    async def _decision(self, segment: Segment) -> Decision:
        """The operator's answer, or the deadline's denial at ``approval_timeout_s``."""
        self.state, self.awaiting, self.decision = "awaiting_approval", segment.awaiting, None
        timeout = timedelta(seconds=self.spec.approval_timeout_s)
        self.deadline = (workflow.now() + timeout).isoformat()
        try:
            await workflow.wait_condition(lambda: self.decision is not None, timeout=timeout)
        except TimeoutError:  # asyncio's, the same class since Python 3.11
            return Decision(False, "deadline", workflow.now().isoformat())
        return self._answer()

    def _answer(self) -> Decision:
        assert self.decision is not None  # wait_condition returned: it is set
        return self.decision

    # -- effects -------------------------------------------------------------------------

    async def _broken(self, exc: ActivityError) -> str:
        """The run's error when one of its effects failed for good (retrying cannot help, or
        its attempts are spent); its step logged as failed with it, when that can be."""
        cause = exc.cause
        kind = cause.type if isinstance(cause, ApplicationError) and cause.type else None
        what = f"{exc.activity_type or 'an effect'} failed on the workers"
        why = f"{what}{f' ({kind})' if kind else ''}: {failure_cause(exc)}"
        if self.step_id is None:
            return why
        took = (workflow.now() - self.step_began).total_seconds()
        try:  # (an effect appends last: one that failed has appended nothing)
            done: StepPlan = await self._act(
                FINISH_STEP, self.spec, self.step_id, self.seq, took, {}, why, result=StepPlan
            )
            self.seq = done.seq
        except ActivityError:
            workflow.logger.warning("step %s: its failure could not be logged", self.step_id)
        return f"step {self.step_id!r} failed: {why}"

    async def _finish(self, status: str, error: str | None) -> Segment:
        segment: Segment = await self._act(
            FINISH, self.spec, self.seq, status, error, result=Segment
        )
        self.seq = segment.records  # after run.finished (and its signature)
        return segment

    async def _flush(self) -> None:
        records = self.pending.take()
        if records:
            self.seq = await self._act(APPEND, self.spec, self.seq, records, result=int)

    async def _act(self, name: str, *args: Any, result: Any, info: StepInfo | None = None) -> Any:
        """One activity. A read call and a write's send are queued: they heartbeat, and
        move to another worker when their own dies (a send's idempotency key recognised
        there). The others are local activities (run by the worker of this workflow task,
        no queue between), short, idempotent by sequence number: when their worker dies,
        the workflow task moves to another worker after its timeout (``heartbeat_s``) and
        runs them again there. A call's is bounded by its step's timeout, when it has one."""
        timeout = LOCAL_TIMEOUT if info is None else CALL_TIMEOUT
        if info is not None and info.timeout_s is not None:
            timeout = timedelta(seconds=info.timeout_s)
        if name not in REMOTE:
            return await workflow.execute_local_activity(
                name,
                args=list(args),
                result_type=result,
                start_to_close_timeout=timeout,
                retry_policy=RETRY,
            )
        return await workflow.execute_activity(
            name,
            args=list(args),
            result_type=result,
            start_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=self.spec.heartbeat_s),
            retry_policy=RETRY,
        )

    @workflow.signal(name=DECIDE)
    def decide(self, decision: Decision) -> None:
        """``soar approve``: the first answer to the question now open counts."""
        if self.state == "awaiting_approval" and self.decision is None:
            self.decision = decision

    @workflow.query(name=STATE)
    def current(self) -> dict[str, Any]:
        """``running``, ``awaiting_approval`` (with what and until when) or ``finished``."""
        return {"state": self.state, "awaiting": self.awaiting, "deadline": self.deadline}
