"""The report of an incident ``soar serve`` opened: Markdown, or a self-contained HTML page.

``soar report --incident ID`` and the pages ``GET /incidents`` and
``GET /incidents/{id}`` (``engine.serve.app``) render from here. A report
holds the incident (rule, group, status, event times, evidence count), the
first ``MAX_SHOWN`` of its evidence events by ``log_id`` as stored from the
stream, and its response: status, mode, run log, and the run's outputs,
approvals and writes read from that run log with the run report's pieces
(``engine.audit.report``, ``engine.audit.htmlreport``). Every value from the
stream or a run log is escaped there for its medium (cut, control characters
made visible, depth-bounded); the HTML uses the run report's stylesheet and
Content-Security-Policy: no script, nothing loaded.

A run log that cannot be read is said so, with the reason; an evidence
event that is not in the store (or not readable JSON) is listed as such.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.audit import htmlreport, report
from engine.audit.outputs import counted
from engine.audit.records import writes_recorded
from engine.audit.rows import approval_rows, mode_of, write_rows
from engine.audit.view import RunView, read_run
from engine.errors import RunLogError
from engine.serve.incidents import Incident, get_incident

MAX_SHOWN = 200  # evidence events shown; the count says how many there are
FIELDS = ("date", "type", "ip", "user_name", "client_name", "description")


@dataclass(frozen=True)
class IncidentView:
    """An incident as its report shows it: the evidence events shown, its response's run."""

    incident: Incident
    events: list[tuple[str, Mapping[str, Any] | None]]  # (log_id, event or None: not stored)
    run: RunView | None
    run_note: str | None  # why there is no run to show


def read_incident(conn: sqlite3.Connection, incident_id: int) -> IncidentView | None:
    """The incident ``incident_id`` with its first evidence events and run; None if unknown."""
    found = get_incident(conn, incident_id)
    if found is None:
        return None
    rows = conn.execute(
        "SELECT e.log_id, ev.data FROM evidence e LEFT JOIN events ev ON ev.log_id = e.log_id "
        "WHERE e.incident = ? ORDER BY e.log_id LIMIT ?",
        (incident_id, MAX_SHOWN),
    ).fetchall()
    events: list[tuple[str, Mapping[str, Any] | None]] = []
    for log_id, data in rows:
        try:
            event = json.loads(data) if data is not None else None
        except ValueError:
            event = None
        events.append((log_id, event if isinstance(event, dict) else None))
    run, note = _run(found.response)
    return IncidentView(found, events, run, note)


def _run(response: Mapping[str, Any] | None) -> tuple[RunView | None, str | None]:
    if response is None:
        return None, "the rule names no response"
    path = response.get("run_log")
    if not path:
        return None, f"no run log yet (the response is {response.get('status')})"
    try:
        return read_run(path), None
    except (RunLogError, OSError) as exc:
        return None, f"the run log {path} cannot be read: {exc}"


def _group(incident: Incident) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(incident.group.items()))


def _facts(incident: Incident) -> list[tuple[str, str]]:
    """(label, raw value) of the incident, in report order; the caller escapes the values."""
    return [
        ("Rule", f"{incident.rule}: {incident.title}"),
        ("Severity", incident.severity),
        ("Group", _group(incident)),
        ("Status", incident.status),
        ("Events", f"{incident.first} to {incident.last} (event time)"),
        ("Opened", incident.opened_at),
        ("Closed", incident.closed_at or "not closed"),
        ("Evidence", f"{incident.evidence} event(s)"),
    ]


def _evidence_rows(
    view: IncidentView, ident: Callable[[Any], str], text: Callable[[Any], str]
) -> list[list[str]]:
    rows = []
    for log_id, event in view.events:
        if event is None:
            rows.append([ident(log_id), text("not in the store (or unreadable)")] + [""] * 5)
            continue
        rows.append([ident(log_id), *(text(event.get(f, "")) for f in FIELDS)])
    return rows


def _shown_note(view: IncidentView) -> str | None:
    if view.incident.evidence > len(view.events):
        return (
            f"the first {len(view.events)} of {view.incident.evidence} evidence events by "
            "log_id are shown (soar incidents show ID --json lists up to 1000 log ids)"
        )
    return None


def _response_facts(response: Mapping[str, Any]) -> list[tuple[str, str]]:
    facts = [
        ("Status", str(response.get("status"))),
        ("Mode", str(response.get("mode"))),
        ("Playbook", str(response.get("playbook"))),
        ("Run log", str(response.get("run_log") or "none yet")),
        ("Started", str(response.get("started_at") or "not started")),
        ("Finished", str(response.get("finished_at") or "not finished")),
    ]
    if response.get("error"):
        facts.append(("Error", str(response["error"])))
    return facts


