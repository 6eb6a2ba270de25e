"""``soar report``: a Markdown incident summary rendered from a run log.

Every string that came from data is escaped so it cannot break the Markdown
(tables, links, HTML, code spans) and carries no control characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.audit.outputs import counted, tables
from engine.audit.records import writes_recorded
from engine.audit.rows import approval_rows, mode_of, step_rows, write_rows
from engine.audit.view import read_run
from engine.depth import dumps
from engine.textsafe import safe

MAX_CELL = 200
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md(value: Any, limit: int = MAX_CELL) -> str:
    """``value`` as inert Markdown text: one line, escaped, control characters made visible."""
    text = value if isinstance(value, str) else dumps(value)  # depth-bounded: hostile data
    text = text.replace("\r", " ").replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    text = safe(text)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("&", "&amp;")


def code(value: Any, limit: int = MAX_CELL) -> str:
    """An identifier (id, IP, hash) in a code span: no backticks, ``|`` escaped for tables."""
    text = safe(str(value).replace("\r", " ").replace("\n", " "))[:limit]
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return [*lines, ""]


def outputs_section(outputs: Mapping[str, Any], counts: Mapping[str, int]) -> list[str]:
    """The run's outputs under their own names, each as a table (``engine.audit.outputs``)."""
    if not outputs:
        return []
    lines = ["## Outputs", ""]
    values = []
    for part in tables(outputs, counts):
        if part.kind == "value":
            values.append(f"- **{md(part.name)}:** {md(part.rows[0][0])}")
            continue
        lines += [f"### {md(part.name)} {part.count}", ""]
        lines += table([md(h) for h in part.head], part.cells(code, md))
    return lines + ([*values, ""] if values else [])


def _mode(started: Mapping[str, Any], written: int) -> str:
    mode, note = mode_of(started, written)
    return md(mode) + note


def render(path: str | Path) -> str:
    """The report of the run log at ``path``; ``RunLogError`` when it is not a run log."""
    run = read_run(path)
    records, started, end, check = run.records, run.started, run.finished, run.check
    outputs: Mapping[str, Any] = end.get("outputs") or {}
    pb = started.get("playbook", {})
    out = [
        f"# Incident report: {md(pb.get('name'))}",
        "",
        f"- **Run:** {code(started.get('run_id'))}",
        f"- **Playbook:** {md(pb.get('path'))} (sha256 {code(pb.get('sha256'))})",
        f"- **Operator:** {md(started.get('operator'))} on {md(started.get('host'))}",
        f"- **Tenant:** {md(started.get('tenant'))}",
        f"- **Started:** {md(started.get('ts'))}; **finished:** {md(end.get('ts', 'not finished'))}",
        f"- **Mode:** {_mode(started, writes_recorded(records))}",
        f"- **Status:** {md(end.get('status', 'incomplete'))}",
        f"- **Inputs:** {md(started.get('inputs'), 1000)}",
        "",
        "## Timeline",
        "",
    ]
    steps = [
        [md(s.ts), code(s.step), md(s.status), s.duration, md(s.note)] for s in step_rows(records)
    ]
    out += table(["time", "step", "status", "duration", "note"], steps)
    out += outputs_section(outputs, counted(records))
    approvals = approval_rows(records)
    if approvals:
        out += ["## Approvals", ""]
        out += table(
            ["time", "step", "event", "by", "targets"],
            [
                [md(a.ts), code(a.step), md(a.event), md(a.by), md(a.targets, 1000)]
                for a in approvals
            ],
        )
    out += ["## Writes", ""]
    rows = [
        [w.kind, code(w.step), md(w.action), code(w.target), md(w.outcome)]
        for w in write_rows(records)
    ]
    out += table(["", "step", "action", "target", "result"], rows)
    final = check.final_hash or ""
    out += [
        "## Integrity",
        "",
        f"- {md(check.message, 1000)}",  # whole: it says what the signature proves
        f"- Final hash: {code(final)}",
        # a code span shows backslash escapes literally, so the command is not md()-escaped
        f"- Verify: {code(f'soar verify {path} --expect-hash {final}', 2000)}",
        "",
    ]
    return "\n".join(out)
