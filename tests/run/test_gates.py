"""The gates on writes, attacked: protected users by any name, what an approval shows,
``max_targets`` per call, and dry or offline runs that send nothing with effect.

Against a served emulator (users in Auth0's shape) and the recording HTTP server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from executor_actions import make_registry, playbook, records
from localserver import RecordingServer, recording_server

from engine.actions import auth0, auth0_containment, data
from engine.actions.registry import ActionRegistry
from engine.drills.drill import client_from_emulator
from engine.emulator import RunningEmulator, start_emulator
from engine.run.approval import ApprovalRequest
from engine.run.executor import run_playbook
from engine.run.outcomes import Failed, Planned

BLOCK = """
playbook: 1
name: contain
inputs:
  users: {type: array}
steps:
  - id: block
    uses: auth0.block_user
    for_each: "{{ inputs.users }}"
    with: {user_id: "{{ item }}"}
"""

# A linked secondary identity as Auth0 returns it inside the primary user's record:
# {connection, user_id, provider, isSocial, profileData} (Management API "Get a user",
# UserIdentitySchema; node-auth0's Management.UserIdentitySchema types user_id as
# UserId, a string or a number; the fields as in kevincasey1222/graph-auth0
# src/types/users.ts). The user_id is the part after "|" in "google-oauth2|<id>".
LINKED = {
    "connection": "google-oauth2",
    "user_id": 108091299999329986433,
    "provider": "google-oauth2",
    "isSocial": True,
    "profileData": {"email": "Ops.Lead@Example.com", "email_verified": True},
}


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


@pytest.fixture
def tenant() -> Iterator[RunningEmulator]:
    """A small tenant of its own: the tests block users in it."""
    with start_emulator(scenario="quiet", seed=3, events=300, rate_limit=(1000, 5000.0)) as emu:
        yield emu


def registry() -> ActionRegistry:
    return ActionRegistry([*auth0.ACTIONS, *auth0_containment.ACTIONS, *data.ACTIONS])


def users(emu: RunningEmulator, n: int) -> list[dict[str, Any]]:
    found = [u for u in emu.tenant.users.values() if u.get("email") and u.get("username")]
    assert len(found) >= n
    return sorted(found, key=lambda u: str(u["user_id"]))[:n]


def patched(emu: RunningEmulator) -> list[str]:
    return [e["path"] for e in emu.tenant.writes()]


def run_block(
    emu: RunningEmulator, tmp_path: Path, ids: list[str], protected: list[str], **kw: Any
) -> Any:
    reg = registry()
    return run_playbook(
        playbook(BLOCK, reg),
        {"users": ids},
        registry=reg,
        auth0_factory=client_from_emulator(emu),
        protected_users=protected,
        run_dir=tmp_path,
        tenant="emulator:quiet",
        **kw,
    )


def test_a_user_protected_by_email_username_or_linked_identity_is_never_written(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    by_email, by_name, by_identity, free = users(tenant, 4)
    by_identity["identities"].append(LINKED)
    protected = [
        by_email["email"].upper(),  # emails match without regard to case
        by_name["username"],
        "google-oauth2|108091299999329986433",
    ]
    ids = [by_email["user_id"], by_name["user_id"], by_identity["user_id"], free["user_id"]]
    for dry in (True, False):
        result = run_block(tenant, tmp_path, ids, protected, approve=True, dry_run=dry)
        assert result.status == "failed"
        outcome = result.steps["block"]
        assert (
            isinstance(outcome, Failed) and "3 target(s) refused and not written" in outcome.error
        )
        refused = {r["target"]: r["reason"] for r in records(result.run_log, "action.refused")}
        assert set(refused) == set(ids[:3])
        assert by_email["email"].lower() in refused[ids[0]]
        assert "google-oauth2|108091299999329986433" in refused[ids[2]]
        started = records(result.run_log, "run.started")[0]
        assert started["protected_users"] == protected
        planned = records(result.run_log, "action.planned")
        assert [p["target"] for p in planned] == ([free["user_id"]] if dry else [])
    # the live run blocked only the unprotected user; the dry run sent nothing
    assert patched(tenant) == [f"/api/v2/users/{free['user_id'].replace('|', '%7C')}"]
    assert not any(tenant.tenant.users[i]["blocked"] for i in ids[:3])
    assert tenant.tenant.users[free["user_id"]]["blocked"] is True


def test_the_email_of_a_linked_identity_protects_its_primary_account(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    (primary,) = users(tenant, 1)
    primary["identities"].append(LINKED)
    result = run_block(
        tenant, tmp_path, [primary["user_id"]], ["ops.lead@example.com"], approve=True
    )
    assert result.status == "failed" and patched(tenant) == []


def test_an_unreadable_user_record_is_refused_while_users_are_protected(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    # offline (--logs) there is no tenant to read the record from: soar cannot tell
    logs = tmp_path / "export.jsonl"
    logs.write_text("")
    (user,) = users(tenant, 1)
    result = run_block(tenant, tmp_path, [user["user_id"]], ["someone@example.com"], logs_file=logs)
    refused = records(result.run_log, "action.refused")
    assert [r["target"] for r in refused] == [user["user_id"]]
    assert "could not be read" in refused[0]["reason"] and refused[0]["record"] == "unread"
    assert records(result.run_log, "action.planned") == []
    # without protected users the same offline run plans the write
    result = run_block(tenant, tmp_path, [user["user_id"]], [], logs_file=logs)
    assert isinstance(result.steps["block"], Planned)
    assert patched(tenant) == []


def test_deleting_a_user_already_gone_is_not_refused_and_sends_nothing(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    reg = registry()
    pb = playbook(BLOCK.replace("auth0.block_user", "auth0.delete_user"), reg)
    result = run_playbook(
        pb,
        {"users": ["auth0|gone-already"]},
        registry=reg,
        auth0_factory=client_from_emulator(tenant),
        protected_users=["boss@example.com"],
        approve=True,
        run_dir=tmp_path,
    )
    assert result.status == "succeeded", result.error
    assert result.steps["block"].output == [
        {"user_id": "auth0|gone-already", "deleted": True, "changed": False}
    ]
    assert patched(tenant) == []
    granted = records(result.run_log, "approval.granted")[0]
    assert granted["calls"][0]["record"] == "gone"


def test_an_approval_lists_each_user_as_the_tenant_knows_it(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    a, b = users(tenant, 2)
    a["name"] = "Alice \x1b]0;owned\x07Admin"  # a user's own text: shown, never obeyed
    asked: list[ApprovalRequest] = []

    def deny(request: ApprovalRequest) -> bool:
        asked.append(request)
        return False

    result = run_block(tenant, tmp_path, [a["user_id"], b["user_id"]], [], approve=deny)
    assert result.status == "awaiting_approval" and patched(tenant) == []
    (request,) = asked
    assert request.tenant == "emulator:quiet"
    assert [dict(c) for c in request.calls] == [
        {
            "index": i,
            "target": u["user_id"],
            "user_id": u["user_id"],
            "email": u["email"],
            "username": u["username"],
            **({"name": u["name"]} if u.get("name") else {}),
        }
        for i, u in enumerate((a, b))
    ]
    denied = records(result.run_log, "approval.denied")[0]
    assert (
        denied["calls"] == [dict(c) for c in request.calls] and denied["tenant"] == "emulator:quiet"
    )

    from engine.run.approval import approval_lines
    from engine.textsafe import safe

    shown = [safe(line) for line in approval_lines(request.content())]
    assert (
        shown[0]
        == "step 'block' will run auth0.block_user on 2 target(s) in tenant emulator:quiet:"
    )
    assert a["email"] in shown[1] and a["username"] in shown[1]
    assert not any("\x1b" in line or "\x07" in line for line in shown)


HOOKS = """
playbook: 1
name: hooks
inputs:
  n: {type: integer, default: 30}
