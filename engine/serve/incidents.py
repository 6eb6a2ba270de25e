"""Incidents: one per (rule, group, window), their evidence and the response each started.

A ``Detection`` (``engine.serve.detect``) whose key has an open incident adds
its evidence to it (``INSERT OR IGNORE``: evidence is a set of log ids) and
moves its last event time; it never starts a second response. Without one,
a new incident opens, and, when the rule names a response, a ``pending``
response row is written in the same transaction. An open incident closes once
the stream's event time (the watermark: the newest event date consumed) is
more than the rule's ``quiet`` past its last evidence; a later detection of
the same group then opens a new incident.

A response row goes ``pending`` -> ``started`` (written before the playbook
runs) -> its run's status. After a crash a ``started`` row without an outcome
is never run again: it becomes ``interrupted``, with the run log it had
(``engine.serve.respond``). All writes here happen inside the caller's
transaction (``engine.serve.worker``), together with the cursor.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from engine.timeutil import iso_ms, now_utc, read_date

OUTCOMES = ("succeeded", "failed", "awaiting_approval", "interrupted", "error")


@dataclass(frozen=True)
class Incident:
    """One incident as stored, with its evidence count and its response (if any)."""

    id: int
    key: str
    rule: str
    title: str
    severity: str
    group: Mapping[str, Any]
    status: str
    first: str
    last: str
    opened_at: str
    closed_at: str | None
    evidence: int
    response: Mapping[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "group": dict(self.group),
            "status": self.status,
            "first": self.first,
            "last": self.last,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "evidence": self.evidence,
            "response": dict(self.response) if self.response else None,
        }


@dataclass
class Recorded:
    """What one batch of detections changed: incidents opened, incidents that grew."""

    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)


def record(
    conn: sqlite3.Connection,
    detections: Sequence[Any],
    respond: Any,
) -> Recorded:
    """Apply ``detections`` (inside the caller's transaction).

    ``respond(detection, incident_id)`` returns the ``(playbook, inputs, mode)``
    of the response to start for a newly opened incident, or None.
    """
    done = Recorded()
    now = iso_ms(now_utc())
    for det in detections:
        row = conn.execute(
            "SELECT id, first, last FROM incidents WHERE key = ? AND status = 'open'", (det.key,)
        ).fetchone()
        if row is None:
            rule = det.rule
            cur = conn.execute(
                "INSERT INTO incidents (key, rule, title, severity, grp, status, first, last, "
                "quiet, opened_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
                (
                    det.key,
                    rule.id,
                    rule.title,
                    rule.severity,
                    json.dumps(dict(det.group), sort_keys=True),
                    det.first,
                    det.last,
                    rule.quiet.total_seconds(),
                    now,
                ),
            )
            incident = int(cur.lastrowid or 0)
            done.opened.append(incident)
            response = respond(det, incident)
            if response is not None:
                playbook, inputs, mode = response
                conn.execute(
                    "INSERT INTO responses (incident, playbook, inputs, mode, status) "
                    "VALUES (?, ?, ?, ?, 'pending')",
                    (incident, str(playbook), json.dumps(inputs, sort_keys=True), mode),
                )
        else:
            incident = int(row[0])
            conn.execute(
                "UPDATE incidents SET first = min(first, ?), last = max(last, ?) WHERE id = ?",
                (det.first, det.last, incident),
            )
            done.updated.append(incident)
        conn.executemany(
            "INSERT OR IGNORE INTO evidence (incident, log_id) VALUES (?, ?)",
            [(incident, log_id) for log_id in det.evidence],
        )
    return done


def close_quiet(conn: sqlite3.Connection, watermark: str | None) -> list[int]:
    """Close the open incidents whose last evidence is more than their ``quiet`` before ``watermark``."""
    if watermark is None:
        return []
    now = read_date(watermark)
    closed = []
    for incident, last, quiet in conn.execute(
        "SELECT id, last, quiet FROM incidents WHERE status = 'open'"
    ).fetchall():
        if read_date(last) + timedelta(seconds=quiet) < now:
            closed.append(int(incident))
    if closed:
        stamp = iso_ms(now_utc())
        conn.executemany(
            "UPDATE incidents SET status = 'closed', closed_at = ? WHERE id = ?",
            [(stamp, i) for i in closed],
        )
    return closed


_COLUMNS = (
    "i.id, i.key, i.rule, i.title, i.severity, i.grp, i.status, i.first, i.last, i.opened_at, "
    "i.closed_at, (SELECT count(*) FROM evidence e WHERE e.incident = i.id), "
    "r.playbook, r.mode, r.status, r.run_log, r.started_at, r.finished_at, r.error, r.inputs"
)


def _incident(row: Sequence[Any]) -> Incident:
    response = None
    if row[12] is not None:
        response = {
            "playbook": row[12],
            "mode": row[13],
            "status": row[14],
            "run_log": row[15],
            "started_at": row[16],
            "finished_at": row[17],
            "error": row[18],
            "inputs": json.loads(row[19]),
        }
    return Incident(
        id=int(row[0]),
        key=row[1],
        rule=row[2],
        title=row[3],
        severity=row[4],
        group=json.loads(row[5]),
        status=row[6],
        first=row[7],
        last=row[8],
        opened_at=row[9],
        closed_at=row[10],
        evidence=int(row[11]),
        response=response,
    )


def list_incidents(conn: sqlite3.Connection) -> list[Incident]:
    """Every incident, newest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM incidents i LEFT JOIN responses r ON r.incident = i.id "  # noqa: S608 -- fixed column list
        "ORDER BY i.id DESC"
    ).fetchall()
    return [_incident(r) for r in rows]


