"""The rows of a run's report tables, raw: each renderer escapes them for its medium.

The Markdown report (``engine.audit.report``) and the HTML one
(``engine.audit.htmlreport``) show the same steps, approvals and writes from
the same records; only the escaping differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.audit.view import run_mode


@dataclass(frozen=True)
class StepRow:
    """A finished step: when, which, how it ended, how long it took, its error if any."""

    ts: Any
    step: Any
    status: Any
    duration: str
    note: Any


@dataclass(frozen=True)
class ApprovalRow:
    """An approval event: requested, granted or denied, by whom, for which targets."""

    ts: Any
    step: Any
    event: str
    by: Any
    targets: str


@dataclass(frozen=True)
class WriteRow:
    """A write the run planned, sent (with its result) or refused (with the reason)."""

    kind: str  # "planned", "done" or "refused"
    ts: Any
    step: Any
    action: Any
    target: Any
    outcome: Any


def mode_of(started: Mapping[str, Any], written: int) -> tuple[str, str]:
    """The run's mode (from data: escape it) and soar's note on it; "nothing was changed"
    only when the log records no write at all (``written``: ``writes_recorded``)."""
    mode = run_mode(started)
    if mode == "live":
        return mode, ""
    if written == 0:
        return mode, ", nothing was changed"
    return mode, f", yet the log records {written} write(s) sent: see Writes"


def step_rows(records: Iterable[Mapping[str, Any]]) -> list[StepRow]:
    return [
        StepRow(
            r.get("ts"),
            r.get("step"),
            r.get("status"),
            f"{(r.get('duration_ms') or 0) / 1000:.2f}s",
            r.get("error") or "",
        )
        for r in records
        if r.get("type") == "step.finished"
    ]


def approval_rows(records: Iterable[Mapping[str, Any]]) -> list[ApprovalRow]:
    return [
        ApprovalRow(
            r.get("ts"),
            r.get("step"),
            str(r.get("type")).removeprefix("approval."),
            r.get("by") or r.get("reason") or "",
            ", ".join(map(str, r.get("targets") or [])),
        )
        for r in records
        if str(r.get("type", "")).startswith("approval.")
    ]


def write_rows(records: Iterable[Mapping[str, Any]]) -> list[WriteRow]:
    """Planned writes, then the writes sent (each with its result or failure), then refusals."""
    records = list(records)
    results: dict[tuple[Any, Any], Any] = {}
    for r in records:
        if r.get("type") == "action.result":
            results[(r.get("step"), r.get("index"))] = r.get("result")
        elif r.get("type") == "action.failed":
            results[(r.get("step"), r.get("index"))] = f"failed: {r.get('error')}"
    rows = []
    for kind, rtype in (
        ("planned", "action.planned"),
        ("done", "action.call"),
        ("refused", "action.refused"),
    ):
        for r in records:
            if r.get("type") != rtype:
                continue
            if kind == "done":
                result = results.get((r.get("step"), r.get("index")), "no result logged")
            else:
                result = r.get("planned" if kind == "planned" else "reason")
            rows.append(
                WriteRow(kind, r.get("ts"), r.get("step"), r.get("action"), r.get("target"), result)
            )
    return rows