steps:
  - id: notify
    uses: http.request
    for_each: "{{ range(inputs.n) | list }}"
    MAX
    with: {method: POST, url: "URL/hook", json: {text: "user {{ item }} blocked"}}
"""


def test_max_targets_counts_write_calls_not_only_distinct_targets(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    pb = playbook(HOOKS.replace("URL", server.url).replace("MAX", "max_targets: 1"), reg)
    result = run_playbook(pb, {}, registry=reg, approve=True, run_dir=tmp_path)
    outcome = result.steps["notify"]
    assert isinstance(outcome, Failed)
    assert "30 write calls (to 1 target(s)) is more than its max_targets of 1" in outcome.error
    assert server.requests == []
    # the default of 25 holds too, and two calls under a limit of 2 pass
    pb = playbook(HOOKS.replace("URL", server.url).replace("MAX", ""), reg)
    assert run_playbook(pb, {}, registry=reg, approve=True, run_dir=tmp_path).status == "failed"
    result = run_playbook(pb, {"n": 2}, registry=reg, approve=True, run_dir=tmp_path)
    assert result.status == "succeeded" and len(server.requests) == 2


def test_an_http_approval_shows_method_url_and_body_with_secrets_masked(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    text = """
playbook: 1
name: hook
steps:
  - id: notify
    uses: http.request
    for_each: [alice, bob]
    with:
      method: POST
      url: "URL/hook"
      headers: {Authorization: "Bearer {{ secrets.hook }}"}
      json: {text: "{{ item }} blocked", token: "{{ secrets.hook }}"}
