"""A run log as the renderers read it (``soar report``, ``soar show``, the run header)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def run_mode(started: Mapping[str, Any]) -> str:
    """How a run met the tenant, from its ``run.started`` record (report, show, run header).

    A run with ``--logs`` searched a file and sent nothing: it is never "live".
    """
    if started.get("logs_file"):
        return f"offline ({started['logs_file']}): writes are only planned"
    if started.get("dry_run"):
        return "DRY RUN: writes are only planned"
    return "live"
