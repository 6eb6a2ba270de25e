"""The worker in-process: stored events reach the detector once each, from memory or from SQLite.

The endpoint hands each batch's new events to the worker in memory; a batch
that was not handed off (the hand-off was full, or batches committed out of
order) is read back from SQLite. Either way every event is fed exactly once,
in arrival order, and the cursor ends at the newest stored event.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from engine.serve import store
from engine.serve.ingest import Item
from engine.serve.worker import Backlog, Worker


class Counting:
    """A detector that only records what it is fed (the worker's side of the interface)."""

    horizon = timedelta(minutes=10)

    def __init__(self) -> None:
        self.fed: list[str] = []

    def feed(self, events: list[dict[str, object]]) -> list[object]:
        self.fed += [str(e["log_id"]) for e in events]
        return []


def _items(prefix: str, n: int) -> list[Item]:
    return [
        Item(
            f"{prefix}{i}",
            {"log_id": f"{prefix}{i}", "type": "s", "date": "2026-11-20T10:00:00.000Z"},
        )
        for i in range(n)
    ]


def test_every_event_is_fed_once_whether_handed_off_or_read_back(tmp_path: Path) -> None:
    events = store.EventStore(store.connect(tmp_path))
    backlog = Backlog(10_000, 0, 0)
    detector = Counting()
    worker = Worker(store.connect(tmp_path), events, detector, backlog)
    a = events.append(_items("a", 3))  # not handed off: the worker must read it back
    backlog.reserve(3)
    backlog.stored(a.tail, 3)
    b = events.append([*_items("b", 2), *_items("a", 1)])  # one duplicate
    assert (b.added, b.duplicates, b.first) == (2, 1, 4) and b.fresh is not None
    backlog.reserve(3)
    backlog.stored(b.tail, 3, b.first, b.fresh, b.dates)
    # a0..a2 read back, only up to b (handed off): b0, b1 then from memory, not read again
    assert backlog.next_handed(0) == 4 and worker.step() == 3 and backlog.handoff_events == 2
    assert worker.step() == 2 and backlog.handoff_events == 0
    c = events.append(_items("c", 2))
    backlog.reserve(2)
    backlog.stored(c.tail, 2, c.first, c.fresh, c.dates)
    assert worker.step() == 2 and worker.step() == 0  # c from memory
    assert detector.fed == ["a0", "a1", "a2", "b0", "b1", "c0", "c1"]
    assert backlog.handoff == {} and backlog.handoff_events == 0
    assert events.cursor() == (7, "2026-11-20T10:00:00.000Z") and backlog.depth == 0


RULE = """
detection: 1
id: ip-failures
title: Failures from one address
description: three failures from one IP
severity: medium
select: 'type:"fp"'
group_by: [ip]
window: 10m
quiet: 30m
threshold:
  count: {gte: 3}
response:
  playbook: auth0-suspicious-ip
  inputs: {ip: "{{ group.ip }}"}
"""


def _fails(prefix: str, hour: int, n: int = 3) -> list[Item]:
    return [
        Item(
            f"{prefix}{i}",
            {
                "log_id": f"{prefix}{i}",
                "type": "fp",
                "ip": "203.0.113.5",
                "date": f"2026-11-20T{hour:02d}:00:0{i}.000Z",
            },
        )
        for i in range(n)
    ]


def test_one_incident_per_attack_and_a_quiet_one_closes(tmp_path: Path) -> None:
    """New evidence joins the open incident (no second response); after ``quiet`` a new one opens."""
    from engine.serve.detect import Detector
    from engine.serve.incidents import list_incidents
    from engine.serve.rules import load_rules

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ip.yaml").write_text(RULE)
    rules = load_rules([tmp_path / "rules"])
    events = store.EventStore(store.connect(tmp_path))
    backlog = Backlog(10_000, 0, 0)
    started: list[int] = []
    worker = Worker(
        store.connect(tmp_path),
        events,
        Detector(rules),
        backlog,
        decide=lambda det, _i: ("any.yaml", {}, "dry-run"),
        start=started.append,
    )

    def feed(items: list[Item]) -> None:
        stored = events.append(items)
        backlog.reserve(len(items))
        backlog.stored(stored.tail, len(items), stored.first, stored.fresh, stored.dates)
        while worker.step():
            pass

    feed(_fails("a", 10))
    feed(_fails("b", 10, 2))  # more evidence, same window: the same incident
    (first,) = list_incidents(worker.conn)
    assert first.status == "open" and first.evidence == 5 and started == [first.id]
    feed([Item("late", {"log_id": "late", "type": "s", "date": "2026-11-20T10:40:00.000Z"})])
    (first,) = list_incidents(worker.conn)
    assert first.status == "closed"  # 40 minutes of event time > quiet (30m) after 10:00:04
    feed(_fails("c", 11))  # the same address again, later: a new incident, a new response
    second, closed = list_incidents(worker.conn)
    assert closed.id == first.id and second.status == "open" and second.evidence == 3
    assert started == [first.id, second.id]
