"""``soar verify``: check a run log's integrity (exit codes: docs/run-log.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from engine.cli.output import safe


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


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_cmd)
