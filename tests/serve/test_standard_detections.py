"""The standard detections (``detections/``): their own tests, and the emulator's attacks.

Each scenario of ``engine.emulator.scenarios`` is an attack with ground truth on a
background of legitimate traffic. Streamed in date order, with the delivery delays
a log stream has (within the rules' lateness), the standard rules must find every
attacker address or account the truth names, with the rule meant for it, and
nothing on the legitimate traffic: this is what the stream drills score.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.bundled import bundled_dir
from engine.emulator.scenarios import SCENARIOS, generate
from engine.ipforms import address_key
from engine.logs.files import iter_events
from engine.serve.detect import Detector
from engine.serve.rules import Rule, load_rules, rule_files
from engine.serve.ruletests import run_test
from engine.timeutil import iso_ms, read_date

ROOT = Path(__file__).resolve().parents[2]
STANDARD = sorted(p.name for p in rule_files([ROOT / "detections"]))


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_rules([ROOT / "detections"])


def test_the_standard_detections_are_the_bundled_ones(rules: list[Rule]) -> None:
    assert bundled_dir("detections") == ROOT / "detections"
    assert {r.id for r in rules} == {
        "credential-stuffing",
        "password-spraying",
        "breached-password",
        "brute-force-account",
        "success-after-failures",
        "management-api-weakened",
        "mfa-push-fatigue",
        "refresh-token-reuse",
    }


@pytest.mark.parametrize("name", STANDARD)
def test_each_standard_rule_passes_its_own_tests(name: str, rules: list[Rule]) -> None:
    (rule,) = [r for r in rules if r.source.name == name]
    assert rule.response is not None, "a standard detection names its response"
    outcomes = [t.expect["fires"] for t in rule.tests]
    assert True in outcomes and outcomes.count(False) >= 2, "fires, and near misses that do not"
    for n, test in enumerate(rule.tests):
        result = run_test(rule, test, n)
        assert result.passed, f"{test.location}: {test.name}: {result.why}"


def _delivered(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Date order with up to 90 s of delivery delay each, as a stream delivers them."""
    rng = random.Random(seed)
    keyed = [(read_date(e["date"]).timestamp() + rng.uniform(0, 90), e) for e in events]
    return [e for _, e in sorted(keyed, key=lambda k: k[0])]


# which rule finds each scenario's attack: by address (the truth's attacker_ips) or by
# account (compromised and hijacked accounts); other rules may also fire on the same
# attackers (a spray from an address that also tries breached passwords), never elsewhere
MEANT = {
    "credential-stuffing": ("credential-stuffing", "ip"),
    "password-spray": ("password-spraying", "ip"),
    "breached-password": ("breached-password", "ip"),
    "compromised-admin": ("success-after-failures", "user_id"),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_attack_is_found_and_no_legitimate_traffic_is(
    scenario: str, rules: list[Rule]
) -> None:
    tenant = generate(scenario, seed=1, events=3000)
    truth = tenant.truth
    events = _delivered(sorted(tenant.events, key=lambda e: e["date"]), seed=5)
    detector = Detector(rules)
    found: dict[str, Any] = {}
    for at in range(0, len(events), 200):
        found.update((d.key, d) for d in detector.feed(events[at : at + 200]))
    assert detector.stats["too_late"] == 0 and detector.stats["undated"] == 0
    # an address groups by its key, whatever form the scenario logged it in
    ips = {address_key(ip) or ip for ip in truth["attacker_ips"]}
    attack = ips | set(truth["compromised_users"]) | set(truth["hijacked_admins"])
    legitimate = [d.key for d in found.values() if not set(d.group.values()) <= attack]
    assert legitimate == [], "a detection on legitimate traffic"
    if scenario == "quiet":
        assert found == {}
        return
    rule_id, field = MEANT[scenario]
    meant = sorted(d.group[field] for d in found.values() if d.rule.id == rule_id)
    wanted = ips if field == "ip" else truth["hijacked_admins"]
    assert meant == sorted(wanted), "one detection group per attacker, by the rule meant for it"


CORPUS = ROOT / "tests" / "data" / "auth0"  # real shapes, each source in SOURCES.md
# what the standard rules find in each corpus file, worked out from its story
CORPUS_FINDS = {
    # pypanther's auth0_attack_protection_disabled event: Suspicious IP Throttling turned off
    # from the Dashboard (path /v2/..., method post), dated as a SIEM row writes it
    "siem-rows.jsonl": {'management-api-weakened{"ip":"12.12.12.12"}'},
    # pypanther's auth0_token_reuse event (ferrt, Auth0's description)
    "stream-array.json": {'refresh-token-reuse{"user_id":"auth0|618223a4e3f49e006948565c"}'},
    # triage-export.md: frank's 25 wrong passwords then a login from A1 (2026-11-18), and
    # A2's 19 unknown names logged in two forms of one address
    "triage-export.jsonl": {
        'brute-force-account{"user_id":"auth0|6012d7eccvf1c41076d8ed3d"}',
        'success-after-failures{"user_id":"auth0|6012d7eccvf1c41076d8ed3d"}',
        'credential-stuffing{"ip":"185.220.101.45"}',
    },
}


def test_the_standard_rules_on_real_shaped_auth0_events(rules: list[Rule]) -> None:
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".json", ".jsonl"))
    assert len(files) >= 10
    found: dict[str, dict[str, Any]] = {}
    for path in files:
        detector = Detector(rules)
        found[path.name] = {d.key: d for d in detector.feed(list(iter_events(path)))}
        assert set(found[path.name]) == CORPUS_FINDS.get(path.name, set()), path.name
        assert detector.stats["undated"] == 0, path.name
    # A2 was logged as ::ffff:185.220.101.45 and as 185.220.101.45: one group, both forms kept
    stuffing = found["triage-export.jsonl"]['credential-stuffing{"ip":"185.220.101.45"}']
    assert stuffing.forms == {"ip": ("185.220.101.45", "::ffff:185.220.101.45")}


def test_real_push_notifications_repeated_are_push_fatigue(rules: list[Rule]) -> None:
    # pypanther's auth0_push_notification_fatigue event, sent five times in four minutes
    (push,) = [e for e in iter_events(CORPUS / "stream-array.json") if e["type"] == "gd_send_pn"]
    start = read_date(push["date"])
    pushes = [
        {
            **push,
            "log_id": f"{push['log_id'][:-2]}{n:02d}",
            "date": iso_ms(start + timedelta(minutes=n)),
        }
        for n in range(5)
    ]
    detector = Detector(rules)
    assert detector.feed(pushes[:4]) == []
    (found,) = detector.feed(pushes[4:])
    assert found.key == 'mfa-push-fatigue{"user_id":"google-oauth2|105261262156475850461"}'
    assert found.count == 5
