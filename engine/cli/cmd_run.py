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

from engine.cli.environ import SECRET_PREFIX
from engine.cli.output import json_requested, use_redactor
from engine.textsafe import ascii_json, json_text, safe

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from engine.audit.redact import Redactor
    from engine.cli.progress import Progress
    from engine.playbook.model import Playbook
    from engine.run.approval import ApprovalRequest, Approve
    from engine.run.state import Auth0Factory, RunResult

EXIT = {"succeeded": 0, "failed": 1, "awaiting_approval": 3}
INTERRUPTED = 130  # the shell's code for SIGINT; not a step failure (1)
MAX_SHOWN_TARGETS = 50
SIGNING_KEY_HELP = (
    "Sign the run log with this private key file (else SOAR_SIGNING_KEY_FILE or SOAR_SIGNING_KEY)."
)
# where --engine temporal sends its work: soar run's and soar serve's own options
TemporalAddress = Annotated[
    str | None, typer.Option("--temporal", help="With --engine temporal: HOST:PORT.")
]
TemporalNamespace = Annotated[
    str, typer.Option("--namespace", help="With --engine temporal: the namespace.")
]
# The end of `soar run --help` and `soar resume --help`: what a script can rely on. "\b"
# keeps a paragraph as written (the help formatter would re-wrap it).
EXIT_CODES = (
    ("0", "succeeded (a dry run too: it wrote nothing)"),
    ("1", "a step failed, a target was refused or an output did not render"),
    ("2", "bad playbook, inputs, settings or usage: nothing was run"),
    ("3", "stopped before a write, awaiting approval: soar resume RUNLOG --yes"),
    (str(INTERRUPTED), "interrupted (Ctrl-C): the run log can be resumed"),
)
ENVIRONMENT = (
    ("AUTH0_DOMAIN", "the tenant: acme.eu.auth0.com, or a full URL"),
    ("AUTH0_CLIENT_ID", "the Machine-to-Machine application's client id"),
    ("AUTH0_CLIENT_SECRET", "its client secret (never logged nor shown)"),
    ("AUTH0_AUDIENCE", "token audience (default <base URL>/api/v2/)"),
    ("AUTH0_TOKEN", "a ready Management API token instead"),
    ("SSL_CERT_FILE", "a CA bundle to trust (from soar emulator --tls)"),
    ("SOAR_PROTECTED_USERS", "user ids, emails or usernames no write touches"),
    ("SOAR_PROTECTED_IPS", "addresses or CIDRs no write blocks"),
    (f"{SECRET_PREFIX}<NAME>", "secrets.<name> in templates (only http.request)"),
    ("SOAR_HTTP_READ_HOSTS", "hosts a lookup may reach in a dry run"),
    ("SOAR_HTTP_TIMEOUT", "seconds per request to the tenant (default 30)"),
    ("SOAR_HTTP_MAX_CONNECTIONS", "connections to the tenant (default 10)"),
    ("SOAR_SIGNING_KEY_FILE", "sign the run log with this private key file"),
    ("SOAR_SIGNING_KEY", "... or with this key itself (text)"),
    ("SOAR_VERIFY_KEY", "the public key for soar verify"),
    ("SOAR_CACHE_DIR", "where read --logs files are cached (default .soar-cache)"),
    ("SOAR_DUCKDB_MEMORY", "memory the event store holds before it spills (400MB)"),
    ("SOAR_LOG_FORMAT", "the operational log on stderr: console (default) or json"),
    ("SOAR_LOG_LEVEL", "debug, info (default), warning or error"),
    ("SOAR_DEBUG", "1: print the traceback of an internal error"),
    (
        "SOAR_STREAM_TOKEN",
        "the log stream's token: soar serve (two, comma-separated), soar emulator --stream-to",
    ),
    ("SOAR_VIEWER_TOKEN", "soar serve: a token that may read the /incidents pages (a secret)"),
    ("SOAR_NOTIFY_WEBHOOK", "soar serve: post incidents to this webhook (a secret)"),
)


