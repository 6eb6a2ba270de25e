"""A write sends what its plan lists: for each write action, the requests a live run sends
(the tenant's journal, the recording server) equal those its dry run planned, same inputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from executor_actions import playbook, records
from localserver import recording_server

from engine.actions import default_registry, http
from engine.actions.registry import ActionRegistry
from engine.auth0.client import quote_id
from engine.drills.drill import client_from_emulator
from engine.emulator import RunningEmulator, start_emulator
from engine.run.executor import run_playbook
from engine.run.state import RunResult

# one step per write action; each its own target, so no step changes another's plan
WRITES = """\
playbook: 1
name: every-write
inputs:
  users: {type: array}
steps:
  - {id: block, uses: auth0.block_user, with: {user_id: "{{ inputs.users[0] }}"}}
  - {id: unblock, uses: auth0.unblock_user, with: {user_id: "{{ inputs.users[1] }}"}}
  - {id: delete, uses: auth0.delete_user, with: {user_id: "{{ inputs.users[2] }}"}}
  - {id: revoke, uses: auth0.revoke_sessions, with: {user_id: "{{ inputs.users[3] }}"}}
  - id: revoke_sessions_only
    uses: auth0.revoke_sessions
    with: {user_id: "{{ inputs.users[4] }}", refresh_tokens: false}
  - {id: clear, uses: auth0.clear_user_blocks, with: {user_id: "{{ inputs.users[5] }}"}}
  - {id: fence, uses: auth0.block_ips, with: {ips: [203.0.113.7, "2001:db8::/32"]}}
  - {id: unfence, uses: auth0.unblock_ip, with: {ip: 198.51.100.4}}
"""


@pytest.fixture
def tenant() -> Iterator[RunningEmulator]:
    """A small tenant of its own: the live run writes to it."""
    with start_emulator(scenario="quiet", seed=3, events=300, rate_limit=(1000, 5000.0)) as emu:
        yield emu


def run(emu: RunningEmulator, tmp_path: Path, users: list[str], *, dry_run: bool) -> Path:
    registry = default_registry()
    result = run_playbook(
        playbook(WRITES, registry),
        {"users": users},
        registry=registry,
        dry_run=dry_run,
        approve=True,
        run_dir=tmp_path,
        auth0_factory=client_from_emulator(emu),
    )
    assert result.status == "succeeded", result.error
    return result.run_log


def sent(emu: RunningEmulator) -> list[tuple[str, str, Any]]:
    return [(e["method"], e["path"], e["body"]) for e in emu.tenant.writes()]


def test_every_auth0_write_sends_what_its_dry_run_planned(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    ids = sorted(tenant.tenant.users)[:6]
    tenant.tenant.users[ids[1]]["blocked"] = True  # something for unblock_user to undo
    tenant.tenant.ip_blocks.add("198.51.100.4")  # and for unblock_ip
    dry = run(tenant, tmp_path, ids, dry_run=True)
    assert sent(tenant) == []
    planned = [
        (c["method"], c["path"], c["body"])
        for rec in records(dry, "action.planned")
        for c in rec["planned"]
    ]
    run(tenant, tmp_path, ids, dry_run=False)
    assert sent(tenant) == planned
    assert [m for m, _, _ in planned] == [
        "PATCH",
        "PATCH",
        "DELETE",
        "DELETE",
        "DELETE",
        "DELETE",
        "DELETE",
        "POST",
        "DELETE",
    ]
    # every write action of the registry but http.request (below) is in the playbook
    used = {rec["action"] for rec in records(dry, "action.planned")}
    writes = {a.name for a in default_registry() if a.effect == "write"}
    assert used == writes - {"http.request"}


def test_a_write_with_nothing_to_change_plans_and_sends_nothing(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    ids = sorted(tenant.tenant.users)[:6]
    tenant.tenant.users[ids[0]]["blocked"] = True  # block: already so; unblock: was not blocked
    dry = run(tenant, tmp_path, ids, dry_run=True)
    by_step = {rec["step"]: rec["planned"] for rec in records(dry, "action.planned")}
    assert by_step["block"] == [] and by_step["unblock"] == [] and by_step["unfence"] == []
    before = len(sent(tenant))
    live = run(tenant, tmp_path, ids, dry_run=False)
    results = {rec["step"]: rec["result"] for rec in records(live, "action.result")}
    assert results["block"]["changed"] is False and results["unblock"]["changed"] is False
    assert f"/api/v2/users/{quote_id(ids[0])}" not in [p for _, p, _ in sent(tenant)[before:]]


def run_hook(text: str, tmp_path: Path, dry_run: bool) -> RunResult:
    registry = ActionRegistry(http.ACTIONS)
    return run_playbook(
        playbook(text, registry),
        {},
        registry=registry,
        dry_run=dry_run,
        approve=True,
        run_dir=tmp_path,
    )


def test_http_request_sends_what_its_plan_lists(tmp_path: Path) -> None:
    with recording_server() as server:
        text = f"""\
playbook: 1
name: hook
steps:
  - id: hook
    uses: http.request
    with:
      method: PUT
      url: {server.url}/hooks/incident?id=7
      json: {{who: auth0|a, count: 3, tags: [x, y]}}
"""
        logs = []
        for dry_run in (True, False):
            result = run_hook(text, tmp_path, dry_run)
            assert result.status == "succeeded", result.error
            logs.append(result.run_log)
        ((call,),) = [rec["planned"] for rec in records(logs[0], "action.planned")]
        (seen,) = server.writes()
    assert (seen.method, f"{server.url}{seen.path}", seen.body) == (
        call["method"],
        call["url"],
        call["body"],
    )


def test_a_request_the_live_call_refuses_fails_its_dry_run_too(tmp_path: Path) -> None:
    text = """\
playbook: 1
name: hook
steps:
  - id: hook
    uses: http.request
    with: {method: POST, url: "https://hooks.example.com/x", headers: {X-Who: "Zoë"}}
"""
    for dry_run in (True, False):
        result = run_hook(text, tmp_path, dry_run)
        assert result.status == "failed" and "is not ASCII text" in str(result.error), dry_run
