"""Containing addresses: Tenant ACLs and anomaly blocks, against the emulator's endpoints.

Shapes from Auth0's API reference (POST /network-acls; GET/DELETE
/anomaly/blocks/ips/{id}) and the OAS-generated auth0-python 6 types; limits
from "Tenant Access Control List Limits" (10 ACLs, 20 entries per identifier).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_emulator import token

from engine.actions import auth0_network as net
from engine.actions import default_registry
from engine.actions.registry import ActionContext
from engine.drills.drill import client_from_emulator
from engine.emulator import RunningEmulator, start_emulator
from engine.emulator.reactions import containment, continue_attack
from engine.errors import ActionError, ConfigError
from engine.ipforms import entry, parse_network
from engine.playbook.loader import load_playbook_text
from engine.run.executor import run_playbook
from engine.run.guardrails import parse_protected_ips
from engine.timeutil import parse_time

NOW = "2026-11-28T07:00:00.000Z"


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with start_emulator(rate_limit=(200, 1000.0), now=parse_time(NOW), events=600) as running:
        yield running


@pytest.fixture
def api(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        bearer = token(emu, http)
    with httpx.Client(
        base_url=f"{emu.base_url}/api/v2", headers={"Authorization": f"Bearer {bearer}"}
    ) as client:
        yield client


def acl(**rule: Any) -> dict[str, Any]:
    body = {
        "description": "office",
        "active": True,
        "priority": 5,
        "rule": {"action": {"block": True}, "scope": "authentication", "match": {}},
    }
    body["rule"].update(rule)  # type: ignore[attr-defined]
    return body


def test_emulator_validates_acls_as_auth0(emu: RunningEmulator, api: httpx.Client) -> None:
    made = api.post("/network-acls", json=acl(match={"ipv4_cidrs": ["203.0.113.0/24"]}))
    assert made.status_code == 201
    created = made.json()
    assert created["id"].startswith("acl_") and created["priority"] == 5
    assert api.get(f"/network-acls/{created['id']}").json() == created
    assert api.get("/network-acls").json() == [created]
    totals = api.get("/network-acls", params={"include_totals": "true"}).json()
    assert totals["total"] == 1 and totals["network_acls"] == [created]

    for bad in (
        acl(match={"ipv4_cidrs": ["203.0.113.999"]}),
        acl(match={"ipv6_cidrs": ["203.0.113.9"]}),
        acl(match={"ipv4_cidrs": [f"198.51.100.{i}" for i in range(21)]}),
        acl(match={"colour": ["red"]}),
        acl(match={}),
        acl(action={"block": True, "allow": True}, match={"asns": [1]}),
        acl(scope="everywhere", match={"asns": [1]}),
        {**acl(match={"asns": [1]}), "priority": 101},
        {**acl(match={"asns": [1]}), "extra": 1},
        {"description": "x", "active": True},
    ):
        refused = api.post("/network-acls", json=bad)
        assert refused.status_code == 400, bad
        assert refused.json()["errorCode"] == "invalid_body"
        assert refused.json()["message"].startswith("Payload validation error: ")
    assert len(emu.tenant.network_acls) == 1

    for i in range(9):
        assert api.post("/network-acls", json=acl(match={"asns": [i]})).status_code == 201
    eleventh = api.post("/network-acls", json=acl(match={"asns": [99]}))
    assert eleventh.status_code == 409
    missing = api.get("/network-acls/acl_nope")
    assert missing.status_code == 404 and missing.json()["statusCode"] == 404
    assert api.delete(f"/network-acls/{created['id']}").status_code == 204


def test_emulator_anomaly_ip_blocks(emu: RunningEmulator, api: httpx.Client) -> None:
    emu.tenant.ip_blocks.add("198.51.100.4")
    assert api.get("/anomaly/blocks/ips/198.51.100.4").status_code == 200
    not_blocked = api.get("/anomaly/blocks/ips/198.51.100.5")
    assert not_blocked.status_code == 404
    assert not_blocked.json()["message"] == "IP address specified is currently not blocked."
    assert api.get("/anomaly/blocks/ips/not-an-ip").status_code == 400
    assert api.delete("/anomaly/blocks/ips/198.51.100.4").status_code == 204
    assert api.delete("/anomaly/blocks/ips/198.51.100.4").status_code == 204  # already clear
    assert "198.51.100.4" not in emu.tenant.ip_blocks


def test_parse_network_folds_every_textual_form_of_one_address() -> None:
    forms = ["2001:db8::e970", "2001:0DB8:0000:0000:0000:0000:0000:E970", "2001:db8::e970%eth0"]
    assert {entry(parse_network(f)) for f in forms} == {"2001:db8::e970"}
    assert entry(parse_network("::ffff:203.0.113.9")) == "203.0.113.9"
    assert entry(parse_network("::ffff:203.0.113.9/120")) == "203.0.113.0/24"
    assert entry(parse_network("203.0.113.77/24")) == "203.0.113.0/24"
    with pytest.raises(ValueError, match="not an IP address"):
        parse_network("Chrome/114.0.0.0")
    with pytest.raises(ActionError, match="not an IP address"):
        net.addresses({"ips": ["203.0.113.7", "Chrome/114.0.0.0"]})


def test_block_ips_creates_then_extends_one_acl_idempotently(
    emu: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(emu)
    first = net.block_ips(ctx, {"ips": ["203.0.113.7", "2001:db8::1", "2001:0db8:0:0::1"]})
    assert first["changed"] and first["newly_blocked"] == ["203.0.113.7", "2001:db8::1"]
    [made] = emu.tenant.network_acls.values()
    assert made["description"] == net.SOAR_ACL and made["rule"]["scope"] == "authentication"
    assert made["rule"]["match"] == {"ipv4_cidrs": ["203.0.113.7"], "ipv6_cidrs": ["2001:db8::1"]}

    writes_before = len(emu.tenant.writes())
    again = net.block_ips(ctx, {"ips": ["::ffff:203.0.113.7", "2001:db8::1"]})
    assert again["changed"] is False and again["newly_blocked"] == []
    assert len(emu.tenant.writes()) == writes_before  # nothing sent: already blocked

    more = net.block_ips(ctx, {"ips": ["203.0.113.8"]})
    assert more["newly_blocked"] == ["203.0.113.8"] and len(emu.tenant.network_acls) == 1
    assert emu.tenant.writes()[-1]["method"] == "PATCH"
    assert made["rule"]["match"]["ipv4_cidrs"] == ["203.0.113.7", "203.0.113.8"]

    # past 20 entries a second ACL of soar's own takes the rest; an operator's rule is untouched
    many = [f"198.51.100.{i}" for i in range(1, 31)]
    net.block_ips(ctx, {"ips": many})
    ours = sorted(emu.tenant.network_acls.values(), key=lambda a: a["description"])
    assert [a["description"] for a in ours] == [net.SOAR_ACL, f"{net.SOAR_ACL} (2)"]
    blocked = [c for a in ours for c in a["rule"]["match"]["ipv4_cidrs"]]
    assert set(many) <= set(blocked) and all(
        len(a["rule"]["match"]["ipv4_cidrs"]) <= 20 for a in ours
    )


def test_block_ips_plan_sends_nothing(
    emu: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(emu, dry_run=True)
    plan = net._plan_block_ips(ctx, {"ips": ["203.0.113.7"]})
    assert [(c["method"], c["path"]) for c in plan] == [("POST", "/api/v2/network-acls")]
    assert plan[0]["body"]["rule"]["match"] == {"ipv4_cidrs": ["203.0.113.7"]}
    assert emu.tenant.writes() == [] and emu.tenant.network_acls == {}


def test_unblock_ip_is_idempotent(
    emu: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(emu)
    emu.tenant.ip_blocks.add("198.51.100.4")
    assert net.get_ip_block(ctx, {"ip": "198.51.100.4"}) == {"ip": "198.51.100.4", "blocked": True}
    assert net.unblock_ip(ctx, {"ip": "198.51.100.4"})["changed"] is True
    assert net.unblock_ip(ctx, {"ip": "198.51.100.4"})["changed"] is False
    assert [w["method"] for w in emu.tenant.writes()] == ["DELETE"]


def test_every_write_shows_in_the_tenants_logs_as_sapi(
    emu: RunningEmulator, api: httpx.Client
) -> None:
    uid = emu.truth["compromised_users"][0]
    before = len(emu.tenant.logs)
    assert api.patch(f"/users/{uid}", json={"blocked": True, "password": "hunter2-x"}).is_success
    assert api.post("/network-acls", json=acl(match={"ipv4_cidrs": ["203.0.113.0/24"]})).is_success
    found = api.get("/logs", params={"q": 'type:"sapi" AND client_id:"' + emu.client_id + '"'})
    events = found.json()
    assert len(emu.tenant.logs) == before + 2
    descriptions = sorted(e["description"] for e in events)
    assert descriptions == ["Create a Network ACL", "Update a User"]
    patch = next(e for e in events if e["description"] == "Update a User")
    assert patch["details"]["request"]["method"] == "patch"
    assert patch["details"]["request"]["body"] == {"blocked": True}  # the password never logged
    assert patch["details"]["response"]["statusCode"] == 200
    assert "hunter2-x" not in found.text
    # a read is not logged, nor a refused write
    api.get(f"/users/{uid}")
    api.patch(f"/users/{uid}", json={"blocked": "yes"})
    assert len(emu.tenant.logs) == before + 2


def test_the_attack_continues_until_contained(emu: RunningEmulator, api: httpx.Client) -> None:
    truth = emu.truth
    assert set(continue_attack(emu.tenant, truth)) == {"s"}  # nothing contained yet
    assert containment(emu.tenant, truth)["attack_stopped"] is False

    victim, *others = truth["compromised_users"]
    api.patch(f"/users/{victim}", json={"blocked": True})
    for uid in others:
        api.patch(f"/users/{uid}", json={"blocked": True})
    outcomes = continue_attack(emu.tenant, truth, attempts=2)
    assert outcomes and set(outcomes) == {"f"}  # "user is blocked", as Auth0 logs it
    score = containment(emu.tenant, truth)
    assert score["attack_stopped"] is True and score["attacker_logins_after_containment"] == 0
    assert score["time_to_containment_s"] > 0
    assert score["first_attack_event"] < score["contained_at"]

    cidrs = [f"{ip}" for ip in truth["attacker_ips"] if ":" not in ip]
    api.post("/network-acls", json=acl(match={"ipv4_cidrs": cidrs}))
    refused = set(continue_attack(emu.tenant, truth))
    assert "acls_summary" in refused and "s" not in refused


BLOCK_IPS = """
playbook: 1
name: block-addresses
inputs:
  ips: {type: array}
