"""``soar run``, ``soar verify``, ``soar show``, ``soar resume``.

Exit codes of run and resume: 0 succeeded, 1 a step failed, 2 bad playbook,
inputs or usage, 3 stopped awaiting approval, 130 interrupted (Ctrl-C: the log
is left incomplete, resumable). Human output goes to stderr;
``--json`` prints exactly one JSON object on stdout.

Environment: ``SOAR_SECRET_<NAME>`` becomes ``secrets.<name>`` (name
lower-cased) in templates, an opaque value only ``http.request`` unwraps;
``SOAR_PROTECTED_USERS`` lists user ids or emails no write may touch.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from engine.cli.output import safe

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.approval import ApprovalRequest, Approve
    from engine.cli.progress import Progress
    from engine.executor import RunResult
    from engine.model import Playbook
    from engine.redact import Redactor

EXIT = {"succeeded": 0, "failed": 1, "awaiting_approval": 3}
INTERRUPTED = 130  # the shell's code for SIGINT; not a step failure (1)
SECRET_PREFIX = "SOAR_SECRET_"  # noqa: S105 -- an environment variable prefix, not a secret
MAX_SHOWN_TARGETS = 50


def env_secrets() -> dict[str, str]:
    """``SOAR_SECRET_<NAME>`` -> ``secrets.<name>`` (lower-cased); empty values ignored."""
    return {
        k[len(SECRET_PREFIX) :].lower(): v
        for k, v in os.environ.items()
        if k.startswith(SECRET_PREFIX) and len(k) > len(SECRET_PREFIX) and v
    }


def make_redactor() -> Redactor:
    """The redactor of this command, also wired into structlog (configured here only)."""
    import structlog

    from engine.executor import ENV_SECRETS
    from engine.redact import Redactor

    redactor = Redactor([*env_secrets().values(), *(os.environ.get(k) or "" for k in ENV_SECRETS)])

    def terminal_safe(_logger: Any, _method: str, event: Any) -> Any:
        return {k: safe(v) if isinstance(v, str) else v for k, v in event.items()}

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,  # tracebacks become text, then get redacted
            redactor.processor,
            terminal_safe,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    return redactor


def _protected() -> list[str]:
    from engine.guardrails import PROTECTED_ENV, parse_protected

    return parse_protected(os.environ.get(PROTECTED_ENV))


def _approval(yes: bool, progress: Progress) -> Approve:
    """``--yes`` grants; on a terminal the operator is asked; otherwise the run stops."""
    if yes:
        return True
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None

    def ask(request: ApprovalRequest) -> bool:
        with progress.paused():
            try:
                return prompt_approval(request, progress.redactor)
            except (typer.Abort, EOFError):  # Ctrl-D / Ctrl-C at the prompt: a "no"
                return False

    return ask


def prompt_approval(request: ApprovalRequest, redactor: Redactor) -> bool:
    """Show the blast radius of one write step and ask the operator."""
    n = len(request.targets)
    typer.echo(
        f"\nStep {safe(request.step_id)!r} will run {safe(request.action)} on {n} target(s):",
        err=True,
    )
    for t in request.targets[:MAX_SHOWN_TARGETS]:
        typer.echo(f"  - {safe(redactor.text(t))}", err=True)
    if n > MAX_SHOWN_TARGETS:
        typer.echo(f"  ... and {n - MAX_SHOWN_TARGETS} more", err=True)
    return typer.confirm("Apply these writes?", default=False, err=True)


def read_inputs(playbook: Playbook, pairs: list[str], inputs_file: Path | None) -> dict[str, Any]:
    """``--inputs FILE`` (YAML or JSON mapping) overlaid by ``-i KEY=VALUE`` (converted)."""
    from engine.errors import InputError
    from engine.inputs import convert_cli
    from engine.yamlsrc import load_yaml

    values: dict[str, Any] = {}
    if inputs_file is not None:
        # the playbook loader's YAML: safe, bounded (size, aliases, nesting), dates kept as text
        try:
            raw = inputs_file.read_bytes()
        except OSError as exc:
            raise InputError(f"--inputs {inputs_file}: cannot read it: {exc.strerror}") from None
        src, issues = load_yaml(raw, str(inputs_file))
        if issues:
            raise InputError("\n".join(i.format() for i in issues))
        if not isinstance(src.data, dict):
            raise InputError(f"--inputs {inputs_file}: expected a mapping of input names")
        values.update({str(k): v for k, v in src.data.items()})
    problems = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"-i {pair!r}: use KEY=VALUE")
            continue
        spec = playbook.inputs.get(key)
        try:
            values[key] = convert_cli(spec, text) if spec is not None else text
        except ValueError as exc:
            problems.append(f"input {key!r}: {exc}")
    if problems:
        raise InputError("bad inputs:\n  " + "\n  ".join(problems))
    return values


def _finish(result: RunResult, as_json: bool, redactor: Redactor) -> NoReturn:
    from engine.runlog import jsonable

    status = result.status
    if as_json:
        doc = {
            "run_id": result.run_id,
            "status": status,
            "dry_run": result.dry_run,
            "outputs": result.outputs,
            "run_log": str(result.run_log),
            "final_hash": result.final_hash,
        }
        # values redacted before dumping (escaping hides a secret's plain form), text after
        doc = redactor.value(jsonable(doc))
        typer.echo(redactor.text(json.dumps(doc, ensure_ascii=False)))
    elif result.outputs:
        typer.echo("outputs:", err=True)
        for k, v in result.outputs.items():
            text = json.dumps(redactor.value(jsonable(v)), ensure_ascii=False)
            if len(text) > 2000:
                text = text[:2000] + f"... ({len(text)} chars; see the run log)"
            typer.echo(f"  {safe(k)}: {safe(redactor.text(text))}", err=True)
    waiting = status == "awaiting_approval"
    if result.error and not waiting:
        typer.echo(f"error: {safe(redactor.text(result.error))}", err=True)
    typer.echo(f"status: {status}", err=True)
    typer.echo(f"run log: {safe(result.run_log)}", err=True)
    typer.echo(f"final hash: {result.final_hash}", err=True)
    if waiting and result.error:  # why it waits and what to do (writes of unknown outcome)
        text = result.error.replace("RUNLOG", str(result.run_log))
        typer.echo(safe(redactor.text(text)), err=True)
    elif waiting:
        typer.echo(
            f"nothing was written; approve and continue with: soar resume {safe(result.run_log)} --yes",
            err=True,
        )
    raise typer.Exit(EXIT.get(status, 1))


class _LogPath:
    """Remembers the run log a run writes (from its first record), for the Ctrl-C message."""

    def __init__(self, progress: Progress, run_dir: Path | None = None) -> None:
        self.progress = progress
        self.run_dir = run_dir
        self.path: Path | None = None

    def __call__(self, rec: dict[str, Any]) -> None:
        if self.path is None and self.run_dir is not None:
            self.path = self.run_dir / f"{rec['run_id']}.jsonl"
        self.progress(rec)

    def interrupted(self) -> NoReturn:
        """Ctrl-C: the log stays incomplete (no run.finished) and can be resumed."""
        self.progress.stop()
        where = safe(self.path) if self.path else "RUNLOG"
        typer.echo(
            f"\ninterrupted: the run log {where} is incomplete; writes already sent are "
            f"recorded. Continue with: soar resume {where}",
            err=True,
        )
        raise typer.Exit(INTERRUPTED)


def _fail(redactor: Redactor, message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {safe(redactor.text(message), keep_newlines=True)}", err=True)
    raise typer.Exit(code)


def _drive(
    start: Callable[[], RunResult], tracker: _LogPath, redactor: Redactor, as_json: bool
) -> NoReturn:
    """Run or resume, then report: one place for errors, Ctrl-C and the exit code."""
    from engine.errors import SoarError

    try:
        result = start()
    except (SoarError, OSError) as exc:
        tracker.progress.stop()
        _fail(redactor, str(exc))
    except KeyboardInterrupt:
        tracker.interrupted()
    _finish(result, as_json, redactor)


def run_cmd(
    playbook: Path = typer.Argument(..., help="The playbook to run."),
    inputs: list[str] = typer.Option(
        [], "-i", "--input", help="KEY=VALUE, converted to the input's declared type."
    ),
    inputs_file: Path | None = typer.Option(
        None, "--inputs", help="A YAML or JSON mapping of inputs."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Reads run; writes are only planned."),
    yes: bool = typer.Option(False, "--yes", help="Approve the run's writes."),
    run_dir: Path = typer.Option(Path("runs"), "--run-dir", help="Where the run log goes."),
    logs: Path | None = typer.Option(
        None, "--logs", help="Search this exported log file instead of a tenant (writes planned)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
) -> None:
    """Run a playbook against the tenant in AUTH0_* (or a log file), with a run log."""
    from engine.cli.progress import Progress
    from engine.errors import PlaybookError
    from engine.executor import run_playbook
    from engine.loader import load_playbook
    from engine.registry import default_registry

    redactor = make_redactor()
    registry = default_registry()
    try:
        pb = load_playbook(playbook, registry)
    except PlaybookError as exc:
        for issue in exc.issues:
            typer.echo(safe(issue.format()), err=True)
        raise typer.Exit(2) from None
    if logs is not None and not logs.is_file():
        _fail(redactor, f"--logs {logs}: no such file")
    progress = Progress(redactor)
    tracker = _LogPath(progress, run_dir)
    _drive(
        lambda: run_playbook(
            pb,
            read_inputs(pb, inputs, inputs_file),
            registry=registry,
            dry_run=dry_run,
            approve=_approval(yes, progress),
            run_dir=run_dir,
            logs_file=logs,
            protected_users=_protected(),
            secrets=env_secrets(),
            on_event=tracker,
            redactor=redactor,
        ),
        tracker,
        redactor,
        as_json,
    )


def resume_cmd(
    run_log: Path = typer.Argument(..., help="The run log of the run to continue."),
    yes: bool = typer.Option(False, "--yes", help="Approve the run's writes."),
    resend_unknown: bool = typer.Option(
        False,
        "--resend-unknown",
        help="Send again the writes cut off in flight (outcome unknown); check them first.",
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
) -> None:
    """Continue an interrupted or approval-stopped run without repeating completed writes."""
    from engine.cli.progress import Progress
    from engine.registry import default_registry
    from engine.resume import resume_run

    redactor = make_redactor()
    progress = Progress(redactor)
    tracker = _LogPath(progress)
    tracker.path = run_log
    _drive(
        lambda: resume_run(
            run_log,
            registry=default_registry(),
            approve=_approval(yes, progress),
            protected_users=_protected(),
            secrets=env_secrets(),
            on_event=tracker,
            redactor=redactor,
            resend_unknown=resend_unknown,
        ),
        tracker,
        redactor,
        as_json,
    )


def verify_cmd(
    run_log: Path = typer.Argument(..., help="The run log to check."),
    expect_hash: str | None = typer.Option(
        None, "--expect-hash", help="The final hash printed when the run ended."
    ),
) -> None:
    """Recompute a run log's hash chain: 0 intact, 1 tampered, 2 unreadable, 3 incomplete."""
    from engine.runlog import verify

    result = verify(run_log, expect_hash)
    typer.echo(f"{safe(run_log)}: {safe(result.message)}")
    raise typer.Exit(result.code)


