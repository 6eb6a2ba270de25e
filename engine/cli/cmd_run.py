"""``soar run``, ``soar verify``, ``soar show``, ``soar resume``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from engine.cli.output import safe

if TYPE_CHECKING:
    from engine.executor import ApprovalRequest, RunResult
    from engine.redact import Redactor

EXIT = {"succeeded": 0, "failed": 1, "awaiting_approval": 3}
SECRET_PREFIX = "SOAR_SECRET_"  # noqa: S105 -- an environment variable prefix


def env_secrets() -> dict[str, str]:
    """``SOAR_SECRET_<NAME>`` -> ``secrets.<name>`` (lower-cased)."""
    return {
        k[len(SECRET_PREFIX) :].lower(): v
        for k, v in os.environ.items()
        if k.startswith(SECRET_PREFIX) and v
    }


def env_redactions() -> list[str]:
    return [v for k in ("AUTH0_CLIENT_SECRET", "AUTH0_TOKEN") if (v := os.environ.get(k))]


def protected_users() -> list[str]:
    return [p for p in os.environ.get("SOAR_PROTECTED_USERS", "").split(",") if p.strip()]


def make_redactor() -> Redactor:
    """The run's redactor, also wired into structlog (logging is configured here only)."""
    import structlog

    from engine.redact import Redactor

    redactor = Redactor([*env_secrets().values(), *env_redactions()])
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            redactor.processor,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    return redactor


