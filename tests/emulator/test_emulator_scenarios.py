"""Scenario generators: Auth0's event shape, determinism, and a ground truth drills can rely on."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.emulator.catalog import HOSTILE
from engine.emulator.scenarios import SCENARIOS, generate
from engine.errors import EmulatorError
from engine.eventcodes import USER_AUTH_SUCCESS

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
FIELDS = [
    "_id",
    "log_id",
    "date",
    "type",
    "description",
    "connection",
    "connection_id",
    "organization_id",
    "organization_name",
    "client_id",
    "client_name",
    "ip",
    "hostname",
    "details",
    "user_id",
    "user_name",
    "user_agent",
    "audience",
    "scope",
    "strategy",
    "strategy_type",
    "isMobile",
    "location_info",
]
FAILURES = {"f", "fp", "fu", "limit_wc", "pwd_leak"}


def build(scenario: str, events: int | None = None) -> tuple[list[dict[str, Any]], Any]:
    t = generate(scenario, seed=7, events=events, now=NOW)
    return list(t.events), t


@pytest.fixture(scope="module", params=SCENARIOS)
def tenant(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]], Any]:
    evs, t = build(request.param)
    return request.param, evs, t


def test_events_are_shaped_like_auth0(tenant: tuple[str, list[dict[str, Any]], Any]) -> None:
    _, evs, t = tenant
    assert len(evs) == t.truth["events"] >= 3000
    ids = [e["log_id"] for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for e in evs:
        assert list(e) == FIELDS
        assert e["_id"] == e["log_id"]
        assert re.fullmatch(r"[89]00\d{53}", e["log_id"])
        # the id's timestamp is the event's (ingest) time
        stamp = e["date"][:19].replace("-", "").replace(":", "").replace("T", "")
        assert e["log_id"][3:17] == stamp
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["date"])
        assert e["date"] <= "2026-11-28T07:00:00.000Z"
        if e["ip"]:
            assert set(e["location_info"]) >= {"country_code", "country_code3", "continent_code"}
        else:
            assert e["location_info"] is None
        assert e["organization_id"] is None
        assert e["isMobile"] is ("Mobile" in e["user_agent"])


def test_ground_truth_separates_attackers_from_legitimate_traffic(
    tenant: tuple[str, list[dict[str, Any]], Any],
) -> None:
    scenario, evs, t = tenant
    truth = t.truth
    attackers = set(truth["attacker_ips"])
    failures = Counter(e["ip"] for e in evs if e["type"] in FAILURES)
    legit_worst = max((n for ip, n in failures.items() if ip not in attackers), default=0)
    assert legit_worst < 20, "a threshold of 20 failures must separate attacker IPs"
    for ip in attackers:
        assert failures[ip] > 20
    compromised = set(truth["compromised_users"])
    # legitimate users never authenticate successfully from an attacker IP
    for e in evs:
        if e["type"] in USER_AUTH_SUCCESS and e["ip"] in attackers:
            assert e["user_id"] in compromised
    reached: dict[str, set[str]] = {}
    by_password: dict[str, set[str]] = {}
    for e in evs:
        if e["type"] in USER_AUTH_SUCCESS and e["ip"] in attackers:
            reached.setdefault(e["user_id"], set()).add(e["client_name"])
        if e["type"] == "s" and e["ip"] in attackers:
            by_password.setdefault(e["user_id"], set()).add(e["client_name"])
    assert {u: sorted(c) for u, c in reached.items()} == truth["accessed_clients"]
    for uid in truth["accessed_clients"]:
        if uid not in truth["hijacked_admins"]:
            # every victim reaches at least one application with no password, through SSO
            assert reached[uid] - by_password[uid], uid
    for uid, ips in truth["activity_elsewhere"].items():
        later = {e["ip"] for e in evs if e["user_id"] == uid and e["ip"] not in attackers}
        assert uid in compromised and set(ips) <= later and not set(ips) & attackers
    assert bool(truth["activity_elsewhere"]) is (scenario == "credential-stuffing")
    assert set(truth["compromised_user_names"]) == compromised
    assert not compromised & set(truth["legitimate_users"])
    assert set(truth["legitimate_users"]) | compromised == set(t.users)
    if scenario == "quiet":
        assert (truth["attacker_ips"], truth["compromised_users"]) == ([], [])
    else:
        assert attackers and compromised
    if scenario == "compromised-admin":
        (admin,) = truth["hijacked_admins"]
        sapi = [e for e in evs if e["type"] == "sapi" and e["user_id"] == admin]
        assert len(sapi) == 8 and all(e["ip"] in attackers for e in sapi)
    else:
        assert truth["hijacked_admins"] == []


def test_hostile_content_is_planted_in_attacker_fields() -> None:
    evs, t = build("credential-stuffing")
    names = {e["user_name"] for e in evs}
    agents = {e["user_agent"] for e in evs}
    for s in HOSTILE:
        assert s in names or s in agents
    assert "{{ 7*7 }}|<b>x</b>@example.com" in t.truth["compromised_user_names"].values()


def test_same_seed_and_now_give_the_same_tenant() -> None:
    a, ta = build("password-spray", 500)
    b, tb = build("password-spray", 500)
    other = generate("password-spray", seed=8, events=500, now=NOW)
    assert a == b and ta.truth == tb.truth
    assert other.truth["attacker_ips"] != ta.truth["attacker_ips"]


@pytest.mark.parametrize("events", [300, 20000])
def test_sizes_keep_the_truth_separable(events: int) -> None:
    evs, t = build("credential-stuffing", events)
    assert abs(len(evs) - events) <= events * 0.1 or len(evs) < 1000
    attackers = set(t.truth["attacker_ips"])
    failures = Counter(e["ip"] for e in evs if e["type"] in FAILURES)
    assert min(failures[ip] for ip in attackers) > 20
    assert max(n for ip, n in failures.items() if ip not in attackers) < 20


def test_unknown_scenario_is_named() -> None:
    with pytest.raises(EmulatorError, match=r"unknown scenario 'nope'.*credential-stuffing"):
        generate("nope")


def test_sizes_outside_the_measured_range_are_refused() -> None:
    for events in (0, 1_000_001):
        with pytest.raises(EmulatorError, match="between 1 and 1,000,000"):
            generate("quiet", events=events)
