"""``soar resume``: a killed run finishes without repeating a completed write."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from executor_actions import make_registry, playbook, records
from localserver import RecordingServer, Route, recording_server
from soarcli import spawn, wait_until

from engine.audit.runlog import read_records, verify
from engine.errors import RunLogError
from engine.run.executor import run_playbook
from engine.run.resume import resume_run

ROOT = Path(__file__).parents[2]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


KILLED = """
playbook: 1
name: killed
steps:
  - id: w1
    uses: http.request
    with: {method: POST, url: "URL/w1", json: {n: 1}}
  - id: slow1
    uses: http.request
    with: {method: GET, url: "URL/slow1"}
  - id: w2
    uses: http.request
    with: {method: POST, url: "URL/w2", json: {n: 2}}
  - id: slow2
    uses: http.request
    with: {method: GET, url: "URL/slow2"}
  - id: w3
    uses: http.request
    with: {method: POST, url: "URL/w3", json: {n: 3}}
outputs:
  last: "{{ steps.w3.output.status }}"
"""


def soar(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def test_a_run_killed_mid_way_verifies_incomplete_and_resumes(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.routes["/slow1"] = Route(delay=0.2)
    server.routes["/slow2"] = Route(delay=30)  # the run is killed while waiting here
    pb = tmp_path / "killed.yaml"
    pb.write_text(KILLED.replace("URL", server.url), encoding="utf-8")
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    proc = spawn("run", str(pb), "--yes", "--run-dir", str(runs))
    try:
        wait_until(proc, lambda: server.hits.get("/slow2", 0) > 0)  # then kill it there
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert server.count("POST", "/w1") == 1 and server.count("POST", "/w2") == 1
    log = next(runs.glob("*.jsonl"))  # a SIGKILLed run leaves its (stale) lock file too
    check = subprocess.run(soar("verify", str(log)), cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 3, check.stdout
    assert "incomplete" in check.stdout

    server.routes["/slow2"] = Route()
    resumed = subprocess.run(
        soar("resume", str(log), "--yes", "--json"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["status"] == "succeeded" and doc["outputs"] == {"last": 200}
    # every write exactly once: the completed ones were reused, not repeated
    assert [server.count("POST", p) for p in ("/w1", "/w2", "/w3")] == [1, 1, 1]
    assert verify(log).code == 0
    assert verify(log, doc["final_hash"]).code == 0
    reused = [r["step"] for r in records(log, "action.reused")]
    assert reused == ["w1", "w2"]
    assert len(records(log, "run.resumed")) == 1


BLOCK = """
playbook: 1
name: block
steps:
  - id: find
    uses: http.request
    with: {method: GET, url: "URL/users"}
  - id: block
    uses: ACTION
    for_each: "{{ steps.find.output.body }}"
    max_parallel: 1
    with: {user_id: "{{ item }}"}
