"""How a failure reaches the operator: the one error boundary of ``engine.cli.main``.

Commands do not print their own errors: they raise, and ``report`` turns what
escaped into one terminal-safe ``error:`` line on stderr, secrets masked, and
the documented exit code (docs/errors.md). A command with ``--json`` says so
first (``json_requested``); a failure then also prints exactly one JSON object
on stdout: ``{"status": "invalid", "problems": [...]}`` for what the operator
wrote (a playbook, inputs, a drill file), ``{"status": "failed", "error": ...}``
for anything else.

What a command declares (``Reporting``) is held in a context variable that
``main`` sets for the one call (``reporting_for``): nothing outlives it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.textsafe import json_text, safe

if TYPE_CHECKING:
    from typer.exceptions import TyperException

    from engine.audit.redact import Redactor

EXIT_USAGE = 2  # a SoarError or OSError: bad playbook, inputs, settings, usage or file
EXIT_BUG = 1  # anything else is a bug in soar
EXIT_INTERRUPTED = 130  # the shell's code for SIGINT


@dataclass
class Reporting:
    """What the running command told the boundary: ``--json``, and its redactor."""

    as_json: bool = False
    redactor: Redactor | None = None


_REPORTING: ContextVar[Reporting | None] = ContextVar("soar_reporting", default=None)


@contextmanager
def reporting_for(how: Reporting) -> Iterator[Reporting]:
    """``how`` is what the commands run inside this block declare to."""
    token = _REPORTING.set(how)
    try:
        yield how
    finally:
        _REPORTING.reset(token)


def reporting() -> Reporting:
    """The ``Reporting`` of the command being run (a throwaway one outside ``main``)."""
    return _REPORTING.get() or Reporting()


def json_requested(as_json: bool) -> None:
    """A command's ``--json``: a failure is then also one JSON object on stdout."""
    reporting().as_json = as_json


def use_redactor(redactor: Redactor) -> None:
    """The command's redactor (it knows the secrets it met), used for whatever fails."""
    reporting().redactor = redactor


def report(exc: BaseException, how: Reporting) -> int:
    """Print ``exc`` as one ``error:`` line (and the ``--json`` object); its exit code."""
    from engine.errors import InvalidError, SoarError

    if isinstance(exc, KeyboardInterrupt):
        _emit(how, "interrupted", {"status": "interrupted"})
        return EXIT_INTERRUPTED
    if isinstance(exc, InvalidError):
        problems = [i.to_json() for i in exc.issues] or [_problem(str(exc))]
        _emit(how, str(exc), {"status": "invalid", "problems": problems})
        return EXIT_USAGE
    if isinstance(exc, SoarError):
        _emit(how, str(exc), {"status": "failed", "error": str(exc)})
        return EXIT_USAGE
    if isinstance(exc, OSError):
        text = os_error_text(exc)
        _emit(how, text, {"status": "failed", "error": text})
        return EXIT_USAGE
    if os.environ.get("SOAR_DEBUG") == "1":
        traceback.print_exception(exc)
    text = (
        f"internal error: {type(exc).__name__}: {exc} (a bug in soar: please report it "
        "with the command that caused it; SOAR_DEBUG=1 shows the traceback)"
    )
    _emit(how, text, {"status": "failed", "error": text})
    return EXIT_BUG


def report_usage(exc: TyperException, how: Reporting) -> int:
    """Click's usage error (usage and ``Error: ...`` on stderr, as click prints it); its code."""
    show = getattr(exc, "show", None)
    if callable(show):
        show()
    else:
        sys.stderr.write(f"Error: {exc.format_message()}\n")
    if how.as_json:
        problem = {
            **_problem(exc.format_message()),
            "where": "command line",
            "hint": "see soar --help, or soar COMMAND --help",
        }
        sys.stdout.write(json_text({"status": "invalid", "problems": [problem]}) + "\n")
        sys.stdout.flush()
    return int(getattr(exc, "exit_code", EXIT_USAGE))


def os_error_text(exc: OSError) -> str:
    """An OS error in words: the file, what went wrong, what to do."""
    if exc.filename is None:
        return str(exc.strerror or exc)
    return f"{exc.filename}: {exc.strerror or exc} (check the path exists and can be used)"


def _problem(message: str) -> dict[str, Any]:
    """A problem reported without an issue (none was collected): its message alone."""
    return {"code": None, "severity": "error", "where": None, "message": message, "hint": None}


def _emit(how: Reporting, message: str, doc: dict[str, Any]) -> None:
    from engine.cli.environ import env_redactor

    # a failure before the command built its own: the environment's secrets, masked
    redactor = how.redactor or env_redactor(os.environ)
    if how.as_json:
        # values redacted before dumping (escaping hides a secret's plain form), text after
        sys.stdout.write(redactor.text(json_text(redactor.value(doc))) + "\n")
        sys.stdout.flush()
    sys.stderr.write(f"error: {safe(redactor.text(message), keep_newlines=True)}\n")
    sys.stderr.flush()