def _table(rows: tuple[tuple[str, str], ...]) -> str:
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(f"  {name:<{width}}{text}" for name, text in rows)


RUN_EPILOG = f"Exit codes:\n\n\b\n{_table(EXIT_CODES)}\n\nEnvironment:\n\n\b\n{_table(ENVIRONMENT)}"


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
    """The operational log's redactor (``engine.cli.oplog``), once the configured secrets pass.

    Given to the run, it learns every token the client obtains, so the log,
    the terminal and the run log mask the same values.
    """
    from engine.audit.redact import check_secret
    from engine.cli import oplog
    from engine.run.state import ENV_SECRETS

    configured = {k: os.environ[k] for k in ENV_SECRETS if os.environ.get(k)}
    for name, value in configured.items():  # refused now, not when the client is first built
        check_secret(name, value)
    env_secrets()  # the same check for SOAR_SECRET_*
    redactor = oplog.redactor()
    use_redactor(redactor)  # whatever fails from here on is masked with it too
    return redactor


def check_domain() -> None:
    """Refuse a malformed or credential-carrying ``AUTH0_DOMAIN`` before a run log is opened."""
    from engine.auth0.settings import base_url

    domain = os.environ.get("AUTH0_DOMAIN", "").strip()
    if domain:
        base_url(domain)


def check_tenant(playbook: Playbook, logs: Path | None, redactor: Redactor) -> Auth0Factory | None:
    """``AUTH0_*`` checked and the tenant reached before the run starts; the run's client factory.

    Only for a playbook that uses the Auth0 connector (its ``auth0.*`` actions)
    and no ``--logs`` file in the tenant's place: the others need no settings.
    A ``ConfigError`` here means no run log is created (docs/errors.md).
    """
    if logs is not None or not any(step.uses.startswith("auth0.") for step in playbook.steps):
        return None
    from engine.auth0.preflight import checked_factory

    return checked_factory(redactor.add)


def protected_ips() -> list[str]:
    """``SOAR_PROTECTED_IPS``: addresses or CIDRs no address write may block."""
    from engine.run.guardrails import PROTECTED_IPS_ENV, parse_protected_ips

    return parse_protected_ips(os.environ.get(PROTECTED_IPS_ENV))


def protected_users() -> list[str]:
    """``SOAR_PROTECTED_USERS``: user ids, emails or usernames no write may touch."""
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
                return prompt_approval(request, progress.redactor, progress.seen)
            except (typer.Abort, EOFError):  # Ctrl-D / Ctrl-C at the prompt: a "no"
                return False

    return ask


def prompt_approval(
    request: ApprovalRequest, redactor: Redactor, seen: Mapping[str, Sequence[str]] | None = None
) -> bool:
    """Show the blast radius of one write step, call by call, and ask the operator.

    Each user as its record says (id, email, username, name) and, where the
    record differs, as the run's log events showed it (``seen``); the tenant.
    """
    from engine.run.approval import approval_lines

    lines = approval_lines(request.content(), MAX_SHOWN_TARGETS, seen)
    typer.echo("", err=True)
    for line in lines:  # user names and URLs are data: redacted, then made terminal-safe
        typer.echo(safe(redactor.text(line)), err=True)
    return typer.confirm("Apply these writes?", default=False, err=True)


