"""The CLI's failure exit: one terminal-safe ``error:`` line."""

from __future__ import annotations

from typing import NoReturn

import typer

from engine.textsafe import safe


def fail(message: object, code: int = 2) -> NoReturn:
    """Print ``error: message`` (terminal-safe) on stderr and exit with ``code``."""
    typer.echo(f"error: {safe(message, keep_newlines=True)}", err=True)
    raise typer.Exit(code)
