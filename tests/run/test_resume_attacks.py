"""Attacks on ``soar resume`` (issue 10, items 1, 2, 3 and 5), each performed for real.

Real local servers only: two emulated Auth0 tenants, the recording HTTP server,
``soar`` run as separate processes (SIGKILLed where a crash is the attack).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from executor_actions import make_registry, playbook, records
from localserver import RecordingServer, Route, recording_server
from soarcli import ROOT, soar, spawn, wait_until

from engine.actions import default_registry
from engine.audit.runlog import read_records, verify
from engine.emulator import RunningEmulator, start_emulator
from engine.errors import RunLogError
from engine.run.approval import ApprovalRequest
from engine.run.executor import run_playbook
from engine.run.resume import resume_run
from engine.run.runlock import RunLock, lock_path


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


def cut_after(log: Path, keep: int) -> None:
    """Keep the first ``keep`` records: what a crash at that point would have left."""
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:keep]), encoding="utf-8")


def assert_schema(log: Path) -> None:
    """Every record as schemas/runlog.schema.json documents it (step.inputs, run.resumed, ...)."""
    schema = json.loads((ROOT / "schemas" / "runlog.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for rec in read_records(log):
        assert list(validator.iter_errors(rec)) == [], rec


def seq_of(log: Path, kind: str, n: int = 0) -> int:
    return int(records(log, kind)[n]["seq"])


# -- item 1: a resume writes only to the tenant (and with the client) the run was approved for --

CONTAIN = """
playbook: 1
name: contain
inputs:
  users: {type: array, required: true}
steps:
  - id: block
    uses: auth0.block_user
    for_each: "{{ inputs.users }}"
    max_parallel: 1
    with: {user_id: "{{ item }}"}
"""


@pytest.fixture
def two_tenants() -> Iterator[tuple[RunningEmulator, RunningEmulator]]:
    # the same scenario and seed: the same user ids exist in both, as in the reported attack
    with (
        start_emulator(scenario="quiet", seed=3, events=300, rate_limit=(1000, 5000.0)) as a,
        start_emulator(scenario="quiet", seed=3, events=300, rate_limit=(1000, 5000.0)) as b,
    ):
        yield a, b


def test_a_resume_against_another_tenant_or_client_is_refused(
    two_tenants: tuple[RunningEmulator, RunningEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = two_tenants
    users = a.truth["legitimate_users"][:3]
    assert set(users) <= set(b.truth["legitimate_users"])
    pb_path = tmp_path / "contain.yaml"
    pb_path.write_text(CONTAIN, encoding="utf-8")
    reg = default_registry()
    for k, v in a.env().items():
        monkeypatch.setenv(k, v)
    first = run_playbook(
        playbook(CONTAIN, reg, tmp_path),
        {"users": users},
        registry=reg,
        approve=True,
        run_dir=tmp_path / "runs",
    )
    log = first.run_log
    started = read_records(log)[0]
    assert started["tenant_url"] == a.base_url and started["client_id"] == a.client_id
    cut_after(log, seq_of(log, "action.result", 0) + 1)  # one user blocked, then cut off
    a_writes = len(a.tenant.writes())
    before = log.read_bytes()

    other = soar("resume", str(log), "--yes", env=b.env())
    assert other.returncode == 2, other.stderr
    assert a.base_url in other.stderr and b.base_url in other.stderr
    assert "Traceback" not in other.stderr
    assert b.tenant.writes() == []  # nothing at all was sent to tenant B
    assert log.read_bytes() == before  # and nothing was appended to the log

    same_domain = {
        **a.env(),
        "AUTH0_CLIENT_ID": b.client_id,
        "AUTH0_CLIENT_SECRET": b.client_secret,
    }
    wrong_client = soar("resume", str(log), "--yes", env=same_domain)
    assert wrong_client.returncode == 2
    assert a.client_id in wrong_client.stderr and b.client_id in wrong_client.stderr
    assert len(a.tenant.writes()) == a_writes and log.read_bytes() == before

    result = resume_run(log, registry=reg, approve=True, operator="bob")
    assert result.status == "succeeded", result.error
    blocked = [e["path"] for e in a.tenant.writes() if e["method"] == "PATCH"]
    assert len(blocked) == 3  # the first once, the two cut off once each
    resumed = records(log, "run.resumed")[-1]
    assert resumed["operator"] == "bob" and resumed["host"] and resumed["pid"] == os.getpid()
    assert resumed["tenant_url"] == a.base_url and resumed["client_id"] == a.client_id
    assert resumed["approval"] == "--yes"
    assert verify(log).code == 0


# -- item 2: a sent write is never sent again, even when the read that fed it changes --

HOOK = """
playbook: 1
name: hook
steps:
  - id: count
    uses: http.request
    with: {method: GET, url: "URL/count"}
  - id: notify
    uses: http.request
    with: {method: POST, url: "URL/hook", json: {failures: "{{ steps.count.output.body.n }}"}}
  - id: slow
    uses: http.request
    with: {method: GET, url: "URL/slow"}
  - id: close
    uses: http.request
    with: {method: POST, url: "URL/close", json: {failures: "{{ steps.count.output.body.n }}"}}
