"""``soar report``: the Markdown incident summary, and hostile data kept inert in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from soarcli import soar

from engine.audit.redact import Redactor
from engine.audit.report import code, md, render
from engine.audit.runlog import RunLogWriter

HOSTILE = [
    "a | b | c",
    "`rm -rf /`",
    "[click](javascript:alert(1))",
    "<script>alert(1)</script>",
    "line1\nline2\r\n| forged | row |",
    "\x1b[31mred\x1b[0m \x07bell",
    "# heading *bold* _em_ ~strike~ ![img](x)",
    "{{ 7*7 }} &lt;b&gt;",
]

# A cell boundary is a pipe not preceded by a backslash.
_CELL = re.compile(r"(?<!\\)\|")


def unescape(text: str) -> str:
    """The text a Markdown reader sees: backslash escapes and ``&amp;`` resolved."""
    return re.sub(r"\\(.)", r"\1", text).replace("&amp;", "&")


def write_log(path: Path, *, dry_run: bool, name: str) -> str:
    """A complete, chained run log of an attack triage with ``name`` as hostile data."""
    log = RunLogWriter(path, "run-1", Redactor())
    log.write(
        "run.started",
        playbook={"name": "auth0-attack-triage", "path": "playbooks/t.yaml", "sha256": "ab" * 32},
        inputs={"block": True},
        operator="alice",
        host="laptop",
        tenant="acme.eu.auth0.com",
        dry_run=dry_run,
    )
    log.write("step.started", step="indicators")
    log.write(
        "step.finished",
        step="ips",
        status="succeeded",
        duration_ms=1250,
        output={"ips": [{"ip": "203.0.113.7", "count": 412}, {"ip": "10.0.0.1", "count": 3}]},
    )
    if dry_run:
        log.write(
            "action.planned",
            step="block",
            index=0,
            action="auth0.block_user",
            target="auth0|victim",
            planned={"method": "PATCH", "path": "/api/v2/users/auth0|victim"},
        )
    else:
        log.write("approval.requested", step="block", action="auth0.block_user", targets=[name])
        log.write("approval.granted", step="block", by="--yes", targets=["auth0|victim"])
        log.write(
            "action.call",
            step="block",
            index=0,
            action="auth0.block_user",
            target="auth0|victim",
            args={"user_id": "auth0|victim"},
        )
        log.write("action.result", step="block", index=0, result={"blocked": True})
    log.write("step.finished", step="block", status="planned" if dry_run else "succeeded")
    outputs: dict[str, Any] = {
        "suspicious_ips": ["203.0.113.7"],
        "compromised_users": ["auth0|victim"],
        "user_names": {"auth0|victim": name},
        "accessed_clients": {"auth0|victim": [name, "Payroll"]},
        "management_api_calls": [
            {
                "date": "2026-11-28T07:00:00.000Z",
                "user_id": "auth0|admin",
                "user_name": name,
                "ip": "198.51.100.9",
                "description": name,
                "details": {"request": {"method": "patch", "path": "/api/v2/users/x"}},
            }
        ],
        "blocked_users": ["auth0|victim"],
    }
    record = log.write("run.finished", status="succeeded", outputs=outputs, records=8)
    log.close()
    return str(record["hash"])


def table_rows(report: str, header_start: str) -> list[str]:
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_report_tells_who_what_when_and_how_to_verify(tmp_path: Path) -> None:
    log = tmp_path / "run-1.jsonl"
    final = write_log(log, dry_run=True, name="Jane Doe")
    report = render(log)
    assert report.startswith("# Incident report: auth0-attack-triage")
    assert "**Operator:** alice on laptop" in report
    assert "**Tenant:** acme.eu.auth0.com" in report
    assert "DRY RUN" in report
    assert "| `ips` | succeeded | 1.25s |" in report
    assert "| `203.0.113.7` | 412 |" in report  # the IP with its indicator count
    # each output under its own name; mappings keyed by a list's items are its columns
    assert "| compromised\\_users | accessed\\_clients | user\\_names |" in report
    assert "| `auth0\\|victim` | Jane Doe, Payroll | Jane Doe |" in report
    assert "| planned | `block` | auth0.block\\_user | `auth0\\|victim` |" in report
    assert "intact" in report and f"Final hash: `{final}`" in report
    assert f"`soar verify {log} --expect-hash {final}`" in report


def test_live_report_lists_done_writes_with_their_result(tmp_path: Path) -> None:
    log = tmp_path / "run-1.jsonl"
    write_log(log, dry_run=False, name="Jane")
    report = render(log)
    assert "**Mode:** live" in report and "DRY RUN" not in report
    rows = table_rows(report, "|  | step | action")
    assert len(rows) == 1
    row = rows[0]
    assert row.startswith("| done | `block` | auth0.block\\_user | `auth0\\|victim` |")
    assert '\\{"blocked": true\\}' in row
    assert "| `block` | granted | --yes | auth0\\|victim |" in report


def test_the_report_shows_any_playbooks_outputs_under_their_own_names(tmp_path: Path) -> None:
    log = RunLogWriter(tmp_path / "run-2.jsonl", "run-2", Redactor())
    log.write("run.started", playbook={"name": "activity"}, inputs={}, tenant="t", dry_run=False)
    outputs = {
        "events_count": 26,
        "ips": ["198.51.100.9", "203.0.113.7"],
        "clients": {"198.51.100.9": ["Portal"]},
        "calls": [{"log_id": "90", "type": "sapi", "date": "2026-11-28T07:00:00.000Z"}],
    }
    log.write("run.finished", status="succeeded", outputs=outputs, records=2)
    log.close()
    report = render(tmp_path / "run-2.jsonl")
    assert "### ips (2)" in report and "| ips | clients |" in report
    assert "| `198.51.100.9` | Portal |" in report and "| `203.0.113.7` |  |" in report
    assert "| date | type | log\\_id |" in report  # an event's date and type first
    assert "- **events\\_count:** 26" in report
    assert "### clients" not in report  # shown in the table of the addresses it is keyed by


def test_a_tampered_log_is_reported_as_such(tmp_path: Path) -> None:
    log = tmp_path / "run-1.jsonl"
    write_log(log, dry_run=True, name="Jane")
    log.write_text(log.read_text().replace("412", "413"))
    assert "tampered" in render(log).lower() or "bad" in render(log).lower()


def test_hostile_strings_cannot_break_the_markdown(tmp_path: Path) -> None:
    for i, name in enumerate(HOSTILE):
        log = tmp_path / f"run-{i}.jsonl"
        write_log(log, dry_run=True, name=name)
        report = render(log)
        assert "<script>" not in report and "\x1b" not in report and "\x07" not in report
        assert "](" not in report.replace("\\](", "").replace("\\]\\(", "")
        for header, columns in (("| compromised\\_users", 3), ("| date", 6)):
            rows = table_rows(report, header)
            assert len(rows) == 1, (name, rows)  # no forged row
            assert len(_CELL.findall(rows[0])) == columns + 1, (name, rows[0])
        # no forged heading or list item: every line starts as the renderer wrote it
        for line in report.splitlines():
            assert line == "" or line[0] in "#-|_", (name, line)
        # what a reader sees is the data, one line, control characters made visible
        visible = name.replace("\r", " ").replace("\n", " ")
        visible = visible.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
        user_row = table_rows(report, "| compromised\\_users")[0]
        assert visible in unescape(user_row), (name, user_row)


def test_md_and_code_helpers() -> None:
    assert md("a|b") == "a\\|b"
    assert md("<b>&</b>") == "\\<b\\>&amp;\\</b\\>"
    assert md("x" * 300).endswith("... \\(300 chars\\)")
    assert md({"k": [1]}) == '\\{"k": \\[1\\]\\}'
    assert code("a`b|c") == "`a'b\\|c`"
    assert code("x\ny") == "`x y`"


def test_soar_report_cli_writes_a_file(tmp_path: Path) -> None:
    log = tmp_path / "run-1.jsonl"
    write_log(log, dry_run=True, name="<script>x</script>")
    out = tmp_path / "incident.md"
    proc = soar("report", str(log), "-o", str(out), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8") == render(log)
    missing = soar("report", str(tmp_path / "nope.jsonl"), timeout=60)
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr
