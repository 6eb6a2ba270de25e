"""Group commit: concurrent batches share one transaction, and a 200 still means durably stored.

In-process against a real SQLite file: batches queued together are committed
in one transaction, deduplicated across each other, handed to the backlog in
commit order; a commit that fails (the database locked by another process's
writer, a real SQLite failure) fails every batch of its group and stores none.
Then a real ``soar serve`` under many concurrent posters, SIGKILLed: every
event of every 200 is in the store.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serving import item, jsonl, serving

from engine.serve import store
from engine.serve.ingest import Item
from engine.serve.worker import Backlog
from engine.serve.writer import GroupWriter


def _items(prefix: str, n: int) -> list[Item]:
    return [Item(f"{prefix}{i}", {"log_id": f"{prefix}{i}", "type": "s"}) for i in range(n)]


def _reserved(backlog: Backlog, *batches: list[Item]) -> None:
    for batch in batches:
        assert backlog.reserve(len(batch))


def test_batches_waiting_together_are_one_transaction_deduplicated_across_each_other(
    tmp_path: Path,
) -> None:
    events = store.EventStore(store.connect(tmp_path))
    backlog = Backlog(10_000, 0, 0)
    writer = GroupWriter(events, backlog)
    a, b, c = _items("a", 3), [*_items("b", 2), *_items("a", 2)], _items("c", 1)
    _reserved(backlog, a, b, c)
    futures = [writer.submit(batch) for batch in (a, b, c)]  # queued before the thread runs
    writer.start()
    got = [f.result(timeout=10) for f in futures]
    writer.close()
    assert writer.groups == 1  # one BEGIN ... COMMIT for the three requests
    assert [(g.added, g.duplicates, g.first, g.tail) for g in got] == [
        (3, 0, 1, 3),
        (2, 2, 4, 5),  # a0, a1 were stored by the batch before it, in the same transaction
        (1, 0, 6, 6),
    ]
    assert backlog.tail == 6 and backlog.reserved == 0
    assert sorted(backlog.handoff) == [1, 4, 6]  # each batch handed to the worker from memory
    assert events.count() == 6


def test_a_failed_commit_fails_every_batch_of_its_group_and_stores_none(tmp_path: Path) -> None:
    store.connect(tmp_path).close()  # the schema
    quick = sqlite3.connect(  # the writer's connection gives up on a lock after 0.2 s
        tmp_path / store.DB_NAME, isolation_level=None, check_same_thread=False, timeout=0.2
    )
    events = store.EventStore(quick)
    backlog = Backlog(10_000, 0, 0)
    writer = GroupWriter(events, backlog)
    other = sqlite3.connect(tmp_path / store.DB_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database
    a, b = _items("a", 2), _items("b", 2)
    _reserved(backlog, a, b)
    futures = [writer.submit(a), writer.submit(b)]
    writer.start()
    for future in futures:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            future.result(timeout=10)
    assert backlog.reserved == 0 and backlog.tail == 0  # the room given back, nothing handed on
    other.execute("ROLLBACK")
    assert events.count() == 0
    _reserved(backlog, a)
    assert writer.submit(a).result(timeout=10).added == 2  # the next group commits
    writer.close()
    assert writer.groups == 1


def test_many_concurrent_posters_then_sigkill_every_200_is_stored(tmp_path: Path) -> None:
    state = tmp_path / "state"
    bodies = [
        jsonl([item(f"p{p}-{i}", type="s", ip="198.51.100.7") for i in range(200)])
        for p in range(24)
    ]
    with serving(state) as served:
        with ThreadPoolExecutor(12) as pool:
            codes = [r.status_code for r in pool.map(served.post, bodies)]
        served.kill()  # SIGKILL right after the last 200: no shutdown, no flush
    assert codes == [200] * 24
    with sqlite3.connect(state / store.DB_NAME) as db:
        stored = {row[0] for row in db.execute("SELECT log_id FROM events")}
    assert stored == {f"p{p}-{i}" for p in range(24) for i in range(200)}


def test_a_batch_whose_request_was_cancelled_before_it_was_taken_is_left_out(
    tmp_path: Path,
) -> None:
    events = store.EventStore(store.connect(tmp_path))
    backlog = Backlog(10_000, 0, 0)
    writer = GroupWriter(events, backlog)
    gone, kept = _items("gone", 2), _items("kept", 3)
    _reserved(backlog, gone, kept)
    cancelled, waiting = writer.submit(gone), writer.submit(kept)
    assert cancelled.cancel()  # what asyncio does to the future of a request it cancels
    writer.start()
    assert waiting.result(timeout=10).added == 3
    writer.close()
    assert events.count() == 3 and backlog.reserved == 0 and backlog.tail == 3


def test_a_batch_after_close_fails_at_once_instead_of_waiting_forever(tmp_path: Path) -> None:
    backlog = Backlog(10, 0, 0)
    writer = GroupWriter(store.EventStore(store.connect(tmp_path)), backlog)
    writer.start()
    writer.close()
    _reserved(backlog, _items("late", 1))
    with pytest.raises(RuntimeError, match="stopping"):
        writer.submit(_items("late", 1)).result(timeout=5)
    assert backlog.reserved == 0
