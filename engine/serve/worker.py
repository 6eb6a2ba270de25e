"""The detection worker: stored events, in arrival order, through the detector, into incidents.

One thread. It reads the events stored after its cursor (``engine.serve.store``)
in chunks, feeds them to the detector, and in one transaction records the
detections as incidents, closes the quiet ones and moves the cursor: after a
crash no event is skipped and none is applied twice. Only after that commit
are the new incidents' responses started and notifications posted. The
newest event date consumed (what closes quiet incidents, and where a restart
rebuilds the windows from) ignores, as the detector does, an event dated more
than ``FUTURE_SKEW`` ahead of the wall clock: one such event would otherwise
close every open incident at once (the attack's next events opening another
incident and another response) and leave nothing to rebuild after a restart.

On start it first recovers: responses ``started`` but never finished are
marked ``interrupted`` (never run again); ``pending`` ones are started. Where
responses outlive the process (``soar serve --engine temporal``),
``resumable`` names the ones to follow again instead. Then
it feeds the detector again the stored events within ``Detector.horizon`` of
the newest consumed event date, up to the cursor, to rebuild its windows;
what those events detect was recorded before the crash, so those detections
are dropped. Then it continues from the cursor.

``Backlog`` is the bounded queue between the endpoint and this worker: the
events stored but not yet consumed (in SQLite, not in memory). The endpoint
answers 503 with ``Retry-After`` when a batch would take it past its capacity.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from engine.serve import incidents
from engine.serve.detect import FUTURE_SKEW
from engine.serve.incidents import Incident
from engine.serve.store import EventStore, advance
from engine.timeutil import iso_ms, now_utc

CHUNK = 5000  # events fed to the detector at once
HANDOFF = 20_000  # events the endpoint hands the worker in memory (beyond: read back from SQLite)
Handed = tuple[list[Mapping[str, Any]], list[str | None]]  # a batch's new events, their date keys
log = structlog.get_logger("soar.serve.worker")


class Backlog:
    """Events stored but not yet through the detector: the bound, and the wake-up."""

    def __init__(self, capacity: int, tail: int, consumed: int) -> None:
        self.capacity = capacity
        self.tail = tail
        self.consumed = consumed
        self.reserved = 0  # events of batches admitted and being stored
        # first rowid -> the batch's new events as parsed, and their date keys: the worker
        # skips reading them back
        self.handoff: dict[int, Handed] = {}
        self.handoff_events = 0
        self.cond = threading.Condition()
        self.stopping = False

    @property
    def depth(self) -> int:
        return max(0, self.tail - self.consumed)

    def reserve(self, events: int) -> bool:
        """Admit a batch of ``events`` if it fits (an empty backlog admits any one batch).

        Admitted batches hold their room until ``stored`` or ``release``, so
        concurrent batches cannot take the backlog past its capacity together.
        """
        with self.cond:
            waiting = self.depth + self.reserved
            if waiting and waiting + events > self.capacity:
                return False
            self.reserved += events
            return True

    def release(self, events: int) -> None:
        """A reserved batch that was not stored (it failed) gives its room back."""
        with self.cond:
            self.reserved -= events

    def stored(
        self,
        tail: int,
        events: int,
        first: int = 0,
        fresh: list[Mapping[str, Any]] | None = None,
        dates: list[str | None] | None = None,
    ) -> None:
        """A reserved batch of ``events`` is committed; the stored stream now ends at ``tail``.

        ``fresh``: its new events from rowid ``first`` on (``dates``: their date
        keys as stored), kept for the worker while fewer than ``HANDOFF`` events
        are kept so.
        """
        with self.cond:
            self.reserved -= events
            self.tail = max(self.tail, tail)
            if fresh and dates and self.handoff_events + len(fresh) <= HANDOFF:
                self.handoff[first] = (fresh, dates)
                self.handoff_events += len(fresh)
            self.cond.notify_all()

    def take(self, seq: int) -> Handed | None:
        """The events stored from rowid ``seq + 1`` on, and their date keys, if a batch
        starting there was handed off.

        Batches the worker went past (read back from SQLite) are dropped.
        """
        with self.cond:
            for first in [f for f in self.handoff if f <= seq]:
                self.handoff_events -= len(self.handoff.pop(first)[0])
            found = self.handoff.pop(seq + 1, None)
            if found is not None:
                self.handoff_events -= len(found[0])
            return found

    def next_handed(self, seq: int) -> int | None:
        """The first rowid after ``seq`` of a handed-off batch (None: none is)."""
        with self.cond:
            return min((f for f in self.handoff if f > seq), default=None)

    def done(self, seq: int) -> None:
        with self.cond:
            self.consumed = seq
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def wait_for_work(self, seq: int) -> bool:
        """Block until events after ``seq`` are stored (True) or a stop with none left (False)."""
        with self.cond:
            while self.tail <= seq and not self.stopping:
                self.cond.wait()
            return self.tail > seq


class Worker:
    """Runs the detector over the stored stream; see the module docstring."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        events: EventStore,
        detector: Any,
        backlog: Backlog,
        *,
        decide: Callable[[Any, int], Any] | None = None,
        start: Callable[[int], None] | None = None,
        on_open: Callable[[Incident], None] | None = None,
        on_update: Callable[[int], None] | None = None,
        resumable: Callable[[sqlite3.Connection], list[int]] | None = None,
    ) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.events = events
        self.detector = detector
        self.backlog = backlog
        self.decide = decide or (lambda _d, _i: None)
        self.start_response = start or (lambda _i: None)
        self.on_open = on_open
        self.on_update = on_update  # an open incident gained evidence (after the commit)
        # responses that outlive this process (Temporal): followed again, never interrupted
        self.resumable = resumable
        self.seq, self.newest = events.cursor()
        self.thread = threading.Thread(target=self._loop, name="soar-detect", daemon=True)
        self.failed: BaseException | None = None

    def recover(self) -> tuple[list[int], list[int]]:
        """After a restart: interrupted responses marked, the detector's windows rebuilt.

        Returns the incidents whose response was decided but never started, and
        those whose response was just marked interrupted.
        """
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            if self.resumable is None:
                interrupted, resumed = incidents.interrupt_started(self.conn), []
            else:
                interrupted, resumed = [], self.resumable(self.conn)
            pending = [*resumed, *incidents.pending_responses(self.conn)]
            self.conn.execute("COMMIT")
        for incident in interrupted:
            log.warning("response.interrupted", incident=incident)
        refed = 0
        for chunk in self.events.replay(self.seq, self.newest, self.detector.horizon, CHUNK):
            self.detector.feed(chunk)  # recorded before the restart: only the state is wanted
            refed += len(chunk)
        if refed:
            log.info("detector.rebuilt", events=refed, cursor=self.seq)
        return pending, interrupted

    def begin(self) -> list[int]:
        """Recover, start the pending responses and the thread; the interrupted incidents."""
        pending, interrupted = self.recover()
        for incident in pending:
            self.start_response(incident)
        self.thread.start()
        return interrupted

    def stop(self, timeout: float | None = None) -> None:
        """Finish the stored events, then end the thread."""
        self.backlog.stop()
        self.thread.join(timeout)

    def _loop(self) -> None:
        try:
            while self.backlog.wait_for_work(self.seq):
                self.step()
        except BaseException as exc:  # the endpoint keeps storing; /healthz reports it
            self.failed = exc
            log.exception("detector.failed")

    def step(self) -> int:
        """Consume the next stored events (a handed-off batch, or read back up to ``CHUNK``,
        and up to the next handed-off batch, which is then taken from memory)."""
        handed = self.backlog.take(self.seq)
        if handed is not None:
            batch, dates = handed
            seq = self.seq + len(batch)
        else:
            upto = self.backlog.next_handed(self.seq)
            limit = CHUNK if upto is None else max(1, min(CHUNK, upto - self.seq - 1))
            rows = self.events.after(self.seq, limit)
            if not rows:
                return 0
            batch, dates, seq = [r[2] for r in rows], [r[1] for r in rows], rows[-1][0]
        detections = self.detector.feed(batch)
        ahead = iso_ms(now_utc() + FUTURE_SKEW)  # as the detector, never believed beyond
        newest = max((d for d in dates if d is not None and d <= ahead), default=None)
        if newest is None or (self.newest is not None and self.newest > newest):
            newest = self.newest
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                done = incidents.record(self.conn, detections, self.decide)
                incidents.close_quiet(self.conn, newest)
                advance(self.conn, seq, newest)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        self.seq, self.newest = seq, newest
        self.backlog.done(seq)
        for incident in done.opened:
            self._opened(incident)
        if self.on_update is not None:
            for incident in dict.fromkeys(done.updated):
                self.on_update(incident)
        return len(batch)

    def _opened(self, incident_id: int) -> None:
        with self.lock:
            incident = incidents.get_incident(self.conn, incident_id)
        if incident is None:
            return
        log.info("incident.opened", incident=incident_id, rule=incident.rule)
        if self.on_open is not None:
            self.on_open(incident)
        if incident.response is not None:
            self.start_response(incident_id)