class Progress:
    """One readable line per step event on stderr; data shown terminal-safe."""

    def __init__(self, redactor: Redactor, quiet: bool = False) -> None:
        self.redactor = redactor
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            typer.echo(safe(self.redactor.text(text)), err=True)

    def __call__(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        if kind == "run.started":
            mode = "DRY RUN, writes only planned" if rec.get("dry_run") else "live"
            self.say(f"run {rec['run_id']}: {rec['playbook']['name']} ({mode}) on {rec['tenant']}")
        elif kind == "step.started":
            n = rec.get("items")
            self.say(f"  > {rec['step']} ({rec['action']}{'' if n is None else f', {n} items'})")
        elif kind == "step.finished":
            mark = {"succeeded": "ok", "planned": "planned", "skipped": "skipped"}.get(
                rec["status"], "FAILED"
            )
            ms = rec.get("duration_ms", 0)
            err = f": {rec['error']}" if rec.get("error") else ""
            self.say(f"  {mark:>8} {rec['step']} {ms / 1000:.2f}s{err}")
        elif kind == "action.planned":
            for call in rec.get("planned") or []:
                self.say(
                    f"           would {call.get('method')} {call.get('path') or call.get('url')}"
                )
        elif kind == "approval.required":
            self.say(f"  approval needed for {rec['step']}: {len(rec['targets'])} target(s)")
        elif kind == "action.retry":
            self.say(f"           retry {rec['attempt']} of {rec['step']}: {rec['error']}")


def prompt_approval(request: ApprovalRequest) -> bool:
    typer.echo(
        f"\nStep {request.step_id!r} will run {request.action} on {len(request.targets)} target(s):",
        err=True,
    )
    for t in request.targets[:50]:
        typer.echo(f"  - {safe(t)}", err=True)
    if len(request.targets) > 50:
        typer.echo(f"  ... and {len(request.targets) - 50} more", err=True)
    return typer.confirm("Apply these writes?", default=False, err=True)


def _approval(yes: bool) -> Any:
    if yes:
        return True
    if sys.stdin.isatty() and sys.stderr.isatty():
        return prompt_approval
    return None


def _parse_inputs(pairs: list[str], inputs_file: Path | None) -> dict[str, Any]:
    import yaml

    values: dict[str, Any] = {}
    if inputs_file is not None:
        try:
            loaded = yaml.safe_load(inputs_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise typer.BadParameter(f"{inputs_file}: {exc}", param_hint="--inputs") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter(f"{inputs_file}: expected a mapping", param_hint="--inputs")
        values.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: use KEY=VALUE", param_hint="-i")
        values[key.strip()] = value
    return values


def _finish(result: RunResult, as_json: bool, redactor: Redactor) -> None:
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
        typer.echo(redactor.text(json.dumps(doc, ensure_ascii=False, default=str)))
    else:
        if result.outputs:
            typer.echo("outputs:", err=True)
            for k, v in result.outputs.items():
                text = json.dumps(v, ensure_ascii=False, default=str)
                if len(text) > 2000:
                    text = text[:2000] + f"... ({len(text)} chars; see the run log)"
                typer.echo(f"  {k}: {safe(redactor.text(text))}", err=True)
    if result.error:
        typer.echo(f"error: {safe(redactor.text(result.error))}", err=True)
    typer.echo(f"status: {status}", err=True)
    typer.echo(f"run log: {result.run_log}", err=True)
    typer.echo(f"final hash: {result.final_hash}", err=True)
    if status == "awaiting_approval":
        typer.echo(f"approve and continue with: soar resume {result.run_log} --yes", err=True)
    raise typer.Exit(EXIT.get(status, 1))


def run_cmd(
    playbook: Path = typer.Argument(..., help="The playbook to run."),
    inputs: list[str] = typer.Option(
        [], "-i", "--input", help="KEY=VALUE, converted to the input's type."
    ),
    inputs_file: Path | None = typer.Option(
        None, "--inputs", help="YAML or JSON mapping of inputs."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Reads run; writes are only planned."),
    yes: bool = typer.Option(False, "--yes", help="Approve the run's writes."),
    run_dir: Path = typer.Option(Path("runs"), "--run-dir", help="Where the run log goes."),
    logs: Path | None = typer.Option(
        None, "--logs", help="Search this exported log file instead of a tenant."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
) -> None:
    """Run a playbook against the tenant in AUTH0_* (or a log file), with a run log."""
    from engine.errors import InputError, PlaybookError, SoarError
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
        typer.echo(f"error: --logs {safe(logs)}: no such file", err=True)
        raise typer.Exit(2)
    try:
        result = run_playbook(
            pb,
            _parse_inputs(inputs, inputs_file),
            registry=registry,
            dry_run=dry_run,
            approve=_approval(yes),
            run_dir=run_dir,
            logs_file=logs,
            protected_users=protected_users(),
            secrets=env_secrets(),
            on_event=Progress(redactor),
            from_cli=True,
            redactor=redactor,
        )
    except InputError as exc:
        typer.echo(f"error: {safe(redactor.text(str(exc)), keep_newlines=True)}", err=True)
        raise typer.Exit(2) from None
    except SoarError as exc:
        typer.echo(f"error: {safe(redactor.text(str(exc)))}", err=True)
        raise typer.Exit(2) from None
    _finish(result, as_json, redactor)


def resume_cmd(
    run_log: Path = typer.Argument(..., help="The run log of the run to continue."),
    yes: bool = typer.Option(False, "--yes", help="Approve the run's writes."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
) -> None:
    """Continue an interrupted or approval-stopped run without repeating completed writes."""
    from engine.errors import SoarError
    from engine.registry import default_registry
    from engine.resume import resume_run

    redactor = make_redactor()
    try:
        result = resume_run(
            run_log,
            registry=default_registry(),
            approve=_approval(yes),
            protected_users=protected_users(),
            secrets=env_secrets(),
            on_event=Progress(redactor),
            redactor=redactor,
        )
    except SoarError as exc:
        typer.echo(f"error: {safe(redactor.text(str(exc)))}", err=True)
        raise typer.Exit(2) from None
    _finish(result, as_json, redactor)


def verify_cmd(
    run_log: Path = typer.Argument(..., help="The run log to check."),
    expect_hash: str | None = typer.Option(
        None, "--expect-hash", help="The final hash noted when the run ended."
    ),
) -> None:
    """Recompute a run log's hash chain: 0 intact, 1 tampered, 2 unreadable, 3 incomplete."""
    from engine.runlog import verify

    result = verify(run_log, expect_hash)
    typer.echo(f"{safe(run_log)}: {safe(result.message)}")
    raise typer.Exit(result.code)


def show_cmd(run_log: Path = typer.Argument(..., help="The run log to summarise.")) -> None:
    """A readable summary of a run: who, what, when, each step, writes, outputs."""
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


def show_lines(records: list[dict[str, Any]], integrity: str) -> list[str]:
    lines: list[str] = []
    for rec in records:
        kind = rec.get("type")
        if kind == "run.started":
            pb = rec.get("playbook", {})
            lines += [
                f"run {rec['run_id']}",
                f"  playbook   {pb.get('name')} ({pb.get('path')}, sha256 {str(pb.get('sha256'))[:16]}...)",
                f"  by         {rec.get('operator')} on {rec.get('host')} at {rec.get('ts')}",
                f"  tenant     {rec.get('tenant')}",
                f"  mode       {'dry run (writes planned only)' if rec.get('dry_run') else 'live'}",
                f"  inputs     {json.dumps(rec.get('inputs'), ensure_ascii=False)}",
                "steps:",
            ]
        elif kind == "run.resumed":
            lines.append(
                f"  -- resumed at {rec.get('ts')} ({rec.get('completed_writes')} writes already done)"
            )
        elif kind == "step.finished":
            err = f"  {rec['error']}" if rec.get("error") else ""
            lines.append(
                f"  {rec['status']:<10} {rec['step']:<24} {rec.get('duration_ms', 0) / 1000:.2f}s{err}"
            )
        elif kind == "action.planned":
            for call in rec.get("planned") or []:
                lines.append(
                    f"    planned  {call.get('method')} {call.get('path') or call.get('url')}  target {rec.get('target')}"
                )
        elif kind == "action.result":
            lines.append(
                f"    done     {rec['step']}[{rec.get('index')}]  {json.dumps(rec.get('result'), ensure_ascii=False)[:200]}"
            )
        elif kind == "action.failed":
            lines.append(f"    failed   {rec['step']}[{rec.get('index')}]  {rec.get('error')}")
        elif kind in ("approval.required", "approval.granted", "approval.denied"):
            lines.append(f"  {kind} for {rec.get('step')}")
        elif kind == "run.finished":
            lines.append(f"finished {rec.get('ts')}: {rec.get('status')}")
            if rec.get("error"):
                lines.append(f"  error: {rec['error']}")
            for k, v in (rec.get("outputs") or {}).items():
                lines.append(f"  output {k}: {json.dumps(v, ensure_ascii=False)[:500]}")
    lines.append(f"integrity: {integrity}")
    return lines


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("verify")(verify_cmd)
    app.command("show")(show_cmd)
    app.command("resume")(resume_cmd)
