"""Progress of a run on stderr: a live status line on a terminal, plain lines otherwise.

It is fed the run-log records (already redacted) through ``on_event`` and
prints one permanent line per step result, planned write, retry and approval
stop. On a terminal a status line below them shows the running step and its
elapsed time, redrawn by a small daemon thread. Everything printed passes
through the redactor again and ``safe`` (no control characters from data).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from engine.audit.redact import Redactor
from engine.audit.view import run_mode
from engine.run.approval import approval_lines
from engine.textsafe import safe

_MARKS = {"succeeded": "ok", "planned": "planned", "skipped": "skipped", "failed": "FAILED"}
SHOWN_TARGETS = 20
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


class Progress:
    """Renders run-log records as progress on ``stream`` (stderr)."""

    def __init__(
        self,
        redactor: Redactor,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        quiet: bool = False,
    ) -> None:
        self.redactor = redactor
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.quiet = quiet
        self._lock = threading.RLock()
        self._current: tuple[str, float, str] | None = None  # step, start, detail
        self._paused = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- output ---------------------------------------------------------------
    def say(self, text: str) -> None:
        """A permanent line (terminal-safe, redacted)."""
        if self.quiet:
            return
        with self._lock:
            line = safe(self.redactor.text(text))
            if self.live:
                self.stream.write(_CLEAR)
            self.stream.write(line + "\n")
            self._draw()
            self.stream.flush()

    def _draw(self) -> None:
        if not self.live or self._paused or self._current is None:
            return
        step, start, detail = self._current
        text = safe(self.redactor.text(f"  ... {step}{detail} {time.monotonic() - start:.1f}s"))
        self.stream.write(_CLEAR + text)

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                self._draw()
                self.stream.flush()

    def start(self) -> None:
        if self.live and not self.quiet and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="soar-progress", daemon=True)
            self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._current = None
            if self.live and not self.quiet:
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

    def _targets(self, targets: list[Any]) -> None:
        """The blast radius, one target a line (the first ``SHOWN_TARGETS``)."""
        for target in targets[:SHOWN_TARGETS]:
            self.say(f"    - {target}")
        if len(targets) > SHOWN_TARGETS:
            self.say(f"    ... and {len(targets) - SHOWN_TARGETS} more (see the run log)")

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
            with self._lock:
                self._current = (str(rec.get("step")), time.monotonic(), detail)
            if not self.live:
                self.say(f"  > {rec.get('step')}{detail}")
        elif kind == "step.finished":
            with self._lock:
                self._current = None
            mark = _MARKS.get(str(rec.get("status")), str(rec.get("status")))
            ms = float(rec.get("duration_ms") or 0)
            took = f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"
            if rec.get("replayed"):  # a resume took it from the log: it fed writes already sent
                took = "(replayed from the log)"
            err = f": {rec['error']}" if rec.get("error") else ""
            self.say(f"  {mark:>8} {rec.get('step')} {took}{err}")
            for warning in step_warnings(rec.get("output")):
                self.say(f"           warning: {warning}")
        elif kind == "action.planned":
            for call in rec.get("planned") or []:
                where = call.get("path") or call.get("url")
                self.say(f"           would {call.get('method')} {where}")
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
                for line in approval_lines(rec, SHOWN_TARGETS)[1:]:
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
