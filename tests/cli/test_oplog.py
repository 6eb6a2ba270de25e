"""The operational log: its settings, both formats, redaction, terminal safety, progress.

The CLI cases run the real ``soar`` against the module's emulator; the
rendering cases build the pipeline in this process on a stream of their own.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from soarcli import soar

from engine.cli import oplog
from engine.cli.progress import LiveLine, Progress
from engine.emulator import RunningEmulator
from engine.secrets import encodings

SECRET = "Zq9!topSecret/value+x"

PLAYBOOK = """\
playbook: 1
name: look-up
inputs:
  user_id: {type: string, required: true}
steps:
  - id: fails
    uses: auth0.search_logs
    with: {query: 'type:"fp"', since: 7d}
  - id: look
    uses: auth0.get_user
    with: {user_id: "{{ inputs.user_id }}"}
outputs:
  found: "{{ steps.fails.output.count }}"
"""


def tenant_env(emu: RunningEmulator) -> dict[str, str]:
    return {
        "AUTH0_DOMAIN": emu.base_url,
        "AUTH0_CLIENT_ID": emu.client_id,
        "AUTH0_CLIENT_SECRET": emu.client_secret,
    }


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (
            ["--log-format", "xml"],
            {},
            "--log-format 'xml' is not a log format (use json or console)",
        ),
        ([], {"SOAR_LOG_FORMAT": "yaml"}, "SOAR_LOG_FORMAT 'yaml' is not a log format"),
        ([], {"SOAR_LOG_LEVEL": "loud"}, "SOAR_LOG_LEVEL 'loud' is not a log level (use debug"),
    ],
)
def test_a_bad_log_setting_is_one_error_and_exit_2(
    args: list[str], env: dict[str, str], needle: str
) -> None:
    out = soar(*args, "validate", "playbooks", env=env)
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: ") and needle in line


def fields(line: str) -> dict[str, str]:
    """The ``key=value`` pairs of a console log line (values here have no spaces)."""
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def test_the_console_log_shows_the_search_pages_and_masks_the_secret_in_every_form(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    pb = tmp_path / "pb.yaml"
    pb.write_text(PLAYBOOK)
    env = {**tenant_env(emulator), "SOAR_SECRET_API": SECRET}
    args = ["-i", f"user_id={SECRET}", "--run-dir", str(tmp_path), "--json"]
    out = soar("run", str(pb), *args, env=env)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)["outputs"]["found"]
    pages = [fields(x) for x in out.stderr.splitlines() if "] auth0.page " in x]
    assert [(p["page"], p["requests"]) for p in pages] == [
        (str(n), str(n + 1)) for n in range(len(pages))
    ]
    assert {(p["mode"], p["method"], p["path"], p["step_id"]) for p in pages} == {
        ("search", "GET", "/api/v2/logs", "fails")
    }
    assert sum(int(p["count"]) for p in pages) == int(pages[-1]["events"]) == found > 100
    refused = [line for line in out.stderr.splitlines() if "auth0.refused" in line]
    assert len(refused) == 1 and "path=/api/v2/users/***" in refused[0]
    assert "run_id=" in refused[0] and "step_id=look" in refused[0] and "status=404" in refused[0]
    for form in encodings(SECRET):
        assert form not in out.stderr and form not in out.stdout, form


def test_export_progress_off_a_terminal_is_page_events(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    target = tmp_path / "events.jsonl"
    env = {**tenant_env(emulator), "SOAR_LOG_FORMAT": "json"}
    out = soar("logs", "export", "-o", str(target), "--since", "30d", env=env)
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr and "\x1b" not in out.stderr  # nothing overwrites a line
    events = [json.loads(x) for x in out.stderr.splitlines() if x.startswith("{")]
    pages = [e for e in events if e["event"] == "auth0.page"]
    assert [e["event"] for e in events if e not in pages] == ["auth0.token"]
    assert {p["mode"] for p in pages} == {"checkpoint"}
    assert [p["requests"] for p in pages] == list(range(1, len(pages) + 1))
    written = len(target.read_text().splitlines())
    assert pages[-1]["count"] == 0 and pages[-1]["events"] == written > 1000
    assert sum(p["count"] for p in pages) >= written  # a page may carry events outside the window
    assert f"wrote {written} events" in out.stderr


@pytest.fixture
def pipeline() -> Iterator[None]:
    yield
    oplog.reset()


def build(fmt: str, *, live: bool = False, level: str = "info") -> tuple[io.StringIO, LiveLine]:
    stream = io.StringIO()
    oplog.select(fmt, {"SOAR_LOG_LEVEL": level})
    oplog.configure(stream, live=live)
    oplog.redactor().add(SECRET)  # as a run's client reports a token it obtained
    return stream, oplog.live_line()


HOSTILE = "\x1b[2J\u202eevil\nforged=line\x7f"


def test_console_escapes_data_and_cannot_be_forged(pipeline: None) -> None:
    stream, _ = build("console", level="warning")
    log = structlog.get_logger("engine.test")
    log.info("dropped below the level")
    log.warning("auth0.refused", user_name=HOSTILE, nested={"ua": HOSTILE}, token=SECRET)
    (line,) = stream.getvalue().splitlines()
    assert "\x1b" not in line and "\u202e" not in line and "\x7f" not in line
    assert "user_name='\\x1b[2J\\u202eevil\\nforged=line\\x7f'" in line and "token=***" in line
    assert "[warning  ] auth0.refused" in line and "[engine.test]" in line


def test_json_is_one_ascii_object_a_line_with_the_context(pipeline: None) -> None:
    stream, _ = build("json")
    with structlog.contextvars.bound_contextvars(run_id="r1", step_id="s1"):
        structlog.get_logger("engine.test").info("auth0.wait", why=HOSTILE, secret=SECRET)
    (line,) = stream.getvalue().splitlines()
    assert line.isascii() and "\x7f" not in line
    event = json.loads(line)
    assert list(event)[:6] == ["timestamp", "level", "event", "logger", "run_id", "step_id"]
    assert event["why"] == HOSTILE and event["secret"] == "***"
    assert event["run_id"] == "r1" and event["step_id"] == "s1"


def test_on_a_terminal_progress_is_the_live_line_not_log_lines(pipeline: None) -> None:
    from engine.audit.redact import Redactor

    stream, line = build("console", live=True)
    progress = Progress(Redactor(), line=line)
    progress({"type": "step.started", "step": "fails", "action": "auth0.search_logs"})
    page = {"method": "GET", "path": "/api/v2/logs", "count": 100, "events": 2300, "requests": 23}
    structlog.get_logger("engine.auth0.search").info("auth0.page", **page)
    structlog.get_logger("engine.auth0.client").warning("auth0.retry", status=429)
    structlog.get_logger("engine.auth0.client").info("auth0.wait", reason="pacing", wait_s=0.05)
    line.write("  a permanent line")  # redraws the status line below it
    shown = stream.getvalue()
    for event in ("step.started", "auth0.page", "auth0.wait"):
        assert event not in shown  # shown on the live line instead
    assert "auth0.retry" in shown  # a log line, written above the live line
    assert "  ... fails (auth0.search_logs): 2300 events, 23 requests (pacing 0.05s)" in shown
    progress({"type": "step.finished", "step": "fails", "status": "succeeded"})
    structlog.get_logger("engine.auth0.search").info("auth0.page", **page)
    assert stream.getvalue().count("auth0.page") == 1  # no step runs: the page is a log line
