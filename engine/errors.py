"""The one error hierarchy of soar.

Every error a user can meet derives from ``SoarError``; its message says what
went wrong, where, and what to do. Nothing here carries a secret: messages are
built from settings *names*, never their values. The errors of files an
operator wrote (a playbook, inputs, a drill) carry their problems as data: a
list of ``engine.issues.Issue``, each with a stable ``SOAR`` code::

    SoarError
    ├── UsageError           a command asked for what it cannot do (options that clash, a file)
    ├── ConfigError          a setting is missing or unsafe (AUTH0_DOMAIN, ...)
    │   ├── EmulatorError    an emulator setting out of range (scenario, size, rates)
    │   └── TemporalError    the Temporal server cannot be reached or refused a request
    ├── InvalidError         what the operator wrote is invalid; carries its issues
    │   ├── PlaybookError    a playbook cannot be loaded or is invalid
    │   ├── InputError       run inputs do not match the playbook's declared inputs
    │   ├── DrillError       a drill file cannot be loaded
    │   └── DetectionError   detection rules cannot be loaded or are invalid
    ├── DateError            a text that is not a date (YYYY-MM-DD, optionally a time)
    ├── TemplateError        an expression does not parse, fails, or breaks the sandbox
    ├── QueryError           a log query Auth0 would reject (unsearchable field, bad wildcard)
    ├── LogFileError         a log file that cannot be read as Auth0 log events
    │   └── DamagedCache     a cache's database file failed a checksum (removed: run again)
    ├── BatchError           a log-stream batch soar serve cannot read (answered 400)
    ├── RunLogError          a run log cannot be read or resumed
    │   └── RunLogBusy       another process is writing the run log (it may end: try later)
    ├── DuplicateActionError an action name registered twice
    └── ActionError          an action failed; the executor turns it into a failed step
        ├── StepTimeout      a step ran longer than its ``timeout``
        ├── GuardrailError   a write refused: too many targets, a protected user
        ├── DryRunViolation  a write attempted while the run is a dry run
        └── UpstreamError    an HTTP peer answered with an error (method, path, status, message)
            └── RateLimitError   rate-limited beyond the wait budget
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.issues import Issue


class SoarError(Exception):
    """Base of every error soar raises on purpose."""


class UsageError(SoarError):
    """A command asked for what it cannot do: options that do not go together, a missing file."""


class ConfigError(SoarError):
    """A setting is missing, malformed or unsafe; the message names the setting."""


class EmulatorError(ConfigError):
    """The emulator cannot start or be fed as asked (unknown scenario, a rate out of range)."""


class TemporalError(ConfigError):
    """The Temporal server (``--temporal HOST:PORT``) cannot be reached or refused a request."""


class InvalidError(SoarError):
    """Something the operator wrote is invalid; ``issues`` holds every problem, as data."""

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(message)
        self.issues = list(issues)


class PlaybookError(InvalidError):
    """A playbook could not be loaded or failed validation."""


class InputError(InvalidError):
    """Run inputs do not match the playbook's declared inputs."""


class DrillError(InvalidError):
    """A drill file that cannot be loaded or run."""


class DetectionError(InvalidError):
    """Detection rules (``detections/*.yaml``) that cannot be loaded or are invalid."""


class DateError(SoarError):
    """A text that is not a date in ``timeutil.read_date``'s grammar; the message says why."""


class TemplateError(SoarError):
    """A template failed to compile or render, or tried to leave the sandbox.

    ``lineno`` is the line inside the template text, when known.
    """

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


class QueryError(SoarError):
    """A log search query that Auth0 would reject."""


class LogFileError(SoarError):
    """A log file that cannot be read as Auth0 log events."""


class DamagedCache(LogFileError):
    """A block of a cache's database file failed DuckDB's checksum; its entries are removed."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the cache this run read is damaged ({reason}); it is removed: run again to "
            "read the file afresh (or with --no-cache)"
        )
        self.reason = reason


class BatchError(SoarError):
    """A log-stream batch that cannot be read: the reason, with its line or item, quoting no data."""


class RunLogError(SoarError):
    """A run log that cannot be read, verified or resumed."""


class RunLogBusy(RunLogError):
    """Another process holds the run log's lock: trying again once it ends may succeed."""


class DuplicateActionError(SoarError):
    """An action name registered twice."""


class ActionError(SoarError):
    """An action failed. Raised inside actions; becomes a failed step."""


class StepTimeout(ActionError):
    """A step ran longer than its ``timeout``."""


class GuardrailError(ActionError):
    """A write was refused by a guardrail (max_targets, protected users)."""


class DryRunViolation(ActionError):
    """A non-GET request was attempted during a dry run."""


class UpstreamError(ActionError):
    """An HTTP peer answered with an error status.

    Carries the method, the path (never a query string holding secrets), the
    status, and the peer's own ``message`` / ``errorCode`` when it sent them.
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        message: str,
        error_code: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.upstream_message = message
        self.error_code = error_code
        self.hint = hint
        where = f"{method} {path}"
        status_text = f"HTTP {status}" if status is not None else "no response"
        code = f" [{error_code}]" if error_code else ""
        text = f"{where} failed: {status_text}{code}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class RateLimitError(UpstreamError):
    """Still rate-limited after the client's wait budget was spent."""
