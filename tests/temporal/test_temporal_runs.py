"""Runs through Temporal: a real dev server, two ``soar worker`` processes, the emulator.

What is compared is what an operator sees: ``soar run --json`` and its exit
code, the run log (``soar verify``), the emulator's journal of requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.actions import default_registry
from engine.audit.records import read_records
from engine.drills.drill import client_from_emulator
from engine.emulator import RunningEmulator, start_emulator
from engine.playbook.loader import load_playbook
from engine.run.executor import run_playbook
from tests.localserver import Route, recording_server
from tests.soarcli import ROOT, soar
from tests.temporal.conftest import Workers, readable, temporal_binary, write_spans

TRIAGE = "playbooks/auth0-attack-triage.yaml"
CONTAIN = "playbooks/auth0-contain-user.yaml"


def remote(server: str, queue: str, run_dir: Path, *args: str) -> list[str]:
    return ["--engine", "temporal", "--temporal", server, "--task-queue", queue,
            "--run-dir", str(run_dir), *args]  # fmt: skip


def result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def writes(emu: RunningEmulator, user: str) -> list[tuple[str, str]]:
    """The writes the emulator received for ``user`` (each test has its own)."""
    path = f"/api/v2/users/{user.replace('|', '%7C')}"
    return [
        (e["method"], e["path"])
        for e in emu.journal
        if e["method"] != "GET" and e["path"].startswith(path)
    ]


def quote(user: str) -> str:
    return user.replace("|", "%7C")


def types(log: Path) -> list[str]:
    return [r["type"] for r in read_records(log)]


def shape(log: Path) -> list[tuple[Any, ...]]:
    """Each record's type and step, and a finished step's status and output: not its time,
    nor a search's ``stats`` (how many requests its pages and retries took)."""

    def answer(output: Any) -> Any:
        return (
            {k: v for k, v in output.items() if k != "stats"}
            if isinstance(output, dict)
            else output
        )

    return [
        (r["type"], r.get("step"), r.get("status"), answer(r.get("output")), r.get("outputs"))
        for r in read_records(log)
        if r["type"] != "run.signed"
    ]


def replays(server: str, run_id: str) -> None:
    """Replay the run's workflow history on the workflow code: it fails if it is not
    deterministic (a decision that differs from the one the history recorded). In a
    process of its own: Temporal's runtime is not left behind in the test's."""
    import sys

    script = (
        "import asyncio, os, sys\n"
        "from temporalio.client import Client\n"
        "from temporalio.worker import Replayer\n"
        "from engine.temporal.workflow import RunWorkflow\n"
        "async def go():\n"
        "    client = await Client.connect(sys.argv[1])\n"
        "    history = await client.get_workflow_handle(sys.argv[2]).fetch_history()\n"
        # debug_mode: no deadlock detection (a first activation slower than 2 s on a loaded
        # machine is not a nondeterminism; what is checked is what the code decides)
        "    await Replayer(workflows=[RunWorkflow], debug_mode=True).replay_workflow(history)\n"
        "asyncio.run(go())\n"
        # ended as soar's CLI ends a Temporal command (engine.cli.main): the SDK's Rust
        # threads can abort the interpreter's teardown (SIGABRT, "PyGILState_Release: thread
        # state ... must be current"; temporalio/sdk-python#300), after the replay passed
        "sys.stdout.flush()\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, server, run_id], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def tenant(
    workers: Workers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningEmulator, Path]]:
    """A tenant the tests may write to, and the run folder of the two workers serving it
    (queue ``shared``); each test takes its own user."""
    run_dir = tmp_path_factory.mktemp("runs")
    with start_emulator(scenario="credential-stuffing", seed=2, rate_limit=(1000, 5000.0)) as emu:
        workers(emu, run_dir, "shared", 2)
        yield emu, run_dir


