"""``soar worker`` and ``soar approve``; ``soar run --engine temporal`` submits (``cmd_run``).

Temporal's SDK is imported only inside these commands (the ``temporal``
extra): ``soar --help`` and the local engine never load it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.cmd_run import SIGNING_KEY_HELP
from engine.cli.output import json_requested

TEMPORAL_HELP = "The Temporal frontend, HOST:PORT."
NAMESPACE_HELP = "The Temporal namespace."
QUEUE_HELP = "The task queue (one per tenant: its workers hold its credentials)."


def worker_cmd(
    temporal: Annotated[str, typer.Option("--temporal", help=TEMPORAL_HELP)],
    namespace: Annotated[str, typer.Option("--namespace", help=NAMESPACE_HELP)] = "default",
    task_queue: Annotated[str, typer.Option("--task-queue", help=QUEUE_HELP)] = "soar",
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Where run logs go: storage every worker shares.")
    ] = Path("runs"),
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            help="Activities (action calls, run-log appends) at once on this worker.",
        ),
    ] = 16,
    rate: Annotated[
        float | None,
        typer.Option(
            "--max-per-second",
            help="Temporal's task-queue rate limit: activities started per second, all workers.",
        ),
    ] = None,
    signing_key: Annotated[
        Path | None, typer.Option("--signing-key", help=SIGNING_KEY_HELP)
    ] = None,
) -> None:
    """Run playbook runs submitted to a Temporal task queue (soar run --engine temporal)."""
    from engine.temporal.spec import require_sdk

    require_sdk()
    import asyncio

    from engine.actions import default_registry
    from engine.cli.cmd_keys import load_signer, say_signing
    from engine.cli.cmd_run import (
        check_domain,
        env_secrets,
        make_redactor,
        protected_ips,
        protected_users,
    )
    from engine.temporal.settings import WorkerSettings
    from engine.temporal.worker import serve

    check_domain()
    redactor = make_redactor()
    signer = load_signer(signing_key, redactor)
    say_signing(signer)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = WorkerSettings(
        run_dir=run_dir.resolve(),
        registry=default_registry(),
        redactor=make_redactor,
        secrets=env_secrets(),
        protected_users=protected_users(),
        protected_ips=protected_ips(),
        signer=signer,
    )

    def ready() -> None:
        typer.echo(
            f"worker {os.getpid()} polling {task_queue!r} at {temporal} "
            f"(namespace {namespace!r}), run logs in {run_dir}",
            err=True,
        )

    asyncio.run(
        serve(
            temporal,
            settings,
            namespace=namespace,
            task_queue=task_queue,
            concurrency=concurrency,
            max_per_second=rate,
            on_ready=ready,
        )
    )


def approve_cmd(
    run_id: Annotated[str, typer.Argument(help="The id of the waiting run.")],
    yes: Annotated[bool, typer.Option("--yes", help="Grant the writes it waits for.")] = False,
    deny: Annotated[bool, typer.Option("--deny", help="Refuse them: nothing is written.")] = False,
    temporal: Annotated[str, typer.Option("--temporal", help=TEMPORAL_HELP)] = "localhost:7233",
    namespace: Annotated[str, typer.Option("--namespace", help=NAMESPACE_HELP)] = "default",
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Where the run logs are (the workers' storage).")
    ] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Decide for a run waiting for approval under Temporal, then follow it."""
    from engine.errors import UsageError

    json_requested(as_json)
    if yes == deny:
        raise UsageError("give exactly one of --yes and --deny")
    from engine.temporal.spec import require_sdk

    require_sdk()
    from engine.actions import default_registry
    from engine.cli.cmd_run import LogPath, drive, make_redactor
    from engine.cli.oplog import live_line
    from engine.cli.progress import Progress
    from engine.run.approval import Decision
    from engine.run.state import operator_name
    from engine.temporal.client import decide

    redactor = make_redactor()
    progress = Progress(redactor, line=live_line(), actions=default_registry())
    tracker = LogPath(progress, remote=True)
    tracker.path = run_dir / f"{run_id}.jsonl"
    decision = Decision(yes, operator_name(), datetime.now(UTC).isoformat())
    drive(
        lambda: decide(
            run_id,
            decision,
            address=temporal,
            namespace=namespace,
            run_dir=run_dir.resolve(),
            on_event=tracker,
        ),
        tracker,
        redactor,
        as_json,
    )


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_cmd)
    app.command("approve")(approve_cmd)
