"""The operational log: one structlog pipeline, configured here and nowhere else.

What soar is doing, for the operator and a log collector: the connector's
retries, waits, pages and refused requests, steps starting, progress. It is
not the audit run log (``engine.audit.runlog``, ``runs/<run_id>.jsonl``), which
records what a run did and is hash-chained; this log is only stderr and is
never read back. Engine modules only call ``structlog.get_logger(__name__)``.
The root command checks the settings (``select``: cheap, so ``soar validate``
stays fast); the pipeline is built (``configure``) by the first command that
needs it, through ``redactor()`` or ``live_line()``: every command that runs
engine code (``cmd_run.make_redactor``) does so before that code can log.

The pipeline, each event in turn::

    contextvars (run_id, step_id) -> level, logger name, timestamp -> exception as text
    -> progress (on a terminal the live line shows it instead) -> redact every value
    -> json | console -> redact the text, terminal-safe -> one line on stderr

``--log-format`` (else ``SOAR_LOG_FORMAT``) picks ``console`` (the default:
readable, every control character escaped with ``engine.textsafe.safe``) or
``json`` (one ASCII JSON object per line). ``SOAR_LOG_LEVEL`` sets the level
(``info`` by default). The redactor masks ``SOAR_SECRET_*``,
``AUTH0_CLIENT_SECRET``, ``AUTH0_TOKEN`` and, being the one a run's client
reports to, every token obtained while the run goes on. stdout is never
written: ``--json`` output stays one object.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from engine.audit.redact import Redactor
from engine.errors import ConfigError
from engine.textsafe import safe

if TYPE_CHECKING:
    from engine.cli.progress import LiveLine

FORMAT_ENV = "SOAR_LOG_FORMAT"
LEVEL_ENV = "SOAR_LOG_LEVEL"
FORMATS = ("console", "json")
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

Event = MutableMapping[str, Any]


@dataclass(frozen=True)
class _Setup:
    redactor: Redactor
    line: LiveLine
    fmt: str


# the global state, in this module only: the settings chosen, then the pipeline built
_chosen: tuple[str, int] | None = None
_setup: _Setup | None = None


def log_format(option: str | None, environ: Mapping[str, str]) -> str:
    """``--log-format`` if given, else ``SOAR_LOG_FORMAT``, else console; a bad value is a ``ConfigError``."""
    where, value = ("--log-format", option) if option is not None else (FORMAT_ENV, None)
    if value is None:
        value = environ.get(FORMAT_ENV, "").strip() or "console"
    if value.lower() not in FORMATS:
        raise ConfigError(f"{where} {safe(value)!r} is not a log format (use json or console)")
    return value.lower()


def log_level(environ: Mapping[str, str]) -> int:
    """``SOAR_LOG_LEVEL`` (debug, info, warning, error; default info)."""
    value = environ.get(LEVEL_ENV, "").strip() or "info"
    if value.lower() not in LEVELS:
        raise ConfigError(
            f"{LEVEL_ENV} {safe(value)!r} is not a log level (use debug, info, warning or error)"
        )
    return LEVELS[value.lower()]


def select(option: str | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Check and keep the format and level (``--log-format``, ``SOAR_LOG_FORMAT``, ``SOAR_LOG_LEVEL``); ``ConfigError`` if bad."""
    global _chosen
    env = os.environ if environ is None else environ
    _chosen = (log_format(option, env), log_level(env))


def configure(stream: TextIO | None = None, live: bool | None = None) -> None:
    """Build the pipeline (see the module docstring) with the settings ``select`` kept.

    ``stream`` (default stderr) and ``live`` (default: whether it is a
    terminal) are there for tests.
    """
    import structlog

    from engine.cli.environ import env_redactor
    from engine.cli.progress import LiveLine

    global _setup
    if _chosen is None:
        select()
    assert _chosen is not None
    fmt, level = _chosen
    redactor, line = env_redactor(os.environ), LiveLine(stream, live)
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )

    def progress(_logger: Any, _method: str, event: Event) -> Event:
        # on a terminal's readable log the live line shows progress: no line per page
        if line.feed(event) and fmt == "console":
            raise structlog.DropEvent
        return event

    def render(logger: Any, method: str, event: Event) -> str:
        text = redactor.text(renderer(logger, method, event))  # a form values hide (an escape)
        if fmt == "json":  # JSON escapes every control character but DEL
            return text.replace("\x7f", "\\u007f")
        # console quotes (repr) a value with a control character or a newline, so data
        # cannot forge a line; safe() escapes whatever else is left; a traceback keeps its lines
        return safe(text, keep_newlines=True)

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # tracebacks become text, then get redacted
            progress,
            redactor.processor,
            *([_ordered] if fmt == "json" else []),  # console orders its own
            render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *args: _Sink(line, str(args[0]) if args else "soar"),
        cache_logger_on_first_use=False,  # a later configure (tests) takes effect everywhere
    )
    _setup = _Setup(redactor, line, fmt)


def _current() -> _Setup:
    if _setup is None:  # a command called without the root callback (a test): defaults
        configure()
    assert _setup is not None
    return _setup


def redactor() -> Redactor:
    """The redactor of the log pipeline: pass it to the run, so tokens it learns are masked here too."""
    return _current().redactor


def live_line() -> LiveLine:
    """The stderr writer the log shares with the progress line."""
    return _current().line


class _Sink:
    """The logger at the end of the pipeline: each rendered event is one line through the live line."""

    def __init__(self, line: LiveLine, name: str) -> None:
        self.line = line
        self.name = name

    def msg(self, message: str) -> None:
        self.line.write(message)

    log = debug = info = warn = warning = err = error = critical = fatal = exception = msg


def _logger_name(logger: Any, _method: str, event: Event) -> Event:
    event.setdefault("logger", getattr(logger, "name", "soar"))
    return event


FIRST = ("timestamp", "level", "event", "logger", "run_id", "step_id")


def _ordered(_logger: Any, _method: str, event: Event) -> Event:
    """The keys a reader looks for first, in this order."""
    return {**{k: event[k] for k in FIRST if k in event}, **event}


def _json(event: Any, **_kw: Any) -> str:
    return json.dumps(event, ensure_ascii=True, default=str, separators=(",", ":"))


def reset() -> None:
    """Forget the settings and the pipeline (tests that configure a stream of their own)."""
    import structlog

    global _chosen, _setup
    _chosen = _setup = None
    structlog.reset_defaults()


__all__ = ["FORMATS", "configure", "live_line", "log_format", "redactor", "reset", "select"]
