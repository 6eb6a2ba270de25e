"""Drills: every shipped drill passes; the drill file format; ``soar drill`` exit codes and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from soarcli import soar

from engine.audit.report import render
from engine.audit.runlog import verify
from engine.drills.drill import load_drill, run_drill, standard_answers
from engine.errors import DrillError

ROOT = Path(__file__).parents[2]
PLAYBOOKS = ROOT / "playbooks"
# the drills that run a playbook (trigger: run); the stream drills: tests/drills/test_stream_drills.py
DRILLS = [d for d in sorted((ROOT / "drills").glob("*.yaml")) if load_drill(d).trigger == "run"]


@pytest.mark.parametrize("drill", DRILLS, ids=lambda p: p.stem)
def test_every_drill_passes(drill: Path, tmp_path: Path) -> None:
    result = run_drill(load_drill(drill), tmp_path)
    failed = [c for c in result.checks if not c["ok"]]
    assert result.passed, (result.run.status, result.run.error, failed)
    for metric in ("compromised_users", "attacker_ips"):
        if metric in result.metrics:
            assert result.metrics[metric]["recall"] == 1.0
    assert result.metrics["wrongly_blocked"] == [] == result.metrics["wrongly_planned"]
    assert verify(result.run.run_log, result.run.final_hash).code == 0
    assert result.run.final_hash in render(result.run.run_log)


def test_one_drill_per_scenario() -> None:
    scenarios = {load_drill(d).scenario for d in DRILLS}
    assert scenarios == {
        "credential-stuffing",
        "password-spray",
        "breached-password",
        "compromised-admin",
        "quiet",
    }
    playbooks = {load_drill(d).playbook.name for d in DRILLS if "admin" in d.stem}
    assert playbooks == {"auth0-attack-triage.yaml", "auth0-account-activity.yaml"}


def test_the_shipped_schema_is_the_packaged_one() -> None:
    shipped = (ROOT / "schemas" / "drill.schema.json").read_text(encoding="utf-8")
    packaged = (ROOT / "engine" / "data" / "drill.schema.json").read_text(encoding="utf-8")
    assert shipped == packaged, "copy schemas/drill.schema.json to engine/data/"


def test_a_bad_drill_file_is_refused_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("drill: 1\nname: x\nscenario: credential-stufing\nplaybook: p.yaml\n")
    with pytest.raises(DrillError) as err:
        load_drill(bad)
    assert "bad.yaml:3:" in str(err.value) and "credential-stufing" in str(err.value)
    # the problems are data, each with its code and place
    [issue] = err.value.issues
    assert (issue.code, issue.location.line) == ("SOAR602", 3)
    assert "credential-stufing" in issue.message
    with pytest.raises(DrillError) as err:
        load_drill(tmp_path / "missing.yaml")
    assert [i.code for i in err.value.issues] == ["SOAR601"]
    bad.write_text("drill: 1\nname: [x\n")
    with pytest.raises(DrillError) as err:
        load_drill(bad)
    assert [(i.code, i.location.line) for i in err.value.issues] == [("SOAR104", 3)]


def test_a_drill_declares_which_output_answers_which_truth_key(tmp_path: Path) -> None:
    triage = PLAYBOOKS / "auth0-attack-triage.yaml"
    assert standard_answers(triage) == {
        "attacker_ips": "suspicious_ips",
        "activity_elsewhere": "activity_elsewhere.ips",
    }
    assert standard_answers(PLAYBOOKS / "auth0-contain-user.yaml") == {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "drill: 1\nname: x\nscenario: quiet\nplaybook: p.yaml\n"
        "answers: {attackers: suspicious_ips}\n"
    )
    with pytest.raises(DrillError, match=r"bad\.yaml:5:.*attackers"):
        load_drill(bad)
    proc = soar(
        "drill", str(triage), "--scenario", "quiet", "--answer", "attacker_ips=nope", timeout=60
    )
    assert proc.returncode == 2 and "--answer 'attacker_ips=nope'" in proc.stderr


def test_truth_in_inputs_is_rendered_but_tenant_data_is_not(tmp_path: Path) -> None:
    drill = load_drill(ROOT / "drills" / "compromised-admin-activity.yaml")
    result = run_drill(drill, tmp_path)
    admin = result.truth["hijacked_admins"][0]
    started = json.loads(result.run.run_log.read_text().splitlines()[0])
    assert started["inputs"]["user_id"] == admin
    # the admin's hostile request bodies come back verbatim, never evaluated
    assert "{{ 7*7 }}" in json.dumps(result.run.outputs["management_api_calls"])


def test_drill_cli_exit_codes_and_json(tmp_path: Path) -> None:
    bad = tmp_path / "impossible.yaml"
    bad.write_text(
        "drill: 1\nname: impossible\nscenario: credential-stuffing\n"
        f"playbook: {PLAYBOOKS / 'auth0-attack-triage.yaml'}\nmode: dry-run\n"
        "expect: {outputs_equal: {suspicious_ips: []}}\n"
    )
    for drill, code in ((ROOT / "drills" / "quiet.yaml", 0), (bad, 1)):
        proc = soar("drill", str(drill), "--json", "--run-dir", str(tmp_path / "runs"), timeout=120)
        assert proc.returncode == code, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["passed"] is (code == 0) and doc["requests"] > 0
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert failed and failed[0]["check"] == "suspicious_ips == []"
    report = soar("report", doc["run_log"], timeout=60)
    assert report.returncode == 0 and report.stdout.startswith(
        "# Incident report: auth0-attack-triage"
    )


def test_drill_a_playbook_against_a_scenario(tmp_path: Path) -> None:
    proc = soar(
        "drill",
        str(PLAYBOOKS / "auth0-attack-triage.yaml"),
        "--scenario",
        "password-spray",
        "--seed",
        "3",
        "--run-dir",
        str(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "password-spray (seed 3" in proc.stderr and "PASSED" in proc.stderr
    assert "recall 1.00" in proc.stderr


def test_drill_a_scoped_playbook_with_inputs_from_the_truth(tmp_path: Path) -> None:
    proc = soar(
        "drill",
        str(PLAYBOOKS / "auth0-suspicious-ip.yaml"),
        "--scenario",
        "password-spray",
        "--live",
        "-i",
        "ip={{ truth.attacker_ips[0] }}",
        "--json",
        "--run-dir",
        str(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    found = doc["metrics"]["compromised_users"]
    # one IP's victims: all truly compromised, all blocked (live), nobody else
    assert found["precision"] == 1.0 and found["found"]
    assert doc["metrics"]["write_targets"] == found["found"]
    assert doc["metrics"]["wrongly_blocked"] == []
    started = json.loads(Path(doc["run_log"]).read_text().splitlines()[0])
    ip = started["inputs"]["ip"]
    assert "{{" not in ip and ip.count(".") == 3  # the truth's IP, rendered before the run


def test_drill_with_a_bad_input_exits_2(tmp_path: Path) -> None:
    proc = soar(
        "drill",
        str(PLAYBOOKS / "auth0-suspicious-ip.yaml"),
        "--scenario",
        "quiet",
        "-i",
        "nope=1",
        "--run-dir",
        str(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 2
    assert "input 'nope': error SOAR501: unknown input" in proc.stderr
    assert "input 'ip': error SOAR502: required input not given" in proc.stderr
