"""Scoring against ground truth and drill expectations, on synthetic runs (pure functions)."""

from __future__ import annotations

from typing import Any

from engine.drills.drill import check
from engine.drills.scoring import (
    answer,
    journal_blocks,
    precision_recall,
    same_name_answers,
    score,
    write_targets,
)

TRUTH: dict[str, Any] = {
    "attacker_ips": ["203.0.113.7", "203.0.113.8"],
    "compromised_users": ["auth0|a", "auth0|b"],
    "hijacked_admins": ["auth0|admin"],
    "legitimate_users": ["auth0|l1", "auth0|l2"],
}
# what the attack triage's outputs answer (its drills say so); the other keys: same-name outputs
TRIAGE = {"attacker_ips": "suspicious_ips", "compromised_users": "compromised_users"}


def planned(target: str, action: str = "auth0.block_user") -> dict[str, Any]:
    return {"type": "action.planned", "action": action, "target": target, "planned": {"m": 1}}


def called(target: str, action: str = "auth0.block_user") -> dict[str, Any]:
    return {"type": "action.call", "action": action, "target": target}


def test_precision_recall() -> None:
    pr = precision_recall(["a", "b", "x"], ["a", "b", "c", "d"])
    assert (pr["precision"], pr["recall"]) == (0.6667, 0.5)
    assert pr["missed"] == ["c", "d"] and pr["extra"] == ["x"]
    assert precision_recall([], [])["precision"] == precision_recall([], [])["recall"] == 1.0
    assert precision_recall([], ["a"])["recall"] == 0.0
    assert precision_recall(["a"], [])["precision"] == 0.0


def test_write_targets_separates_done_and_planned_and_ignores_reads() -> None:
    records = [
        planned("auth0|a"),
        called("auth0|b"),
        called("auth0|c", action="auth0.delete_user"),
        called("auth0|z", action="auth0.revoke_sessions"),  # not a block
        {"type": "action.planned", "action": "auth0.block_user", "target": "x", "planned": None},
        {"type": "step.finished", "action": "auth0.block_user", "target": "y"},
    ]
    assert write_targets(records) == {"done": ["auth0|b", "auth0|c"], "planned": ["auth0|a"]}


def test_score_a_perfect_run() -> None:
    outputs = {"suspicious_ips": TRUTH["attacker_ips"], "compromised_users": ["auth0|b", "auth0|a"]}
    m = score(outputs, TRUTH, [planned("auth0|a"), planned("auth0|b")], TRIAGE)
    assert m["compromised_users"]["recall"] == m["attacker_ips"]["recall"] == 1.0
    assert m["compromised_users"]["precision"] == m["attacker_ips"]["precision"] == 1.0
    assert m["wrongly_blocked"] == m["wrongly_planned"] == []
    assert (m["writes_done"], m["writes_planned"]) == (0, 2)
    assert m["write_targets"] == ["auth0|a", "auth0|b"]


def test_score_counts_legitimate_users_hit() -> None:
    outputs = {"suspicious_ips": ["203.0.113.7", "192.0.2.1"], "compromised_users": ["auth0|l1"]}
    m = score(outputs, TRUTH, [called("auth0|l1"), planned("auth0|l2"), called("auth0|a")], TRIAGE)
    assert m["attacker_ips"]["recall"] == 0.5 and m["attacker_ips"]["precision"] == 0.5
    assert m["compromised_users"]["recall"] == 0.0
    assert m["wrongly_blocked"] == ["auth0|l1"] and m["wrongly_planned"] == ["auth0|l2"]


def test_score_of_a_playbook_without_those_outputs() -> None:
    m = score({"events_count": 3}, TRUTH, [])
    assert "compromised_users" not in m and "attacker_ips" not in m


