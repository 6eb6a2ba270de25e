"""``soar serve``: the endpoint of an Auth0 custom-webhook log stream (docs/serve.md).

The token comes from ``--token`` or ``SOAR_STREAM_TOKEN`` (two
comma-separated tokens are both accepted, for rotation); without one, serve
refuses to start unless ``--host`` is loopback and ``--insecure-no-token`` is
given. The tokens and ``SOAR_NOTIFY_WEBHOOK`` are secrets: masked in every
log line and error. Responses use the tenant settings ``soar run`` uses
(``AUTH0_*``, or the emulator's env file sourced), ``SOAR_PROTECTED_USERS``
and ``SOAR_PROTECTED_IPS``. With ``--engine temporal`` each incident's
response is a workflow run by ``soar worker`` (``engine.serve.durable``):
``--run-dir`` is then the workers' shared run folder as this host mounts it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.cmd_run import SIGNING_KEY_HELP, TemporalAddress, TemporalNamespace
from engine.cli.environ import NOTIFY_ENV, TOKEN_ENV, VIEWER_ENV
from engine.serve.limits import MAX_BODY, QUEUE_EVENTS

RESPOND = ("dry-run", "auto")


def stream_tokens(
    option: str | None, environ: dict[str, str] | None = None, name: str = TOKEN_ENV
) -> list[str]:
    """The accepted tokens: ``--token`` or ``SOAR_STREAM_TOKEN`` (``name``), comma-separated,
    blanks dropped."""
    text = option if option is not None else (environ or dict(os.environ)).get(name, "")
    return [t.strip() for t in text.split(",") if t.strip()]


def serve_cmd(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default; put TLS in front).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 8787,
    token: Annotated[
        str | None,
        typer.Option(
            help=f"The Authorization value the stream sends (else {TOKEN_ENV}; "
            "two comma-separated tokens are both accepted)."
        ),
    ] = None,
    viewer_token: Annotated[
        str | None,
        typer.Option(
            "--viewer-token",
            help=f"A token that may read the /incidents pages only (else {VIEWER_ENV}); "
            "the stream token may read them too.",
        ),
    ] = None,
    insecure_no_token: Annotated[
        bool,
        typer.Option(
            "--insecure-no-token", help="Accept batches without a token (loopback --host only)."
        ),
    ] = False,
    detections: Annotated[
        list[Path],
        typer.Option("--detections", help="A folder (or file) of detection rules; repeatable."),
    ] = [],
    state: Annotated[
        Path, typer.Option(help="Where the stored events and incidents are kept (SQLite).")
    ] = Path("soar-state"),
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Where the responses' run logs go.")
    ] = Path("runs"),
    respond: Annotated[
        str,
        typer.Option(
            help="dry-run (default): every response is a dry run; auto: rules with "
            "respond: auto write within their max_targets."
        ),
    ] = "dry-run",
    queue_events: Annotated[
        int,
        typer.Option(
            "--queue-events",
            min=1,
            help="Events stored but not yet detected before batches get 503 + Retry-After.",
        ),
    ] = QUEUE_EVENTS,
    signing_key: Annotated[
        Path | None, typer.Option("--signing-key", help=SIGNING_KEY_HELP)
    ] = None,
    max_body: Annotated[
        int, typer.Option("--max-body", min=1024, help="Bytes of one batch at most (else 413).")
    ] = MAX_BODY,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local (responses run in this process) or temporal (each incident a "
            "workflow on soar worker; docs/serve.md).",
        ),
    ] = "local",
    temporal: TemporalAddress = None,
    namespace: TemporalNamespace = "default",
    task_queue: Annotated[
        str,
        typer.Option(
            "--task-queue", help="With --engine temporal: the task queue of the tenant's workers."
        ),
    ] = "soar",
) -> None:
    """Receive an Auth0 log stream, run the detections, open incidents, start responses."""
    from engine.audit.redact import check_secret
    from engine.bundled import bundled_dir
    from engine.cli.cmd_keys import load_signer
    from engine.cli.cmd_run import (
        check_domain,
        env_secrets,
        make_redactor,
        protected_ips,
        protected_users,
    )
    from engine.errors import UsageError
    from engine.httpguard import is_loopback
    from engine.secrets import Secret

    if respond not in RESPOND:
        raise UsageError(f"--respond {respond!r}: use dry-run or auto")
    if engine not in ("local", "temporal"):
        raise UsageError(f"--engine {engine}: give local or temporal")
    if (engine == "temporal") != (temporal is not None):
        raise UsageError(
            "--engine temporal needs --temporal HOST:PORT, and --temporal needs --engine temporal"
        )
    if engine == "temporal" and signing_key is not None:
        raise UsageError(
            "--engine temporal takes no --signing-key: the workers run and sign the responses "
            "(soar worker --signing-key)"
        )
    if engine == "temporal":
        from engine.temporal.spec import require_sdk

        require_sdk()
    redactor = make_redactor()
    tokens = stream_tokens(token)
    for value in tokens:
        redactor.add(value)
    for value in tokens:
        check_secret("the stream token (--token or SOAR_STREAM_TOKEN)", value)
    viewers = stream_tokens(viewer_token, name=VIEWER_ENV)
    for value in viewers:
        redactor.add(value)
    for value in viewers:
        check_secret("the viewer token (--viewer-token or SOAR_VIEWER_TOKEN)", value)
    if not tokens and not insecure_no_token:
        raise UsageError(
            f"no stream token: give --token T or set {TOKEN_ENV} to the Authorization value "
            "configured on the Auth0 log stream (or, on a loopback --host only, "
            "--insecure-no-token)"
        )
    if not tokens and not is_loopback(host):
        raise UsageError(
            f"--insecure-no-token is refused on --host {host}: it is allowed on a loopback "
            "address only; give the stream's token"
        )
    webhook = os.environ.get(NOTIFY_ENV, "").strip()
    if webhook:
        redactor.add(webhook)
    check_domain()
    signer = load_signer(signing_key, redactor)
    from engine.serve.detect import Detector
    from engine.serve.rules import load_rules
    from engine.serve.server import Options, serve

    rules = load_rules(detections or [bundled_dir("detections")])
    options = Options(
        host=host,
        port=port,
        tokens=[Secret(TOKEN_ENV, t) for t in tokens],
        viewers=[Secret(VIEWER_ENV, t) for t in viewers],
        state=state,
        run_dir=run_dir,
        respond=respond,
        protected_users=protected_users(),
        protected_ips=protected_ips(),
        secrets=env_secrets(),
        webhook=Secret(NOTIFY_ENV, webhook) if webhook else None,
        queue_events=queue_events,
        max_body=max_body,
        signer=signer,
        redactor=redactor,
        temporal=temporal,
        namespace=namespace,
        task_queue=task_queue,
    )
    serve(options, rules, Detector(rules))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