def read_inputs(playbook: Playbook, pairs: list[str], inputs_file: Path | None) -> dict[str, Any]:
    """``--inputs FILE`` (YAML or JSON mapping) overlaid by ``-i KEY=VALUE`` (converted).

    Raises ``InputError`` carrying every problem (YAML problems of the file at
    their line, SOAR505-507 for the rest).
    """
    from engine.issues import Code, Issue, Location
    from engine.playbook.inputs import convert_cli, input_issue, inputs_error
    from engine.playbook.source import load_yaml

    values: dict[str, Any] = {}
    problems: list[Issue] = []
    if inputs_file is not None:
        where = Location(f"--inputs {inputs_file}")
        # the playbook loader's YAML: safe, bounded (size, aliases, nesting), dates kept as text
        try:
            raw = inputs_file.read_bytes()
        except OSError as exc:
            hint = "give a YAML or JSON file that exists and can be read"
            issue = Issue(
                "error", f"cannot read it: {exc.strerror}", where, hint, code=Code.INPUTS_FILE
            )
            raise inputs_error([issue]) from None
        src, issues = load_yaml(raw, str(inputs_file))
        if issues:
            raise inputs_error(issues)
        if not isinstance(src.data, dict):
            hint = "e.g. since: 24h"
            message = "expected a mapping of input names"
            raise inputs_error([Issue("error", message, where, hint, code=Code.INPUTS_FILE)])
        values.update({str(k): v for k, v in src.data.items()})
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(
                Issue(
                    "error",
                    f"{pair!r} is not KEY=VALUE",
                    Location("-i"),
                    "use -i KEY=VALUE",
                    code=Code.INPUT_SYNTAX,
                )
            )
            continue
        spec = playbook.inputs.get(key)
        try:
            values[key] = convert_cli(spec, text) if spec is not None else text
        except ValueError as exc:
            problems.append(input_issue(key, Code.INPUT_CONVERSION, str(exc)))
    if problems:
        raise inputs_error(problems)
    return values


def _finish(result: RunResult, as_json: bool, redactor: Redactor) -> NoReturn:
    from engine.audit.runlog import jsonable

    status = result.status
    if as_json:
        typer.echo(_json_out(result_json(result), redactor))
    elif result.outputs:
        typer.echo("outputs:", err=True)
        for k, v in result.outputs.items():
            text = json.dumps(redactor.json_value(jsonable(v)), ensure_ascii=False)
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


def _json_out(doc: dict[str, Any], redactor: Redactor) -> str:
    """The ``--json`` line of ``doc``: values redacted before dumping (escaping hides a
    secret's plain form), text after.

    A run's outputs can be megabytes of events: when their text is standard JSON that
    holds no form of a secret (nothing to redact in the values), it is made ASCII as
    it is (``ascii_json``) rather than decoded, copied and encoded again.
    """
    from engine.audit.runlog import jsonable, standard_text

    text = standard_text(doc)
    if text is not None and not redactor.in_json(text):
        return redactor.text(ascii_json(text))
    return redactor.text(json_text(redactor.json_value(jsonable(doc))))


def result_json(result: RunResult) -> dict[str, Any]:
    """The ``--json`` object of a run that ended (docs/errors.md): the run, and why it stopped.

    ``error`` when it failed; ``awaiting`` (step, action, targets) when it stopped
    for approval, read from the run log's last ``approval.required`` or
    ``approval.denied`` record: what the run saw, not what the flags imply.
    """
    doc: dict[str, Any] = {
        "run_id": result.run_id,
        "status": result.status,
        "dry_run": result.dry_run,
        "outputs": result.outputs,
        "run_log": str(result.run_log),
        "final_hash": result.final_hash,
    }
    if result.error:
        doc["error"] = result.error.replace("RUNLOG", str(result.run_log))
    if result.status == "awaiting_approval":
        doc["awaiting"] = _awaiting(result.run_log)
    return doc


def _awaiting(run_log: Path) -> dict[str, Any] | None:
    """The step, action and targets the run stopped for (None: the log cannot tell)."""
    from engine.audit.records import awaited
    from engine.audit.runlog import read_records
    from engine.errors import RunLogError

    try:
        return awaited(read_records(run_log))
    except (RunLogError, OSError):
        return None


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


