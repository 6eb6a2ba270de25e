"""``soar logs export``: a tenant's log events to a JSON-lines file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.textsafe import safe

logs_app = typer.Typer(help="Work with a tenant's logs.", no_args_is_help=True)


@logs_app.command("export")
def export_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="The JSON-lines file to write.")],
    since: Annotated[
        str, typer.Option("--since", help="30m, 24h, 7d or an ISO 8601 date/time.")
    ] = "24h",
    until: Annotated[
        str | None, typer.Option("--until", help="End (exclusive); default now.")
    ] = None,
    query: Annotated[
        str, typer.Option("--query", "-q", help="Auth0 log query; default every event.")
    ] = "",
) -> None:
    """Export events (checkpoint paging, or the complete search with --query) for --logs.

    Reads AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET (or AUTH0_TOKEN). The
    client runs with the dry-run guard on: an export can never write to the tenant.
    Exit 0 written, 2 on a setting or upstream error (the file is left as FILE.partial).
    """
    from engine.auth0 import client_from_env
    from engine.auth0.export import export_to_file
    from engine.cli.cmd_run import make_redactor
    from engine.cli.oplog import live_line
    from engine.cli.progress import showing
    from engine.errors import UsageError
    from engine.httpguard import DryRunGuard
    from engine.timeutil import now_utc, parse_time

    redactor = make_redactor()
    now = now_utc()
    start = parse_time(since, now)
    end = parse_time(until, now) if until else now
    if start >= end:
        raise UsageError(f"--since {since} is not before --until {until or 'now'}")
    guard = DryRunGuard(dry_run=True)
    # each page read shows on the live line on a terminal, else is a log event
    with (
        showing(live_line(), f"export to {safe(output)}"),
        client_from_env(guard, on_secret=redactor.add) as client,
    ):
        stats = export_to_file(client, output, start, end, query)
    typer.echo(
        f"wrote {stats['events']} events to {safe(output)} ({stats['requests']} requests, "
        f"{stats['mode']})",
        err=True,
    )
    for warning in stats.get("warnings", []):
        typer.echo(f"warning: {safe(warning)}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(logs_app, name="logs")
