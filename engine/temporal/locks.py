"""One writer per target: a lock workflow per (tenant, target) that grants it to one run at a time.

Containment of one account is serialized across workflows: before a run
writes to a target (``engine.temporal.workflow``: before its ``action.call``),
the run (the *holder*) asks that target's lock for it, and gives it back once
the write's result is logged; a run holds one lock at a time, so none waits
for a lock while holding another (no deadlock). Every run does, whoever
started it (``soar run --engine temporal``, an incident's response from
``soar serve --engine temporal``). The lock is a workflow whose id is
``soar-lock:<tenant>:<target>``: the server keeps at most one open per id, so
there is one queue per target whoever asks (any worker, any run).

- ``acquire`` (signal-with-start, ``request_lock``): the holder joins the
  queue, once; the lock signals ``lock_granted`` to the first in line, by its
  workflow id *and* run id, so a later execution reusing the id is not taken
  for it. A holder gone before its turn (the signal fails) is skipped.
- ``release``: frees the lock if the holder has it, else leaves the queue.
- A holder that ends without releasing (terminated by an operator) does not
  keep the lock: every ``LEASE_CHECK`` the lock signals it ``lock_ping``;
  when that fails, the lock goes to the next in line.
- With nobody waiting for ``IDLE``, the lock workflow ends; a later acquire
  starts it again. Its history is bounded: it continues as new, with its
  queue, when the server suggests it.

Deterministic: it decides from its signals and timers only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

LOCK = "soar.target-lock"
ACQUIRE = "acquire"
RELEASE = "release"
GRANTED = "lock_granted"  # signalled to the holder, with the lock's id
PING = "lock_ping"  # signalled to the holder: is it still there?
REQUEST_LOCK = "soar.request-lock"  # activity: signal-with-start of a target's lock
IDLE = timedelta(seconds=30)
LEASE_CHECK = timedelta(seconds=60)
_MAX_TARGET = 200  # characters of a target kept in a lock's id; longer ones are digested


def lock_id(tenant: str, target: str) -> str:
    """The lock workflow's id for ``target`` (a user id, an address) in ``tenant``."""
    if len(target) > _MAX_TARGET:
        target = "sha256:" + hashlib.sha256(target.encode("utf-8", "surrogatepass")).hexdigest()
    return f"soar-lock:{tenant[:_MAX_TARGET]}:{target}"


@dataclass(frozen=True)
class Holder:
    """A workflow execution that holds or waits for a lock."""

    workflow_id: str
    run_id: str


@dataclass
class LockState:
    """What a lock carries across continue-as-new: who waits, in order."""

    queue: list[Holder] = field(default_factory=list)


@workflow.defn(name=LOCK)
class TargetLock:
    """A FIFO mutex: one holder at a time, granted in the order asked."""

    def __init__(self) -> None:
        self.queue: list[Holder] = []
        self.holder: Holder | None = None

    @workflow.run
    async def run(self, state: LockState) -> None:
        self.queue.extend(h for h in state.queue if h not in self.queue)
        while True:
            if not self.queue:
                try:
                    await workflow.wait_condition(lambda: bool(self.queue), timeout=IDLE)
                except TimeoutError:  # asyncio's: nobody asked for IDLE
                    if not self.queue:  # (one may have asked as the timer fired)
                        return
            holder = self.queue.pop(0)
            if not await self._tell(holder, GRANTED):
                continue  # gone before its turn
            self.holder = holder
            await self._held(holder)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(LockState(list(self.queue)))

    async def _held(self, holder: Holder) -> None:
        """Until ``holder`` releases, or is found gone by a ping."""
        while self.holder == holder:
            try:
                await workflow.wait_condition(lambda: self.holder != holder, timeout=LEASE_CHECK)
            except TimeoutError:
                if not await self._tell(holder, PING):
                    workflow.logger.warning("lock holder %s gone: released", holder.workflow_id)
                    self.holder = None

    async def _tell(self, holder: Holder, signal: str) -> bool:
        """Signal ``holder``; False when that execution is not running any more."""
        handle = workflow.get_external_workflow_handle(holder.workflow_id, run_id=holder.run_id)
        try:
            await handle.signal(signal, workflow.info().workflow_id)
        except FailureError:
            return False
        return True

    @workflow.signal(name=ACQUIRE)
    def acquire(self, holder: Holder) -> None:
        if holder != self.holder and holder not in self.queue:
            self.queue.append(holder)

    @workflow.signal(name=RELEASE)
    def release(self, holder: Holder) -> None:
        if holder == self.holder:
            self.holder = None
        elif holder in self.queue:
            self.queue.remove(holder)
