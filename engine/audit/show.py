"""``soar show``: a run log as readable lines, one per event, in the order they happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.audit.view import read_run, run_mode
from engine.depth import dumps

_SHOWN = 20  # changes listed in a stop message; the approval.changed record has them all


def _short_json(value: Any, limit: int) -> str:
    text = dumps(value)  # depth-bounded: a record's value may be hostile data
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def render_lines(path: str | Path) -> list[str]:
    """The lines of ``soar show`` for the run log at ``path`` (``RunLogError``: not a run log)."""
    run = read_run(path)
    return show_lines(run.records, run.check.message)


def show_lines(records: list[dict[str, Any]], integrity: str) -> list[str]:
    """The lines of ``soar show`` (the caller makes each terminal-safe)."""
    lines: list[str] = []
    for rec in records:
        kind = rec.get("type")
        step = f"{rec.get('step')}[{rec.get('index')}]"
        if kind == "run.started":
            pb = rec.get("playbook") or {}
            mode = run_mode(rec)
            lines += [
                f"run {rec.get('run_id')}",
                f"  playbook  {pb.get('name')} ({pb.get('path')}, sha256 {pb.get('sha256')})",
                f"  by        {rec.get('operator')} on {rec.get('host')}, soar {rec.get('engine_version')}",
                f"  started   {rec.get('ts')}",
                f"  tenant    {rec.get('tenant')} ({rec.get('tenant_url')}, client id "
                f"{rec.get('client_id')})",
                f"  mode      {mode}",
                f"  protected {', '.join(map(str, rec.get('protected_users') or [])) or '-'}",
                f"  protected addresses {', '.join(map(str, rec.get('protected_ips') or [])) or '-'}",
                f"  inputs    {_short_json(rec.get('inputs'), 1000)}",
                "steps:",
            ]
        elif kind == "run.resumed":
            lines.append(
                f"  -- resumed at {rec.get('ts')} by {rec.get('operator')} on {rec.get('host')}, "
                f"tenant {rec.get('tenant')}, approval {rec.get('approval')} "
                f"({rec.get('completed_writes')} completed writes reused)"
            )
        elif kind == "approval.changed":
            lines.append(f"  approval.changed for {rec.get('step')}:")
            lines += change_lines(rec.get("changes") or [])
        elif kind == "step.finished":
            err = f"  {rec['error']}" if rec.get("error") else ""
            seconds = float(rec.get("duration_ms") or 0) / 1000
            lines.append(f"  {rec.get('status')!s:<10} {rec.get('step')!s:<24} {seconds:.2f}s{err}")
        elif kind == "action.planned":
            for call in rec.get("planned") or []:
                where = call.get("path") or call.get("url")
                lines.append(
                    f"    planned  {call.get('method')} {where}  (target {rec.get('target')})"
                )
        elif kind == "action.call":
            lines.append(f"    sent     {rec.get('action')} on {rec.get('target')}  ({step})")
        elif kind == "action.result":
            lines.append(f"    done     {step}  {_short_json(rec.get('result'), 200)}")
        elif kind == "action.reused":
            lines.append(f"    reused   {rec.get('action')} on {rec.get('target')}  ({step})")
        elif kind == "action.failed":
            lines.append(f"    failed   {step}  {rec.get('error')}")
        elif kind == "action.refused":
            lines.append(f"    refused  {rec.get('target')}  ({step}): {rec.get('reason')}")
        elif kind in ("approval.required", "approval.granted", "approval.denied"):
            by = f" by {rec.get('by')}" if rec.get("by") else ""
            lines.append(f"  {kind} for {rec.get('step')}{by}  targets {rec.get('targets')}")
        elif kind == "run.signed":
            lines.append(
                f"  -- signed records 0-{rec.get('signed_seq')} by key {rec.get('key_id')}"
            )
        elif kind == "run.finished":
            lines.append(f"finished {rec.get('ts')}: {rec.get('status')}")
            if rec.get("error"):
                lines.append(f"  error: {rec['error']}")
            for k, v in (rec.get("outputs") or {}).items():
                lines.append(f"  output {k}: {_short_json(v, 500)}")
    lines.append(f"integrity: {integrity}")
    return lines


def change_lines(found: list[dict[str, Any]], limit: int = _SHOWN) -> list[str]:
    """One line per change (the first ``limit``): ``+`` added, ``-`` removed, ``~`` sent."""
    lines = []
    for c in found[:limit]:
        old, new = c.get("old") or {}, c.get("new") or {}
        if c.get("change") == "added":
            lines.append(f"  + {new.get('target')}  {_short(new.get('args'))}")
        elif c.get("change") == "removed":
            lines.append(f"  - {old.get('target')}  (no longer selected: not sent)")
        else:
            now = f"now {new.get('target')} {_short(new.get('args'))}" if new else "now none"
            lines.append(
                f"  ~ #{c.get('index')} {old.get('target')} {_short(old.get('args'))} was already "
                f"sent and is not sent again ({now}: not sent)"
            )
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more (see approval.changed in the run log)")
    return lines


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."
