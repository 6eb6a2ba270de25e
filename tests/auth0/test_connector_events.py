"""The connector's waits, retries and refusals as events of the operational log.

Its pages: ``tests/cli/test_oplog.py`` (a run's search, an export).

One real ``soar --log-format json run`` against an emulated tenant with a tiny
rate limit (a burst of 1): the three parallel reads of the step all go before
any answer has told the pacer of the limit, so two of them meet a 429.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from soarcli import soar

from engine.cli import oplog
from engine.emulator import start_emulator
from engine.errors import DryRunViolation, RateLimitError, UpstreamError
from engine.secrets import encodings

SECRET = "s3cr3t|Value/with+chars="  # url-encoded in a path it reads s3cr3t%7CValue%2F...

PLAYBOOK = """\
playbook: 1
name: connector-events
inputs:
  users: {type: array, required: true}
steps:
  - id: look
    uses: auth0.get_user
    for_each: "{{ inputs.users }}"
    max_parallel: 3
    with: {user_id: "{{ item }}"}
outputs:
  found: "{{ steps.look.output | length }}"
"""


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON lines of stderr (the human progress lines are the others)."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_every_wait_retry_and_refusal_is_one_event_with_its_fields(tmp_path: Path) -> None:
    pb = tmp_path / "pb.yaml"
    pb.write_text(PLAYBOOK)
    with start_emulator(scenario="credential-stuffing", seed=1, rate_limit=(1, 50.0)) as emu:
        env = {
            "AUTH0_DOMAIN": emu.base_url,
            "AUTH0_CLIENT_ID": emu.client_id,
            "AUTH0_CLIENT_SECRET": emu.client_secret,
            "SOAR_SECRET_HOOK": SECRET,
            "SOAR_LOG_FORMAT": "console",  # the option wins
        }
        users = json.dumps([*emu.truth["compromised_users"][:2], SECRET])
        args = ["--log-format", "json", "run", str(pb), "-i", f"users={users}"]
        out = soar(*args, "--run-dir", str(tmp_path / "runs"), "--json", env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # stdout is the one --json object, no log line in it
    assert out.stderr.isascii()
    events = log_events(out.stderr)
    connector = [e for e in events if e["logger"].startswith("engine.auth0")]
    # the configuration check before the run (engine.auth0.preflight) gets the token: no run yet
    before = [e for e in connector if "run_id" not in e]
    assert [e["event"] for e in before] == ["auth0.token"]
    connector = [e for e in connector if e not in before]
    # run_id and step_id reach every event of the run, also from the for_each worker threads
    assert connector and all(e["run_id"] == doc["run_id"] for e in connector)
    assert {e["step_id"] for e in connector} == {"look"}
    assert doc["outputs"]["found"] == 3

    retries = [e for e in connector if e["event"] == "auth0.retry"]
    assert retries and all(r["step_id"] == "look" for r in retries)
    assert {(r["reason"], r["status"], r["method"]) for r in retries} == {
        ("rate_limited", 429, "GET")
    }
    assert all(r["attempt"] >= 1 and r["wait_s"] > 0 for r in retries)
    assert all(r["path"].startswith("/api/v2/users/") and r["level"] == "warning" for r in retries)
    waits = [e for e in connector if e["event"] == "auth0.wait"]
    assert waits and all(w["reason"] == "pacing" and w["wait_s"] > 0 for w in waits)

    # the tenant refused the unknown user: the path held the secret, masked in every form
    (refused,) = [e for e in connector if e["event"] == "auth0.refused"]
    assert refused["path"] == "/api/v2/users/***" and refused["status"] == 404
    assert refused["by"] == "tenant" and refused["error_code"] == "inexistent_user"
    for form in encodings(SECRET) | encodings(emu.client_secret):
        assert form not in out.stderr and form not in out.stdout, form
    started = [
        (e["step_id"], e["action"], e["items"]) for e in events if e["event"] == "step.started"
    ]
    assert started == [("look", "auth0.get_user", 3)]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The CLI's pipeline, in json, on a stream of this test."""
    stream = io.StringIO()
    oplog.select("json", {})
    oplog.configure(stream, live=False)
    yield stream
    oplog.reset()


def test_server_errors_retried_then_refused_and_the_guard_refusal_are_events(
    json_log: io.StringIO, auth0_client: Any
) -> None:
    with start_emulator(scenario="quiet", seed=1, fail_rate=1.0) as emu:
        client = auth0_client(emu, sleep=lambda _s: None, max_retries=2)
        with pytest.raises(UpstreamError):
            client.get("/users/auth0%7Cx")
        hurried = auth0_client(emu, sleep=lambda _s: None, wait_budget=0.01)
        with pytest.raises(RateLimitError):  # its first backoff is past the budget
            hurried.get("/users/auth0%7Cy")
        dry = auth0_client(emu, dry_run=True)
        with pytest.raises(DryRunViolation):
            dry.request("POST", "/users/auth0%7Cx/blocks")
    events = log_events(json_log.getvalue())
    retries = [(e["reason"], e["attempt"]) for e in events if e["event"] == "auth0.retry"]
    assert retries == [("server_error", 1), ("server_error", 2)]
    tenant, guard = [e for e in events if e["event"] == "auth0.refused"]
    assert tenant["by"] == "tenant" and tenant["status"] >= 500 and tenant["attempt"] == 3
    assert tenant["path"] == "/api/v2/users/auth0%7Cx" and tenant["level"] == "warning"
    assert guard["by"] == "dry_run_guard" and guard["method"] == "POST"
    assert guard["path"] == "/api/v2/users/auth0%7Cx/blocks"
    (failed,) = [e for e in events if e["event"] == "auth0.failed"]
    assert (failed["reason"], failed["cause"], failed["path"]) == (
        "wait_budget",
        "server_error",
        "/api/v2/users/auth0%7Cy",
    )
    assert failed["attempt"] == 1 and failed["level"] == "error" and failed["status"] >= 500
