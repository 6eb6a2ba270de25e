"""``soar detections test`` and ``soar validate`` on detection rules, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from soarcli import soar

RULE = """\
detection: 1
id: five-failures
title: Five failures
severity: low
select: 'type:"fp"'
group_by: [ip]
window: 10m
threshold: {count: {gte: 5}}
tests:
  - name: five fire
    events:
      - {repeat: 5, every: 10s, event: {type: fp, ip: 203.0.113.7, date: "2026-11-20T10:00:00.000Z"}}
    expect: {fires: true, groups: [{ip: 203.0.113.7}]}
  - name: "wrongly expected \\e[31mquiet"
    events:
      - {repeat: 6, every: 10s, event: {type: fp, ip: 203.0.113.8, date: "2026-11-20T10:00:00.000Z"}}
    expect: {fires: false}
"""


def test_detections_test_prints_a_line_per_test_and_exits_by_the_outcome(tmp_path: Path) -> None:
    shipped = soar("detections", "test", "detections")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    lines = shipped.stdout.splitlines()
    assert len(lines) >= 8 * 3 and all(line.startswith("PASS ") for line in lines)
    assert "8 rule(s)" in shipped.stderr and ", 0 failed" in shipped.stderr
    (tmp_path / "r.yaml").write_text(RULE, encoding="utf-8")
    failing = soar("detections", "test", str(tmp_path), "--json")
    assert failing.returncode == 1, failing.stderr
    doc = json.loads(failing.stdout)
    assert (doc["status"], doc["tests"], doc["failed"]) == ("failed", 2, 1)
    bad = doc["results"][1]
    assert not bad["passed"] and bad["where"].endswith("r.yaml:14:5")
    assert bad["why"] == 'expected it not to fire, it fired for {"ip": "203.0.113.8"}'
    plain = soar("detections", "test", str(tmp_path / "r.yaml"))
    assert "FAIL five-failures: wrongly expected" in plain.stdout and "\x1b" not in plain.stdout


def test_validate_checks_rule_files_beside_playbooks(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULE.replace("window: 10m", "window: 10 minutes"), "utf-8")
    (tmp_path / "twin.yaml").write_text(RULE, encoding="utf-8")
    out = soar("validate", str(tmp_path), "playbooks/auth0-contain-user.yaml")
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        f"{tmp_path}/r.yaml:7:9: error SOAR127: 'window' is not a duration above zero: "
        "'10 minutes' (use seconds or e.g. 30s, 5m, 1h)",
        f"{tmp_path}/twin.yaml:2:5: error SOAR702: detection id 'five-failures' is already used "
        f"at {tmp_path}/r.yaml:2:5 (give each rule its own id)",
    ]
    assert "1 playbook(s) and 2 detection rule(s) checked: 2 error(s)" in out.stderr
