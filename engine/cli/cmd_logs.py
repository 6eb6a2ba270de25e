"""``soar logs export``, ``search`` and ``stats``: a tenant's or a file's log events, ad hoc.

``search`` and ``stats`` exit 0 when events were found, 1 when none matched
(as grep), 2 on bad usage, a bad file, query or setting (the boundary in
``engine.cli.main`` prints those).
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.textsafe import safe

if TYPE_CHECKING:
    from engine.logs.answers import SearchResult
    from engine.logs.store import EventStore

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
    from engine.httpguard import DryRunGuard

    redactor = make_redactor()
    start, end = _tenant_window(since, until)
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


SEARCH_HELP = """Search a log file, or the tenant, with an Auth0 log query: hunting without a playbook.

\b
  soar logs search export.jsonl 'type:"s" AND ip:"203.0.113.7"'
  soar logs search export.jsonl 'type:(fp fu)' --count
  soar logs search --tenant 'user_id:"auth0|123"' --since 7d --format jsonl
  soar logs search export.jsonl 'type:sapi' --fields date,ip,details.request.path --format csv

QUERY is Auth0's log search syntax (whole values, case-sensitive; '' is every
event). A FILE is any shape soar reads (JSON lines, an array, stream items,
EventBridge events, API pages); without --since it is searched whole. With
--tenant the complete search runs against AUTH0_DOMAIN (AUTH0_CLIENT_ID,
AUTH0_CLIENT_SECRET or AUTH0_TOKEN), read-only, --since default 24h.
Events come oldest first, each log_id once; --limit N keeps the oldest N.
Output is on stdout, messages on stderr. Every format is terminal-safe; in
CSV a cell starting with = + - @, a tab or CR gets a leading ' so that no
spreadsheet runs it as a formula.
Exit 0 found, 1 no event matched, 2 bad usage, file, query or settings.
"""


@logs_app.command("search", help=SEARCH_HELP)
def search_cmd(
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE", help="The log file (with --tenant: the QUERY).", show_default=False
        ),
    ],
    query: Annotated[
        str | None, typer.Argument(metavar="QUERY", help="An Auth0 log query.", show_default=False)
    ] = None,
    tenant: Annotated[
        bool, typer.Option("--tenant", help="Search the tenant of AUTH0_DOMAIN instead of a FILE.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="30m, 24h, 7d or an ISO date; a FILE: whole, --tenant: 24h."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="End (exclusive); default now (a FILE without --since: its end)."
        ),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option("--fields", help="Comma-separated dotted paths (details.request.ip)."),
    ] = None,
    count: Annotated[
        bool, typer.Option("--count", help="Print only the number of events.")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", metavar="table|json|jsonl|csv", help="The output format.")
    ] = "table",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Stop after N events (the oldest N).")
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Read FILE afresh; neither use nor write .soar-cache/."),
    ] = False,
) -> None:
    """``soar logs search``: one query over a FILE or the tenant (help: ``SEARCH_HELP``)."""
    from engine.errors import UsageError
    from engine.logs.answers import count_events, search_events
    from engine.logs.formats import FORMATS, parse_fields, render
    from engine.logs.query import compile_query

    if fmt not in FORMATS:
        raise UsageError(f"--format {safe(fmt)}: use one of {', '.join(FORMATS)}")
    if tenant and query is not None:
        raise UsageError("give a FILE or --tenant, not both (soar logs search --tenant QUERY)")
    if not tenant and query is None:
        raise UsageError("give a FILE and a QUERY, or --tenant QUERY")
    q = source if tenant else query or ""
    compile_query(q)  # what Auth0 would refuse is refused before anything is read
    picked = parse_fields(fields) if fields is not None else None
    if picked is not None and not picked:
        raise UsageError("--fields names no field (give a,b or details.request.ip)")
    start: datetime | None
    end: datetime | None
    with ExitStack() as stack:
        if tenant:
            start, end = _tenant_window(since, until)
            found = _tenant_search(q, start, end, limit)
            events, warnings = len(found.events), found.warnings
        else:
            start, end = _window(since, until, None)
            store = _file_store(stack, Path(source), not no_cache)
            if count:  # no event is read back: a count reads the columns it needs, or the cache
                events, warnings = count_events(store, Path(source), q, start, end, limit=limit)
            else:
                found = search_events(store, Path(source), q, start, end, limit=limit)
                events, warnings = len(found.events), found.warnings
        for warning in warnings:
            typer.echo(f"warning: {safe(warning)}", err=True)
        if count:
            typer.echo(str(events))
        elif events or fmt in ("json", "csv"):  # an empty answer is still valid JSON, CSV
            held: set[str] = set()
            typer.echo(render(found.events, fmt, picked, held), nl=False)
            for name in [f for f in picked or [] if events and f not in held]:
                typer.echo(
                    f"warning: no event found has the field '{safe(name)}' (shown empty): "
                    "fields are named as Auth0 names them, case included (user_name, "
                    "details.request.ip)",
                    err=True,
                )
        if not events:
            shown = f"{safe(q) or 'every event'!r} {_shown(start, end)}"
            typer.echo(f"no event matched {shown}", err=True)
            raise typer.Exit(1)


def _window(
    since: str | None, until: str | None, default_since: str | None
) -> tuple[datetime | None, datetime | None]:
    """The search window: ``since`` (or its default) to ``until``; None where it is open."""
    from engine.errors import UsageError
    from engine.timeutil import now_utc, parse_time

    now = now_utc()
    first = since or default_since
    start = parse_time(first, now) if first else None
    end = parse_time(until, now) if until else (now if start is not None else None)
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--since {first} is not before --until {until or 'now'}")
    return start, end


def _tenant_window(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """A tenant's search window: ``since`` (default 24h) to ``until`` (default now)."""
    start, end = _window(since, until, "24h")
    assert start is not None and end is not None  # a default since; until then defaults to now
    return start, end