def test_a_triage_through_temporal_is_the_local_engines_run(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    emulator, run_dir = tenant
    env = emulator.env()
    local = soar("run", TRIAGE, "--run-dir", str(tmp_path), "--json", env=env)
    far = soar("run", TRIAGE, *remote(temporal_server, "shared", run_dir), "--json", env=env)
    assert (far.returncode, local.returncode) == (0, 0), far.stderr
    there, here = result(far), result(local)
    assert there["status"] == "succeeded"
    assert there["outputs"] == here["outputs"]
    assert sorted(there["outputs"]["compromised_users"]) == emulator.truth["compromised_users"]
    # the same records, in the same order, of the same steps, with the same outputs
    assert shape(Path(there["run_log"])) == shape(Path(here["run_log"]))
    assert Path(there["run_log"]).parent == run_dir  # written by a worker, in its run folder
    assert soar("verify", there["run_log"]).returncode == 0
    # the same lines an operator reads on stderr: each step, then how the run ended
    assert "ok indicators" in far.stderr and "status: succeeded" in far.stderr
    # what Temporal stored of the run: small values, none of the worker's secrets
    history = subprocess.run(
        [str(temporal_binary()), "workflow", "show", "-w", there["run_id"],
         "--address", temporal_server, "--output", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    text = readable(json.loads(history))
    assert there["run_id"] in history and str(ROOT / TRIAGE) in text  # payloads read, decoded
    assert emulator.client_secret not in text and "Bearer" not in text
    assert "access_token" not in text
    assert len(history) < 1_000_000
    found = next(
        r
        for r in read_records(Path(here["run_log"]))
        if (r["type"], r.get("step")) == ("step.finished", "indicators")
    )
    first = found["output"]["events"]["event_set"]["first"]
    assert first and all(e["log_id"] not in history for e in first)  # events stay in the folder
    replays(temporal_server, there["run_id"])  # the workflow is deterministic


def test_a_write_through_temporal_logs_the_local_engines_records(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    emu, run_dir = tenant
    here_user, there_user = emu.truth["legitimate_users"][0], emu.truth["compromised_users"][2]
    registry = default_registry()
    contain = load_playbook(ROOT / CONTAIN, registry)
    here = run_playbook(
        contain, {"user_id": here_user}, registry=registry, approve=True, run_dir=tmp_path,
        auth0_factory=client_from_emulator(emu),
    )  # fmt: skip
    far = soar(
        "run", CONTAIN, "-i", f"user_id={there_user}", "--yes",
        *remote(temporal_server, "shared", run_dir), "--json", env=emu.env(),
    )  # fmt: skip
    assert far.returncode == 0, far.stderr
    there = result(far)
    assert there["outputs"] == here.outputs == {
        "blocked": True, "sessions_revoked": True, "planned": []
    }  # fmt: skip

    def calls(log: Path) -> list[tuple[Any, ...]]:
        return [(r["type"], r.get("step"), r.get("call")) for r in read_records(log)]

    assert calls(Path(there["run_log"])) == calls(here.run_log)
    # soar show and soar report read it as they read the local engine's
    from engine.audit.report import render
    from engine.audit.show import render_lines

    far_log = Path(there["run_log"])
    assert len(render_lines(far_log)) == len(render_lines(here.run_log))
    report = render(far_log)
    assert there_user.split("|")[1] in report and "| done | `block` |" in report
    assert ("action.call", "block", "block:0") in calls(Path(there["run_log"]))
    # the same requests, each once: the block, then the revocations
    sent = [(m, p.replace(quote(there_user), "USER")) for m, p in writes(emu, there_user)]
    assert sent == [(m, p.replace(quote(here_user), "USER")) for m, p in writes(emu, here_user)]
    assert len(sent) == 3 and sent[0] == ("PATCH", "/api/v2/users/USER")
    # a dry run plans the same calls in both engines, and sends nothing
    dry = soar(
        "run", CONTAIN, "-i", f"user_id={there_user}", "--dry-run",
        *remote(temporal_server, "shared", run_dir), "--json", env=emu.env(),
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    far_dry = result(dry)
    here_dry = run_playbook(
        contain, {"user_id": there_user}, registry=registry,
        dry_run=True, run_dir=tmp_path, auth0_factory=client_from_emulator(emu),
    )  # fmt: skip
    assert far_dry["outputs"] == here_dry.outputs
    assert here_dry.outputs["planned"] == ["block", "revoke_sessions"]
    assert calls(Path(far_dry["run_log"])) == calls(here_dry.run_log)
    assert ("action.planned", "block", "block:0") in calls(here_dry.run_log)
    assert len(writes(emu, there_user)) == 3  # nothing more


def test_an_approval_signal_continues_a_waiting_run(
    tenant: tuple[RunningEmulator, Path], temporal_server: str
) -> None:
    emu, tmp_path = tenant
    victim = emu.truth["compromised_users"][0]
    args = ["-i", f"user_id={victim}", "-i", "revoke_sessions=false"]
    waiting = soar(
        "run", CONTAIN, *args, *remote(temporal_server, "shared", tmp_path), "--json",
        env=emu.env(),
    )  # fmt: skip
    assert waiting.returncode == 3, waiting.stderr  # awaiting approval, as the local engine
    doc = result(waiting)
    assert doc["status"] == "awaiting_approval"
    assert doc["awaiting"]["targets"] == [victim]
    assert f"soar approve {doc['run_id']} --yes" in doc["error"]
    assert writes(emu, victim) == []  # nothing is written while it waits
    approved = soar(
        "approve", doc["run_id"], "--yes", "--temporal", temporal_server,
        "--run-dir", str(tmp_path), "--json",
        env={"USER": "alice", "LOGNAME": "alice"},
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert result(approved)["status"] == "succeeded"
    assert writes(emu, victim) == [("PATCH", f"/api/v2/users/{victim.replace('|', '%7C')}")]
    log = Path(doc["run_log"])
    granted = [r for r in read_records(log) if r["type"] == "approval.granted"]
    assert [(g["by"], g["targets"]) for g in granted] == [("alice", [victim])]
    assert granted[0]["decided_at"] < granted[0]["ts"]
    resumed = [r for r in read_records(log) if r["type"] == "run.resumed"]
    assert [(r["operator"], r["approval"]) for r in resumed] == [("alice", "granted")]
    assert soar("verify", str(log)).returncode == 0
    replays(temporal_server, doc["run_id"])  # its signal and its wait replay as they happened
    again = soar(
        "approve", doc["run_id"], "--deny", "--temporal", temporal_server,
        "--run-dir", str(tmp_path),
    )  # fmt: skip
    assert again.returncode == 2 and "not waiting for an approval" in again.stderr


def test_a_deadline_without_a_decision_denies(
    tenant: tuple[RunningEmulator, Path], temporal_server: str
) -> None:
    emu, tmp_path = tenant
    victim = emu.truth["compromised_users"][1]
    waiting = soar(
        "run", CONTAIN, "-i", f"user_id={victim}",
        *remote(temporal_server, "shared", tmp_path), "--approval-timeout", "2s", "--json",
        env=emu.env(),
    )  # fmt: skip
    assert waiting.returncode == 3, waiting.stderr
    log = Path(result(waiting)["run_log"])
    denied = wait_for(log, "approval.denied", timeout=20)
    assert denied["by"] == "deadline" and denied["targets"] == [victim]
    finished = wait_for(log, "run.finished", after=denied["seq"], timeout=10)
    assert finished["status"] == "awaiting_approval"
    assert writes(emu, victim) == []
    assert soar("verify", str(log)).returncode == 0


def test_a_worker_killed_inside_a_write_leaves_it_to_the_other_sent_once(
    temporal_server: str, workers: Workers, tmp_path: Path
) -> None:
    # every Management API request waits 1 s in the emulator (counted, then served): once the
    # send has begun, the write reads the user (0-1 s), then its PATCH is in the emulator (1-2 s)
    with start_emulator(
        scenario="credential-stuffing", seed=4, rate_limit=(1000, 5000.0), latency_ms=1000
    ) as emu:
        keys = tmp_path / "keys"
        assert soar("keys", "generate", "-o", str(keys)).returncode == 0
        signing = {"SOAR_SIGNING_KEY_FILE": str(keys / "soar-signing.key")}
        pool = {p.pid: p for p in workers(emu, tmp_path, "kill", 2, signing)}
        victim = emu.truth["compromised_users"][0]
        run = subprocess.Popen(
            [*soar_args(), "run", CONTAIN, "-i", f"user_id={victim}", "-i",
             "revoke_sessions=false", "--yes", "--heartbeat-timeout", "2",
             *remote(temporal_server, "kill", tmp_path), "--json"],
            env={**clean_env(), **emu.env()},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        log = wait_log(tmp_path, timeout=20)
        call = wait_for(log, "action.call", timeout=20)
        mark = log.with_name(f"{call['run_id']}.sends") / "block.0.json"
        first = wait_json(mark, timeout=10)  # the send's idempotency key, before it sends
        time.sleep(1.4)  # the PATCH has left the worker, its answer has not come back
        holder = first["pid"]
        os.kill(holder, signal.SIGKILL)
        pool[holder].wait(5)
        out, err = run.communicate(timeout=40)
        assert run.returncode == 0, err
        assert json.loads(out)["status"] == "succeeded"
        records = read_records(log)
        assert [r for r in records if r["type"] == "run.resumed"] == []  # no resume: a retry
        result_rec = next(r for r in records if r["type"] == "action.result")
        between = [r["type"] for r in records if call["seq"] < r["seq"] < result_rec["seq"]]
        assert between == []  # one write: its call, then its result
        key = f"{call['run_id']}/block:0"
        assert call["idempotency_key"] == key == first["idempotency_key"]
        # the send activity was tried again on the other worker, which recognised the key
        survivor = next(pid for pid in pool if pid != holder)
        again = json.loads(mark.read_text())
        assert (again["pid"], again["attempt"], again["idempotency_key"]) == (survivor, 2, key)
        assert result_rec["redelivered"]["pid"] == holder
        # Temporal's history keeps an activity's last attempt: the second, the survivor's
        assert send_attempts(temporal_server, call["run_id"]) == [(2, survivor)]
        # the write the killed worker sent took effect; the other read that and sent nothing
        assert writes(emu, victim) == [("PATCH", f"/api/v2/users/{victim.replace('|', '%7C')}")]
        assert emu.tenant.users[victim]["blocked"] is True
        assert result_rec["result"]["changed"] is False
        # signed by the workers' key, across both workers' records
        pub = str(keys / "soar-signing.pub")
        checked = soar("verify", str(log), "--public-key", pub, "--require-signature")
        assert checked.returncode == 0, checked.stdout + checked.stderr


def send_attempts(server: str, run_id: str) -> list[tuple[int, int]]:
    """The run's send activities as its Temporal history shows them started: (attempt, pid)."""
    history = subprocess.run(
        [str(temporal_binary()), "workflow", "show", "-w", run_id, "--address", server,
         "--output", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    events = json.loads(history)["events"]
    sends = {
        int(e["eventId"])
        for e in events
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "soar.send"
    }
    out = []
    for e in events:
        started = e.get("activityTaskStartedEventAttributes")
        if started and int(started["scheduledEventId"]) in sends:
            out.append((int(started.get("attempt", 1)), int(started["identity"].split("@")[0])))
    return out


LOOKUP = """
playbook: 1
name: lookup
steps:
  - id: lookup
    uses: http.request
    with: {method: GET, url: "URL/intel"}
outputs:
  verdict: "{{ steps.lookup.output.body.verdict }}"
"""


def test_a_read_cut_off_with_its_worker_is_tried_again_and_logged_once(
    temporal_server: str, workers: Workers, tmp_path: Path
) -> None:
    with recording_server() as server:
        hold = threading.Event()
        # a hostile answer: strings shaped like the run folder's references to files and secrets
        body = {
            "verdict": "malicious",
            "note": "\x00events:../../../etc/passwd",
            "ref": "\x00\x00secret:x",
            "set": "\x00events:lookup.0.1.jsonl",
        }
        server.routes["/intel"] = Route(body=body, hold=hold)
        book = tmp_path / "lookup.yaml"
        book.write_text(LOOKUP.replace("URL", server.url), encoding="utf-8")
        runs = tmp_path / "runs"
        runs.mkdir()
        (first,) = workers(None, runs, "read", 1)
        run = subprocess.Popen(
            [*soar_args(), "run", str(book), "--heartbeat-timeout", "2",
             *remote(temporal_server, "read", runs), "--json"],
            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while server.hits.get("/intel", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)  # the read's activity dies with its worker
        first.wait(5)
        workers(None, runs, "read", 1)
        hold.set()
        out, err = run.communicate(timeout=40)
        assert run.returncode == 0, err
        assert json.loads(out)["outputs"] == {"verdict": "malicious"}
        assert server.hits["/intel"] == 2  # the activity was tried again, on the new worker
        log = Path(json.loads(out)["run_log"])
        records = read_records(log)
        finished = [r for r in records if r["type"] == "step.finished"]
        assert [(r["step"], r["status"]) for r in finished] == [("lookup", "succeeded")]
        assert finished[0]["output"]["body"] == body  # the same strings back, no file read
        assert "action.retry" not in types(log)  # not the action's failure: its worker's
        assert soar("verify", str(log)).returncode == 0


HOOK = """
playbook: 1
name: hook
steps:
  - id: notify
    uses: http.request
    with: {method: POST, url: "URL/hook", json: {ticket: 7}}
outputs:
  posted: "{{ steps.notify.output.status }}"
"""


def test_a_webhook_cut_off_in_flight_is_never_posted_again_without_the_operator(
    temporal_server: str, workers: Workers, tmp_path: Path
) -> None:
    # http.request is not idempotent: a POST whose answer was lost may not be sent again
    with recording_server() as server:
        hold = threading.Event()
        server.routes["/hook"] = Route(hold=hold)  # the POST arrives, its answer waits
        book = tmp_path / "hook.yaml"
        book.write_text(HOOK.replace("URL", server.url), encoding="utf-8")
        runs = tmp_path / "runs"
        runs.mkdir()
        pool = {p.pid: p for p in workers(None, runs, "hook", 2)}
        run = subprocess.Popen(
            [*soar_args(), "run", str(book), "--yes", "--heartbeat-timeout", "2",
             *remote(temporal_server, "hook", runs), "--json"],
            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while server.hits.get("/hook", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        log = wait_log(runs, timeout=5)
        holder = wait_json(log.with_name(f"{log.stem}.sends") / "notify.0.json", 5)["pid"]
        os.kill(holder, signal.SIGKILL)
        pool[holder].wait(5)
        hold.set()  # the POST took effect; the worker that sent it never heard
        out, err = run.communicate(timeout=40)
        assert run.returncode == 3, err  # waiting for an operator, not sent again
        doc = json.loads(out)
        assert doc["awaiting"]["reason"] == "unknown_outcome"
        assert "outcome is unknown" in doc["error"]
        assert server.count("POST", "/hook") == 1
        approved = soar(
            "approve", doc["run_id"], "--yes", "--temporal", temporal_server,
            "--run-dir", str(runs), "--json",
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr  # the operator checked: send it
        assert server.count("POST", "/hook") == 2
        resumed = [r for r in read_records(log) if r["type"] == "run.resumed"]
        assert [r["resend_unknown"] for r in resumed] == [True]  # after the operator's grant
        assert soar("verify", str(log)).returncode == 0


def test_a_playbook_that_is_not_the_submitted_one_is_refused_not_retried(
    tenant: tuple[RunningEmulator, Path], temporal_server: str
) -> None:
    from engine.errors import TemporalError
    from engine.run.state import new_run_id
    from engine.temporal.client import submit_and_follow
    from engine.temporal.spec import RunSpec

    _, run_dir = tenant
    spec = RunSpec(new_run_id(), str(ROOT / TRIAGE), "0" * 64, {}, "mallory")
    started = time.monotonic()
    with pytest.raises(TemporalError, match="is not the playbook submitted"):
        submit_and_follow(
            spec, address=temporal_server, namespace="default", task_queue="shared",
            run_dir=run_dir,
        )  # fmt: skip
    assert time.monotonic() - started < 10  # refused at once: no retry can change it
    assert not (run_dir / f"{spec.run_id}.jsonl").exists()


def test_an_unreachable_server_is_said_and_nothing_runs(tmp_path: Path) -> None:
    pytest.importorskip("temporalio", reason="the temporal extra (temporalio) is not installed")
    key = "tk-" + "8f3a" * 12  # a Temporal Cloud API key: read by the SDK, never shown
    proc = soar(
        "run", TRIAGE, *remote("127.0.0.1:9", "soar", tmp_path),
        env={"AUTH0_DOMAIN": "x.invalid", "TEMPORAL_API_KEY": key},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "cannot reach the Temporal server at 127.0.0.1:9" in proc.stderr
    assert key not in proc.stderr + proc.stdout
    assert list(tmp_path.iterdir()) == []


def soar_args() -> list[str]:
    import sys

    return [sys.executable, "-m", "engine"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}


def wait_log(run_dir: Path, timeout: float) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = sorted(run_dir.glob("*.jsonl"))
        if logs:
            return logs[0]
        time.sleep(0.05)
    raise AssertionError(f"no run log in {run_dir} after {timeout}s")


def wait_for(log: Path, kind: str, *, timeout: float, after: int = -1) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in read_records(log):
            if rec["type"] == kind and rec["seq"] > after:
                return rec
        time.sleep(0.05)
    raise AssertionError(f"no {kind} in {log} after {timeout}s: {types(log)}")


def wait_json(path: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            doc: dict[str, Any] = json.loads(path.read_text())
            return doc
        time.sleep(0.02)
    raise AssertionError(f"no {path} after {timeout}s")


def test_a_protected_account_is_refused_and_the_run_fails_as_the_local_engines(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    """Every call of the write step refused: nothing asked, nothing sent, the step fails
    naming the refusal, and the run ends (it must not wait for an answer no one can give)."""
    emu, run_dir = tenant
    user = emu.truth["legitimate_users"][1]
    env = {**emu.env(), "SOAR_PROTECTED_USERS": user}
    here = soar("run", CONTAIN, "-i", f"user_id={user}", "--yes", "--run-dir", str(tmp_path),
                "--json", env=env)  # fmt: skip
    far = soar("run", CONTAIN, "-i", f"user_id={user}", "--yes",
               *remote(temporal_server, "shared", run_dir), "--json", env=env)  # fmt: skip
    assert (far.returncode, here.returncode) == (1, 1), far.stderr
    assert result(far)["status"] == result(here)["status"] == "failed"
    assert shape(Path(result(far)["run_log"])) == shape(Path(result(here)["run_log"]))
    assert writes(emu, user) == []


def test_an_effect_that_fails_for_good_fails_the_run_with_its_error(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    """A file in the way of the send's idempotency marks: no attempt can send (a retry cannot
    help), so the run ends at once, failed, with that error in its log, nothing sent."""
    from engine.run.state import new_run_id
    from engine.temporal.client import submit_and_follow
    from engine.temporal.spec import RunSpec

    _, run_dir = tenant
    with recording_server() as server:
        book = tmp_path / "hook.yaml"
        book.write_text(HOOK.replace("URL", server.url), encoding="utf-8")
        sha = load_playbook(book, default_registry()).sha256
        spec = RunSpec(new_run_id(), str(book), sha, {}, "mallory", yes=True)
        (run_dir / f"{spec.run_id}.sends").write_text("not a folder")
        started = time.monotonic()
        ended = submit_and_follow(
            spec, address=temporal_server, namespace="default", task_queue="shared",
            run_dir=run_dir,
        )  # fmt: skip
        took = time.monotonic() - started
        assert server.count("POST", "/hook") == 0
    assert ended.status == "failed"  # soar run's exit code 1, as a local run that failed
    assert ended.error is not None
    why = "soar.send failed on the workers (FileExistsError): [Errno 17] File exists"
    assert ended.error.startswith(f"step 'notify' failed: {why}")
    assert took < 15  # not retried: a file in the way stays in the way
    records = read_records(ended.run_log)
    assert [r["type"] for r in records][-3:] == ["action.call", "step.finished", "run.finished"]
    step, run = records[-2:]  # as a local run whose step failed: the step, then the run
    assert (step["status"], run["status"], run["error"]) == ("failed", "failed", ended.error)
    assert step["error"].startswith(why)
    assert "action.result" not in types(ended.run_log)  # its outcome: never sent
    assert soar("verify", str(ended.run_log)).returncode == 0


def test_two_runs_by_hand_writing_one_account_write_one_after_the_other(
    temporal_server: str, workers: Workers, tmp_path: Path
) -> None:
    """Each write takes its target's lock, whoever started the run: two ``soar run`` at once
    on one account (each request 300 ms: their blocks would overlap) write in turn, and the
    second reads the account as the first left it."""
    with start_emulator(
        scenario="credential-stuffing", seed=5, rate_limit=(1000, 5000.0), latency_ms=300
    ) as emu:
        workers(emu, tmp_path, "serial", 2)
        victim = emu.truth["compromised_users"][0]
        command = [*soar_args(), "run", CONTAIN, "-i", f"user_id={victim}", "-i",
                   "revoke_sessions=false", "--yes", *remote(temporal_server, "serial", tmp_path),
                   "--json"]  # fmt: skip
        env = {**clean_env(), **emu.env()}
        runs = [
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        done = [run.communicate(timeout=60) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], [err for _, err in done]
        logs = [Path(json.loads(out)["run_log"]) for out, _ in done]
        # one PATCH: the second block found the account blocked
        assert writes(emu, victim) == [("PATCH", f"/api/v2/users/{quote(victim)}")]
    (first,), (second,) = sorted(write_spans(read_records(log)) for log in logs)
    assert first[1] <= second[0]  # the second's action.call once the first's result was logged
    assert (first[2]["result"]["changed"], second[2]["result"]["changed"]) == (True, False)
    assert all(soar("verify", str(log)).returncode == 0 for log in logs)
