"""The emulator's background traffic: a realistic mix of Auth0's codes that keeps the truth true."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.emulator.background import MIX
from engine.emulator.scenarios import SCENARIOS, generate
from engine.eventcodes import ATTACK_INDICATORS, USER_AUTH_FAILURE, USER_AUTH_SUCCESS, lookup

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def tenants() -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    out = {}
    for scenario in SCENARIOS:
        t = generate(scenario, seed=11, events=4000, now=NOW)
        out[scenario] = (list(t.events), t.truth)
    return out


def test_the_mix_is_the_catalogs_codes() -> None:
    assert all(lookup(k.code) is not None for k in MIX)
    assert len({k.code for k in MIX}) == len(MIX) >= 25


def test_a_quiet_tenant_shows_two_dozen_codes_and_no_attack(
    tenants: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]],
) -> None:
    events, _ = tenants["quiet"]
    seen = Counter(e["type"] for e in events)
    assert len(seen) >= 24, seen
    assert seen["s"] > seen["ssa"] > seen["fp"] > 0
    protection = {"limit_wc", "limit_sul", "limit_mu", "pwd_leak", "signup_pwd_leak"}
    assert not protection & set(seen) and "reset_pwd_leak" not in seen
    assert sum(n for t, n in seen.items() if t in USER_AUTH_FAILURE) < 0.08 * len(events)


def test_each_type_carries_the_fields_auth0_gives_it(
    tenants: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]],
) -> None:
    events, _ = tenants["quiet"]
    first = {}
    for e in events:
        first.setdefault(e["type"], e)
    m2m = first["seccft"]
    assert m2m["audience"].endswith("/api/v2/") and isinstance(m2m["scope"], str)
    assert (m2m["user_id"], m2m["user_name"], m2m["connection"]) == ("", "", None)
    assert (
        first["sertft"]["audience"] and first["sertft"]["scope"] == "openid profile offline_access"
    )
    assert first["fsa"]["scope"] == ["openid", "profile", "email"]  # an array, as Auth0 sends it
    assert (first["ssa"]["connection"], first["ssa"]["connection_id"]) == (None, "")
    assert first["s"]["details"]["prompts"] and first["s"]["strategy_type"] == "database"
    note = first["fn"]
    assert note["ip"] is None and note["location_info"] is None
    assert note["description"] == "To: " + note["user_name"] and note["user_id"] == ""
    assert first["fp"]["details"] == {"error": {"message": "Wrong email or password."}}
    # the web app's backend exchanges codes for its users, from its own address
    backend = {e["ip"] for e in events if e["type"] == "seacft"}
    assert len(backend) == 1 and all(e["user_id"] for e in events if e["type"] == "seacft")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_background_never_looks_like_an_attacker(
    tenants: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]], scenario: str
) -> None:
    events, truth = tenants[scenario]
    attackers = set(truth["attacker_ips"])
    legit = set(truth["legitimate_users"])
    signals = USER_AUTH_FAILURE | set(ATTACK_INDICATORS)
    per_ip = Counter(e["ip"] for e in events if e["type"] in signals and e["ip"] not in attackers)
    assert max(per_ip.values()) < 20, per_ip.most_common(3)
    for e in events:
        if e["ip"] in attackers and e["type"] in USER_AUTH_SUCCESS:
            assert e["user_id"] not in legit, e