def _shown(start: datetime | None, end: datetime | None) -> str:
    from engine.timeutil import iso_ms

    if start is None and end is None:
        return "in the whole file"
    lo = iso_ms(start) if start else "the first event"
    return f"from {lo} to {iso_ms(end) if end else 'the last event'}"


def _file_search(
    stack: ExitStack,
    path: Path,
    q: str,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
    cache: bool,
) -> SearchResult:
    """The search of a FILE, in an event store of this command's (``_file_store``)."""
    from engine.logs.answers import search_events

    return search_events(_file_store(stack, path, cache), path, q, start, end, limit=limit)


def _file_store(stack: ExitStack, path: Path, cache: bool) -> EventStore:
    """An event store of this command's (DuckDB, the cache), open until ``stack`` closes.

    The cache is written meanwhile, and a warning about it is said then, after the answer.
    """
    store = stack.enter_context(_store(path, cache))
    stack.callback(_say_late, store)
    return store


def _say_late(store: EventStore) -> None:
    for warning in store.flush():
        typer.echo(f"warning: {safe(warning)}", err=True)


def _store(path: Path, cache: bool) -> EventStore:
    from engine.errors import UsageError
    from engine.logs.cache import cache_dir
    from engine.logs.files import not_a_file
    from engine.logs.store import EventStore

    if (what := not_a_file(path)) is not None:
        raise UsageError(f"{safe(path)}: {what} (give an exported log file, or --tenant)")
    return EventStore(cache_dir=cache_dir(cache))


def _tenant_search(q: str, start: datetime, end: datetime, limit: int | None) -> SearchResult:
    from engine.auth0 import client_from_env
    from engine.auth0.search import search
    from engine.cli.cmd_run import make_redactor
    from engine.cli.oplog import live_line
    from engine.cli.progress import showing
    from engine.httpguard import DryRunGuard

    redactor = make_redactor()
    # a search can never write: the guard refuses every non-GET request but the token's
    with (
        showing(live_line(), f"search {safe(q)}"),
        client_from_env(DryRunGuard(dry_run=True), on_secret=redactor.add) as client,
    ):
        return search(client, q, start, end, limit=limit)