steps:
  - id: block
    uses: auth0.block_ips
    for_each: "{{ inputs.ips }}"
    MAX
    with: {ips: ["{{ item }}"]}
outputs:
  blocked: "{{ steps.block.output }}"
"""


def run_block_ips(
    emu: RunningEmulator, tmp_path: Path, ips: list[str], *, max_line: str = "", **kw: Any
) -> Any:
    registry = default_registry()
    pb = load_playbook_text(BLOCK_IPS.replace("MAX", max_line), registry)
    return run_playbook(
        pb,
        {"ips": ips},
        registry=registry,
        approve=True,
        auth0_factory=client_from_emulator(emu),
        run_dir=tmp_path,
        **kw,
    )


def test_a_protected_address_is_never_blocked(emu: RunningEmulator, tmp_path: Path) -> None:
    nat = "198.51.100.7"
    result = run_block_ips(
        emu,
        tmp_path,
        ["203.0.113.7", "::ffff:198.51.100.7", "2001:db8::1"],
        protected_ips=["198.51.100.0/24"],
    )
    assert result.status == "failed"  # the refusal fails the step, naming the address
    assert "198.51.100.7" in (result.error or "") and "SOAR_PROTECTED_IPS" in (result.error or "")
    blocked = [
        c
        for a in emu.tenant.network_acls.values()
        for m in [a["rule"]["match"]]
        for c in m.get("ipv4_cidrs", []) + m.get("ipv6_cidrs", [])
    ]
    assert sorted(blocked) == ["2001:db8::1", "203.0.113.7"] and nat not in blocked
    records = [json.loads(x) for x in result.run_log.read_text().splitlines()]
    started = records[0]
    assert started["protected_ips"] == ["198.51.100.0/24"]
    refused = [r for r in records if r["type"] == "action.refused"]
    assert [r["target"] for r in refused] == ["198.51.100.7"]

    # a network around a protected address is refused too
    wide = run_block_ips(emu, tmp_path, ["198.51.0.0/16"], protected_ips=[nat])
    assert wide.status == "failed" and "198.51.0.0/16" in (wide.error or "")


def test_max_targets_counts_addresses(emu: RunningEmulator, tmp_path: Path) -> None:
    registry = default_registry()
    pb = load_playbook_text(
        BLOCK_IPS.replace('for_each: "{{ inputs.ips }}"', "")
        .replace("MAX", "max_targets: 2")
        .replace('["{{ item }}"]', '"{{ inputs.ips }}"'),
        registry,
    )
    result = run_playbook(
        pb,
        {"ips": ["203.0.113.1", "203.0.113.2", "203.0.113.3"]},
        registry=registry,
        approve=True,
        auth0_factory=client_from_emulator(emu),
        run_dir=tmp_path,
    )
    assert result.status == "failed" and "3 targets" in (result.error or "")
    assert emu.tenant.network_acls == {} and emu.tenant.writes() == []


def test_bad_protected_ips_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SOAR_PROTECTED_IPS: 'office' is not an IP"):
        parse_protected_ips("203.0.113.0/24, office")
    assert parse_protected_ips("::ffff:203.0.113.9, 2001:DB8::/32") == [
        "203.0.113.9/32",
        "2001:db8::/32",
    ]


def test_the_cli_emulators_attacker_keeps_trying(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from tests.soarcli import ROOT

    truth_file = tmp_path / "truth.json"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "engine", "emulator", "--port", "0",
            "--attacker-continues", "0.2", "--truth", str(truth_file),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        env = dict(proc.stdout.readline().strip().removeprefix("export ").split("=", 1)
                   for _ in range(3))  # fmt: skip
        truth = json.loads(truth_file.read_text())
        base = env["AUTH0_DOMAIN"]
        token = httpx.post(f"{base}/oauth/token", json={
            "grant_type": "client_credentials", "client_id": env["AUTH0_CLIENT_ID"],
            "client_secret": env["AUTH0_CLIENT_SECRET"], "audience": f"{base}/api/v2/",
        }).json()["access_token"]  # fmt: skip
        api = httpx.Client(base_url=f"{base}/api/v2", headers={"Authorization": f"Bearer {token}"})
        victim = truth["compromised_users"][0]

        def attempts(kind: str) -> int:
            q = f'type:"{kind}" AND user_id:"{victim}" AND date:[{truth["now"]} TO *]'
            return len(api.get("/logs", params={"q": q, "per_page": 100}).json())

        deadline = time.monotonic() + 10
        while attempts("s") == 0:
            assert time.monotonic() < deadline, "the attacker never came back"
            time.sleep(0.1)
        assert api.patch(f"/users/{victim}", json={"blocked": True}).is_success
        while attempts("f") == 0:
            assert time.monotonic() < deadline, "the blocked account was never refused"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