"""
    asked: list[ApprovalRequest] = []
    result = run_playbook(
        playbook(text.replace("URL", server.url.replace("http://", "http://ops:pw-1234@")), reg),
        {},
        registry=reg,
        approve=lambda r: bool(asked.append(r)),
        secrets={"hook": "hook-secret-0d9f8e7c"},
        run_dir=tmp_path,
    )
    assert result.status == "awaiting_approval" and server.requests == []
    shown = f"{server.url.replace('http://', 'http://ops:***@')}/hook"
    assert [dict(c) for c in asked[0].calls] == [
        {
            "index": i,
            "target": f"{server.url.replace('http://', 'http://ops:pw-1234@')}/hook",
            "method": "POST",
            "url": shown,
            "body": {"text": f"{who} blocked", "token": "***"},
        }
        for i, who in enumerate(["alice", "bob"])
    ]
    assert "hook-secret-0d9f8e7c" not in result.run_log.read_text()


LEAKY = """
playbook: 1
name: leaky
steps:
  - id: lookup
    uses: http.request
    with:
      method: GET
      url: "URL/webhook?action=disable"
      headers: {X-Api-Key: "{{ secrets.key }}"}
  - id: after
    uses: data.set
    with: {value: "{{ steps.lookup.status }}"}
outputs:
  lookup: "{{ steps.lookup.status }}"
"""


def test_a_dry_or_offline_run_sends_no_get_to_a_webhook(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    pb = playbook(LEAKY.replace("URL", server.url), reg)
    logs = tmp_path / "export.jsonl"
    logs.write_text("")
    for mode in ({"dry_run": True}, {"logs_file": logs}):
        result = run_playbook(
            pb,
            {},
            registry=reg,
            secrets={"key": "api-key-5e4d3c2b1a"},
            run_dir=tmp_path,
            http_read_hosts=["127.0.0.1"],  # allow-listed, yet not a declared lookup
            **mode,  # type: ignore[arg-type]
        )
        assert result.status == "succeeded", result.error
        assert result.outputs == {"lookup": "planned"}
        (planned,) = records(result.run_log, "action.planned")
        assert planned["planned"][0]["method"] == "GET"
        assert planned["planned"][0]["headers"] == {"X-Api-Key": "***"}
    assert server.requests == []


LOOKUP = """
playbook: 1
name: lookup
steps:
  - id: lookup
    uses: http.request
    with: WITH
