"""Group commit: the batches of concurrent requests stored in one transaction and one fsync.

Each stored batch costs a ``COMMIT`` with ``synchronous=FULL``: an fsync of
the WAL, milliseconds, and the same for a batch of one event as for many.
So one thread, ``GroupWriter``, does every append of the endpoint: a request
queues its parsed batch with ``submit`` and waits on the future it gets;
the thread takes every batch waiting (up to ``GROUP_EVENTS`` events, at
least one batch), stores them with ``EventStore.append_many`` (one
transaction, one fsync), and only after that ``COMMIT`` resolves the futures:
each with what its batch added, after handing the batch to the detection
backlog. If the transaction fails, every batch in it gets the same exception
and gives its backlog room back: none of them was stored, none is answered
200. The accounting is the writer's: a request cancelled before its batch is
taken (serve stopping past its grace) has it left out, its room given back;
once taken, the batch is stored and counted whatever became of the request.

Nothing waits to make a group larger: a batch is stored at once when the
writer is idle, and the batches that arrive during a commit form the next
group. The queue is bounded by what feeds it: the backlog's reservation
(``engine.serve.worker.Backlog``) and the server's connection limit.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future

import structlog

from engine.serve.ingest import Item
from engine.serve.limits import GROUP_EVENTS
from engine.serve.store import Appended, EventStore
from engine.serve.worker import Backlog

log = structlog.get_logger("soar.serve.writer")


class GroupWriter:
    """The one thread that appends batches to ``events``; see the module docstring."""

    def __init__(
        self, events: EventStore, backlog: Backlog, group_events: int = GROUP_EVENTS
    ) -> None:
        self.events = events
        self.backlog = (
            backlog  # each batch's reserved room: handed the stored events, or given back
        )
        self.group_events = group_events
        self.queue: deque[tuple[Sequence[Item], Future[Appended]]] = deque()
        self.cond = threading.Condition()
        self.closing = False
        self.groups = 0  # transactions committed, for /healthz and the tests
        self.thread = threading.Thread(target=self._loop, name="soar-ingest", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, items: Sequence[Item]) -> Future[Appended]:
        """Queue a batch; the future is resolved once the transaction holding it commits."""
        future: Future[Appended] = Future()
        with self.cond:
            if self.closing:  # the server stops before the writer: no request should be here
                self.backlog.release(len(items))
                future.set_exception(RuntimeError("soar serve is stopping"))
                return future
            self.queue.append((items, future))
            self.cond.notify()
        return future

    def close(self) -> None:
        """Store the batches already queued, then end the thread."""
        with self.cond:
            self.closing = True
            self.cond.notify()
        if self.thread.is_alive():
            self.thread.join()

    def _take(self) -> list[tuple[Sequence[Item], Future[Appended]]]:
        """The next group: every batch waiting, up to ``group_events`` events (empty: closed,
        or each batch waiting was cancelled)."""
        with self.cond:
            while not self.queue and not self.closing:
                self.cond.wait()
            group: list[tuple[Sequence[Item], Future[Appended]]] = []
            size = 0
            while self.queue and (not group or size + len(self.queue[0][0]) <= self.group_events):
                items, future = self.queue.popleft()
                if not future.set_running_or_notify_cancel():  # its request was cancelled first
                    self.backlog.release(len(items))
                    continue
                group.append((items, future))
                size += len(items)
            return group

    def _loop(self) -> None:
        while True:
            group = self._take()
            if not group:
                with self.cond:
                    if self.closing and not self.queue:
                        return
                continue
            try:
                results = self.events.append_many([items for items, _ in group])
            except Exception as exc:  # every request of the group is answered with the failure
                log.error("ingest.commit_failed", batches=len(group), error=type(exc).__name__)
                for items, future in group:
                    self.backlog.release(len(items))
                    future.set_exception(exc)
                continue
            self.groups += 1
            for (items, future), a in zip(group, results, strict=True):
                self.backlog.stored(
                    a.tail, len(items), a.first, a.fresh, a.dates
                )  # in commit order
                future.set_result(a)
