"""``soar run --logs FILE`` as a responder uses it: the window, its warnings, the mode everywhere."""

from __future__ import annotations

import json
from pathlib import Path

from tests.soarcli import ROOT, soar

STREAM = "tests/data/auth0/stream.jsonl"  # 14 stream items of 2026-11-03 (one redelivered)


def test_a_window_outside_the_file_is_said_with_the_files_span(tmp_path: Path) -> None:
    # the triage's default window is the last 24 hours: the file is from November 2026
    runs = tmp_path / "runs"
    done = soar(
        "run", "playbooks/auth0-attack-triage.yaml", "--logs", STREAM, "--run-dir", str(runs)
    )
    assert done.returncode == 0, done.stderr
    assert f"(offline ({STREAM}): writes are only planned)" in done.stderr
    assert f"warning: no event in {STREAM} falls in the window " in done.stderr
    assert (
        "the file's events run from 2026-11-03T08:15:10.706Z to 2026-11-03T14:01:44.643Z "
        "(14 events); set since/until inside that span (e.g. -i since=2026-11-03)"
    ) in done.stderr
    assert "Auth0 keeps tenant logs" not in done.stderr  # no online retention warning
    (log,) = runs.glob("*.jsonl")
    shown = soar("show", str(log))
    assert f"mode      offline ({STREAM}): writes are only planned" in shown.stdout
    report = soar("report", str(log))
    assert "**Mode:** offline" in report.stdout and "**Mode:** live" not in report.stdout


def test_a_window_over_the_file_finds_its_events_without_warnings(tmp_path: Path) -> None:
    playbook = tmp_path / "window.yaml"
    playbook.write_text(
        "playbook: 1\n"
        "name: window\n"
        "inputs:\n"
        "  query: {type: string, required: true}\n"
        "steps:\n"
        "  - id: found\n"
        "    uses: auth0.search_logs\n"
        "    with:\n"
        '      query: "{{ inputs.query }}"\n'
        "      since: 2026-11-03T00:00:00Z\n"
        "      until: 2026-11-04T00:00:00Z\n"
        "outputs:\n"
        '  count: "{{ steps.found.output.count }}"\n'
        '  warnings: "{{ steps.found.output.warnings }}"\n',
        encoding="utf-8",
    )
    for query, count in [("type:s", 1), ('type:"fu"', 1), ('type:"pwd_leak"', 0)]:
        done = soar(
            "run",
            str(playbook),
            "--logs",
            str(ROOT / STREAM),
            "-i",
            f"query={query}",
            "--json",
            "--run-dir",
            str(tmp_path / "runs"),
        )
        assert done.returncode == 0, done.stderr
        outputs = json.loads(done.stdout)["outputs"]
        # an answer inside the file's span is an answer, even an empty one: no warning
        assert (outputs["count"], outputs["warnings"]) == (count, []), query
        assert "warning:" not in done.stderr


def test_a_file_that_is_not_auth0_logs_is_refused_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "users.jsonl"
    good = '{"log_id": "1", "date": "2026-11-03T08:00:00.000Z", "type": "s"}'
    bad.write_text(good + '\n{"user_id": "auth0|1", "email": "a@example.com"}\n', encoding="utf-8")
    done = soar("emulator", "--logs", str(bad), "--port", "0")
    assert done.returncode == 2
    assert f"{bad}:2: not an Auth0 log event" in done.stderr and not done.stdout
    done = soar(
        "run",
        "playbooks/auth0-attack-triage.yaml",
        "--logs",
        str(bad),
        "--run-dir",
        str(tmp_path / "runs"),
    )
    assert done.returncode == 1 and f"{bad}:2: not an Auth0 log event" in done.stderr


def test_every_offline_search_action_carries_the_window_warning() -> None:
    import httpx

    from engine.actions import default_registry
    from engine.actions.registry import ActionContext

    registry = default_registry()
    user_logs = registry["auth0.user_logs"].func
    find_successful_logins = registry["auth0.find_successful_logins"].func
    with httpx.Client() as http:
        ctx = ActionContext(dry_run=True, http=http, logs_file=ROOT / STREAM)
        uid = "auth0|6182002f34f4dd006b05b5c7"  # ana: s (delivered twice), seacft, slo, sv
        inside = {"user_id": uid, "since": "2026-11-03", "until": "2026-11-04"}
        assert user_logs(ctx, inside)["count"] == 4
        assert user_logs(ctx, inside)["warnings"] == []
        outside = user_logs(ctx, {"user_id": uid, "since": "2026-11-10"})
        assert outside["count"] == 0 and "falls in the window" in outside["warnings"][0]
        logins = find_successful_logins(ctx, {"ips": ["81.2.69.143"], "since": "2026-11-10"})
        assert logins["users"] == [] and "the file's events run from" in logins["warnings"][0]


def test_a_window_in_a_gap_of_the_file_is_said_too() -> None:
    from engine.auth0.search import search_file
    from engine.timeutil import parse_time

    # eventbridge.jsonl: four events of 2026-11-05 12:12 to 14:26; nothing between 13:00 and 13:30
    f = ROOT / "tests/data/auth0/eventbridge.jsonl"
    gap = search_file(f, "", parse_time("2026-11-05T13:00:00Z"), parse_time("2026-11-05T13:30:00Z"))
    assert gap.events == [] and "falls in the window" in gap.warnings[0]
    answer = search_file(f, 'type:"fp"', parse_time("2026-11-05"), parse_time("2026-11-06"))
    assert answer.events == [] and answer.warnings == []  # events in the window, none an fp