class LogPath:
    """Remembers the run log a run writes (from its first record), for the Ctrl-C message."""

    def __init__(
        self, progress: Progress, run_dir: Path | None = None, *, remote: bool = False
    ) -> None:
        self.progress = progress
        self.run_dir = run_dir
        self.path: Path | None = None
        self.remote = remote  # a Temporal run: Ctrl-C stops following it, not the run

    def __call__(self, rec: dict[str, Any]) -> None:
        if self.path is None and self.run_dir is not None:
            self.path = self.run_dir / f"{rec['run_id']}.jsonl"
        self.progress(rec)

    def interrupted(self, as_json: bool = False) -> NoReturn:
        """Ctrl-C: the log stays incomplete (no run.finished) and can be resumed."""
        self.progress.stop()
        if as_json:
            run_log = str(self.path) if self.path else None
            typer.echo(json_text({"status": "interrupted", "run_log": run_log}))
        where = safe(self.path) if self.path else "RUNLOG"
        if self.remote:
            typer.echo(
                f"\nstopped following: the run goes on on the Temporal workers; its log is "
                f"{where} (soar show {where})",
                err=True,
            )
            raise typer.Exit(INTERRUPTED)
        typer.echo(
            f"\ninterrupted: the run log {where} is incomplete; writes already sent are "
            f"recorded. Continue with: soar resume {where}",
            err=True,
        )
        raise typer.Exit(INTERRUPTED)


def drive(
    start: Callable[[], RunResult], tracker: LogPath, redactor: Redactor, as_json: bool
) -> NoReturn:
    """Run or resume, then report: Ctrl-C and the exit code (errors: ``main``'s boundary)."""
    try:
        result = start()
    except KeyboardInterrupt:
        tracker.interrupted(as_json)
    except Exception:
        tracker.progress.stop()  # the live line ends before the boundary's error line
        raise
    _finish(result, as_json, redactor)


def run_cmd(
    playbook: Annotated[Path, typer.Argument(help="The playbook to run.")],
    inputs: Annotated[
        list[str],
        typer.Option(
            "-i",
            "--input",
            metavar="KEY=VALUE",
            help="An input, converted to its declared type (-i block=true); repeatable.",
        ),
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
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Read the --logs file afresh; neither use nor write .soar-cache/."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    signing_key: Annotated[
        Path | None, typer.Option("--signing-key", help=SIGNING_KEY_HELP)
    ] = None,
    engine: Annotated[
        str,
        typer.Option("--engine", help="local (this process) or temporal (workers: soar worker)."),
    ] = "local",
    temporal: TemporalAddress = None,
    namespace: TemporalNamespace = "default",
    task_queue: Annotated[
        str, typer.Option("--task-queue", help="With --engine temporal: the task queue.")
    ] = "soar",
    approval_timeout: Annotated[
        str,
        typer.Option(
            "--approval-timeout",
            help="With --engine temporal: how long a run waits for soar approve (then denied).",
        ),
    ] = "24h",
    heartbeat: Annotated[
        float,
        typer.Option(
            "--heartbeat-timeout",
            min=1.0,
            help="With --engine temporal: seconds a silent worker keeps the run before another takes it.",
        ),
    ] = 10.0,
) -> None:
    """Run a playbook against the tenant in AUTH0_* (or a log file), with a run log."""
    from engine.actions import default_registry
    from engine.cli.cmd_keys import load_signer, say_signing
    from engine.cli.oplog import live_line
    from engine.cli.progress import Progress
    from engine.errors import UsageError
    from engine.playbook.inputs import check_inputs
    from engine.playbook.loader import load_playbook
    from engine.run.executor import run_playbook

    json_requested(as_json)
    if engine not in ("local", "temporal"):
        raise UsageError(f"--engine {engine}: give local or temporal")
    remote = engine == "temporal"
    if remote and (temporal is None or signing_key is not None):
        raise UsageError(
            "--engine temporal needs --temporal HOST:PORT, and takes no --signing-key "
            "(the workers sign: soar worker --signing-key)"
        )
    redactor = make_redactor()
    if logs is None and not remote:
        check_domain()
    registry = default_registry()
    pb = load_playbook(playbook, registry)
    if logs is not None:
        from engine.logs.files import not_a_file

        if (what := not_a_file(logs)) is not None:
            raise UsageError(f"--logs {logs}: {what} (give an exported log file)")
    values = check_inputs(pb.inputs, read_inputs(pb, inputs, inputs_file))
    progress = Progress(redactor, line=live_line(), actions=registry)
    tracker = LogPath(progress, run_dir, remote=remote)
    if remote:
        assert temporal is not None
        drive(
            lambda: _submit(
                pb,
                values,
                address=temporal,
                namespace=namespace,
                task_queue=task_queue,
                run_dir=run_dir,
                dry_run=dry_run,
                yes=yes,
                logs=logs,
                cache=not no_cache,
                approval_timeout=approval_timeout,
                heartbeat=heartbeat,
                progress=tracker,
            ),
            tracker,
            redactor,
            as_json,
        )
    signer = load_signer(signing_key, redactor)
    auth0_factory = check_tenant(pb, logs, redactor)  # last: it may wait for the network
    say_signing(signer)
    drive(
        lambda: run_playbook(
            pb,
            values,
            registry=registry,
            auth0_factory=auth0_factory,
            dry_run=dry_run,
            approve=_approval(yes, progress),
            run_dir=run_dir,
            logs_file=logs,
            cache=not no_cache,
            protected_users=protected_users(),
            protected_ips=protected_ips(),
            secrets=env_secrets(),
            on_event=tracker,
            redactor=redactor,
            signer=signer,
        ),
        tracker,
        redactor,
        as_json,
    )


