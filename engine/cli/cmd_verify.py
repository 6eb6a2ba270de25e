"""``soar verify``: check a run log's chain and signatures (verdicts: docs/run-log.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from engine.textsafe import safe


def verify_cmd(
    run_log: Annotated[Path, typer.Argument(help="The run log to check.")],
    expect_hash: Annotated[
        str | None, typer.Option("--expect-hash", help="The final hash printed when the run ended.")
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The signer's public key file (else SOAR_VERIFY_KEY); a signature is then required.",
        ),
    ] = None,
    require_signature: Annotated[
        bool,
        typer.Option(
            "--require-signature",
            help="Fail (exit 2) unless a public key is given to check the signature with.",
        ),
    ] = False,
) -> None:
    """Check a run log: 0 intact and complete, 1 tampered, 2 unreadable, 3 incomplete."""
    from engine.audit.runlog import verify
    from engine.audit.signing import VERIFY_ENV, verifier_from
    from engine.errors import UsageError

    verifier = verifier_from(public_key, os.environ)
    if require_signature and verifier is None:
        raise UsageError(
            f"--require-signature needs the signer's public key: --public-key FILE "
            f"or {VERIFY_ENV} (a signature can only be checked with it)"
        )
    result = verify(run_log, expect_hash, verifier)
    typer.echo(f"{safe(run_log)}: {safe(result.message)}")
    raise typer.Exit(result.code)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_cmd)