def get_incident(conn: sqlite3.Connection, incident: int) -> Incident | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM incidents i LEFT JOIN responses r ON r.incident = i.id "  # noqa: S608 -- fixed column list
        "WHERE i.id = ?",
        (incident,),
    ).fetchone()
    return _incident(row) if row else None


def evidence_of(conn: sqlite3.Connection, incident: int, limit: int = 1000) -> list[str]:
    """The log ids of an incident's evidence (at most ``limit``)."""
    rows = conn.execute(
        "SELECT log_id FROM evidence WHERE incident = ? ORDER BY log_id LIMIT ?", (incident, limit)
    ).fetchall()
    return [r[0] for r in rows]


def pending_responses(conn: sqlite3.Connection) -> list[int]:
    """Incidents whose response was decided but never started (safe to start)."""
    rows = conn.execute("SELECT incident FROM responses WHERE status = 'pending' ORDER BY id")
    return [int(r[0]) for r in rows.fetchall()]


def interrupt_started(conn: sqlite3.Connection) -> list[int]:
    """Mark responses started but never finished (a crash) ``interrupted``; never run again."""
    rows = conn.execute("SELECT incident FROM responses WHERE status = 'started'").fetchall()
    stamp = iso_ms(now_utc())
    conn.execute(
        "UPDATE responses SET status = 'interrupted', finished_at = ?, "
        "error = 'soar serve stopped while this response ran; it is not started again: '"
        "|| 'check its run log, then soar resume RUNLOG' WHERE status = 'started'",
        (stamp,),
    )
    return [int(r[0]) for r in rows]


def mark_started(conn: sqlite3.Connection, incident: int) -> bool:
    """``pending`` -> ``started``, durably, before the run; False if it was not pending."""
    cur = conn.execute(
        "UPDATE responses SET status = 'started', started_at = ? "
        "WHERE incident = ? AND status = 'pending'",
        (iso_ms(now_utc()), incident),
    )
    return cur.rowcount == 1


def set_run_log(conn: sqlite3.Connection, incident: int, run_log: str) -> None:
    conn.execute("UPDATE responses SET run_log = ? WHERE incident = ?", (run_log, incident))


def finish(conn: sqlite3.Connection, incident: int, status: str, error: str | None) -> None:
    conn.execute(
        "UPDATE responses SET status = ?, finished_at = ?, error = ? WHERE incident = ?",
        (status, iso_ms(now_utc()), error, incident),
    )