def render_incident_md(view: IncidentView) -> str:
    """The Markdown report of an incident (for a ticket)."""
    md, code = report.md, report.code
    incident = view.incident
    out = [f"# Incident {incident.id}: {md(incident.title)}", ""]
    out += [f"- **{k}:** {md(v, 1000)}" for k, v in _facts(incident)]
    out += ["", "## Evidence", ""]
    head = ["log_id", *FIELDS]
    out += report.table(head, _evidence_rows(view, code, md))
    note = _shown_note(view)
    if note:
        out += [f"_{md(note)}_", ""]
    out += ["## Response", ""]
    if incident.response is not None:
        out += [f"- **{k}:** {md(v, 1000)}" for k, v in _response_facts(incident.response)]
        out.append("")
    if view.run is None:
        return "\n".join([*out, f"_{md(view.run_note)}_", ""])
    run = view.run
    mode, mode_note = mode_of(run.started, writes_recorded(run.records))
    out += [
        f"- **Run:** {code(run.started.get('run_id'))}, "
        f"{md(run.finished.get('status', 'incomplete'))}, {md(mode)}{mode_note}",
        f"- **Integrity:** {md(run.check.message, 1000)}",
        "",
    ]
    out += report.outputs_section(run.finished.get("outputs") or {}, counted(run.records))
    out += ["## Approvals", ""]
    approvals = [
        [md(a.ts), code(a.step), md(a.event), md(a.by), md(a.targets, 1000)]
        for a in approval_rows(run.records)
    ]
    out += report.table(["time", "step", "event", "by", "targets"], approvals)
    out += ["## Writes", ""]
    writes = [
        [w.kind, code(w.step), md(w.action), code(w.target), md(w.outcome)]
        for w in write_rows(run.records)
    ]
    out += report.table(["", "step", "action", "target", "result"], writes)
    return "\n".join(out)


def _page(title: str, body: Sequence[str]) -> str:
    """A self-contained page with the run report's stylesheet and policy."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{htmlreport.CSP}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f"<style>{htmlreport.CSS}</style>",
            "</head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )


def _dl(facts: Sequence[tuple[str, str]]) -> list[str]:
    h = htmlreport.h
    return [
        '<dl class="summary">',
        *(f"<dt>{k}</dt><dd>{h(v, 1000)}</dd>" for k, v in facts),
        "</dl>",
    ]


def render_incident_html(view: IncidentView) -> str:
    """The HTML report of an incident: one self-contained page, nothing loaded, no script."""
    h, c, table = htmlreport.h, htmlreport.c, htmlreport.table
    incident = view.incident
    title = f"Incident {incident.id}: {h(incident.title)}"
    body = [
        f"<h1>{title}</h1>",
        '<p class="sub">An incident of soar serve, rendered by soar report --incident</p>',
        *_dl(_facts(incident)),
        '<section id="evidence"><h2>Evidence</h2>',
        *table([h(x) for x in ("log_id", *FIELDS)], _evidence_rows(view, c, h)),
    ]
    note = _shown_note(view)
    if note:
        body.append(f'<p class="note">{h(note)}</p>')
    body += ["</section>", '<section id="response"><h2>Response</h2>']
    if incident.response is not None:
        body += _dl(_response_facts(incident.response))
    if view.run is None:
        body += [f'<p class="none">{h(view.run_note)}</p>', "</section>"]
        return _page(title, body)
    run = view.run
    mode, mode_note = mode_of(run.started, writes_recorded(run.records))
    status = str(run.finished.get("status", "incomplete"))
    body += [
        f"<h3>Run {c(run.started.get('run_id'))}</h3>",
        f'<p><span class="status-{h(status, 40)}">{h(status)}</span>, {h(mode)}{h(mode_note)}</p>',
        f'<div class="integrity"><strong>Integrity.</strong> {h(run.check.message, 1000)}</div>',
        "</section>",
        *htmlreport.outputs_section(run.finished.get("outputs") or {}, counted(run.records)),
        '<section id="approvals"><h2>Approvals</h2>',
        *table(
            ["time", "step", "event", "by", "targets"],
            [
                [h(a.ts), c(a.step), h(a.event), h(a.by), h(a.targets, 1000)]
                for a in approval_rows(run.records)
            ],
        ),
        "</section>",
        '<section id="writes"><h2>Writes</h2>',
        *table(
            ["", "time", "step", "action", "target", "result"],
            [
                [h(w.kind), h(w.ts), c(w.step), h(w.action), c(w.target), h(w.outcome)]
                for w in write_rows(run.records)
            ],
        ),
        "</section>",
    ]
    return _page(title, body)


def render_list_html(found: Sequence[Incident]) -> str:
    """The page of every incident, newest first, each linking to its own page."""
    h, c = htmlreport.h, htmlreport.c
    rows = [
        [
            f'<a href="/incidents/{i.id}">{i.id}</a>',
            h(i.status),
            c(i.rule),
            h(i.severity),
            h(_group(i)),
            h(i.first),
            h(i.last),
            str(i.evidence),
            h((i.response or {}).get("status", "none")),
        ]
        for i in found
    ]
    head = ["id", "status", "rule", "severity", "group", "first", "last", "evidence", "response"]
    body = [
        "<h1>Incidents</h1>",
        '<p class="sub">Opened by soar serve, newest first</p>',
        *htmlreport.table(head, rows),
    ]
    return _page("Incidents", body)
