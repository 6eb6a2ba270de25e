"""A run log as the renderers read it (``soar report``, ``soar show``, the run header)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.audit.records import read_records
from engine.audit.verify import VerifyResult, verify
from engine.errors import RunLogError


@dataclass(frozen=True)
class RunView:
    """A run log read whole: its records, its ``run.started``, its last ``run.finished``
    (empty while the run has none) and what ``soar verify`` says of it."""

    records: list[dict[str, Any]]
    started: dict[str, Any]
    finished: dict[str, Any]
    check: VerifyResult


def read_run(path: str | Path) -> RunView:
    """The run log at ``path``; ``RunLogError`` when it is unreadable or not a run log."""
    records = read_records(Path(path))
    if not records:
        raise RunLogError(f"{path}: no records (not a run log, or cut before its first record)")
    started = next((r for r in records if r.get("type") == "run.started"), None)
    if started is None:
        raise RunLogError(f"{path}: not a soar run log (no run.started record)")
    finished = [r for r in records if r.get("type") == "run.finished"]
    return RunView(records, started, finished[-1] if finished else {}, verify(path))


def run_mode(started: Mapping[str, Any]) -> str:
    """How a run met the tenant, from its ``run.started`` record (report, show, run header).

    A run with ``--logs`` searched a file and sent nothing: it is never "live".
    """
    if started.get("logs_file"):
        return f"offline ({started['logs_file']}): writes are only planned"
    if started.get("dry_run"):
        return "DRY RUN: writes are only planned"
    return "live"
