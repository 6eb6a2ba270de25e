"""``--respond auto``: a rule's pre-approved containment, written without a person, within bounds.

The response's run log is signed with ``SOAR_SIGNING_KEY``, as ``soar run`` signs.

A real ``soar serve`` against an emulated tenant (its ``AUTH0_*`` settings, as
``soar run`` takes them): an attacked account is blocked, the approval is
recorded as the rule's; a protected account is never written, whatever the rule.
"""

from __future__ import annotations

import json
from pathlib import Path

from serving import incidents, item, jsonl, serving
from soarcli import wait_until

from engine.audit.signing import generate
from engine.emulator import start_emulator

BLOCK = """
playbook: 1
name: serve-block
description: block the accounts of an incident
inputs:
  users: {type: array, required: true}
steps:
  - id: block
    uses: auth0.block_user
    for_each: "{{ inputs.users }}"
    with: {user_id: "{{ item }}"}
"""
RULE = """
detection: 1
id: account-failures
title: Failures for one account
description: three failed logins for one account
severity: critical
select: 'type:"fp"'
group_by: [user_id]
window: 10m
threshold:
  count: {gte: 3}
response:
  playbook: ../playbooks/block.yaml
  inputs: {users: "{{ [group.user_id] }}"}
  respond: auto
  max_targets: 1
"""


def test_auto_blocks_the_attacked_account_and_never_a_protected_one(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "rules" / "account-failures.yaml").write_text(RULE)
    (tmp_path / "playbooks" / "block.yaml").write_text(BLOCK)
    with start_emulator(scenario="quiet", seed=4, events=200, rate_limit=(1000, 5000.0)) as emu:
        victim, boss = sorted(
            (u for u in emu.tenant.users.values() if u.get("email")), key=lambda u: u["user_id"]
        )[:2]
        signer = generate(tmp_path / "key.pem", tmp_path / "key.pub")
        env = {
            **emu.env(),
            "SOAR_PROTECTED_USERS": boss["email"],
            "SOAR_SIGNING_KEY": (tmp_path / "key.pem").read_text(),
        }
        args = ["--detections", str(tmp_path / "rules"), "--respond", "auto"]
        state = tmp_path / "state"
        with serving(state, [*args, "--run-dir", str(tmp_path / "runs")], env) as served:
            events = [
                item(
                    f"{who}-{i}",
                    type="fp",
                    user_id=user["user_id"],
                    date=f"2026-11-20T10:0{i}:00.000Z",
                )
                for who, user in (("v", victim), ("b", boss))
                for i in range(3)
            ]
            assert served.post(jsonl(events)).status_code == 200
            wait_until(
                served.proc,
                lambda: (
                    all(
                        (i["response"] or {}).get("status") not in (None, "pending", "started")
                        for i in incidents(state)
                    )
                    and len(incidents(state)) == 2
                ),
            )
            served.stop()
        found = {i["group"]["user_id"]: i["response"] for i in incidents(state)}
        assert found[victim["user_id"]]["status"] == "succeeded"
        assert found[victim["user_id"]]["mode"] == "auto"
        assert found[boss["user_id"]]["status"] == "failed"  # refused by the guardrails
        assert emu.tenant.users[victim["user_id"]]["blocked"] is True
        assert not emu.tenant.users[boss["user_id"]].get("blocked")
        log = Path(found[victim["user_id"]]["run_log"]).read_text().splitlines()
        (granted,) = [r for r in map(json.loads, log) if r["type"] == "approval.granted"]
        assert granted["by"] == "rule account-failures (auto)"
        assert granted["targets"] == [victim["user_id"]]
        records = [json.loads(line) for line in log]
        assert records[0]["signing_key_id"] == signer.key_id  # signed as soar run signs
        assert records[-1]["type"] == "run.signed"