"""


def lookup_run(server: RecordingServer, tmp_path: Path, with_: str, hosts: list[str]) -> Any:
    reg = make_registry(server.url)
    pb = playbook(LOOKUP.replace("WITH", with_.replace("URL", server.url)), reg)
    return run_playbook(
        pb,
        {},
        registry=reg,
        dry_run=True,
        secrets={"key": "api-key-5e4d3c2b1a"},
        run_dir=tmp_path,
        http_read_hosts=hosts,
    )


def test_a_declared_lookup_runs_in_a_dry_run_only_to_an_allowed_host(
    server: RecordingServer, tmp_path: Path
) -> None:
    ok = lookup_run(server, tmp_path, '{url: "URL/cmdb?ip=1.2.3.4", effect: read}', ["127.0.0.1"])
    assert ok.status == "succeeded" and ok.steps["lookup"].output["status"] == 200
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/cmdb?ip=1.2.3.4")]
    refused = [
        ('{url: "URL/cmdb", effect: read}', [], "not"),  # host not allow-listed
        ('{url: "URL/cmdb", effect: read}', ["cmdb.example.com"], "not"),
        ('{method: POST, url: "URL/cmdb", effect: read}', ["127.0.0.1"], "GET or HEAD"),
        ('{url: "URL/c", effect: read, json: {a: 1}}', ["127.0.0.1"], "no body and no secret"),
        (
            '{url: "URL/c", effect: read, headers: {X-Key: "{{ secrets.key }}"}}',
            ["127.0.0.1"],
            "no body and no secret",
        ),
    ]
    for with_, hosts, why in refused:
        result = lookup_run(server, tmp_path, with_, hosts)
        outcome = result.steps["lookup"]
        assert isinstance(outcome, Failed), with_
        assert why in outcome.error, outcome.error
    assert len(server.requests) == 1  # none of them left the process


def test_the_guard_refuses_a_lookup_that_carries_a_credential(server: RecordingServer) -> None:
    import httpx

    from engine.errors import DryRunViolation
    from engine.httpguard import LOOKUP_REQUEST, DryRunGuard, guarded_client

    guard = DryRunGuard(True, read_hosts=[f"127.0.0.1:{server.url.rsplit(':', 1)[1]}"])
    mark = {LOOKUP_REQUEST: True}
    with guarded_client(guard) as http:
        assert http.get(f"{server.url}/ok", extensions=mark).status_code == 200  # host:port entry
        for request in (
            http.build_request(
                "GET", f"{server.url}/a", headers={"Cookie": "s=1"}, extensions=mark
            ),
            http.build_request("GET", f"{server.url}/b", json={"x": 1}, extensions=mark),
            http.build_request("DELETE", f"{server.url}/c", extensions=mark),
            http.build_request("GET", f"{server.url}/d"),  # not marked: not a lookup
        ):
            with pytest.raises(DryRunViolation):
                http.send(request)
        with pytest.raises(DryRunViolation):  # only the tenant's own client may get a token
            http.post(f"{server.url}/oauth/token", extensions={"soar.token_request": True})
    assert [r.path for r in server.requests] == ["/ok"] and guard.refused == 5
    del httpx


def test_effect_write_makes_a_get_need_approval(server: RecordingServer, tmp_path: Path) -> None:
    reg = make_registry(server.url)
    pb = playbook(LOOKUP.replace("WITH", f'{{url: "{server.url}/disable", effect: write}}'), reg)
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "awaiting_approval" and server.requests == []
    required = records(result.run_log, "approval.required")[0]
    assert required["calls"][0]["method"] == "GET"
    assert json.dumps(required).count("/disable") >= 2


TWO_WRITES = """
playbook: 1
name: two-writes
steps:
  - id: first
    uses: http.request
    with: {method: POST, url: "URL/first", json: {n: 1}}
  - id: second
    uses: http.request
    with: {method: POST, url: "URL/second", json: {n: 2}}