def show_cmd(run_log: Path = typer.Argument(..., help="The run log to summarise.")) -> None:
    """A readable summary of a run: who ran what, when, inputs, steps, writes, outputs."""
    from engine.errors import RunLogError
    from engine.runlog import read_records, verify

    try:
        records = read_records(run_log)
    except RunLogError as exc:
        typer.echo(f"error: {safe(exc)}", err=True)
        raise typer.Exit(2) from None
    check = verify(run_log)
    for line in show_lines(records, check.message):
        typer.echo(safe(line))


def _short_json(value: Any, limit: int) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def show_lines(records: list[dict[str, Any]], integrity: str) -> list[str]:
    """The lines of ``soar show`` (the caller makes each terminal-safe)."""
    from engine.report import run_mode

    lines: list[str] = []
    for rec in records:
        kind = rec.get("type")
        step = f"{rec.get('step')}[{rec.get('index')}]"
        if kind == "run.started":
            pb = rec.get("playbook") or {}
            mode = run_mode(rec)
            lines += [
                f"run {rec.get('run_id')}",
                f"  playbook  {pb.get('name')} ({pb.get('path')}, sha256 {pb.get('sha256')})",
                f"  by        {rec.get('operator')} on {rec.get('host')}, soar {rec.get('engine_version')}",
                f"  started   {rec.get('ts')}",
                f"  tenant    {rec.get('tenant')}",
                f"  mode      {mode}",
                f"  inputs    {_short_json(rec.get('inputs'), 1000)}",
                "steps:",
            ]
        elif kind == "run.resumed":
            lines.append(
                f"  -- resumed at {rec.get('ts')} ({rec.get('completed_writes')} completed writes reused)"
            )
        elif kind == "step.finished":
            err = f"  {rec['error']}" if rec.get("error") else ""
            seconds = float(rec.get("duration_ms") or 0) / 1000
            lines.append(f"  {rec.get('status')!s:<10} {rec.get('step')!s:<24} {seconds:.2f}s{err}")
        elif kind == "action.planned":
            for call in rec.get("planned") or []:
                where = call.get("path") or call.get("url")
                lines.append(
                    f"    planned  {call.get('method')} {where}  (target {rec.get('target')})"
                )
        elif kind == "action.call":
            lines.append(f"    sent     {rec.get('action')} on {rec.get('target')}  ({step})")
        elif kind == "action.result":
            lines.append(f"    done     {step}  {_short_json(rec.get('result'), 200)}")
        elif kind == "action.reused":
            lines.append(f"    reused   {rec.get('action')} on {rec.get('target')}  ({step})")
        elif kind == "action.failed":
            lines.append(f"    failed   {step}  {rec.get('error')}")
        elif kind in ("approval.required", "approval.granted", "approval.denied"):
            by = f" by {rec.get('by')}" if rec.get("by") else ""
            lines.append(f"  {kind} for {rec.get('step')}{by}  targets {rec.get('targets')}")
        elif kind == "run.finished":
            lines.append(f"finished {rec.get('ts')}: {rec.get('status')}")
            if rec.get("error"):
                lines.append(f"  error: {rec['error']}")
            for k, v in (rec.get("outputs") or {}).items():
                lines.append(f"  output {k}: {_short_json(v, 500)}")
    lines.append(f"integrity: {integrity}")
    return lines


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("verify")(verify_cmd)
    app.command("show")(show_cmd)
    app.command("resume")(resume_cmd)
