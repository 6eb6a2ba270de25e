"""Auth0's Sigma catalog as soar detections: the real shapes (tests/data/sigma), what maps to
what, what is refused and where, the written file, and ``soar detections import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.errors import InvalidError
from engine.logs.query import compile_query
from engine.playbook.source import load_yaml, load_yaml_all
from engine.serve.sigma import from_sigma, is_sigma
from engine.serve.sigmafile import load_sigma, render

DATA = Path(__file__).parent.parent / "data"
SIGMA = DATA / "sigma"


def rule_of(name: str) -> dict[str, Any]:
    loaded = load_sigma(SIGMA / name)
    assert loaded.rule is not None, [i.format() for i in loaded.issues]
    return loaded.rule


def problems(path: Path) -> list[str]:
    loaded = load_sigma(path)
    assert loaded.rule is None
    return [i.format() for i in loaded.issues if i.severity == "error"]


def write(tmp_path: Path, text: str, name: str = "x.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stream_events() -> list[dict[str, Any]]:
    """Real-shaped stream items (tests/data/auth0/SOURCES.md): their log objects."""
    return [item["data"] for item in json.loads((DATA / "auth0" / "stream-array.json").read_text())]


def test_an_event_count_correlation_is_a_count_threshold() -> None:
    rule = rule_of("credential_stuffing_signals.yml")
    assert {k: v for k, v in rule.items() if k != "description"} == {
        "detection": 1,
        "id": "credential-stuffing-signals",
        "title": "Credential stuffing sttack risk",
        "severity": "medium",
        "select": "type: (f fu fp pwd_leak limit_wc limit_sul limit_mu fcoa)",
        "group_by": ["ip"],  # data.ip: the stream item's data is the log object
        "window": "1h",
        "threshold": {"count": {"gte": 2}},  # gt: 1
    }
    assert "e604e40e-9db6-449d-854d-2b5323644fd7" in rule["description"]
    assert "view-attack-protection-events" in rule["description"]
    # the select is the language of auth0.search_logs, and it selects real attack events
    query = compile_query(rule["select"])
    assert [e["type"] for e in stream_events() if query(e)] == [
        "limit_mu",
        "limit_sul",
        "pwd_leak",
        "fcoa",
    ]


def test_a_value_count_is_a_distinct_count_grouped_by_dotted_fields(tmp_path: Path) -> None:
    text = (SIGMA / "refresh_token_from_too_many_locations.yml").read_text()
    week = write(tmp_path, text.replace("timespan: 30d", "timespan: 7d"))
    rule = load_sigma(week).rule
    assert rule is not None
    assert rule["group_by"] == ["user_name", "user_id", "client_id", "details.familyId"]
    assert (rule["window"], rule["threshold"]) == ("7d", {"distinct": {"field": "ip", "gte": 1}})


def test_a_window_longer_than_the_detector_keeps_is_refused_in_the_sigma_file() -> None:
    """Auth0's catalog has 30-day correlations; a detection keeps at most a week of events,
    so the rule is refused where its timespan is written, not at a line of its conversion."""
    path = SIGMA / "refresh_token_from_too_many_locations.yml"
    assert problems(path) == [
        f"{path}:36:15: error SOAR127: timespan '30d': at most 7d (the detector keeps every "
        "event of the window in memory: keep a longer one in your SIEM)"
    ]


def test_an_event_count_with_a_field_counts_events_and_says_so() -> None:
    rule = rule_of("refresh_token_reuse.yml")
    assert (rule["group_by"], rule["threshold"]) == (["user_id"], {"count": {"gte": 1}})
    assert "field data.type ignored" in rule["description"]
    query = compile_query(rule["select"])
    assert [e["type"] for e in stream_events() if query(e)] == ["ferrt"]


def test_gte_zero_reads_as_every_group_with_an_event() -> None:
    rule = rule_of("risk_of_signup_fraud_by_disposable_domains.yml")
    assert rule["threshold"] == {"distinct": {"field": "user_name", "gte": 1}}
    assert "gte: 0 holds for every group" in rule["description"]


def test_a_plain_rule_fires_on_each_matching_event() -> None:
    rule = rule_of("risk_for_mfa_push_fatigue.yml")
    assert (rule["group_by"], rule["window"], rule["threshold"]) == (
        ["log_id"],
        "1m",
        {"count": {"gte": 1}},
    )
    several = rule_of("attack_protection_features_turned_off.yml")["select"]
    assert several.count("\n") == 2  # as written: Lucene reads the line breaks as spaces
    sapi = {"type": "sapi", "description": "Update Brute-force settings"}
    assert compile_query(several)(sapi)


def test_a_temporal_ordered_chain_is_a_sequence() -> None:
    rule = rule_of("mr_failed_logins_then_success.yml")
    assert "threshold" not in rule and (rule["group_by"], rule["window"]) == (["user_id"], "10m")
    assert rule["sequence"] == [
        {"as": "multiple_failed_login", "select": "type:(fp fu)", "count": {"gte": 10}},
        {"as": "successful_login", "select": 'type:"s"', "count": {"gte": 1}},
    ]
    assert (rule["severity"], rule["select"]) == ("high", '(type:(fp fu)) OR (type:"s")')
    assert rule["title"] == "Correlation - Multiple Failed Logins Followed by Successful Login"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("type: temporal_ordered", "type: temporal"), "SOAR801: correlation type 'temporal'"),
        (
            ("    timespan: 10m\n    condition:", "    timespan: 5m\n    condition:"),
            "the step's timespan differs",
        ),
        (
            (
                "        - data.user_id\n    timespan: 10m\n    condition",
                "        - data.ip\n    timespan: 10m\n    condition",
            ),
            "the step's group-by differs",
        ),
        (
            ("    timespan: 10m\nfalse", "    timespan: 10m\n    condition: {gte: 1}\nfalse"),
            "a soar sequence needs every one of its 2",
        ),
    ],
)
def test_a_sequence_is_imported_only_as_it_means(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    text = (SIGMA / "mr_failed_logins_then_success.yml").read_text()
    assert change[0] in text
    found = problems(write(tmp_path, text.replace(change[0], change[1], 1)))
    assert any(expected in p for p in found), found


def test_an_upper_bound_is_refused_at_its_place() -> None:
    assert problems(SIGMA / "many_unverified_accounts_created.yml") == [
        f"{SIGMA / 'many_unverified_accounts_created.yml'}:28:15: error SOAR127: timespan '30d': "
        "at most 7d (the detector keeps every event of the window in memory: keep a longer one "
        "in your SIEM)",
        f"{SIGMA / 'many_unverified_accounts_created.yml'}:30:14: error SOAR801: condition lte: 1 "
        "cannot be expressed: an upper bound holds only once a window has closed, and a soar "
        "detection fires when a count is reached (rewrite it as gte/gt, or keep it in your SIEM)",
    ]


def test_a_placeholder_left_in_the_query_is_refused() -> None:
    (found,) = problems(SIGMA / "use_of_auth0_tenant_name_url.yml")
    assert (
        ":13:14: error SOAR804: tenant_logs still holds the placeholder {your-tenant-url}" in found
    )


BASE = """\
title: Many failures
name: failures
id: 11111111-2222-3333-4444-555555555555
logsource: {product: auth0}
detection: {selection: {data.type: fp}, condition: selection}
tenant_logs: type:"fp"
level: high
"""


@pytest.mark.parametrize(
    ("correlation", "expected"),
    [
        (
            "type: temporal\n  rules: [failures]\n  group-by: [data.ip]\n  timespan: 5m\n",
            ":11:9: error SOAR801: correlation type 'temporal' cannot be expressed",
        ),
        (
            "type: event_count\n  rules: [other]\n  group-by: [data.ip]\n  timespan: 5m\n"
            "  condition: {gte: 3}\n",
            ":12:11: error SOAR803: correlation rule 'other' is not a rule of this file (the "
            "file's rules: 11111111-2222-3333-4444-555555555555, failures; soar does not look",
        ),
        (
            "type: value_count\n  rules: [failures]\n  group-by: [data.ip]\n  timespan: 5m\n"
            "  condition: {gte: 3}\n",
            "error SOAR802: a value_count condition needs field:",
        ),
        (
            "type: event_count\n  rules: [failures]\n  group-by: [data.ip]\n  timespan: 1w\n"
            "  condition: {gte: 3}\n",
            ":14:13: error SOAR801: timespan '1w' is not a Sigma timespan",
        ),
        (
            "type: event_count\n  rules: [failures]\n  group-by: [data]\n  timespan: 5m\n"
            "  condition: {gt: 1, lte: 9}\n  aliases: {a: {failures: data.ip}}\n",
            "error SOAR801: correlation aliases: is not supported",
        ),
    ],
)
def test_what_cannot_be_meant_is_refused_whole(
    tmp_path: Path, correlation: str, expected: str
) -> None:
    path = write(tmp_path, BASE + "---\ntitle: c\ncorrelation:\n  " + correlation)
    found = problems(path)
    assert any(expected in p for p in found), found


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace('type:"fp"', "details.error:x") + (
        "---\ncorrelation:\n  type: event_count\n  rules: [failures]\n  group-by: [data]\n"
        "  timespan: 1w\n  condition: {lt: 3}\n"
    )
    codes = [p.split(" ")[2].rstrip(":") for p in problems(write(tmp_path, text))]
    assert sorted(codes) == ["SOAR401", "SOAR801", "SOAR801", "SOAR801"]


def test_a_query_auth0_would_refuse_and_template_syntax_are_refused(tmp_path: Path) -> None:
    refused = problems(write(tmp_path, BASE.replace('type:"fp"', "details.error:x")))
    assert ":6:14: error SOAR401: log query" in refused[0] and "details.error" in refused[0]
    templated = problems(write(tmp_path, BASE.replace('type:"fp"', 'user_name:"{{ 7*7 }}"')))
    assert "SOAR804: tenant_logs holds template syntax" in templated[0]
    bare = problems(write(tmp_path, BASE.replace('tenant_logs: type:"fp"\n', "")))
    assert "SOAR802: no tenant_logs query" in bare[0]


def test_from_sigma_takes_parsed_documents_and_locates_problems_in_their_file(
    tmp_path: Path,
) -> None:
    path = SIGMA / "credential_stuffing_signals.yml"
    docs = list(yaml.safe_load_all(path.read_text()))
    assert all(is_sigma(d) for d in docs) and not is_sigma({"detection": 1, "id": "x"})
    assert from_sigma(docs, path) == rule_of("credential_stuffing_signals.yml")
    bad = SIGMA / "many_unverified_accounts_created.yml"
    with pytest.raises(InvalidError) as exc:
        from_sigma(list(yaml.safe_load_all(bad.read_text())), bad)
    assert [str(i.location) for i in exc.value.issues] == [f"{bad}:28:15", f"{bad}:30:14"]
    assert "cannot be imported from Sigma (2 problems)" in str(exc.value)
    # PyYAML's own loader reads `date: 2025-10-15` as a date: the file's positions still apply
    dated = SIGMA / "credential_stuffing_signals.yml"
    copy = Path(str(tmp_path / dated.name))
    copy.write_text(dated.read_text().replace("gt: 1", "lt: 1"))
    with pytest.raises(InvalidError) as exc:
        from_sigma(list(yaml.safe_load_all(copy.read_text())), copy)
    assert [str(i.location) for i in exc.value.issues] == [f"{copy}:44:13"]


def test_the_written_file_is_the_rule_and_sigma_text_cannot_add_a_field(tmp_path: Path) -> None:
    hostile = BASE.replace(
        "title: Many failures", 'title: "x\\nresponse: {respond: auto}\\x1b[2J"'
    ).replace("level: high", "level: high\nreferences: ['https://a.example/\\n\\nthreshold: 1']")
    path = write(tmp_path, hostile.replace("title: x", "title: y"))
    loaded = load_sigma(path)
    assert loaded.rule is not None
    text = render(loaded.rule, loaded.sources, path)
    src, issues = load_yaml(text.encode(), "out.yaml")
    assert issues == [] and src.data == loaded.rule
    assert "response" not in src.data and src.data["title"] == "x response: {respond: auto}\x1b[2J"
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert all("\x1b" not in c for c in comments) and len(comments) == 6
    assert not any(line.startswith(("threshold: 1", "response")) for line in text.splitlines())


def test_every_imported_catalog_file_reloads_as_its_rule(tmp_path: Path) -> None:
    for path in sorted(SIGMA.glob("*.yml")):
        loaded = load_sigma(path)
        if loaded.rule is not None:
            sources, _ = load_yaml_all(render(loaded.rule, loaded.sources, path).encode(), "o")
            assert sources[0].data == loaded.rule


def test_the_command_writes_each_rule_and_refuses_what_it_cannot_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main  # the console entry point, in this process

    out = tmp_path / "detections"
    good, bad = (
        str(SIGMA / n)
        for n in ("credential_stuffing_signals.yml", "many_unverified_accounts_created.yml")
    )
    assert main(["detections", "import", good, bad, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["credential-stuffing-signals.yaml"]
    assert "SOAR801" in err and "1 imported" in err and "1 refused" in err
    assert main(["detections", "import", good, "-o", str(out)]) == 1
    assert "exists already" in capsys.readouterr().err
    (out / "credential-stuffing-signals.yaml").write_text("edited")
    assert main(["detections", "import", good, "-o", str(out), "--force"]) == 0
    assert "edited" not in (out / "credential-stuffing-signals.yaml").read_text()
    assert main(["detections", "import", good, str(tmp_path / "nope.yml")]) == 2
    printed = capsys.readouterr()
    assert yaml.safe_load(printed.out)["threshold"] == {"count": {"gte": 2}}
    assert "nope.yml: error SOAR101: no such file" in printed.err


def test_soar_serve_reads_the_catalog_as_it_is(tmp_path: Path) -> None:
    """``--detections`` may name Auth0's Sigma files: each is converted on load, and one that
    cannot be expressed is refused at its place, never loaded in part."""
    from engine.errors import DetectionError
    from engine.serve.detect import Detector
    from engine.serve.rules import load_rules

    (rule,) = load_rules([SIGMA / "credential_stuffing_signals.yml"])
    assert rule.id == "credential-stuffing-signals" and rule.group_by == ("ip",)
    assert rule.response is None  # a catalog rule opens incidents; a response is the team's
    with pytest.raises(DetectionError, match=r"many_unverified_accounts_created\.yml:\d+:\d+"):
        load_rules([SIGMA / "many_unverified_accounts_created.yml"])
    (reuse,) = load_rules([SIGMA / "refresh_token_reuse.yml"])
    event = {
        "log_id": "90020261120100000000000000000000000000000000000000000001",
        "date": "2026-11-20T10:00:00.000Z",
        "type": "ferrt",
        "description": "Unsuccessful Refresh Token exchange, reused refresh token detected",
        "user_id": "auth0|618223a4e3f49e006948565c",
        "ip": "203.0.113.9",
    }
    found = Detector([reuse]).feed([event])
    assert [d.rule.id for d in found] == ["refresh-token-reuse"]
