"""The ``soar`` command line: thin. It parses arguments and calls the library.

Each command group lives in its own module with a ``register(app)`` function;
modules import what their command needs inside the command, so ``soar --help``
stays fast.

``main`` is the one error boundary (``engine.cli.output``): commands raise,
and whatever escapes becomes one line ``error: what (what to do)`` on stderr,
never a traceback, plus one JSON object on stdout under ``--json``. A
``SoarError`` or ``OSError`` (a setting, an input, a file) exits 2, as bad
usage does; anything else is a bug in soar and exits 1. ``SOAR_DEBUG=1``
shows the traceback of such a bug. Commands are registered once per process.
"""

from __future__ import annotations

import functools
import os
import sys
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


@functools.cache  # once per process: main() may be called again (tests, embedding)
def _register_commands() -> None:
    from engine.cli import commands

    for module in commands.MODULES:
        module.register(app)


@functools.cache  # once per process
def _collect_less() -> None:
    """Fewer garbage-collector passes: a run decodes events by the hundred thousand.

    Each event is a few dozen containers; at CPython's default (a pass every 700
    new containers, a full one ever so often) the collector walked the whole heap
    again and again while a triage read its events back, a third of its time. The
    objects the imports made are frozen (never walked again) and a young pass
    waits for 50,000 new containers; cycles are still collected.
    """
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code. The one error boundary (``output.report``).

    After a Temporal command (``soar worker``, ``soar approve``, ``soar run --engine
    temporal``) the process ends here, output flushed, without the interpreter's
    teardown: the SDK's Rust threads can crash it while it finalizes (a segfault
    after the result was shown; temporalio/sdk-python#300).
    """
    code = _main(argv)
    if argv is None:  # the process's own command line, which ends with it: the interpreter's
        # last collection would walk every object the command left (a triage's outputs:
        # half a second), and nothing it could free matters now
        import gc

        gc.freeze()
    spec = sys.modules.get("engine.temporal.spec")  # loaded only by a Temporal command
    if spec is not None and spec.sdk_used():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: list[str] | None) -> int:
    from typer.exceptions import TyperException

    from engine.cli.output import Reporting, report, report_usage, reporting_for

    _register_commands()
    _collect_less()
    args = sys.argv[1:] if argv is None else argv
    # what the command declares (--json, its redactor), for this call only; a usage error
    # comes before the command runs, so --json is then read from the arguments
    with reporting_for(Reporting(as_json="--json" in args)) as how:
        try:
            code = app(args=args, prog_name="soar", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        except typer.Abort:  # Ctrl-C or Ctrl-D that click caught first: interrupted
            return report(KeyboardInterrupt(), how)
        except TyperException as exc:  # click's usage errors: an unknown option, no argument
            return report_usage(exc, how)
        except (Exception, KeyboardInterrupt) as exc:  # no traceback reaches the operator
            return report(exc, how)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
