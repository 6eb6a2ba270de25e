"""Loading detection rules: every problem of every file at once, each at its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import DetectionError
from engine.serve.rules import check_rules, load_rules

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
detection: 1
id: {id}
title: Failures from one address
severity: high
select: 'type:"fp" OR type:"fu"'
group_by: [ip]
window: 10m
threshold:
  count: {{gte: 20}}
response:
  playbook: auth0-suspicious-ip
  inputs: {{ip: "{{{{ group.ip }}}}", since: "{{{{ incident.first }}}}"}}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _located(issues: list) -> list[tuple[str, int, int, str]]:  # type: ignore[type-arg]
    return [(Path(i.location.path).name, i.location.line, i.location.col, i.code) for i in issues]


def test_a_good_rule_loads_with_its_response_resolved(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD.format(id="from-one-address"))
    (rule,) = load_rules([tmp_path])
    assert rule.id == "from-one-address" and rule.group_by == ("ip",)
    assert rule.window.total_seconds() == 600 and rule.lateness.total_seconds() == 60
    assert rule.quiet == rule.window  # the default
    assert rule.response is not None and rule.response.respond == "dry-run"
    assert rule.response.playbook == ROOT / "playbooks" / "auth0-suspicious-ip.yaml"
    assert rule.response.inputs == {"ip": "{{ group.ip }}", "since": "{{ incident.first }}"}
    assert rule.selects({"type": "fp", "ip": "1.2.3.4"}) and not rule.selects({"type": "s"})


def test_every_problem_of_every_file_is_reported_at_its_place(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "bad.yaml",
        "detection: 1\n"
        "id: Bad_Id\n"
        "title: t\n"
        "severity: hgh\n"
        "select: 'type:\"fp\" OR detials:x'\n"
        "window: 10x\n"
        "group_by: [ip]\n"
        "treshold: {count: {gte: 3}}\n",
    )
    _write(
        tmp_path,
        "semantic.yaml",
        "detection: 1\n"
        "id: semantic\n"
        "title: t\n"
        "severity: low\n"
        "select: 'type:\"fp\" OR detials:x'\n"
        "where: {details.request.path: '*ab'}\n"
        "window: 10d\n"
        "group_by: [ip]\n"
        "threshold: {count: {gte: 3}}\n"
        "response:\n"
        "  playbook: auth0-suspicious-ip\n"
        "  inputs: {ipp: '{{ group.user }}', since: '{{ steps.x }}'}\n"
        "tests:\n"
        "  - {name: undated, events: [{type: fp}], expect: {fires: true}}\n",
    )
    _write(
        tmp_path, "nowhere.yaml", GOOD.format(id="semantic").replace("auth0-suspicious-ip", "nope")
    )
    issues = check_rules([tmp_path])
    assert _located(issues) == [
        ("bad.yaml", 2, 5, "SOAR701"),  # the id's pattern
        ("bad.yaml", 4, 11, "SOAR129"),  # severity (did you mean 'high'?)
        ("bad.yaml", 6, 9, "SOAR127"),  # not a duration
        ("bad.yaml", 8, 1, "SOAR121"),  # unknown key, 'threshold' suggested
        ("nowhere.yaml", 11, 13, "SOAR704"),  # no such playbook
        ("semantic.yaml", 5, 9, "SOAR401"),  # a field the query language refuses
        ("semantic.yaml", 6, 31, "SOAR707"),  # a wildcard Auth0 refuses
        ("semantic.yaml", 7, 9, "SOAR127"),  # a window longer than the bound
        ("semantic.yaml", 11, 3, "SOAR706"),  # the playbook's required input 'ip' is missing
        ("semantic.yaml", 12, 12, "SOAR706"),  # 'ipp' is no input of the playbook
        ("semantic.yaml", 12, 17, "SOAR706"),  # group.user is no group_by field
        ("semantic.yaml", 12, 44, "SOAR706"),  # a response has no steps
        ("semantic.yaml", 14, 30, "SOAR708"),  # a test event without a date
        ("semantic.yaml", 2, 5, "SOAR702"),  # the id is nowhere.yaml's, loaded first
    ]
    messages = "\n".join(i.format() for i in issues)
    assert "did you mean 'threshold'?" in messages and "did you mean 'ip'?" in messages
    with pytest.raises(DetectionError) as raised:
        load_rules([tmp_path])
    assert len(raised.value.issues) == len(issues)


def test_a_rule_needs_exactly_one_condition(tmp_path: Path) -> None:
    both = (
        GOOD.format(id="both")
        + "sequence:\n  - {as: a, select: 'type:\"fp\"'}\n  - {as: b, select: 'type:\"s\"'}\n"
    )
    _write(tmp_path, "both.yaml", both)
    _write(
        tmp_path,
        "none.yaml",
        GOOD.format(id="none").replace("threshold:\n  count: {gte: 20}\n", ""),
    )
    codes = [(Path(i.location.path).name, i.code) for i in check_rules([tmp_path])]
    assert codes == [("both.yaml", "SOAR703"), ("none.yaml", "SOAR703")]


def test_where_alternatives_match_dotted_fields_as_terms(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "w.yaml",
        GOOD.format(id="w") + "where:\n"
        "  - {details.request.path: '/api/v2/attack-protection/*', details.request.body.enabled: false}\n"
        "  - {description: Update multi-factor authentication policies, details.request.body: '[]'}\n",
    )
    (rule,) = load_rules([tmp_path])

    def sapi(description: str, path: str, body: object) -> dict[str, object]:
        return {
            "type": "fp",
            "description": description,
            "details": {"request": {"path": path, "body": body}},
        }

    assert rule.selects(
        sapi("", "/api/v2/attack-protection/brute-force-protection", {"enabled": False})
    )
    assert not rule.selects(
        sapi("", "/api/v2/attack-protection/brute-force-protection", {"enabled": True})
    )
    assert rule.selects(sapi("Update multi-factor authentication policies", "/x", []))
    assert not rule.selects(
        sapi("Update multi-factor authentication policies", "/x", ["all-applications"])
    )
    assert not rule.selects({"type": "fp", "details": "a string, not a mapping"})


def test_a_hostile_rule_file_is_refused_not_evaluated(tmp_path: Path) -> None:
    # a Python tag and an alias bomb: the YAML guards of the playbook loader apply
    _write(tmp_path, "tag.yaml", "detection: 1\nid: !!python/object:os.system x\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    _write(tmp_path, "bomb.yaml", "detection: 1\n" + bomb)
    codes = {(Path(i.location.path).name, i.code) for i in check_rules([tmp_path])}
    assert ("tag.yaml", "SOAR110") in codes and ("bomb.yaml", "SOAR107") in codes


def test_published_detection_schema_is_the_one_the_package_uses() -> None:
    published = (ROOT / "schemas" / "detection.schema.json").read_bytes()
    packaged = (ROOT / "engine" / "data" / "detection.schema.json").read_bytes()
    assert published == packaged


def test_a_rule_test_cannot_expand_into_a_flood(tmp_path: Path) -> None:
    flood = "      - {repeat: 100000, every: 1s, event: {type: fp, ip: 203.0.113.7, date: '2026-11-20'}}\n"
    text = (
        GOOD.format(id="flood") + "tests:\n  - name: big\n    expect: {fires: true}\n    events:\n"
    )
    _write(tmp_path, "flood.yaml", text + flood * 2)
    (issue,) = check_rules([tmp_path])
    assert issue.code == "SOAR708" and "200,000 events" in issue.message