outputs:
  closed: "{{ steps.close.output.status }}"
"""


def test_a_sent_webhook_is_not_posted_again_when_its_read_changes_after_sigkill(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.routes["/count"] = Route(body={"n": 3})
    server.routes["/slow"] = Route(delay=30)  # the run is killed while waiting here
    pb = tmp_path / "hook.yaml"
    pb.write_text(HOOK.replace("URL", server.url), encoding="utf-8")
    runs = tmp_path / "runs"
    proc = spawn("run", str(pb), "--yes", "--run-dir", str(runs))
    try:
        wait_until(proc, lambda: server.hits.get("/slow", 0) > 0)  # then kill it there
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert server.count("POST", "/hook") == 1
    log = next(runs.glob("*.jsonl"))
    server.routes["/count"] = Route(body={"n": 4})  # the read would now say something new
    server.routes["/slow"] = Route()
    out = soar("resume", str(log), "--yes", "--json")
    assert out.returncode == 0, out.stderr
    assert server.count("POST", "/hook") == 1  # sent once, never again
    assert server.count("GET", "/count") == 1  # the read that fed it was replayed from the log
    assert "count (replayed from the log)" in out.stderr
    hooks = [r.body for r in server.writes()]
    assert hooks == [{"failures": 3}, {"failures": 3}]  # /close saw the same data as /hook
    assert [r["step"] for r in records(log, "action.reused")] == ["notify"]
    assert any(r.get("replayed") for r in records(log, "step.finished") if r["step"] == "count")
    assert verify(log, json.loads(out.stdout)["final_hash"]).code == 0
    assert_schema(log)


# -- items 2 and 5: what would be sent changed since it was shown: a new approval, with the diff --


NOTIFY_EACH = """
playbook: 1
name: notify_each
steps:
  - id: find
    uses: http.request
    with: {method: GET, url: "URL/users"}
  - id: notify
    uses: http.request
    for_each: "{{ steps.find.output.body }}"
    with: {method: POST, url: "URL/users/{{ item }}"}
