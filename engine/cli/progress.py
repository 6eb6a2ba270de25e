"""Progress on stderr: a live status line on a terminal, structured log events otherwise.

``LiveLine`` is the one progress reporter. It owns stderr's lines while work
is in progress: on a terminal a status line below the permanent lines shows
what runs (a step, an export), its elapsed time and the last progress event
it was fed (a page of a log search or an export: events, requests; a pacing
wait under the rate limit), redrawn
by a small daemon thread; every permanent line, log events included, clears
it first and redraws it after. Off a terminal nothing overwrites anything:
the same progress events are lines of the operational log (``engine.cli.oplog``).

``Progress`` is fed the run-log records (already redacted) through
``on_event`` and prints one permanent line per step result, write (live:
"blocked auth0|42: changed" or "already so"; dry: "would block auth0|42"),
retry and approval stop; a step starting sets the status line and is a
``step.started`` log event. Everything printed passes through the redactor
again and ``safe`` (no control characters from data).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from engine.audit.redact import Redactor
from engine.audit.view import run_mode
from engine.auth0.events import PAGE_EVENT, WAIT_EVENT
from engine.run.approval import approval_lines
from engine.textsafe import safe

if TYPE_CHECKING:
    from engine.actions.registry import ActionRegistry

STEP_STARTED = "step.started"
PROGRESS_EVENTS = frozenset({PAGE_EVENT, STEP_STARTED, WAIT_EVENT})  # what the status line shows
log = structlog.get_logger(__name__)
_MARKS = {"succeeded": "ok", "planned": "planned", "skipped": "skipped", "failed": "FAILED"}
SHOWN_TARGETS = 20
_NAME_DEPTH = 6  # events sit at most a few levels down in a step's output
_NAMES_PER_USER = 3
_NAME_CHARS = 200
SHOWN_WARNINGS = 5
_CLEAR = "\r\x1b[K"  # carriage return + erase line: our own escape, never from data


def step_warnings(output: Any) -> list[str]:
    """The ``warnings`` a step's (summarized) output carries, each once, the first few.

    A search that could not see its window (an offline file outside it, a
    window past Auth0's retention) says so here rather than looking all clear.
    """
    outputs = output if isinstance(output, list) else [output]
    if isinstance(output, dict) and output.get("truncated"):  # a summarized for_each list
        outputs = output.get("first") or []
    found: list[str] = []
    for out in outputs:
        warnings = out.get("warnings") if isinstance(out, dict) else None
        if isinstance(warnings, dict):  # a summarized list of warnings
            warnings = warnings.get("first")
        for w in warnings if isinstance(warnings, list) else []:
            if isinstance(w, str) and w not in found:
                found.append(w)
    return found[:SHOWN_WARNINGS]


class LiveLine:
    """Lines on ``stream`` (stderr), and on a terminal one status line below them (see the module doc)."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._lock = threading.RLock()
        self._current: tuple[str, float] | None = None  # what runs (terminal-safe), since when
        self._detail = ""
        self._paused = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def write(self, line: str) -> None:
        """One permanent line (the caller made it terminal-safe)."""
        with self._lock:
            if self.live:
                self.stream.write(_CLEAR)
            self.stream.write(line + "\n")
            self._draw()
            self.stream.flush()

    def status(self, label: str | None) -> None:
        """What is in progress now (terminal-safe text), or ``None`` when nothing is."""
        with self._lock:
            self._current = None if label is None else (label, time.monotonic())
            self._detail = ""

    def feed(self, event: Mapping[str, Any]) -> bool:
        """A log event; True when it is progress the status line now shows (it needs no line)."""
        if not self.live or event.get("event") not in PROGRESS_EVENTS:
            return False
        with self._lock:
            if self._current is None:
                return False
            if event.get("event") == PAGE_EVENT:
                self._detail = f": {event.get('events')} events, {event.get('requests')} requests"
            elif event.get("event") == WAIT_EVENT:
                self._detail = f"{self._detail.split(' (')[0]} (pacing {event.get('wait_s')}s)"
            return True

    def _draw(self) -> None:
        if not self.live or self._paused or self._current is None:
            return
        label, start = self._current
        self.stream.write(f"{_CLEAR}  ... {label}{self._detail} {time.monotonic() - start:.1f}s")

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            with self._lock:
                self._draw()
                self.stream.flush()

    def start(self) -> None:
        if self.live and self._ticker is None:
            self._stop = threading.Event()  # the one this ticker ends on
            self._ticker = threading.Thread(
                target=self._tick, args=(self._stop,), name="soar-progress", daemon=True
            )
            self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._ticker = None
            self._current = None
            if self.live:
                self.stream.write(_CLEAR)
                self.stream.flush()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the status line while the operator answers a prompt."""
        with self._lock:
            self._paused = True
            if self.live:
                self.stream.write(_CLEAR)
                self.stream.flush()
        try:
            yield
        finally:
            with self._lock:
                self._paused = False


@contextmanager
def showing(line: LiveLine, label: str) -> Iterator[LiveLine]:
    """``label`` (terminal-safe) on the status line while the block runs; cleared after."""
    line.start()
    line.status(label)
    try:
        yield line
    finally:
        line.stop()


def login_names(output: Any, found: dict[str, list[str]], depth: int = 0) -> None:
    """Add to ``found`` (user id -> names) the login names a step's output shows.

    Those of Auth0 log events (``user_id`` with ``user_name``) and of
    ``user_names`` mappings (user id -> name, as ``auth0.find_successful_logins``
    returns, which survive where a long list of events is cut). ``output`` is
    the step's output as its ``step.finished`` record keeps it, so these are
    the names the run log shows the run saw; a few per user are kept.
    """
    if depth > _NAME_DEPTH:
        return
    if isinstance(output, list):
        for item in output:
            login_names(item, found, depth + 1)
        return
    if not isinstance(output, Mapping):
        return
    pairs = [(output.get("user_id"), output.get("user_name"))]
    names = output.get("user_names")
    if isinstance(names, Mapping):
        pairs += list(names.items())
    for uid, name in pairs:
        if isinstance(uid, str) and uid and isinstance(name, str) and name:
            known = found.setdefault(uid, [])
            if name[:_NAME_CHARS] not in known and len(known) < _NAMES_PER_USER:
                known.append(name[:_NAME_CHARS])
    for value in output.values():
        login_names(value, found, depth + 1)


def planned_lines(rec: Mapping[str, Any], verbs: tuple[str, str] | None) -> list[str]:
    """What a dry run would do for one ``action.planned`` record, a line per target.

    "would block auth0|42" (the exact requests are in the run log and ``soar
    show``); a plan that sends nothing (the user is blocked already) says so
    rather than staying silent.
    """
    calls = [c for c in rec.get("planned") or [] if isinstance(c, Mapping)]
    if verbs is None:  # e.g. http.request: its method and URL say what it does
        return [f"would {c.get('method')} {c.get('path') or c.get('url')}" for c in calls]
    if not calls:
        return [f"would {verbs[0]} {rec.get('target')}: already so, nothing to send"]
    # an ACL call names the addresses it adds; a user's calls (sessions, tokens) name the user
    targets = dict.fromkeys(str(c.get("target") or rec.get("target")) for c in calls)
    return [f"would {verbs[0]} {target}" for target in targets]


def written_line(rec: Mapping[str, Any], target: str | None, verbs: tuple[str, str] | None) -> str:
    """One live write's line: what was done to which target, and whether it ``changed``.

    ``changed`` comes from the action's result: it compares the state it read
    before writing (a user already blocked, an address already in an ACL).
    """
    result = rec.get("result")
    result = result if isinstance(result, Mapping) else {}
    done = f"{verbs[1]} {target}" if verbs else f"{rec.get('action')} on {target}"
    changed = result.get("changed")
    if changed is True:
        return f"{done}: changed"
    if changed is False:
        return f"{done}: already so"
    if "status" in result:  # an HTTP request's answer
        return f"{done}: HTTP {result['status']}"
    return f"{done}: done"


class Progress:
    """Renders run-log records as progress on ``line`` (else a ``LiveLine`` on ``stream``)."""

    def __init__(
        self,
        redactor: Redactor,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        quiet: bool = False,
        line: LiveLine | None = None,
        actions: ActionRegistry | None = None,
    ) -> None:
        self.redactor = redactor
        self.line = line if line is not None else LiveLine(stream, live)
        self.quiet = quiet
        self.actions = actions
        self._lock = threading.Lock()
        self._sent: dict[str, str] = {}  # a write call's key -> its target, until its result
        self.seen: dict[str, list[str]] = {}  # user id -> user_names its log events showed

    # -- output ---------------------------------------------------------------
    def say(self, text: str) -> None:
        """A permanent line (terminal-safe, redacted)."""
        if not self.quiet:
            self.line.write(safe(self.redactor.text(text)))

    def start(self) -> None:
        if not self.quiet:
            self.line.start()

    def stop(self) -> None:
        if not self.quiet:
            self.line.stop()

    def paused(self) -> Any:
        """Hide the status line while the operator answers a prompt (a context manager)."""
        return self.line.paused()

    def _targets(self, targets: list[Any]) -> None:
        """The blast radius, one target a line (the first ``SHOWN_TARGETS``)."""
        for target in targets[:SHOWN_TARGETS]:
            self.say(f"    - {target}")
        if len(targets) > SHOWN_TARGETS:
            self.say(f"    ... and {len(targets) - SHOWN_TARGETS} more (see the run log)")

    def _verbs(self, rec: dict[str, Any]) -> tuple[str, str] | None:
        action = self.actions.get(str(rec.get("action"))) if self.actions else None
        return action.verbs if action else None

    # -- records --------------------------------------------------------------
    def __call__(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        if kind == "run.started":
            self.start()
            mode = run_mode(rec)
            name = (rec.get("playbook") or {}).get("name")
            self.say(f"run {rec['run_id']}: {name} ({mode}) on {rec.get('tenant')}")
            protected = rec.get("protected_users") or []
            self.say(
                f"  protected users (never written): {', '.join(map(str, protected))}"
                if protected
                else "  protected users: none (SOAR_PROTECTED_USERS is not set)"
            )
            addresses = rec.get("protected_ips") or []
            if addresses:
                self.say(f"  protected addresses (never blocked): {', '.join(map(str, addresses))}")
        elif kind == "run.resumed":
            self.start()
            self.say(
                f"resuming run {rec['run_id']} on {rec.get('tenant')} as {rec.get('operator')} "
                f"({rec.get('completed_writes', 0)} completed write(s) will not be sent again)"
            )
        elif kind == "step.started":
            n = rec.get("items")
            detail = f" ({rec.get('action')}{'' if n is None else f', {n} items'})"
            if not self.quiet:
                self.line.status(safe(self.redactor.text(f"{rec.get('step')}{detail}")))
            log.info(STEP_STARTED, step_id=rec.get("step"), action=rec.get("action"), items=n)
        elif kind == "step.finished":
            self.line.status(None)
            mark = _MARKS.get(str(rec.get("status")), str(rec.get("status")))
            ms = float(rec.get("duration_ms") or 0)
            took = f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"
            if rec.get("replayed"):  # a resume took it from the log: it fed writes already sent
                took = "(replayed from the log)"
            err = f": {rec['error']}" if rec.get("error") else ""
            self.say(f"  {mark:>8} {rec.get('step')} {took}{err}")
            for warning in step_warnings(rec.get("output")):
                self.say(f"           warning: {warning}")
            with self._lock:
                login_names(rec.get("output"), self.seen)
        elif kind == "action.planned":
            for line in planned_lines(rec, self._verbs(rec)):
                self.say(f"           {line}")
        elif kind == "action.call":  # its target, for the line its result gets
            with self._lock:
                self._sent[str(rec.get("call"))] = str(rec.get("target"))
        elif kind == "action.result":
            with self._lock:
                target = self._sent.pop(str(rec.get("call")), None)
            self.say(f"           {written_line(rec, target, self._verbs(rec))}")
        elif kind == "action.reused":
            self.say(f"           already done: {rec.get('action')} on {rec.get('target')}")
        elif kind == "action.retry":
            self.say(
                f"           retry {rec.get('attempt')} of {rec.get('step')} in "
                f"{rec.get('wait_s')}s: {rec.get('error')}"
            )
        elif kind == "approval.required":
            targets = rec.get("targets") or []
            if rec.get("reason") == "unknown_outcome":
                self.say(f"  outcome unknown for {rec.get('step')}: {len(targets)} write(s)")
                self._targets(targets)
            else:  # the same description the prompt shows: each call with its details
                self.say(f"  approval needed for {rec.get('step')}: {len(targets)} target(s)")
                for line in approval_lines(rec, SHOWN_TARGETS, self.seen)[1:]:
                    self.say(f"  {line}")
        elif kind == "approval.changed":
            from engine.audit.show import change_lines

            changes = rec.get("changes") or []
            self.say(f"  changed since shown for approval: {rec.get('step')}, {len(changes)}:")
            for line in change_lines(changes, SHOWN_TARGETS):
                self.say(f"  {line}")
        elif kind == "approval.granted":
            targets = rec.get("targets") or []
            self.say(f"  approved ({rec.get('by')}): {rec.get('step')} on {len(targets)} target(s)")
        elif kind == "action.refused":
            self.say(f"           refused {rec.get('target')}: {rec.get('reason')}")
        elif kind == "action.failed":
            self.say(
                f"           write {rec.get('step')}[{rec.get('index')}] failed: {rec.get('error')}"
            )
        elif kind == "run.finished":
            self.stop()
