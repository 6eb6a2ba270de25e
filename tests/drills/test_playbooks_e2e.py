"""The standard runbooks end to end against the emulator, dry and live: outputs, writes, verify, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.actions import default_registry
from engine.audit.report import render
from engine.audit.runlog import verify
from engine.drills.drill import client_from_emulator
from engine.emulator import RunningEmulator, start_emulator
from engine.playbook.loader import load_playbook
from engine.run.executor import run_playbook
from engine.run.state import RunResult

ROOT = Path(__file__).parents[2]
PLAYBOOKS = ROOT / "playbooks"


def run(emu: RunningEmulator, name: str, inputs: dict[str, Any], tmp: Path, **kw: Any) -> RunResult:
    registry = default_registry()
    return run_playbook(
        load_playbook(PLAYBOOKS / f"{name}.yaml", registry),
        inputs,
        registry=registry,
        run_dir=tmp,
        auth0_factory=client_from_emulator(emu),
        **kw,
    )


def writes(emu: RunningEmulator) -> list[tuple[str, str]]:
    """Writes the tenant accepted; a request refused with 429 changed nothing and is retried."""
    return [(e["method"], e["path"]) for e in emu.tenant.writes() if e["status"] < 400]


def audited(result: RunResult) -> str:
    check = verify(result.run_log, result.final_hash)
    assert check.code == 0, check.message
    report = render(result.run_log)
    assert "\x1b" not in report and "<script>" not in report and result.final_hash in report
    return report


def test_triage_dry_run_finds_everything_and_writes_nothing(tmp_path: Path) -> None:
    with start_emulator(scenario="credential-stuffing", seed=1) as emu:
        result = run(emu, "auth0-attack-triage", {"block": True}, tmp_path, dry_run=True)
        assert writes(emu) == []
        truth = emu.truth
    out = result.outputs
    assert result.status == "succeeded" and result.steps["block"].status == "planned"
    assert sorted(out["suspicious_ips"]) == truth["attacker_ips"]
    assert sorted(out["compromised_users"]) == truth["compromised_users"]
    assert out["accessed_clients"] == truth["accessed_clients"]  # SSO (ssa) included
    for uid, ips in truth["activity_elsewhere"].items():  # the attacker's new address
        assert set(ips) <= set(out["activity_elsewhere"][uid]["ips"])
    assert out["user_names"] == truth["compromised_user_names"]
    # a dry run's outputs say planned, never blocked
    assert out["blocked_users"] == [] and out["blocked_ips"] == []
    assert sorted(out["planned_user_blocks"]) == truth["compromised_users"]
    # hostile data stays literal: the victim who signed up as "{{ 7*7 }}|<b>x</b>" is not rendered
    assert "{{ 7*7 }}|<b>x</b>@example.com" in out["user_names"].values()
    report = audited(result)
    assert "\\{\\{ 7\\*7 \\}\\}\\|\\<b\\>x\\</b\\>@example.com" in report
    assert "DRY RUN" in report


def test_triage_live_blocks_exactly_the_compromised(tmp_path: Path) -> None:
    with start_emulator(scenario="credential-stuffing", seed=1) as emu:
        result = run(emu, "auth0-attack-triage", {"block": True}, tmp_path, approve=True)
        truth = emu.truth
        blocked = sorted(u for u, v in emu.tenant.users.items() if v["blocked"])
        patched = [p for m, p in writes(emu) if m == "PATCH"]
    assert result.status == "succeeded" and blocked == truth["compromised_users"]
    assert len(patched) == len(truth["compromised_users"])
    audited(result)


def test_writes_wait_for_approval(tmp_path: Path) -> None:
    with start_emulator(scenario="credential-stuffing", seed=1) as emu:
        result = run(emu, "auth0-attack-triage", {"block": True}, tmp_path)
        assert result.status == "awaiting_approval" and writes(emu) == []
    assert verify(result.run_log).code == 0


def test_suspicious_ip_live(tmp_path: Path) -> None:
    with start_emulator(scenario="password-spray", seed=1) as emu:
        ip = emu.truth["attacker_ips"][0]
        result = run(emu, "auth0-suspicious-ip", {"ip": ip, "block": True}, tmp_path, approve=True)
        users = result.outputs["compromised_users"]
        assert users and set(users) <= set(emu.truth["compromised_users"])
        assert all(emu.tenant.users[u]["blocked"] for u in users)
        assert result.outputs["blocked_users"] == users
        assert result.outputs["planned_user_blocks"] == []
    audited(result)


def test_account_activity_of_the_hijacked_admin(tmp_path: Path) -> None:
    with start_emulator(scenario="compromised-admin", seed=1) as emu:
        admin = emu.truth["hijacked_admins"][0]
        result = run(emu, "auth0-account-activity", {"user_id": admin, "since": "2d"}, tmp_path)
        assert writes(emu) == []
    out = result.outputs
    assert out["events_count"] >= 26 and emu.truth["attacker_ips"][0] in {
        r["ip"] for r in out["ips"]
    }
    calls = out["management_api_calls"]
    assert len(calls) == 8 and {c["user_id"] for c in calls} == {admin}
    bodies = str([c["details"]["request"]["body"] for c in calls])
    assert "{{ 7*7 }}" in bodies  # hostile request bodies kept verbatim, never rendered
    audited(result)


@pytest.mark.parametrize("dry_run", [True, False])
def test_contain_user(dry_run: bool, tmp_path: Path) -> None:
    with start_emulator(scenario="credential-stuffing", seed=1) as emu:
        uid = emu.truth["compromised_users"][0]
        result = run(
            emu, "auth0-contain-user", {"user_id": uid}, tmp_path, approve=True, dry_run=dry_run
        )
        assert result.outputs == (
            {"blocked": False, "sessions_revoked": False, "planned": ["block", "revoke_sessions"]}
            if dry_run
            else {"blocked": True, "sessions_revoked": True, "planned": []}
        )
        if dry_run:
            assert writes(emu) == [] and emu.tenant.users[uid]["blocked"] is False
        else:
            quoted = "/api/v2/users/" + uid.replace("|", "%7C")
            assert writes(emu) == [
                ("PATCH", quoted),
                ("DELETE", quoted + "/sessions"),
                ("DELETE", quoted + "/refresh-tokens"),
            ]
    audited(result)


def test_protected_users_are_never_written(tmp_path: Path) -> None:
    with start_emulator(scenario="credential-stuffing", seed=1) as emu:
        uid = emu.truth["compromised_users"][0]
        result = run(
            emu,
            "auth0-contain-user",
            {"user_id": uid},
            tmp_path,
            approve=True,
            protected_users=[uid],
        )
        assert result.status == "failed" and "protected" in (result.error or "")
        assert writes(emu) == []