"""


def test_changed_targets_stop_for_a_new_approval_showing_the_difference(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.routes["/users"] = Route(body=["u1", "u2"])
    pb = tmp_path / "notify.yaml"
    pb.write_text(NOTIFY_EACH.replace("URL", server.url), encoding="utf-8")
    runs = tmp_path / "runs"
    waiting = soar("run", str(pb), "--run-dir", str(runs))
    assert waiting.returncode == 3, waiting.stderr  # shown u1, u2; nothing approved
    log = next(runs.glob("*.jsonl"))
    server.routes["/users"] = Route(body=["u1", "u2", "u9"])  # more targets than were shown
    first = soar("resume", str(log), "--yes")
    assert first.returncode == 3, first.stderr  # --yes cannot approve what nobody has seen
    assert f"+ {server.url}/users/u9" in first.stderr
    assert f"soar resume {log} --yes" in first.stderr
    assert server.writes() == []
    assert records(log, "approval.required")[-1]["reason"] == "changed"
    change = records(log, "approval.changed")[-1]
    assert [(c["change"], c["new"]["target"]) for c in change["changes"]] == [
        ("added", f"{server.url}/users/u9")
    ]
    shown = soar("show", str(log)).stdout
    assert "approval.changed for notify" in shown and f"+ {server.url}/users/u9" in shown
    second = soar("resume", str(log), "--yes")  # the operator has seen them now
    assert second.returncode == 0, second.stderr
    assert sorted(r.path for r in server.writes()) == ["/users/u1", "/users/u2", "/users/u9"]
    assert verify(log).code == 0
    assert_schema(log)


# -- item 3: one writer per run log --


HELD = """
playbook: 1
name: held
steps:
  - id: slow
    uses: http.request
    with: {method: GET, url: "URL/slow"}
  - id: once
    uses: http.request
    with: {method: POST, url: "URL/once"}
