"""The attack triage on a real-shaped, week-old export, by the CLI, against answers worked out by hand.

The export and where each of its shapes was seen: tests/data/auth0/triage-export.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.actions import default_registry
from engine.errors import InputError
from engine.eventcodes import ATTACK_INDICATORS
from engine.logs.query import compile_query
from engine.playbook.inputs import check_inputs
from engine.playbook.loader import load_playbook
from engine.run.executor import run_playbook
from tests.soarcli import ROOT, soar

EXPORT = ROOT / "tests" / "data" / "auth0" / "triage-export.jsonl"
TRIAGE = "playbooks/auth0-attack-triage.yaml"
ALICE, BOB, CAROL = (
    "auth0|618223a4e3f49e006948565c",
    "auth0|6182002f34f4dd006b05b5c7",
    "auth0|61823277a44a21007221a59a",
)


def triage(logs: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    proc = soar(
        "run", TRIAGE, "--logs", str(logs), "-i", "since=2026-11-20", "--json",
        "--run-dir", str(tmp_path), *extra, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["status"] == "succeeded"
    return doc


def test_the_triage_finds_every_account_address_form_and_application(tmp_path: Path) -> None:
    out = triage(EXPORT, tmp_path)["outputs"]
    assert out["suspicious_ips"] == [
        "2601:140:9702:ee80:9049:1f55:0000:e970",
        "::ffff:185.220.101.45",
        "2A05:D014:0B9:57::E970",
    ]
    rows = {r["ip"]: r for r in out["suspicious_addresses"]}
    assert rows["::ffff:185.220.101.45"]["forms"] == ["::ffff:185.220.101.45", "185.220.101.45"]
    assert [r["count"] for r in out["suspicious_addresses"]] == [23, 21, 21]
    assert out["compromised_users"] == [ALICE, BOB, CAROL]
    assert out["user_names"] == {
        ALICE: "alice.moreau@example.com",
        BOB: "bob.nakamura@example.com",
        CAROL: "carol.diaz@example.com",
    }
    assert out["accessed_clients"] == {
        ALICE: ["Billing", "Customer Portal", "Support Desk"],
        BOB: ["Mobile App"],
        CAROL: ["Customer Portal", "Support Desk"],
    }
    elsewhere = out["activity_elsewhere"]
    assert {u: (a["ips"], a["types"]) for u, a in elsewhere.items()} == {
        ALICE: (["146.70.117.41"], {"sertft": 1}),
        BOB: ([], {}),
        CAROL: (["81.2.69.144"], {"s": 1, "slo": 1}),
    }
    assert [(e["user_id"], e["ip"]) for e in out["management_api_calls"]] == [
        ("auth0|6181ce2b0f293a006d158194", "35.167.74.121")
    ]
    assert out["blocked_users"] == []


def test_a_950_deep_management_event_does_not_stop_the_triage(tmp_path: Path) -> None:
    # an attacker's Management API call whose body nests 950 levels (issue 10 item 10)
    deep = {
        "_id": "90020261121100000000000000000000000000000000000000000999",
        "log_id": "90020261121100000000000000000000000000000000000000000999",
        "date": "2026-11-21T10:00:00.000Z",
        "type": "sapi",
        "description": "Update a User",
        "client_id": "360yuN1BXP4u3tBChK5VOgekgGJ7CwLL",
        "client_name": "",
        "ip": "2601:140:9702:ee80:9049:1f55:0000:e970",
        "user_id": ALICE,
        "details": {"request": {"method": "patch", "path": "/api/v2/users/x", "body": "BODY"}},
    }
    # the body as text: an encoder at 950 levels needs the stack a test worker may not have
    body = '{"body": ' * 950 + '{"ip": "198.51.100.99"}' + "}" * 950
    line = json.dumps(deep).replace('"BODY"', body, 1)
    logs = tmp_path / "deep.jsonl"
    logs.write_text(EXPORT.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    out = triage(logs, tmp_path)["outputs"]
    assert out["compromised_users"] == [ALICE, BOB, CAROL]
    (call,) = [e for e in out["management_api_calls"] if e["user_id"] == ALICE]
    assert (
        call["details"]["request"]["path"] == "/api/v2/users/x"
    )  # kept: only the deep part is cut
    assert "(cut: deeper than 64 levels)" in json.dumps(call)


def test_the_indicator_query_covers_auth0s_attack_indicators() -> None:
    playbook = load_playbook(ROOT / TRIAGE, default_registry())
    step = playbook.step("indicators")
    assert step is not None
    match = compile_query(step.with_["query"])
    for code in ATTACK_INDICATORS:
        assert match({"type": code}), code
    assert not match({"type": "s"}) and not match({"type": "sapi"})


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "playbooks").glob("*.yaml")))
def test_every_window_input_takes_a_duration_or_an_iso_date(name: str) -> None:
    playbook = load_playbook(ROOT / "playbooks" / name, default_registry())
    for key in ("since", "until"):
        if key not in playbook.inputs:
            continue
        specs = {key: playbook.inputs[key]}
        for value in ("7d", "2026-11-20", "2026-11-20T12:00:00Z", "2026-11-20T12:00:00.123+01:00"):
            assert check_inputs(specs, {key: value}, from_cli=True) == {key: value}
        with pytest.raises(InputError):
            check_inputs(specs, {key: "last tuesday"}, from_cli=True)


def test_the_suspicious_ip_playbook_finds_the_logged_form_of_a_typed_address(
    tmp_path: Path,
) -> None:
    # the responder types the canonical text; Auth0 logged "...:1f55:0000:e970"
    registry = default_registry()
    result = run_playbook(
        load_playbook(ROOT / "playbooks" / "auth0-suspicious-ip.yaml", registry),
        {"ip": "2601:140:9702:ee80:9049:1f55:0:e970", "since": "2026-11-20"},
        registry=registry,
        run_dir=tmp_path,
        logs_file=EXPORT,
    )
    out = result.outputs
    assert result.status == "succeeded" and out["compromised_users"] == [ALICE]
    assert out["accessed_clients"] == {ALICE: ["Billing", "Customer Portal", "Support Desk"]}
    assert out["activity_elsewhere"][ALICE]["ips"] == ["146.70.117.41"]
