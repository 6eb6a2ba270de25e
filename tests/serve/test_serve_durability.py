"""What a crash, a stop and a flood do to the stored stream: nothing acknowledged is lost.

A real ``soar serve`` each time: SIGKILL right after a 200 and a restart (the
detector's windows rebuilt from the store); a flood answered by 503 with
``Retry-After`` while memory stays bounded, then SIGTERM with a backlog (every
stored event is detected before the process ends).
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serving import Served, incidents, item, jsonl, serving

RULE = """
detection: 1
id: ip-failures
title: Failures from one address
description: three failures from one IP
severity: medium
select: 'type:"fp" OR type:"fu"'
group_by: [ip]
window: 10m
threshold:
  count: {gte: 3}
"""


@pytest.fixture
def rules(tmp_path: Path) -> list[str]:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "ip-failures.yaml").write_text(RULE)
    return ["--detections", str(folder)]


def _fail(log_id: str, second: int, ip: str = "203.0.113.9") -> dict[str, object]:
    return item(log_id, type="fu", ip=ip, date=f"2026-11-20T10:00:{second:02d}.000Z")


def _cursor(state: Path) -> tuple[int, int]:
    with sqlite3.connect(state / "soar-serve.sqlite3") as db:
        (seq,) = db.execute("SELECT seq FROM cursor").fetchone()
        (tail,) = db.execute("SELECT max(rowid) FROM events").fetchone()
    return int(seq), int(tail)


def test_a_kill_after_a_200_loses_nothing_and_the_window_is_rebuilt(
    tmp_path: Path, rules: list[str]
) -> None:
    state = tmp_path / "state"
    with serving(state, rules) as served:
        assert served.post(jsonl([_fail("k-1", 1), _fail("k-2", 2)])).status_code == 200
        served.wait_consumed()
        served.kill()
    assert incidents(state) == []  # two failures: below the threshold
    with serving(state, rules) as served:
        assert served.health()["stored"] == 2
        # the third failure crosses the threshold only if the restart fed the first two again
        assert served.post(jsonl([_fail("k-3", 3), _fail("k-1", 1)])).json() == {
            "stored": 1,
            "duplicates": 1,
        }
        served.wait_consumed()
        served.stop()
    (incident,) = incidents(state)
    assert incident["group"] == {"ip": "203.0.113.9"} and incident["evidence"] == 3
    assert incident["first"] == "2026-11-20T10:00:01.000Z"


def _rss_mb(served: Served) -> float:
    for line in Path(f"/proc/{served.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_flood_gets_503_with_retry_after_and_a_stop_detects_what_was_stored(
    tmp_path: Path, rules: list[str]
) -> None:
    """Memory stays bounded; SIGTERM with a backlog ends only once every stored event is detected."""
    state = tmp_path / "state"
    with serving(state, [*rules, "--queue-events", "1000"]) as served:
        bodies = [
            jsonl([_fail(f"f-{b}-{i}", i % 60, ip=f"192.0.2.{i % 250}") for i in range(1000)])
            for b in range(16)
        ]
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(served.post, bodies))
        codes = [r.status_code for r in replies]
        assert set(codes) <= {200, 503} and 503 in codes
        busy = next(r for r in replies if r.status_code == 503)
        assert busy.headers["Retry-After"] == "2" and "nothing of this batch" in busy.text
        assert _rss_mb(served) < 400
        _, err = served.stop()  # SIGTERM at once, whatever the backlog
        assert served.proc.returncode == 0, err
    seq, tail = _cursor(state)
    assert tail == 1000 * codes.count(200) and seq == tail  # every 200, and only those
    assert len(incidents(state)) == 250


QUIET_RULE = RULE.replace("window: 10m", "window: 10m\nquiet: 30m")


def test_an_event_dated_far_ahead_closes_no_incident_and_starts_no_second_one(
    tmp_path: Path,
) -> None:
    """One event dated 2099 must not pass for the stream's time: the open incident stays open."""
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "ip-failures.yaml").write_text(QUIET_RULE)
    state = tmp_path / "state"
    with serving(state, ["--detections", str(folder)]) as served:
        assert served.post(jsonl([_fail(f"q-{i}", i) for i in range(3)])).status_code == 200
        served.wait_consumed()
        ahead = item("q-far", type="s", ip="198.51.100.1", date="2099-01-01T00:00:00.000Z")
        assert served.post(jsonl([ahead])).status_code == 200
        served.wait_consumed()
        assert [i["status"] for i in incidents(state)] == ["open"]
        assert served.post(jsonl([_fail(f"q-{i}", i) for i in range(10, 13)])).status_code == 200
        served.wait_consumed()
        served.stop()
    (incident,) = incidents(state)  # the attack's later failures are evidence of the same one
    assert incident["status"] == "open" and incident["evidence"] == 6