"""


def test_a_second_writer_is_refused_while_one_holds_the_log(
    server: RecordingServer, tmp_path: Path
) -> None:
    hold = threading.Event()
    server.routes["/slow"] = Route(hold=hold)
    pb = tmp_path / "held.yaml"
    pb.write_text(HELD.replace("URL", server.url), encoding="utf-8")
    runs = tmp_path / "runs"

    def slow_hits(n: int) -> Callable[[], bool]:
        return lambda: server.hits.get("/slow", 0) >= n

    running = spawn("run", str(pb), "--yes", "--run-dir", str(runs))
    try:
        wait_until(running, slow_hits(1))
        log = next(runs.glob("*.jsonl"))
        refused = soar("resume", str(log), "--yes")  # while soar run still writes it
        assert refused.returncode == 2, refused.stderr
        assert f"pid {running.pid}" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        os.kill(running.pid, signal.SIGKILL)  # the kernel drops its lock; its lock file stays
        running.wait(10)
    assert lock_path(log).exists()

    first = spawn("resume", str(log), "--yes")  # takes the stale lock over
    try:
        wait_until(first, slow_hits(2))
        second = soar("resume", str(log), "--yes")
        assert second.returncode == 2, second.stderr
        assert f"pid {first.pid} on host" in second.stderr
    finally:
        hold.set()
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert server.count("POST", "/once") == 1
    assert verify(log).code == 0
    assert not lock_path(log).exists()  # released (deleted) at the end


def test_the_lock_names_its_holder_and_is_taken_over_when_stale(tmp_path: Path) -> None:
    log = tmp_path / "r.jsonl"
    log.write_text("", encoding="utf-8")
    held = RunLock.acquire(log, "alice")
    with pytest.raises(RunLogError, match=rf"pid {os.getpid()} on host .*operator alice, since"):
        RunLock.acquire(log, "bob")  # another open file description: flock refuses it
    with pytest.raises(RunLogError, match="another soar process"):
        resume_run(log, registry=make_registry())
    held.release()
    assert not lock_path(log).exists()
    lock_path(log).write_text('{"pid": 1, "host": "gone"}', encoding="utf-8")  # left by a crash
    with RunLock.acquire(log, "bob"):
        assert json.loads(lock_path(log).read_text())["operator"] == "bob"


def test_the_recorded_tenant_is_host_and_port_only_and_a_token_names_its_client() -> None:
    from engine.auth0 import Auth0Settings
    from engine.run.state import tenant_identity, token_client_id
    from engine.secrets import Secret

    # claims as in Auth0's "Access token profiles" page (auth0/docs: secure/tokens/access-tokens/
    # access-token-profiles): the auth0 profile has azp, the rfc9068 profile client_id; both
    # have sub "<client id>@clients" for the client-credentials grant
    def jwt(claims: dict[str, str]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"

    assert token_client_id(jwt({"azp": "K1AUPhZq8mRi0Q0pjhkfu1D7y6KjDQja"})) == (
        "K1AUPhZq8mRi0Q0pjhkfu1D7y6KjDQja"
    )
    assert token_client_id(jwt({"client_id": "K1AU"})) == "K1AU"
    assert token_client_id(jwt({"sub": "awZfdIir8YFdGZWkvCejDoUb7SjTDicx@clients"})) == (
        "awZfdIir8YFdGZWkvCejDoUb7SjTDicx"
    )
    assert token_client_id(jwt({"sub": "auth0|6553da60a54af58e29493993"})) is None  # a user
    assert token_client_id("opaque-token") is None
    settings = Auth0Settings(
        base_url="https://ops:hunter2@Acme.EU.auth0.com:443",
        token=Secret("AUTH0_TOKEN", jwt({"azp": "cid-1"})),
    )
    assert tenant_identity(settings) == {
        "tenant_url": "https://acme.eu.auth0.com",  # no userinfo (a credential), no default port
        "client_id": "cid-1",
    }
    local = Auth0Settings(base_url="http://127.0.0.1:8765", client_id="c")
    assert tenant_identity(local) == {"tenant_url": "http://127.0.0.1:8765", "client_id": "c"}


def test_changed_arguments_are_asked_again_at_the_prompt(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.routes["/count"] = Route(body={"n": 3})
    text = HOOK.replace("URL", server.url)
    reg = make_registry(server.url)
    pb = playbook(text[: text.index("  - id: slow")], reg, tmp_path)  # count, then notify
    waiting = run_playbook(pb, {}, registry=reg, run_dir=tmp_path / "runs")
    assert waiting.status == "awaiting_approval"  # shown: POST /hook {"failures": 3}
    server.routes["/count"] = Route(body={"n": 4})
    asked: list[ApprovalRequest] = []

    def operator(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    result = resume_run(waiting.run_log, registry=reg, approve=operator)
    assert result.status == "succeeded", result.error
    assert len(asked) == 1  # same target, other arguments: the operator was asked again
    change = records(waiting.run_log, "approval.changed")[-1]["changes"]
    assert [(c["change"], (c["old"] or c["new"])["args"]["json"]) for c in change] == [
        ("added", {"failures": 4}),
        ("removed", {"failures": 3}),
    ]
    assert [r.body for r in server.writes()] == [{"failures": 4}]
    assert records(waiting.run_log, "approval.granted")[-1]["by"] == "operator"


def test_changes_compare_sent_calls_by_index_and_the_rest_as_a_multiset() -> None:
    from engine.run.replay import changes, describe_changes

    def call(i: int, target: str, digest: str = "d") -> dict[str, Any]:
        return {
            "index": i,
            "call": f"s:{i}",
            "target": target,
            "args": {"t": target},
            "args_sha256": digest,
        }

    shown = [call(0, "u1"), call(1, "u2"), call(2, "u3")]
    assert changes(shown, [call(0, "u1"), call(1, "u3"), call(2, "u2")], {0}) == []  # reordered
    now = [call(0, "u9"), call(1, "u2"), call(2, "u3"), call(3, "u1", "other args")]
    found = changes(shown, now, {0})
    assert [(c["change"], c["index"]) for c in found] == [("sent", 0), ("added", 3)]
    assert found[0]["old"]["target"] == "u1" and found[0]["new"]["target"] == "u9"
    text = describe_changes("block", found)
    assert "~ #0 u1" in text and "not sent again" in text and "+ u1" in text
    assert text.endswith("soar resume RUNLOG --yes")
    removed = changes(shown, [call(0, "u1")], {0})
    assert [(c["change"], c["old"]["target"]) for c in removed] == [
        ("removed", "u2"),
        ("removed", "u3"),
    ]
