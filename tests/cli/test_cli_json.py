"""``--json`` is always exactly one JSON object on stdout, whatever failed; one error boundary.

The shapes are those of docs/errors.md: ``invalid`` with the problems (code,
where, message, hint) for what the operator wrote, ``failed`` with the error
for the rest, and the run's own object when a run ended.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localserver import RecordingServer, Route, recording_server
from soarcli import parse_py, soar

from engine.cli import app, main

ROOT = Path(__file__).parents[2]
WRITE = """\
playbook: 1
name: notify
inputs:
  count: {type: integer, default: 1}
  since: {type: string, default: 24h, format: duration}
steps:
  - id: look
    uses: http.request
    with: {method: GET, url: "URL/lookup"}
  - id: hook
    uses: http.request
    with: {method: POST, url: "URL/hook", json: {count: "{{ inputs.count }}"}}
outputs:
  status: "{{ steps.hook.status }}"
"""


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


def one_object(proc: subprocess.CompletedProcess[str], code: int) -> dict[str, Any]:
    """stdout is exactly one JSON object (nothing before or after it); the exit code is ``code``."""
    assert "Traceback" not in proc.stderr
    assert proc.returncode == code, proc.stderr
    doc = json.loads(proc.stdout)  # raises on anything but one JSON document
    assert isinstance(doc, dict) and proc.stdout.count("\n") == 1, proc.stdout
    return doc


def test_bad_playbooks_and_inputs_are_one_invalid_object(
    server: RecordingServer, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    broken = one_object(
        soar("run", "tests/broken/01-unknown-action.yaml", "--json", "--run-dir", str(runs)), 2
    )
    assert broken["status"] == "invalid"
    [problem] = broken["problems"]
    assert problem["code"] == "SOAR201" and problem["where"].endswith("01-unknown-action.yaml:8:11")
    assert "unknown action" in problem["message"] and "data.unique" in problem["hint"]
    missing = one_object(soar("run", str(tmp_path / "nope.yaml"), "--json"), 2)
    assert [p["code"] for p in missing["problems"]] == ["SOAR101"]
    pb = tmp_path / "pb.yaml"
    pb.write_text(WRITE.replace("URL", server.url))
    bad = soar(
        "run", str(pb), "--json", "--run-dir", str(runs),
        "-i", "count=many", "-i", "since=yesterday", "-i", "cuont=2", "-i", "novalue",
    )  # fmt: skip
    doc = one_object(bad, 2)
    assert doc["status"] == "invalid"
    got = {(p["code"], p["where"]) for p in doc["problems"]}
    assert got == {("SOAR505", "input 'count'"), ("SOAR506", "-i")}  # -i is read first
    assert "error: bad inputs" in bad.stderr  # the human line too, on stderr
    typed = one_object(soar("run", str(pb), "--json", "-i", "since=yesterday", "-i", "x=1"), 2)
    got = {(p["code"], p["where"]) for p in typed["problems"]}
    assert got == {("SOAR504", "input 'since'"), ("SOAR501", "input 'x'")}
    assert not runs.exists() and server.requests == []  # nothing ran


def test_a_failed_run_and_a_run_awaiting_approval_say_why(
    server: RecordingServer, tmp_path: Path
) -> None:
    pb = tmp_path / "pb.yaml"
    pb.write_text(WRITE.replace("URL", server.url))
    runs = ["--run-dir", str(tmp_path / "runs")]
    waiting = one_object(soar("run", str(pb), "--json", *runs), 3)
    assert waiting["status"] == "awaiting_approval" and server.writes() == []
    assert waiting["awaiting"]["step"] == "hook"
    assert waiting["awaiting"]["action"] == "http.request"
    assert waiting["awaiting"]["targets"] == [f"{server.url}/hook"]
    server.routes["/lookup"] = Route(status=500)
    failed = one_object(soar("run", str(pb), "--json", "--yes", *runs), 1)
    assert failed["status"] == "failed" and "500" in failed["error"]
    assert Path(failed["run_log"]).is_file() and server.writes() == []


def test_drill_validate_and_actions_failures_are_one_object(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("drill: 1\nname: x\nscenario: credential-stufing\nplaybook: p.yaml\n")
    drill = one_object(soar("drill", str(bad), "--json"), 2)
    assert drill["status"] == "invalid"
    assert [(p["code"], p["where"]) for p in drill["problems"]] == [("SOAR602", f"{bad}:3:11")]
    scenario = soar(
        "drill", "playbooks/auth0-suspicious-ip.yaml", "--scenario", "nope", "--json",
        "-i", "ip=1.2.3.4", "--run-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    failed = one_object(scenario, 2)
    assert failed["status"] == "failed" and "unknown scenario 'nope'" in failed["error"]
    checked = soar(
        "validate", "tests/broken/08-plain-if.yaml", "examples", str(tmp_path / "gone"), "--json"
    )
    doc = one_object(checked, 2)  # a missing path: 2, as without --json
    assert doc["status"] == "invalid" and doc["checked"] > 1
    codes = [p["code"] for p in doc["problems"] if p["severity"] == "error"]
    assert codes == ["SOAR203", "SOAR101"]
    action = one_object(soar("actions", "auth0.blok_user", "--json"), 2)
    assert action["status"] == "failed" and "auth0.block_user" in action["error"]


def test_usage_errors_are_one_object_too() -> None:
    proc = soar("run", "--json", "--dry-run")  # the playbook argument is missing
    doc = one_object(proc, 2)
    assert doc["status"] == "invalid" and doc["problems"][0]["where"] == "command line"
    assert "Missing argument" in doc["problems"][0]["message"]
    assert "Usage: soar run" in proc.stderr  # click's own usage text, as without --json


def test_no_command_catches_and_prints_its_own_errors() -> None:
    """What a command catches it turns into another error or handles; main prints failures."""
    found = []
    for path in sorted((ROOT / "engine" / "cli").glob("cmd_*.py")):
        for node in ast.walk(parse_py(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ExceptHandler):
                continue
            for inner in ast.walk(ast.Module(body=node.body, type_ignores=[])):
                text = ast.unparse(inner) if isinstance(inner, ast.Call) else ""
                if text.startswith(("typer.Exit(", "fail(", "_fail(")) or "'error: " in text:
                    found.append(f"{path.name}:{inner.lineno}: {text[:60]}")
    assert found == []


def test_commands_are_registered_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    names = [c.name for c in app.registered_commands]
    assert main(["--version"]) == 0  # a second call in the same process
    assert [c.name for c in app.registered_commands] == names
    assert len(names) == len(set(names)) and "run" in names
    assert capsys.readouterr().out.count("soar ") == 2
