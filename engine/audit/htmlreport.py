"""``soar report --format html``: one self-contained HTML page of a run, with its timeline.

The page holds everything it shows: CSS in a ``<style>``, the timeline as
inline SVG (``engine.audit.plot``), no script, font, image or link to fetch.
Its Content-Security-Policy allows nothing to load or run (``default-src
'none'``) and no inline style but its one stylesheet, by hash: the SVG's
styles are presentation attributes (``plot.presentational``), which a policy
does not count as inline style. Every string from data is made visible
(``engine.textsafe.safe``), cut, and HTML-escaped (quotes too) before it
enters the page; values are depth-bounded (``engine.depth.dumps``).
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.audit import plot
from engine.audit.outputs import counted, tables
from engine.audit.records import writes_recorded
from engine.audit.rows import approval_rows, mode_of, step_rows, write_rows
from engine.audit.timeline import KINDS, Timeline, build
from engine.audit.view import read_run
from engine.depth import dumps
from engine.textsafe import safe
from engine.timeutil import iso_ms

MAX_CELL = 300
CSS = (
    """
:root { --ink: #1d2327; --muted: #5f6b73; --rule: #d5dadd; --band: #f4f6f7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
h3 { font-size: 14px; margin: 18px 0 6px; }
.sub { color: var(--muted); margin: 0 0 16px; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.summary dt { font-weight: 600; color: var(--muted); }
dl.summary dd { margin: 0; overflow-wrap: anywhere; }
.status-succeeded { color: #1e8449; font-weight: 600; }
.status-failed, .status-incomplete { color: #c0392b; font-weight: 600; }
.integrity { background: var(--band); border-left: 4px solid #1f6fb2; padding: 8px 12px; margin: 16px 0; }
code, pre { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: #fff; border: 1px solid var(--rule); padding: 6px 8px; margin: 6px 0 0;
  white-space: pre-wrap; overflow-wrap: anywhere; }
figure { margin: 0; }
figure svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--rule);
  overflow-wrap: anywhere; }
th { background: var(--band); font-weight: 600; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
.none, .note { color: var(--muted); }
@page { margin: 14mm; }
@media print {
  body { font-size: 10pt; max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  figure { break-inside: avoid; }
  .integrity { border: 1px solid var(--rule); }
}
"""
    + plot.STYLESHEET
)
# The page's one stylesheet, allowed by its hash; nothing else may load or run, inline or not.
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'"
)


def h(value: Any, limit: int = MAX_CELL) -> str:
    """``value`` as inert HTML text: depth-bounded, cut, control characters shown, escaped."""
    text = value if isinstance(value, str) else dumps(value)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    return html.escape(safe(text), quote=True)


def c(value: Any, limit: int = MAX_CELL) -> str:
    """An identifier (an id, an address, a hash) as code."""
    return f"<code>{h('' if value is None else str(value), limit)}</code>"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A table of cells already escaped (``h``, ``c``); head names are soar's or escaped."""
    if not rows:
        return ['<p class="none">none</p>']
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{x}</th>" for x in head) + "</tr></thead>"]
    out += ["<tr>" + "".join(f"<td>{x}</td>" for x in row) + "</tr>" for row in rows]
    return [*out, "</table>"]


def _summary(path: str | Path, view: Any) -> list[str]:
    started, end, check = view.started, view.finished, view.check
    pb = started.get("playbook", {})
    mode, note = mode_of(started, writes_recorded(view.records))
    status = str(end.get("status", "incomplete"))
    items = [
        ("Run", c(started.get("run_id"))),
        ("Playbook", f"{h(pb.get('path'))} (sha256 {c(pb.get('sha256'))})"),
        ("Tenant", h(started.get("tenant"))),
        ("Mode", h(mode) + h(note)),
        ("Status", f'<span class="status-{h(status, 40)}">{h(status)}</span>'),
        ("Operator", f"{h(started.get('operator'))} on {h(started.get('host'))}"),
        ("Started", h(started.get("ts"))),
        ("Finished", h(end.get("ts", "not finished"))),
        ("Inputs", c(dumps(started.get("inputs")), 1000)),
    ]
    final = check.final_hash or ""
    return [
        f"<h1>Incident report: {h(pb.get('name'))}</h1>",
        '<p class="sub">A soar run log, rendered by <code>soar report --format html</code></p>',
        '<dl class="summary">',
        *(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items),
        "</dl>",
        '<div class="integrity" id="integrity"><strong>Integrity.</strong> '
        f"{h(check.message, 1000)}<br>Final hash: {c(final)}<br>Verify it yourself:"
        f"<pre>{h(f'soar verify {path} --expect-hash {final}', 2000)}</pre></div>",
    ]


def _timeline(line: Timeline) -> list[str]:
    out = ['<section id="timeline">', "<h2>Timeline</h2>"]
    drawn = plot.svg(line)
    if drawn is None:
        out.append('<p class="none">The run log holds no dated finding to draw.</p>')
    else:
        out += [f'<figure aria-label="timeline of the attack">{drawn}</figure>']
    shown = set(plot.lanes(line))
    hidden = {m.lane for m in line.marks} - shown
    if hidden:
        out.append(f'<p class="note">{len(hidden)} more lane(s) are in the table only.</p>')
    for kind, n in line.cut.items():
        out.append(f'<p class="note">{n} more {h(KINDS[kind])} mark(s) left out of the page.</p>')
    if line.unplaced:
        out.append(f'<p class="note">{len(line.unplaced)} finding(s) have no readable date:</p>')
        out += ["<ul>", *(f"<li>{h(u)}</li>" for u in line.unplaced[:50]), "</ul>"]
    rows = [
        [
            h(iso_ms(m.start)) + (f" to {h(iso_ms(m.end))}" if m.end else ""),
            h(KINDS[m.kind]),
            h(m.lane),
            h(m.label) + (f" ({m.count})" if m.kind == "application" and m.count > 1 else ""),
        ]
        for m in line.marks
    ]
    out += ["<h3>What the timeline shows</h3>", *table(["time", "kind", "lane", "what"], rows)]
    return [*out, "</section>"]


def outputs_section(outputs: Mapping[str, Any], counts: Mapping[str, int]) -> list[str]:
    if not outputs:
        return []
    out = ['<section id="outputs">', "<h2>Outputs</h2>"]
    values = []
    for part in tables(outputs, counts):
        if part.kind == "value":
            values.append(f"<dt>{h(part.name)}</dt><dd>{h(part.rows[0][0])}</dd>")
            continue
        out.append(f"<h3>{h(part.name)} {part.count}</h3>")
        out += table([h(x) for x in part.head], part.cells(c, h))
    if values:
        out += ['<dl class="summary">', *values, "</dl>"]
    return [*out, "</section>"]


def render_html(path: str | Path) -> str:
    """The HTML report of the run log at ``path``.

    ``RunLogError`` when it is not a run log; ``UsageError`` naming the extra to
    install when matplotlib is missing.
    """
    plot.require()  # before any work: the operator learns what to install at once
    view = read_run(path)
    records = view.records
    pb = view.started.get("playbook", {})
    steps = [
        [h(s.ts), c(s.step), h(s.status), h(s.duration), h(s.note)] for s in step_rows(records)
    ]
    approvals = [
        [h(a.ts), c(a.step), h(a.event), h(a.by), h(a.targets, 1000)]
        for a in approval_rows(records)
    ]
    writes = [
        [h(w.kind), h(w.ts), c(w.step), h(w.action), c(w.target), h(w.outcome)]
        for w in write_rows(records)
    ]
    body = [
        *_summary(path, view),
        *_timeline(build(records)),
        '<section id="steps"><h2>Steps</h2>',
        *table(["time", "step", "status", "duration", "note"], steps),
        "</section>",
        *outputs_section(view.finished.get("outputs") or {}, counted(records)),
        '<section id="approvals"><h2>Approvals</h2>',
        *table(["time", "step", "event", "by", "targets"], approvals),
        "</section>",
        '<section id="writes"><h2>Writes</h2>',
        *table(["", "time", "step", "action", "target", "result"], writes),
        "</section>",
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Incident report: {h(pb.get('name'))}</title>",
            f"<style>{CSS}</style>",
            "</head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )
