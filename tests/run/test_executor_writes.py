"""Writes: dry run (with a misbehaving plan), approval, guardrails, the canary secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from executor_actions import make_registry, playbook, records, types
from localserver import RecordingServer, Route, recording_server

from engine.audit.redact import Redactor
from engine.audit.runlog import verify
from engine.run.approval import ApprovalRequest
from engine.run.executor import run_playbook
from engine.run.outcomes import Failed, Planned
from engine.secrets import encodings

BLOCK = """
playbook: 1
name: block
inputs:
  users: {type: array, default: [u1, u2, u3]}
steps:
  - id: look
    uses: http.request
    with: {method: GET, url: "URL/lookup", effect: read}
  - id: block
    uses: t.block
    for_each: "{{ inputs.users }}"
    MAX
    with: {user_id: "{{ item }}"}
  - id: notify
    uses: http.request
    with: {method: POST, url: "URL/hook", json: {blocked: "{{ inputs.users }}"}}
outputs:
  block_status: "{{ steps.block.status }}"
"""


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


def block_playbook(server: RecordingServer, max_line: str = "") -> str:
    return BLOCK.replace("URL", server.url).replace("MAX", max_line)


def test_dry_run_reads_and_only_plans_writes(server: RecordingServer, tmp_path: Path) -> None:
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server), reg)
    result = run_playbook(
        pb, {}, registry=reg, dry_run=True, run_dir=tmp_path, http_read_hosts=["127.0.0.1"]
    )
    assert result.status == "succeeded" and result.dry_run
    assert server.writes() == []
    assert server.count("GET", "/lookup") == 1  # a declared lookup to an allowed host runs
    block = result.steps["block"]
    assert isinstance(block, Planned)
    assert block.output[0] == {
        "dry_run": True,
        "planned": [{"method": "POST", "path": "/users/u1", "body": {"blocked": True}}],
    }
    notify = result.steps["notify"]
    assert isinstance(notify, Planned)
    assert notify.output["planned"][0]["method"] == "POST"
    planned = records(result.run_log, "action.planned")
    targets = [p["target"] for p in planned]  # for_each items finish in any order
    assert sorted(targets[:3]) == ["u1", "u2", "u3"] and targets[3] == f"{server.url}/hook"
    assert not any(t.startswith("approval.") for t in types(result.run_log))
    assert "action.call" not in types(result.run_log)


def test_dry_run_sends_no_write_even_when_a_plan_misbehaves(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    pb = playbook(
        f"""
playbook: 1
name: sneaky
steps:
  - id: sneaky
    uses: t.bad_plan
    for_each: [u1, u2]
    continue_on_error: true
    with: {{user_id: "{{{{ item }}}}"}}
  - id: hook
    uses: http.request
    with: {{method: DELETE, url: "{server.url}/x"}}
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, dry_run=True, run_dir=tmp_path)
    assert server.requests == []  # the guard refused the GET and the POST the plan tried
    sneaky = result.steps["sneaky"]
    assert isinstance(sneaky, Failed) and "dry run: refused to send GET" in sneaky.error
    assert records(result.run_log, "run.finished")[0]["writes_refused"] >= 1


def test_without_approval_the_run_stops_before_the_first_write(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server), reg)
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "awaiting_approval"
    assert server.writes() == []
    assert server.count("GET", "/lookup") == 1
    assert "block" not in result.steps and result.outputs == {}
    kinds = types(result.run_log)
    assert kinds[-3:] == ["approval.requested", "approval.required", "run.finished"]
    required = records(result.run_log, "approval.required")[0]
    assert required["targets"] == ["u1", "u2", "u3"] and required["action"] == "t.block"
    assert records(result.run_log, "run.finished")[0]["status"] == "awaiting_approval"
    assert verify(result.run_log).code == 0


def test_approved_writes_are_logged_before_they_are_sent(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server), reg)
    result = run_playbook(pb, {}, registry=reg, approve=True, run_dir=tmp_path)
    assert result.status == "succeeded"
    assert result.outputs == {"block_status": "succeeded"}
    assert [o["user_id"] for o in result.steps["block"].output] == ["u1", "u2", "u3"]
    assert sorted(r.path for r in server.writes()) == [
        "/hook",
        "/users/u1",
        "/users/u2",
        "/users/u3",
    ]
    log = [
        r for r in records(result.run_log, "action.call") + records(result.run_log, "action.result")
    ]
    calls = {r["call"]: r["seq"] for r in log if r["type"] == "action.call"}
    results = {r["call"]: r["seq"] for r in log if r["type"] == "action.result"}
    assert set(calls) == set(results) and len(calls) == 4
    assert all(calls[k] < results[k] for k in calls)
    granted = records(result.run_log, "approval.granted")
    assert [(g["step"], g["by"]) for g in granted] == [("block", "--yes"), ("notify", "--yes")]
    finished = next(r for r in records(result.run_log, "step.finished") if r["step"] == "block")
    assert finished["output"][2] == {"user_id": "u3", "status": 200}  # write results in full


def test_an_approval_callable_sees_the_blast_radius(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server), reg)
    asked: list[ApprovalRequest] = []

    def deny(request: ApprovalRequest) -> bool:
        asked.append(request)
        return False

    result = run_playbook(pb, {}, registry=reg, approve=deny, run_dir=tmp_path)
    assert [(r.step_id, r.action, r.targets) for r in asked] == [
        ("block", "t.block", ("u1", "u2", "u3"))
    ]
    assert [c["target"] for c in asked[0].calls] == ["u1", "u2", "u3"]
    assert result.status == "awaiting_approval"
    assert server.writes() == []
    assert "approval.denied" in types(result.run_log)

    result = run_playbook(pb, {}, registry=reg, approve=lambda r: True, run_dir=tmp_path)
    assert result.status == "succeeded" and len(server.writes()) == 4


def test_max_targets_refuses_the_step(server: RecordingServer, tmp_path: Path) -> None:
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server, "max_targets: 2"), reg)
    result = run_playbook(pb, {}, registry=reg, approve=True, run_dir=tmp_path)
    assert result.status == "failed"
    assert server.writes() == []
    outcome = result.steps["block"]
    assert isinstance(outcome, Failed)
    assert "3 targets is more than its max_targets of 2" in outcome.error
    assert "u1, u2, u3" in outcome.error
    # the default limit is 25
    many = [f"u{i}" for i in range(26)]
    result = run_playbook(
        playbook(block_playbook(server), reg),
        {"users": many},
        registry=reg,
        approve=True,
        run_dir=tmp_path,
    )
    assert "max_targets of 25" in result.steps["block"].error  # type: ignore[union-attr]
    assert server.writes() == []


def test_protected_users_are_never_touched(server: RecordingServer, tmp_path: Path) -> None:
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server), reg)
    for dry in (True, False):
        result = run_playbook(
            pb,
            {"users": ["u1", "Admin|Break-Glass"]},
            registry=reg,
            approve=True,
            dry_run=dry,
            protected_users=["admin|break-glass", "boss@example.com"],
            run_dir=tmp_path,
            http_read_hosts=["127.0.0.1"],
        )
        assert result.status == "failed"
        outcome = result.steps["block"]
        assert isinstance(outcome, Failed)
        assert "Admin|Break-Glass: protected user (matches admin|break-glass" in outcome.error
        refused = records(result.run_log, "action.refused")
        assert [(r["target"], r["index"]) for r in refused] == [("Admin|Break-Glass", 1)]
    # the other target was written (live run only); the protected one never, the run stopped
    assert [r.path for r in server.writes()] == ["/users/u1"]


CANARY = "canary-7f3a9e1b2c4d"


def test_a_canary_secret_never_reaches_the_log(server: RecordingServer, tmp_path: Path) -> None:
    reg = make_registry(server.url)
    server.routes["/fail"] = Route(status=400, body={"echo": f"bad token {CANARY}"})
    pb = playbook(
        f"""
playbook: 1
name: canary
steps:
  - id: send
    uses: http.request
    with:
      method: POST
      url: "{server.url}/hook"
      headers: {{Authorization: "Bearer {{{{ secrets.hook }}}}"}}
      json: {{text: "hello"}}
  - id: echo
    uses: t.echo
    with: {{value: "{{{{ secrets.hook }}}}"}}
  - id: fail
    uses: http.request
    continue_on_error: true
    with:
      method: POST
      url: "{server.url}/fail"
      headers: {{X-Token: "{{{{ secrets.hook }}}}"}}
outputs:
  echoed: "{{{{ steps.echo.output.value }}}}"
""",
        reg,
    )
    seen: list[dict[str, object]] = []
    result = run_playbook(
        pb,
        {},
        registry=reg,
        approve=True,
        secrets={"hook": CANARY},
        run_dir=tmp_path,
        on_event=seen.append,
    )
    assert result.status == "succeeded", result.error
    # the request really carried it (only the request unwraps a secret)
    assert server.writes()[0].headers["Authorization"] == f"Bearer {CANARY}"
    fail = result.steps["fail"]
    assert isinstance(fail, Failed) and "***" in fail.error
    text = result.run_log.read_text() + json.dumps(seen) + json.dumps(result.outputs)
    text += "".join(o.error for o in result.steps.values() if isinstance(o, Failed))
    for form in encodings(CANARY):
        assert form not in text
    assert result.outputs == {"echoed": "***"}


def test_a_secret_cut_by_the_output_summary_is_still_masked(
    server: RecordingServer, tmp_path: Path
) -> None:
    # a long read result repeats the secret, so the summary's cut falls inside one
    server.routes["/long"] = Route(body="".join(f"{i:05d}{CANARY}" for i in range(400)))
    reg = make_registry(server.url)
    pb = playbook(
        f"""
playbook: 1
name: long
steps:
  - id: read
    uses: http.request
    with: {{url: "{server.url}/long"}}
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, secrets={"hook": CANARY}, run_dir=tmp_path)
    assert result.status == "succeeded", result.error
    assert CANARY in result.steps["read"].output["body"]  # the run keeps the full value
    logged = records(result.run_log, "step.finished")[0]["output"]["body"]
    assert logged.endswith("(9600 chars)") and "***" in logged
    assert CANARY[:7] not in result.run_log.read_text()


def test_secrets_reported_at_run_time_are_redacted(server: RecordingServer, tmp_path: Path) -> None:
    """The Auth0 factory receives the redactor's ``add``: a token it reports is masked."""
    reg = make_registry(server.url)
    token = "runtime-token-9d8c7b6a"

    def factory(guard: object, on_secret: object) -> object:
        assert callable(on_secret)
        on_secret(token)
        raise RuntimeError(f"tenant refused token {token}")

    from engine.actions import auth0

    redactor = Redactor()
    full = make_registry(server.url)
    for action in auth0.ACTIONS:
        full.register(action)
    pb = playbook(
        """
playbook: 1
name: token
steps:
  - id: user
    uses: auth0.get_user
    with: {user_id: "auth0|1"}
""",
        full,
    )
    result = run_playbook(
        pb,
        {},
        registry=full,
        auth0_factory=factory,
        redactor=redactor,
        run_dir=tmp_path,  # type: ignore[arg-type]
    )
    outcome = result.steps["user"]
    assert isinstance(outcome, Failed)
    assert token not in outcome.error and "***" in outcome.error
    assert token not in result.run_log.read_text()
    assert redactor.text(token) == "***"
    del reg


def test_every_call_is_checked_before_the_first_write(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server), reg)
    result = run_playbook(pb, {"users": ["u1", 5]}, registry=reg, approve=True, run_dir=tmp_path)
    outcome = result.steps["block"]
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith("t.block: argument user_id: 5 is not of type 'string'")
    assert server.writes() == []
    assert "action.call" not in types(result.run_log)


def test_an_offline_run_plans_writes_and_names_its_file(
    server: RecordingServer, tmp_path: Path
) -> None:
    logs = tmp_path / "export.jsonl"
    logs.write_text("")
    reg = make_registry(server.url)
    pb = playbook(block_playbook(server), reg)
    result = run_playbook(
        pb,
        {},
        registry=reg,
        logs_file=logs,
        run_dir=tmp_path / "runs",
        http_read_hosts=["127.0.0.1"],
    )
    assert result.status == "succeeded" and result.dry_run is False
    assert isinstance(result.steps["block"], Planned)
    assert server.writes() == []
    started = records(result.run_log, "run.started")[0]
    assert started["tenant"] == f"offline:{logs}" and started["logs_file"] == str(logs)