@logs_app.command("stats")
def stats_cmd(
    file: Annotated[Path, typer.Argument(help="A log file (any shape soar reads).")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="30m, 24h, 7d or an ISO date; default the whole file."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End (exclusive); default the file's end.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many IPs and users to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Read FILE afresh; neither use nor write .soar-cache/."),
    ] = False,
) -> None:
    """What a log file holds: events, time span, event types, top IPs and users.

    An address counts once whatever form it was logged in; a user is its
    user_id, with the user_name seen most often. Exit 0 printed, 1 no event
    in the window, 2 a bad file or option.
    """
    from engine.cli.output import json_requested
    from engine.logs.stats import stats_of
    from engine.textsafe import json_text

    json_requested(as_json)
    start, end = _window(since, until, None)
    with ExitStack() as stack:
        found = _file_search(stack, file, "", start, end, None, not no_cache)
        summary = stats_of(found.events).as_dict(top)
        if as_json:
            doc = {"file": str(file), "since": _iso(start), "until": _iso(end), **summary}
            typer.echo(json_text({**doc, "warnings": found.warnings}))
        else:
            typer.echo("\n".join(_stats_lines(file, summary)))
        for warning in found.warnings:
            typer.echo(f"warning: {safe(warning)}", err=True)
        if not found.events:
            typer.echo(f"no event matched {_shown(start, end)}", err=True)
            raise typer.Exit(1)


def _iso(at: datetime | None) -> str | None:
    from engine.timeutil import iso_ms

    return iso_ms(at) if at else None


def _stats_lines(file: Path, summary: dict[str, Any]) -> list[str]:
    """The stats as aligned, terminal-safe lines."""
    lines = [
        f"file:    {safe(file)}",
        f"events:  {summary['events']}",
        f"span:    {summary['first'] or '-'} to {summary['last'] or '-'}",
    ]
    if summary["undated"]:
        lines.append(f"undated: {summary['undated']} (their date cannot be read)")
    lines.append("event types:")
    width = max([len(safe(t["type"])) for t in summary["types"]] + [4])
    lines += [
        f"  {t['count']:>7}  {safe(t['type']).ljust(width)}  {t['meaning']}"
        for t in summary["types"]
    ]
    lines.append("top IPs:")
    lines += [f"  {i['count']:>7}  {safe(i['ip'])}" for i in summary["ips"]]
    lines.append("top users:")
    for u in summary["users"]:
        name = f"  ({safe(u['user_name'])})" if u["user_name"] else ""
        lines.append(f"  {u['count']:>7}  {safe(u['user_id'])}{name}")
    return lines


@logs_app.command("index")
def index_cmd(
    file: Annotated[Path, typer.Argument(help="A log file (any shape soar reads).")],
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build it again even if the cache has it.")
    ] = False,
) -> None:
    """Read FILE into the cache (.soar-cache/, or SOAR_CACHE_DIR) before a run needs it.

    The cache holds the searchable fields of every event in columns and where
    each event is in the file, keyed by the file's size, modification time and
    a digest of its content: the next `soar run --logs FILE`, `soar logs
    search` or `stats` over the same file starts from it. A bad line is
    refused naming FILE:LINE, as a run would. Exit 0 indexed, 2 a bad file.
    """
    import time

    from engine.logs.cache import cache_dir, cache_entry, clear

    started = time.monotonic()
    root = cache_dir()
    assert root is not None
    entry = cache_entry(root, file, file.stat()) if file.is_file() else None
    if entry is not None and rebuild:
        clear(entry)
    with _store(file, True) as store:
        source = store.source(file)
        source.index  # noqa: B018 -- built now, kept in the cache: the first read-back is free
        for warning in store.flush():
            typer.echo(f"warning: {safe(warning)}", err=True)
    prof = source.profile
    how = (
        "already in the cache"
        if source.cached
        else f"indexed in {time.monotonic() - started:.1f} s"
    )
    typer.echo(
        f"{safe(file)}: {prof.events} events, {prof.first or '-'} to {prof.last or '-'}"
        f"{f', {prof.undated} undated' if prof.undated else ''}; {how}"
        f"{f' ({safe(entry.folder)})' if entry is not None else ''}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(logs_app, name="logs")
