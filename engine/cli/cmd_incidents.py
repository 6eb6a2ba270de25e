"""``soar incidents list`` and ``soar incidents show ID``: what ``soar serve`` opened.

Read from the state database (``--state``, as given to ``soar serve``); it
may be read while serve runs (SQLite WAL). ``--json`` prints exactly one JSON
object on stdout. Every value from the stream (a group's IP or user name) is
made terminal-safe before it is printed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.textsafe import json_text, safe

if TYPE_CHECKING:
    from engine.serve.incidents import Incident

incidents_app = typer.Typer(help="Incidents opened by soar serve.", no_args_is_help=True)
STATE_HELP = "The state folder soar serve keeps (its --state)."


def connect_state(state: Path) -> sqlite3.Connection:
    from engine.errors import UsageError
    from engine.serve.store import DB_NAME

    """A read-only connection to the state of soar serve in ``state``; ``UsageError`` if none."""
    path = state / DB_NAME
    if not path.is_file():
        raise UsageError(
            f"--state {state}: no soar serve state there (no {DB_NAME}); give the folder "
            "soar serve was started with"
        )
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _group(incident: Incident) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(incident.group.items()))


def list_cmd(
    state: Annotated[Path, typer.Option(help=STATE_HELP)] = Path("soar-state"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Every incident, newest first: id, rule, group, status, event times, evidence, response."""
    from engine.cli.output import json_requested
    from engine.serve.incidents import list_incidents

    json_requested(as_json)
    with connect_state(state) as conn:
        found = list_incidents(conn)
    if as_json:
        typer.echo(json_text({"incidents": [i.as_json() for i in found]}))
        return
    if not found:
        typer.echo("no incidents", err=True)
        return
    for i in found:
        response = i.response or {}
        run = f" {response.get('status')} {response.get('run_log') or ''}" if response else ""
        typer.echo(
            safe(
                f"{i.id:>5}  {i.status:<6}  {i.rule}  {_group(i)}  {i.first} .. {i.last}  "
                f"evidence {i.evidence}{run}"
            )
        )


def show_cmd(
    incident: Annotated[int, typer.Argument(help="The incident id (from soar incidents list).")],
    state: Annotated[Path, typer.Option(help=STATE_HELP)] = Path("soar-state"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """One incident: its rule, group, times, evidence log ids and its response's run log."""
    from engine.cli.output import json_requested
    from engine.errors import UsageError
    from engine.serve.incidents import evidence_of, get_incident

    json_requested(as_json)
    with connect_state(state) as conn:
        found = get_incident(conn, incident)
        evidence = evidence_of(conn, incident) if found else []
    if found is None:
        raise UsageError(f"no incident {incident} in --state {state} (see: soar incidents list)")
    if as_json:
        typer.echo(json_text({**found.as_json(), "evidence_log_ids": evidence}))
        return
    lines = [
        f"incident {found.id}: {found.title} ({found.severity})",
        f"  rule:     {found.rule}",
        f"  group:    {_group(found)}",
        f"  status:   {found.status} (opened {found.opened_at}"
        + (f", closed {found.closed_at})" if found.closed_at else ")"),
        f"  events:   {found.first} .. {found.last}",
        f"  evidence: {found.evidence} event(s)",
    ]
    lines += [f"    {log_id}" for log_id in evidence[:20]]
    if found.evidence > 20:
        lines.append(f"    ... and {found.evidence - 20} more (--json lists up to 1000)")
    response = found.response
    if response is None:
        lines.append("  response: none (the rule names no playbook)")
    else:
        lines.append(
            f"  response: {response['status']} ({response['mode']}) {response['playbook']}"
        )
        if response.get("run_log"):
            lines.append(f"  run log:  {response['run_log']}")
        if response.get("error"):
            lines.append(f"  error:    {response['error']}")
    for line in lines:
        typer.echo(safe(line))


incidents_app.command("list")(list_cmd)
incidents_app.command("show")(show_cmd)


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")