"""


def cut_after(log: Path, keep: int) -> None:
    """Keep the first ``keep`` records: what a crash at that point would have left."""
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:keep]), encoding="utf-8")


def first_seq(log: Path, kind: str, n: int = 0) -> int:
    return int(records(log, kind)[n]["seq"])


def test_a_partly_sent_step_keeps_the_targets_it_was_approved_for(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.routes["/users"] = Route(body=["u1", "u2", "u3"])
    reg = make_registry(server.url)
    pb = playbook(BLOCK.replace("URL", server.url).replace("ACTION", "t.block"), reg, tmp_path)
    first = run_playbook(pb, {}, registry=reg, approve=True, run_dir=tmp_path / "runs")
    log = first.run_log
    cut_after(log, first_seq(log, "action.result", 1) + 1)  # u1 and u2 done, then a crash
    # a copy of the log, resumed elsewhere, must not repeat them either
    copy = tmp_path / "elsewhere" / log.name
    copy.parent.mkdir()
    shutil.copy(log, copy)
    server.routes["/users"] = Route(body=["u9", "u3", "u2", "u1"])  # a new one, and reordered
    result = resume_run(log, registry=reg)  # approved earlier: no new approval needed
    assert result.status == "succeeded", result.error
    counts = {u: server.count("POST", f"/users/{u}") for u in ("u1", "u2", "u3", "u9")}
    assert counts == {"u1": 1, "u2": 1, "u3": 2, "u9": 0}  # only u3, whose result was cut
    assert [o["user_id"] for o in result.steps["block"].output] == ["u1", "u2", "u3"]
    again = resume_run(copy, registry=reg)
    assert again.status == "succeeded", again.error
    assert server.count("POST", "/users/u1") == 1 and server.count("POST", "/users/u2") == 1
    assert server.count("POST", "/users/u9") == 0
    assert verify(log).code == 0 and verify(copy).code == 0


@pytest.mark.parametrize(("action", "resent"), [("t.block", 0), ("t.block_idem", 1)])
def test_a_write_of_unknown_outcome_is_handled_conservatively(
    server: RecordingServer, tmp_path: Path, action: str, resent: int
) -> None:
    server.routes["/users"] = Route(body=["u1", "u2"])
    reg = make_registry(server.url)
    pb = playbook(BLOCK.replace("URL", server.url).replace("ACTION", action), reg, tmp_path)
    first = run_playbook(pb, {}, registry=reg, approve=True, run_dir=tmp_path / "runs")
    log = first.run_log
    cut_after(log, first_seq(log, "action.call", 1) + 1)  # u2 was sent, its result never logged
    result = resume_run(log, registry=reg, approve=True)
    assert server.count("POST", "/users/u1") == 1
    assert server.count("POST", "/users/u2") == 1 + resent
    if resent:
        assert result.status == "succeeded"
    else:  # the run waits for the operator to check u2 by hand; it stays resumable
        assert result.status == "awaiting_approval"
        assert "whether they took effect is unknown" in str(result.error)
        assert "--resend-unknown" in str(result.error)
        stop = records(log, "approval.required")[-1]
        assert stop["reason"] == "unknown_outcome" and stop["targets"] == ["u2"]
        assert verify(log).code == 0
        # the approval given before the cut still covers the same calls: no new one needed
        again = resume_run(log, registry=reg, resend_unknown=True)
        assert again.status == "succeeded", again.error
        assert server.count("POST", "/users/u1") == 1  # completed: reused, never repeated
        assert server.count("POST", "/users/u2") == 2  # confirmed by the operator: sent again
        assert records(log, "run.resumed")[-1]["resend_unknown"] is True
    assert verify(log).code == 0


def test_resume_refuses_finished_changed_or_tampered_runs(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.routes["/users"] = Route(body=["u1"])
    reg = make_registry(server.url)
    pb = playbook(BLOCK.replace("URL", server.url).replace("ACTION", "t.block"), reg, tmp_path)
    done = run_playbook(pb, {}, registry=reg, approve=True, run_dir=tmp_path / "runs")
    with pytest.raises(RunLogError, match="already finished with status 'succeeded'"):
        resume_run(done.run_log, registry=reg)

    waiting = run_playbook(pb, {}, registry=reg, run_dir=tmp_path / "runs")
    assert waiting.status == "awaiting_approval"
    text = waiting.run_log.read_text()
    waiting.run_log.write_text(text.replace('"u1"', '"u9"', 1))
    with pytest.raises(RunLogError, match="tampered"):
        resume_run(waiting.run_log, registry=reg, approve=True)
    waiting.run_log.write_text(text)

    (tmp_path / "pb.yaml").write_text(
        (tmp_path / "pb.yaml").read_text() + "# edited\n", encoding="utf-8"
    )
    with pytest.raises(RunLogError, match="changed since the run started"):
        resume_run(waiting.run_log, registry=reg, approve=True)
    assert server.count("POST", "/users/u1") == 1
    assert read_records(waiting.run_log)[-1]["status"] == "awaiting_approval"