def metrics_of(outputs: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    m = score(outputs, TRUTH, records, TRIAGE)
    m["legitimate_blocked_in_tenant"] = []
    return m


def failed(checks: list[dict[str, Any]]) -> list[str]:
    return [c["check"] for c in checks if not c["ok"]]


def test_check_passes_and_fails_each_kind_of_expectation() -> None:
    outputs = {
        "suspicious_ips": ["203.0.113.7"],
        "compromised_users": ["auth0|a", "auth0|b"],
        "accessed_clients": {"auth0|a": ["App"], "auth0|b": ["App"]},
        "management_api_calls": [{"user_id": "auth0|admin"}],
        "events_count": 26,
    }
    m = metrics_of(outputs, [called("auth0|a"), called("auth0|l1")])
    expect = {
        "recall": {"compromised_users": 1.0, "attacker_ips": 1.0},
        "precision": {"compromised_users": 1.0},
        "no_legitimate_blocked": True,
        "outputs_contain_truth": {"accessed_clients": "compromised_users"},
        "outputs_mention_truth": {
            "management_api_calls": {"field": "user_id", "truth": "hijacked_admins"}
        },
        "outputs_equal": {"suspicious_ips": ["203.0.113.7"]},
        "min_items": {"events_count": 27, "compromised_users": 2},
        "writes": {
            "min": 1,
            "max": 1,
            "must_target": "compromised_users",
            "must_not_target": "legitimate_users",
        },
    }
    assert failed(check(expect, outputs, m, TRUTH)) == [
        "recall of attacker_ips >= 1.0",
        "no legitimate user blocked",
        "events_count has at least 27",
        "at most 1 write(s)",
        "every truth.compromised_users is blocked (or planned)",
        "no truth.legitimate_users is blocked (or planned)",
    ]


def test_no_legitimate_blocked_is_checked_by_default_and_sees_the_tenant() -> None:
    m = metrics_of({}, [])
    assert failed(check({}, {}, m, TRUTH)) == []
    m["legitimate_blocked_in_tenant"] = ["auth0|l2"]
    checks = check({}, {}, m, TRUTH)
    assert failed(checks) == ["no legitimate user blocked"] and "auth0|l2" in checks[0]["detail"]


def test_journal_blocks_reads_what_the_tenant_was_told() -> None:
    entries = [
        {
            "method": "PATCH",
            "path": "/api/v2/users/auth0%7Ca",
            "status": 200,
            "body": {"blocked": True},
        },
        {
            "method": "PATCH",
            "path": "/api/v2/users/auth0%7Cb",
            "status": 200,
            "body": {"blocked": False},
        },
        {
            "method": "PATCH",
            "path": "/api/v2/users/auth0%7Cc",
            "status": 429,
            "body": {"blocked": True},
        },
        {"method": "DELETE", "path": "/api/v2/users/auth0%7Cd", "status": 204, "body": None},
        {
            "method": "DELETE",
            "path": "/api/v2/users/auth0%7Ce/sessions",
            "status": 202,
            "body": None,
        },
        {"method": "PATCH", "path": "/api/v2/users/auth0%7Cf", "status": 200, "body": "blocked"},
    ]
    assert journal_blocks(entries) == ["auth0|a", "auth0|d"]


def test_applications_reached_and_activity_elsewhere_are_scored_per_user() -> None:
    truth = {
        **TRUTH,
        "accessed_clients": {"auth0|a": ["Billing", "Portal"], "auth0|b": ["Portal"]},
        "activity_elsewhere": {"auth0|a": ["2a0d:5600:24:7::1f"]},
    }
    outputs = {
        # the SSO application of auth0|a is missed; auth0|b's is reported
        "accessed_clients": {"auth0|a": ["Portal"], "auth0|b": ["Portal", "Support"]},
        "activity_elsewhere": {
            "auth0|a": {"ips": ["2a0d:5600:24:7::1f", "198.51.100.4"]},
            "auth0|b": {"ips": []},
        },
    }
    answers = {
        "accessed_clients": "accessed_clients",
        "activity_elsewhere": "activity_elsewhere.ips",
    }
    m = {**score(outputs, truth, [], answers), "legitimate_blocked_in_tenant": []}
    assert m["accessed_clients"]["missed"] == ["auth0|a -> Billing"]
    assert m["accessed_clients"]["extra"] == ["auth0|b -> Support"]
    assert m["accessed_clients"]["recall"] == 0.6667
    assert m["activity_elsewhere"]["recall"] == 1.0
    checks = check(
        {"recall": {"accessed_clients": 1.0, "activity_elsewhere": 1.0}}, outputs, m, truth
    )
    (bad,) = [c for c in checks if not c["ok"]]
    assert bad["check"] == "recall of accessed_clients >= 1.0"
    assert "auth0|a -> Billing" in bad["detail"]
    missing = score({"activity_elsewhere": {}}, truth, [], answers)["activity_elsewhere"]
    assert missing["recall"] == 0.0


def test_the_drill_says_which_output_answers_which_truth_key() -> None:
    outputs = {"found_ips": ["203.0.113.7"], "compromised_users": ["auth0|a"]}
    # by default only an output named after a truth key answers it
    assert same_name_answers(outputs) == {"compromised_users": "compromised_users"}
    m = score(outputs, TRUTH, [])
    assert "attacker_ips" not in m and m["compromised_users"]["recall"] == 0.5
    m = score(outputs, TRUTH, [], {"attacker_ips": "found_ips"})
    assert m["attacker_ips"]["recall"] == 0.5 and "compromised_users" not in m
    assert answer({"a": {"u": {"ips": [1]}}}, "a.ips") == (True, {"u": {"ips": [1]}}, "ips")
    assert answer({}, "a")[0] is False
