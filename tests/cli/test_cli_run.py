"""``soar run / verify / show / resume`` as an operator runs them (subprocesses, local server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from localserver import RecordingServer, Route, recording_server
from soarcli import run_on_a_terminal, soar

from engine.secrets import encodings

ROOT = Path(__file__).parents[2]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


NOTIFY = """
playbook: 1
name: notify
inputs:
  who: {type: string, default: "u1"}
  count: {type: integer, default: 1}
  loud: {type: boolean, default: false}
  tags: {type: array, default: []}
steps:
  - id: look
    uses: http.request
    with: {method: GET, url: "URL/lookup"}
  - id: hook
    uses: http.request
    with:
      method: POST
      url: "URL/hook"
      json: {who: "{{ inputs.who }}", count: "{{ inputs.count }}", loud: "{{ inputs.loud }}", tags: "{{ inputs.tags }}"}
outputs:
  status: "{{ steps.hook.status }}"
  who: "{{ inputs.who }}"
"""


def write_pb(tmp_path: Path, server: RecordingServer, text: str = NOTIFY) -> Path:
    path = tmp_path / "pb.yaml"
    path.write_text(text.replace("URL", server.url), encoding="utf-8")
    return path


def test_run_json_yes_verify_and_expect_hash(server: RecordingServer, tmp_path: Path) -> None:
    pb = write_pb(tmp_path, server)
    runs = tmp_path / "runs"
    out = soar(
        "run", str(pb), "--yes", "--json", "--run-dir", str(runs),
        "-i", "count=3", "-i", "loud=true", "-i", 'tags=["a","b"]',
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # exactly one JSON object
    assert set(doc) == {"run_id", "status", "dry_run", "outputs", "run_log", "final_hash"}
    assert doc["status"] == "succeeded" and doc["dry_run"] is False
    assert doc["outputs"] == {"status": "succeeded", "who": "u1"}
    assert server.writes()[0].body == {"who": "u1", "count": 3, "loud": True, "tags": ["a", "b"]}
    assert f"final hash: {doc['final_hash']}" in out.stderr
    log = doc["run_log"]
    assert Path(log).parent == runs
    ok = soar("verify", log, "--expect-hash", doc["final_hash"])
    assert ok.returncode == 0 and "intact and complete" in ok.stdout
    assert soar("verify", log, "--expect-hash", "0" * 64).returncode == 1


def test_without_yes_it_stops_with_3_then_resume_yes_finishes(
    server: RecordingServer, tmp_path: Path
) -> None:
    pb = write_pb(tmp_path, server)
    out = soar("run", str(pb), "--run-dir", str(tmp_path / "runs"), "--json")
    assert out.returncode == 3, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "awaiting_approval"
    assert server.writes() == []
    assert f"soar resume {doc['run_log']} --yes" in out.stderr
    assert soar("verify", doc["run_log"]).returncode == 0  # a finished log: awaiting approval
    again = soar("resume", doc["run_log"], "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["run_id"] == doc["run_id"]
    assert len(server.writes()) == 1
    assert soar("verify", doc["run_log"]).returncode == 0
    done = soar("resume", doc["run_log"], "--yes")
    assert done.returncode == 2 and "already finished" in done.stderr


def test_dry_run_writes_nothing(server: RecordingServer, tmp_path: Path) -> None:
    pb = write_pb(tmp_path, server)
    out = soar("run", str(pb), "--dry-run", "--json", "--run-dir", str(tmp_path / "runs"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["dry_run"] is True and doc["outputs"]["status"] == "planned"
    # nothing leaves in a dry run, a GET neither (it is not a declared lookup)
    assert server.requests == []
    assert "would POST" in out.stderr and "would GET" in out.stderr
    assert "dry run: nothing was written" in out.stderr


def test_exit_2_for_bad_inputs_and_playbooks(server: RecordingServer, tmp_path: Path) -> None:
    pb = write_pb(tmp_path, server)
    runs = tmp_path / "runs"
    bad = soar("run", str(pb), "-i", "count=many", "--run-dir", str(runs))
    assert bad.returncode == 2 and "input 'count'" in bad.stderr
    unknown = soar("run", str(pb), "-i", "cuont=2", "--run-dir", str(runs))
    assert unknown.returncode == 2 and "did you mean 'count'" in unknown.stderr
    usage = soar("run", str(pb), "-i", "novalue", "--run-dir", str(runs))
    assert usage.returncode == 2 and "KEY=VALUE" in usage.stderr
    broken = soar("run", "tests/broken/01-unknown-action.yaml", "--run-dir", str(runs))
    assert broken.returncode == 2 and "unknown action" in broken.stderr
    assert not runs.exists()  # nothing ran
    inputs = tmp_path / "in.yaml"
    inputs.write_text("who: from-file\ncount: 2\n")
    ok = soar(
        "run", str(pb), "--inputs", str(inputs), "--dry-run", "--json", "--run-dir", str(runs)
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["outputs"]["who"] == "from-file"


def test_a_failed_step_exits_1(server: RecordingServer, tmp_path: Path) -> None:
    server.routes["/lookup"] = Route(status=500)
    pb = write_pb(tmp_path, server)
    out = soar("run", str(pb), "--yes", "--run-dir", str(tmp_path / "runs"))
    assert out.returncode == 1
    assert "FAILED look" in out.stderr and "HTTP 500" in out.stderr
    assert server.writes() == []


CANARY = "canary-Zq8v1Nw4Lm"
CLIENT_SECRET = "client-secret-Pp3Xk9"
QUOTED = 'quo"ted\\secret-été'  # escaped differently in JSON and in a repr


def leak_forms(secret: str) -> set[str]:
    """Every form a leak could take: the encodings and the JSON / repr escapes."""
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return encodings(secret) | escaped | {repr(secret)[1:-1]}


def test_a_canary_secret_is_absent_from_every_sink(server: RecordingServer, tmp_path: Path) -> None:
    # the upstream echoes the secrets back, in every encoding, in a read and in an error
    echoed = sorted(leak_forms(CANARY) | leak_forms(QUOTED))
    server.routes["/lookup"] = Route(body={"echo": echoed})
    server.routes["/hook"] = Route(status=401, body={"message": f"bad token {CANARY} {QUOTED}"})
    text = (
        NOTIFY.replace(
            'url: "URL/hook"',
            'url: "URL/hook"\n      headers: {Authorization: "Bearer {{ secrets.hook }}"}',
        )
        .replace('who: "{{ inputs.who }}"', 'who: "{{ inputs.who }} {{ secrets.hook }}"')
        .replace('count: "{{ inputs.count }}"', 'count: "{{ secrets.quoted }}"')
        .replace("outputs:\n", 'outputs:\n  echo: "{{ steps.look.output.body }}"\n')
    )
    pb = write_pb(tmp_path, server, text)
    env = {
        "SOAR_SECRET_HOOK": CANARY,
        "SOAR_SECRET_QUOTED": QUOTED,
        "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
    }
    runs = tmp_path / "runs"
    out = soar(
        "run",
        str(pb),
        "--yes",
        "--json",
        "-i",
        f"who={CLIENT_SECRET}",
        "--run-dir",
        str(runs),
        env=env,
    )
    assert out.returncode == 1, out.stderr  # the hook refused: its error echoes the secret
    sent = server.writes()[0]
    assert sent.headers["Authorization"] == f"Bearer {CANARY}"
    assert sent.body["count"] == QUOTED  # only the request unwraps a secret
    assert json.loads(out.stdout)["outputs"]["echo"]["echo"] == ["***"] * len(echoed)
    log = next(runs.iterdir())
    shown = soar("show", str(log), env=env)
    sinks = out.stdout + out.stderr + log.read_text() + shown.stdout + shown.stderr
    assert "***" in sinks and "bad token *** ***" in sinks
    for secret in (CANARY, CLIENT_SECRET, QUOTED):
        for form in leak_forms(secret):
            assert form not in sinks, form


def test_structlog_output_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    from engine.cli.cmd_run import make_redactor

    os.environ["SOAR_SECRET_CANARY_TEST"] = CANARY
    try:
        make_redactor()
        structlog.get_logger("test").info(f"token {CANARY}", header=f"Bearer {CANARY}", n=1)
    finally:
        del os.environ["SOAR_SECRET_CANARY_TEST"]
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "token ***" in err and "Bearer ***" in err
    for form in encodings(CANARY):
        assert form not in err


def test_show_summarises_a_run_terminal_safe(server: RecordingServer, tmp_path: Path) -> None:
    pb = write_pb(tmp_path, server)
    runs = tmp_path / "runs"
    out = soar(
        "run", str(pb), "--yes", "--json", "-i", "who=\x1b[31mevil\x1b[0m", "--run-dir", str(runs)
    )
    assert out.returncode == 0, out.stderr
    assert "\x1b[31m" not in out.stderr
    shown = soar("show", json.loads(out.stdout)["run_log"])
    assert shown.returncode == 0
    text = shown.stdout
    assert "\x1b" not in text and "\\u001b[31mevil" in text
    for part in (
        "playbook  notify",
        "by ",
        "inputs",
        "succeeded  look",
        "sent     http.request",
        "done ",
        "output who",
        "integrity: intact and complete",
    ):
        assert part in text, part
    assert soar("show", str(tmp_path / "missing.jsonl")).returncode == 2


def test_verify_cli_exit_codes(tmp_path: Path) -> None:
    missing = soar("verify", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2
    pb_log = tmp_path / "x.jsonl"
    pb_log.write_text('{"seq": 0}\n')
    assert soar("verify", str(pb_log)).returncode == 1


def test_progress_lines_are_plain_off_a_terminal_and_safe_on_one() -> None:
    import io

    from engine.audit.redact import Redactor
    from engine.cli.progress import Progress

    events: list[dict[str, object]] = [
        {
            "type": "run.started",
            "run_id": "r1",
            "playbook": {"name": "p"},
            "tenant": "t",
            "dry_run": True,
        },
        {"type": "step.started", "step": "s\x1b[2J", "action": "a", "items": 2},
        {"type": "action.planned", "planned": [{"method": "POST", "path": f"/x/{CANARY}"}]},
        {"type": "step.finished", "step": "s\x1b[2J", "status": "planned", "duration_ms": 1500},
        {"type": "approval.required", "step": "w", "targets": [f"u{n}" for n in range(22)]},
        {"type": "run.finished", "status": "succeeded"},
    ]
    plain = io.StringIO()
    progress = Progress(Redactor([CANARY]), plain, live=False)
    for event in events:
        progress(event)
    text = plain.getvalue()
    assert text.splitlines() == [
        "run r1: p (DRY RUN: writes are only planned) on t",
        "  protected users: none (SOAR_PROTECTED_USERS is not set)",
        "           would POST /x/***",
        "   planned s\\x1b[2J 1.50s",
        "  approval needed for w: 22 target(s)",
        *[f"    - u{n}" for n in range(20)],
        "    ... and 2 more (all are in the run log)",
    ]
    live = io.StringIO()
    progress = Progress(Redactor([CANARY]), live, live=True)
    for event in events:
        progress(event)
    shown = live.getvalue()
    assert "\x1b[2J" not in shown and CANARY not in shown
    assert shown.replace("\r\x1b[K", "").count("\x1b") == 0  # only our own line-clear sequence


@pytest.mark.parametrize(("answer", "code", "writes"), [(b"y\n", 0, 1), (b"n\n", 3, 0)])
def test_on_a_terminal_the_operator_is_shown_the_targets_and_asked(
    server: RecordingServer, tmp_path: Path, answer: bytes, code: int, writes: int
) -> None:
    pb = write_pb(tmp_path, server)
    rc, screen = run_on_a_terminal(["run", str(pb), "--run-dir", str(tmp_path / "runs")], answer)
    assert rc == code, screen
    assert "will run http.request on 1 target(s) in tenant (AUTH0_DOMAIN not set):" in screen
    # what is approved is what is sent: method, URL and body
    body = '{"who": "u1", "count": 1, "loud": false, "tags": []}'
    assert f"  - POST {server.url}/hook  body {body}" in screen
    assert len(server.writes()) == writes


def test_ctrl_c_leaves_a_resumable_log_and_says_how(
    server: RecordingServer, tmp_path: Path
) -> None:
    import signal
    import time

    server.routes["/lookup"] = Route(delay=30)  # interrupted while this read waits
    pb = write_pb(tmp_path, server)
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", str(pb), "--yes", "--run-dir", str(runs)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while server.hits.get("/lookup", 0) == 0:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    log = next(runs.iterdir())
    assert f"soar resume {log}" in err and "Traceback" not in err
    assert soar("verify", str(log)).returncode == 3
    assert server.writes() == []


def test_a_lone_surrogate_in_data_neither_stops_the_log_nor_the_terminal(
    server: RecordingServer, tmp_path: Path
) -> None:
    # JSON may escape a lone surrogate, which UTF-8 cannot hold: attacker data in a log event
    server.routes["/lookup"] = Route(body={"user_agent": "evil\ud800agent"})
    text = NOTIFY.replace(
        "outputs:\n", 'outputs:\n  ua: "{{ steps.look.output.body.user_agent }}"\n'
    )
    pb = write_pb(tmp_path, server, text)
    runs = tmp_path / "runs"
    out = soar("run", str(pb), "--yes", "--json", "--run-dir", str(runs))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["outputs"]["ua"] == "evil\\ud800agent"
    human = soar("run", str(pb), "--yes", "--run-dir", str(runs))
    assert human.returncode == 0, human.stderr
    assert "evil\\\\ud800agent" in human.stderr
    for log in runs.iterdir():
        assert soar("verify", str(log)).returncode == 0
        assert soar("show", str(log)).returncode == 0
