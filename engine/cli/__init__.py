"""The ``soar`` command line: thin. It parses arguments and calls the library.

Each command group lives in its own module with a ``register(app)`` function;
modules import what their command needs inside the command, so ``soar --help``
stays fast.

``main`` is the one error boundary: whatever a command lets escape becomes
one line ``error: what (what to do)`` on stderr, never a traceback. A
``SoarError`` or ``OSError`` (a setting, an input, a file) exits 2, as bad
usage does; anything else is a bug in soar and exits 1. ``SOAR_DEBUG=1``
shows the traceback of such a bug.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from engine import __version__

HELP = """Incident-response playbooks for Auth0: validate, run, dry-run, verify, drill.

\b
Operational log (what soar is doing: steps, Auth0 pages, waits, retries,
refused requests) goes to stderr, secrets masked, never to stdout:
  --log-format console|json  or SOAR_LOG_FORMAT (default console; json is one
                             object per line, with run_id and step_id)
  SOAR_LOG_LEVEL             debug, info (default), warning or error
It is not the audit run log (runs/<run_id>.jsonl, see soar verify).
On a terminal, progress (steps, pages, pacing waits) is a live line instead.
"""

app = typer.Typer(
    name="soar",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"soar {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            metavar="console|json",
            help="The operational log on stderr: console (default) or json (SOAR_LOG_FORMAT).",
        ),
    ] = None,
) -> None:
    """Incident-response playbooks for Auth0."""
    from engine.cli import oplog

    oplog.select(log_format)  # checked before any command runs: a bad value exits 2


def _register_commands() -> None:
    from engine.cli import commands

    for module in commands.MODULES:
        module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    _register_commands()
    try:
        app(args=argv, prog_name="soar", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # the boundary: no traceback reaches the operator
        return _report(exc)
    return 0


def _report(exc: Exception) -> int:
    """Print ``exc`` as one ``error:`` line; the exit code it deserves."""
    from engine.errors import SoarError

    if isinstance(exc, SoarError):
        _error(str(exc))
        return 2
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename is not None else ""
        _error(f"{where}{exc.strerror or exc} (check the path exists and can be used)")
        return 2
    if os.environ.get("SOAR_DEBUG") == "1":
        traceback.print_exception(exc)
    _error(
        f"internal error: {type(exc).__name__}: {exc} (a bug in soar: please report it "
        "with the command that caused it; SOAR_DEBUG=1 shows the traceback)"
    )
    return 1


def _error(message: str) -> None:
    """One ``error:`` line on stderr, terminal-safe, secrets of the environment masked."""
    from engine.audit.redact import Redactor
    from engine.run.state import ENV_SECRETS
    from engine.textsafe import safe

    names = [k for k in os.environ if k.startswith("SOAR_SECRET_") or k in ENV_SECRETS]
    text = Redactor(os.environ[k] for k in names).text(message)
    sys.stderr.write(f"error: {safe(text, keep_newlines=True)}\n")
    sys.stderr.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
