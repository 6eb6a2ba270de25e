"""The ``soar`` command line: thin. It parses arguments and calls the library.

Each command group lives in its own module with a ``register(app)`` function;
modules import what their command needs inside the command, so ``soar --help``
stays fast.
"""

from __future__ import annotations

import sys

import typer

from engine import __version__

app = typer.Typer(
    name="soar",
    help="Incident-response playbooks for Auth0: validate, run, dry-run, verify, drill.",
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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Incident-response playbooks for Auth0."""


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
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
