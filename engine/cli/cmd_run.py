"""``soar run``, ``soar show``, ``soar resume`` (``soar verify``: ``cmd_verify``).

Exit codes of run and resume: 0 succeeded, 1 a step failed, 2 bad playbook,
inputs or usage, 3 stopped awaiting approval, 130 interrupted (Ctrl-C: the log
is left incomplete, resumable). Human output goes to stderr;
``--json`` prints exactly one JSON object on stdout. The log is signed with
``--signing-key``, ``SOAR_SIGNING_KEY_FILE`` or ``SOAR_SIGNING_KEY`` (``cmd_keys``).

Environment: ``SOAR_SECRET_<NAME>`` becomes ``secrets.<name>`` (name
lower-cased) in templates, an opaque value only ``http.request`` unwraps;
``SOAR_PROTECTED_USERS`` lists user ids, emails or usernames no write may touch;
``SOAR_HTTP_READ_HOSTS`` the hosts a lookup (``http.request`` with
``effect: read``) may reach in a dry or offline run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from engine.textsafe import json_text, safe

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.audit.redact import Redactor
    from engine.cli.progress import Progress
    from engine.playbook.model import Playbook
    from engine.run.approval import ApprovalRequest, Approve
    from engine.run.executor import RunResult

EXIT = {"succeeded": 0, "failed": 1, "awaiting_approval": 3}
INTERRUPTED = 130  # the shell's code for SIGINT; not a step failure (1)
SECRET_PREFIX = "SOAR_SECRET_"  # noqa: S105 -- an environment variable prefix, not a secret
MAX_SHOWN_TARGETS = 50
SIGNING_KEY_HELP = (
    "Sign the run log with this private key file (else SOAR_SIGNING_KEY_FILE or SOAR_SIGNING_KEY)."
)


def env_secrets() -> dict[str, str]:
    """``SOAR_SECRET_<NAME>`` -> ``secrets.<name>`` (lower-cased); empty values ignored.

    Raises ``ConfigError`` naming a variable whose value is too weak to be
    masked safely (``engine.audit.redact.check_secret``).
    """
    from engine.audit.redact import check_secret

    found = {
        k: v
        for k, v in os.environ.items()
        if k.startswith(SECRET_PREFIX) and len(k) > len(SECRET_PREFIX) and v
    }
    for k, v in sorted(found.items()):
        check_secret(k, v)
    return {k[len(SECRET_PREFIX) :].lower(): v for k, v in found.items()}


def make_redactor() -> Redactor:
    """The redactor of this command, also wired into structlog (configured here only)."""
    import structlog

    from engine.audit.redact import Redactor, check_secret
    from engine.run.executor import ENV_SECRETS

    configured = {k: os.environ[k] for k in ENV_SECRETS if os.environ.get(k)}
    for name, value in configured.items():  # refused now, not when the client is first built
        check_secret(name, value)
    redactor = Redactor([*env_secrets().values(), *configured.values()])

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


def check_domain() -> None:
    """Refuse a malformed or credential-carrying ``AUTH0_DOMAIN`` before a run log is opened."""
    from engine.auth0.settings import base_url

    domain = os.environ.get("AUTH0_DOMAIN", "").strip()
    if domain:
        base_url(domain)


def _protected_ips() -> list[str]:
    from engine.run.guardrails import PROTECTED_IPS_ENV, parse_protected_ips

    return parse_protected_ips(os.environ.get(PROTECTED_IPS_ENV))


def _protected() -> list[str]:
    from engine.run.guardrails import PROTECTED_ENV, parse_protected

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
    """Show the blast radius of one write step, call by call, and ask the operator."""
    from engine.run.approval import approval_lines

    lines = approval_lines(request.content(), MAX_SHOWN_TARGETS)
    typer.echo("", err=True)
    for line in lines:  # user names and URLs are data: redacted, then made terminal-safe
        typer.echo(safe(redactor.text(line)), err=True)
    return typer.confirm("Apply these writes?", default=False, err=True)


def read_inputs(playbook: Playbook, pairs: list[str], inputs_file: Path | None) -> dict[str, Any]:
    """``--inputs FILE`` (YAML or JSON mapping) overlaid by ``-i KEY=VALUE`` (converted)."""
    from engine.errors import InputError
    from engine.playbook.inputs import convert_cli
    from engine.playbook.source import load_yaml

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
    from engine.audit.runlog import jsonable

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
        typer.echo(redactor.text(json_text(doc)))
    elif result.outputs:
        typer.echo("outputs:", err=True)
        for k, v in result.outputs.items():
            text = json.dumps(redactor.value(jsonable(v)), ensure_ascii=False)
            if len(text) > 2000:
                text = text[:2000] + f"... ({len(text)} chars; see the run log)"
            typer.echo(f"  {safe(k)}: {safe(redactor.text(text))}", err=True)
    waiting = status == "awaiting_approval"
    written = _writes_in(result.run_log)
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
            f"{_written(written, result.run_log)}; approve and continue with: soar resume "
            f"{safe(result.run_log)} --yes",
            err=True,
        )
    elif result.dry_run:
        typer.echo(f"dry run: {_written(written, result.run_log)}", err=True)
    raise typer.Exit(EXIT.get(status, 1))


def _written(count: int | None, run_log: Path) -> str:
    """What the run log shows was written: said from its records, never from the flags."""
    if count is None:
        return "the run log cannot be read to tell what was written"
    if count == 0:
        return "nothing was written"
    return f"{count} write(s) were sent (see: soar show {safe(run_log)})"


def _writes_in(run_log: Path) -> int | None:
    """The writes the run log records (``None``: it cannot be read, so nothing is claimed)."""
    from engine.audit.records import writes_recorded
    from engine.audit.runlog import read_records
    from engine.errors import RunLogError

    try:
        return writes_recorded(read_records(run_log))
    except (RunLogError, OSError):
        return None


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
    playbook: Annotated[Path, typer.Argument(help="The playbook to run.")],
    inputs: Annotated[
        list[str],
        typer.Option("-i", "--input", help="KEY=VALUE, converted to the input's declared type."),
    ] = [],
    inputs_file: Annotated[
        Path | None, typer.Option("--inputs", help="A YAML or JSON mapping of inputs.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Reads run; writes are only planned.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Approve the run's writes.")] = False,
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Where the run log goes.")] = Path(
        "runs"
    ),
    logs: Annotated[
        Path | None,
        typer.Option(
            "--logs", help="Search this exported log file instead of a tenant (writes planned)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    signing_key: Annotated[
        Path | None, typer.Option("--signing-key", help=SIGNING_KEY_HELP)
    ] = None,
) -> None:
    """Run a playbook against the tenant in AUTH0_* (or a log file), with a run log."""
    from engine.actions.registry import default_registry
    from engine.cli.cmd_keys import load_signer, say_signing
    from engine.cli.progress import Progress
    from engine.errors import PlaybookError
    from engine.playbook.loader import load_playbook
    from engine.run.executor import run_playbook

    redactor = make_redactor()
    if logs is None:
        check_domain()
    registry = default_registry()
    try:
        pb = load_playbook(playbook, registry)
    except PlaybookError as exc:
        for issue in exc.issues:
            typer.echo(safe(issue.format()), err=True)
        raise typer.Exit(2) from None
    if logs is not None and not logs.is_file():
        _fail(redactor, f"--logs {logs}: no such file")
    signer = load_signer(signing_key, redactor)
    say_signing(signer)
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
            protected_ips=_protected_ips(),
            secrets=env_secrets(),
            on_event=tracker,
            redactor=redactor,
            signer=signer,
        ),
        tracker,
        redactor,
        as_json,
    )


def resume_cmd(
    run_log: Annotated[Path, typer.Argument(help="The run log of the run to continue.")],
    yes: Annotated[bool, typer.Option("--yes", help="Approve the run's writes.")] = False,
    resend_unknown: Annotated[
        bool,
        typer.Option(
            "--resend-unknown",
            help="Send again the writes cut off in flight (outcome unknown); check them first.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    signing_key: Annotated[
        Path | None, typer.Option("--signing-key", help=SIGNING_KEY_HELP)
    ] = None,
) -> None:
    """Continue an interrupted or approval-stopped run (same tenant), never repeating a write."""
    from engine.actions.registry import default_registry
    from engine.cli.cmd_keys import load_signer, say_signing
    from engine.cli.progress import Progress
    from engine.run.resume import resume_run

    redactor = make_redactor()
    check_domain()
    signer = load_signer(signing_key, redactor)
    say_signing(signer, resuming=run_log)
    progress = Progress(redactor)
    tracker = _LogPath(progress)
    tracker.path = run_log
    _drive(
        lambda: resume_run(
            run_log,
            registry=default_registry(),
            approve=_approval(yes, progress),
            protected_users=_protected(),
            protected_ips=_protected_ips(),
            secrets=env_secrets(),
            on_event=tracker,
            redactor=redactor,
            resend_unknown=resend_unknown,
            signer=signer,
        ),
        tracker,
        redactor,
        as_json,
    )


def show_cmd(run_log: Annotated[Path, typer.Argument(help="The run log to summarise.")]) -> None:
    """A readable summary of a run: who ran what, when, inputs, steps, writes, outputs."""
    from engine.audit.show import render_lines
    from engine.errors import RunLogError

    try:
        lines = render_lines(run_log)
    except RunLogError as exc:
        typer.echo(f"error: {safe(exc)}", err=True)
        raise typer.Exit(2) from None
    for line in lines:
        typer.echo(safe(line))


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("show")(show_cmd)
    app.command("resume")(resume_cmd)