"""


def test_the_cli_says_nothing_was_written_only_when_the_log_shows_none(
    server: RecordingServer, tmp_path: Path
) -> None:
    from soarcli import run_on_a_terminal

    pb = tmp_path / "pb.yaml"
    pb.write_text(TWO_WRITES.replace("URL", server.url), encoding="utf-8")
    env = {"SOAR_PROTECTED_USERS": "auth0|break-glass, oncall@acme.example"}
    args = ["run", str(pb), "--run-dir", str(tmp_path / "runs")]
    # the operator approves the first write and refuses the second
    rc, screen = run_on_a_terminal(args, [b"y\n", b"n\n"], env=env)
    assert rc == 3, screen
    assert [r.path for r in server.writes()] == ["/first"]
    assert "nothing was written" not in screen
    assert "1 write(s) were sent (see: soar show" in screen
    assert "protected users (never written): auth0|break-glass, oncall@acme.example" in screen
    assert "  - POST " in screen and '/second  body {"n": 2}' in screen


def test_the_report_says_nothing_changed_only_when_the_log_shows_no_write(
    server: RecordingServer, tmp_path: Path
) -> None:
    from engine.audit.redact import Redactor
    from engine.audit.report import render
    from engine.audit.runlog import RunLogWriter

    reg = make_registry(server.url)
    pb = playbook(TWO_WRITES.replace("URL", server.url), reg)
    result = run_playbook(pb, {}, registry=reg, dry_run=True, run_dir=tmp_path)
    assert "nothing was changed" in render(result.run_log)
    # a dry run's log that records a write sent (a bug, or an edited file) is not "nothing"
    writer = RunLogWriter.reopen(result.run_log, Redactor())
    writer.write("action.call", step="first", index=0, call="k", action="http.request", target="x")
    writer.close()
    text = render(result.run_log)
    assert "nothing was changed" not in text and "the log records 1 write(s) sent" in text


# Auth0's answer when the application lacks read:users (auth0-facts.md section 6,
# raster-foundry#2030): an app allowed to update users but not to read them.
NO_READ_SCOPE = {
    "statusCode": 403,
    "error": "Forbidden",
    "message": "Insufficient scope, expected any of: read:users,read:current_user,read:user_idp_tokens",
    "errorCode": "insufficient_scope",
}


def test_a_user_record_the_tenant_refuses_to_show_is_refused_while_users_are_protected(
    server: RecordingServer, tmp_path: Path
) -> None:
    from localserver import Route

    from engine.auth0 import Auth0Client, Auth0Settings

    server.routes["/api/v2/users/auth0%7Cx"] = Route(status=403, body=NO_READ_SCOPE)
    settings = Auth0Settings.create(server.url, token="test-token-5a4b3c2d1e")

    def factory(guard: Any, on_secret: Any) -> Auth0Client:
        return Auth0Client(settings, guard=guard, on_secret=on_secret)

    reg = registry()
    result = run_playbook(
        playbook(BLOCK, reg),
        {"users": ["auth0|x"]},
        registry=reg,
        auth0_factory=factory,
        protected_users=["boss@example.com"],
        approve=True,
        run_dir=tmp_path,
    )
    (refused,) = records(result.run_log, "action.refused")
    assert refused["record"] == "unread" and "Insufficient scope" in refused["reason"]
    assert result.status == "failed" and server.writes() == []
    assert records(result.run_log, "approval.requested") == []  # nothing left to approve


def test_a_preapproval_writes_within_its_targets_and_is_recorded_as_such(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    """``soar serve``'s ``respond: auto``: no person, so the record says which rule approved."""
    from engine.run.approval import Preapproved

    a, b, c = users(tenant, 3)
    rule = Preapproved("rule credential-stuffing (auto)", max_targets=2)
    over = run_block(tenant, tmp_path, [a["user_id"], b["user_id"], c["user_id"]], [], approve=rule)
    assert over.status == "awaiting_approval" and patched(tenant) == []
    (required,) = records(over.run_log, "approval.required")
    assert required["reason"] == "over_preapproved_targets" and "at most 2" in required["hint"]
    within = run_block(tenant, tmp_path, [a["user_id"], b["user_id"]], [], approve=rule)
    assert within.status == "succeeded"
    (granted,) = records(within.run_log, "approval.granted")
    assert granted["by"] == "rule credential-stuffing (auto)"
    assert sorted(granted["targets"]) == sorted([a["user_id"], b["user_id"]])
    assert len(patched(tenant)) == 2 and not tenant.tenant.users[c["user_id"]]["blocked"]