def _submit(
    pb: Playbook,
    values: dict[str, Any],
    *,
    address: str,
    namespace: str,
    task_queue: str,
    run_dir: Path,
    dry_run: bool,
    yes: bool,
    logs: Path | None,
    cache: bool,
    approval_timeout: str,
    heartbeat: float,
    progress: Callable[[dict[str, Any]], None],
) -> RunResult:
    """``soar run --engine temporal``: the run's workflow started, followed to its end or stop."""
    from engine.temporal.spec import require_sdk

    require_sdk()
    from engine.run.state import new_run_id, operator_name
    from engine.temporal.client import submit_and_follow
    from engine.temporal.spec import RunSpec
    from engine.timeutil import parse_duration

    spec = RunSpec(
        run_id=new_run_id(),
        playbook=str(Path(pb.path).resolve()),
        sha256=pb.sha256,
        inputs=values,
        operator=operator_name(),
        dry_run=dry_run,
        yes=yes,
        logs_file=str(logs.resolve()) if logs else None,
        cache=cache,
        protected_users=protected_users(),
        protected_ips=protected_ips(),
        approval_timeout_s=parse_duration(approval_timeout).total_seconds(),
        heartbeat_s=heartbeat,
    )
    return submit_and_follow(
        spec,
        address=address,
        namespace=namespace,
        task_queue=task_queue,
        run_dir=run_dir.resolve(),
        on_event=progress,
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
    from engine.actions import default_registry
    from engine.cli.cmd_keys import load_signer, say_signing
    from engine.cli.oplog import live_line
    from engine.cli.progress import Progress
    from engine.run.resume import resume_run

    json_requested(as_json)
    redactor = make_redactor()
    check_domain()
    signer = load_signer(signing_key, redactor)
    say_signing(signer, resuming=run_log)
    registry = default_registry()
    progress = Progress(redactor, line=live_line(), actions=registry)
    tracker = LogPath(progress)
    tracker.path = run_log
    drive(
        lambda: resume_run(
            run_log,
            registry=registry,
            approve=_approval(yes, progress),
            protected_users=protected_users(),
            protected_ips=protected_ips(),
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

    for line in render_lines(run_log):
        typer.echo(safe(line))


def register(app: typer.Typer) -> None:
    app.command("run", epilog=RUN_EPILOG)(run_cmd)
    app.command("show")(show_cmd)
    app.command("resume", epilog=RUN_EPILOG)(resume_cmd)
