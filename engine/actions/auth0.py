"""Auth0 read actions: the complete log search, a user's logs, a user, brute-force blocks.

The search helpers here (``run_search``, ``any_of``) are shared by the
investigations in ``auth0_logins`` and the writes in ``auth0_containment``.

Every value put into a log query goes through ``lucene`` (quoted, escaped);
every user id put into a path goes through ``quote_id``. With ``soar run
--logs FILE`` the searches read that file with the same query engine, and
writes are only planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from engine.actions.registry import Action, ActionContext, Result
from engine.auth0.client import Auth0Client, quote_id
from engine.auth0.search import (
    MAX_PAGES,
    PER_PAGE,
    SearchResult,
    parse_date,
    search,
    search_events,
)
from engine.depth import MAX_DEPTH, bounded, depth_of, marker
from engine.errors import ActionError, UpstreamError
from engine.expr.sandbox import lucene
from engine.logs.eventset import EventSet
from engine.logs.query import SEARCHABLE
from engine.timeutil import now_utc, parse_time

if TYPE_CHECKING:
    import httpx

CHUNK = 20  # values OR-ed into one query, to stay well under URL limits
# offline (--logs), where a query is SQL testing OR-ed values of one field as one list
# (engine.logs.sql), so a query of a thousand costs about one of twenty; each query is a
# pass over the file's columns: 1,500 address forms in chunks of 20 were 75 passes
OFFLINE_CHUNK = 1000

SINCE = {
    "type": ["string", "null"],
    "description": "Start of the window: 30m, 24h, 7d, 2w or an ISO 8601 date/time (null: the default).",
}
UNTIL = {
    "type": ["string", "null"],
    "description": "End of the window (exclusive): a duration before now or an ISO 8601 date/time; default (or null) now.",
}
USER_ID = {"type": "string", "minLength": 1, "description": "Auth0 user id, e.g. auth0|64f..."}
EVENTS = {"type": "array", "description": "Auth0 log events, oldest first."}
STATS = {
    "type": "object",
    "description": "what the search took: requests, retries, throttled (429s), waited_s",
}
WARNINGS = {
    "type": "array",
    "description": "e.g. a window older than the tenant's log retention",
}


def _window(ctx: ActionContext, args: Mapping[str, Any], default_since: str) -> tuple[Any, Any]:
    now = ctx.now or now_utc()  # a run's own clock when it has one (a Temporal workflow's)
    since = parse_time(args.get("since") or default_since, now)
    until = parse_time(args["until"], now) if args.get("until") else now
    if since >= until:
        raise ActionError(f"the window is empty: since {args.get('since')} is not before until")
    return since, until


def run_search(
    ctx: ActionContext,
    query: str,
    args: Mapping[str, Any],
    default_since: str,
    limit: int | None = None,
) -> SearchResult:
    """The complete search, on the tenant or (``--logs``) on the offline file; depth bounded."""
    since, until = _window(ctx, args, default_since)
    if ctx.logs_file is not None:
        store = ctx.events()
        result = search_events(store, ctx.logs_file, query, since, until, limit=limit)
        # the run log says where the answer came from: the file, or its columns in the cache
        cached = " (its columns from the cache)" if store.source(ctx.logs_file).cached else ""
        result.stats["source"] = f"file:{ctx.logs_file}{cached}"
        return result  # read back depth-bounded (engine.depth.loads), as the file reader reads
    # each page is an auth0.page event: a long search shows it is moving; each goes to the
    # run's store as it arrives, and the answer is an event set there
    pages = ctx.events().pages(prepare=bound_events)
    result = search(
        ctx.auth0(), query, since, until, limit=limit, fields=args.get("fields"), kept=pages
    )
    result.warnings.extend(pages.warnings)
    return result


def bound_events(events: list[dict[str, Any]]) -> list[str]:
    """Cut what is nested deeper than ``MAX_DEPTH`` in each event, with a marker and a warning.

    Event data is the attacker's: one Management API call nested 950 levels
    deep made every later recursive walk (templates, the run log, reports)
    fail. Auth0's own events nest under ten levels.
    """
    warnings: list[str] = []
    cut = 0
    for i, event in enumerate(events):
        if depth_of(event) > MAX_DEPTH:
            events[i] = bounded(event, MAX_DEPTH)
            cut += 1
            if cut == 1:
                where = event.get("log_id") or event.get("date") or f"event {i + 1}"
                warnings.append(
                    f"{where}: values nested deeper than {MAX_DEPTH} levels were cut "
                    f"(replaced by {marker(MAX_DEPTH)!r})"
                )
    if cut > 1:
        warnings.append(f"{cut} events in all had values nested too deep, cut the same way")
    return warnings


def sum_stats(results: list[SearchResult]) -> dict[str, Any]:
    keys = ("requests", "retries", "throttled", "waited_s")
    return {k: round(sum(r.stats.get(k, 0) for r in results), 3) for k in keys}


def any_of(field: str, values: Iterable[str], offline: bool = False) -> list[str]:
    """``field:"a" OR field:"b"`` clauses, every value escaped: ``CHUNK`` values at a time
    for a tenant, ``OFFLINE_CHUNK`` for a file (``offline``)."""
    unique = list(dict.fromkeys(v for v in values if v))
    size = OFFLINE_CHUNK if offline else CHUNK
    return [
        " OR ".join(f"{field}:{lucene(v)}" for v in unique[i : i + size])
        for i in range(0, len(unique), size)
    ]


def search_logs(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    result = run_search(ctx, args.get("query", ""), args, "24h", args.get("limit"))
    events = result.events
    warnings = list(result.warnings)
    if args.get("fields"):  # also for files and servers that ignore `fields`
        keep = list(dict.fromkeys(args["fields"]))
        held: set[str] = set()
        if isinstance(events, EventSet) and set(keep) <= SEARCHABLE:
            held = events.held(*keep)
            events = events.dicts(*keep)  # from the columns: no event read back
        else:
            picked = [{k: e.get(k) for k in keep} for e in events]
            held = {k for row in picked for k, v in row.items() if v is not None}
            events = picked
        # a misspelt field (User_name) is null in every event: said, not taken for an answer
        warnings += [
            f"fields: no event found has a value for {k!r} (field names are Auth0's, case "
            "included: user_name, client_name, details)"
            for k in keep
            if events and k not in held
        ]
    return {
        "events": events,
        "count": len(events),
        "stats": result.stats,
        "warnings": warnings,
    }


def user_logs(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    """``GET /users/{id}/logs`` newest first until ``since``; past its 1,000 cap, the complete search."""
    by_query = f"user_id:{lucene(args['user_id'])}"
    if ctx.logs_file is not None:  # the file's window warning, if any, goes with the answer
        result = run_search(ctx, by_query, args, "7d")
        return {"events": result.events, "count": len(result.events), "warnings": result.warnings}
    since, until = _window(ctx, args, "7d")
    client = ctx.auth0()
    events: list[dict[str, Any]] = []
    path = f"/users/{quote_id(args['user_id'])}/logs"
    for page in range(MAX_PAGES):
        batch = client.get(path, {"page": page, "per_page": PER_PAGE, "sort": "date:-1"})
        if not isinstance(batch, list):
            raise ActionError(f"GET /api/v2{path}: expected a list of log events")
        older = False
        for e in batch:
            date = parse_date(str(e.get("date") or ""))
            if date is None or date < since:
                older = older or date is not None  # newest first: the rest is older still
                continue
            if date < until:
                events.append(e)
        if older or len(batch) < PER_PAGE:
            events.reverse()
            return {"events": events, "count": len(events)}
    # 1,000 events and still inside the window: the log search has no such cap
    result = run_search(ctx, by_query, args, "7d")
    return {"events": result.events, "count": len(result.events)}


def tenant(ctx: ActionContext, action: str) -> Auth0Client:
    """The run's Auth0 client; an offline run (``--logs``) has none for user calls."""
    if ctx.logs_file is not None:
        raise ActionError(
            f"{action} needs a tenant; it cannot read an exported log file (run without --logs)"
        )
    return ctx.auth0()


API = "/api/v2"  # the Management API's prefix: plans show whole paths, the client adds it


def planned(method: str, path: str, body: Any, target: str) -> dict[str, Any]:
    """One request of a write's plan: ``path`` under the Management API, as the journal shows it."""
    return {"method": method, "path": API + path, "body": body, "target": target}


def send(ctx: ActionContext, action: str, calls: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send the requests of a write's plan, exactly as planned, in order.

    The one way an Auth0 write leaves an action: a live call sends what its
    ``plan`` lists for the same state (the dry run and the approval show
    nothing else), so a send can never differ from its plan.
    """
    client = tenant(ctx, action)
    return [
        client.request(c["method"], str(c["path"]).removeprefix(API), json=c["body"]) for c in calls
    ]


def fetch_user(ctx: ActionContext, user_id: str) -> dict[str, Any] | None:
    client = tenant(ctx, "reading a user")
    try:
        user = client.get(f"/users/{quote_id(user_id)}")
    except UpstreamError as exc:
        if exc.status == 404:
            return None
        raise
    return user if isinstance(user, dict) else None


def get_user(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    tenant(ctx, "auth0.get_user")
    user = fetch_user(ctx, args["user_id"])
    return {"found": user is not None, "user": user}


def list_user_blocks(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    client = tenant(ctx, "auth0.list_user_blocks")
    if args.get("user_id"):
        body = client.get(f"/user-blocks/{quote_id(args['user_id'])}")
    elif args.get("identifier"):
        body = client.get("/user-blocks", {"identifier": args["identifier"]})
    else:
        raise ActionError("auth0.list_user_blocks needs user_id or identifier")
    blocked_for = (body or {}).get("blocked_for", [])
    return {"blocked_for": blocked_for, "count": len(blocked_for)}


def schema_object(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": props,
    }


ACTIONS = [
    Action(
        "auth0.search_logs",
        search_logs,
        schema_object(
            {
                "query": {
                    "type": "string",
                    "description": "Auth0 log search query (Lucene subset). Put values in with the lucene filter: ip:{{ inputs.ip | lucene }}.",
                },
                "since": SINCE,
                "until": UNTIL,
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Stop after this many events.",
                },
                "fields": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": (
                        "Only these fields of each event; one that no event has a value for "
                        "is named in `warnings`."
                    ),
                },
            },
            [],
        ),
        {
            "type": "object",
            "properties": {
                "events": EVENTS,
                "count": {"type": "integer", "description": "number of events"},
                "stats": STATS,
                "warnings": WARNINGS,
            },
        },
        "read",
        "Every log event matching a query in a window (also past Auth0's 1,000-result cap), oldest first.",
    ),
    Action(
        "auth0.user_logs",
        user_logs,
        schema_object({"user_id": USER_ID, "since": SINCE, "until": UNTIL}, ["user_id"]),
        {
            "type": "object",
            "properties": {"events": EVENTS, "count": {"type": "integer"}, "warnings": WARNINGS},
        },
        "read",
        "A user's log events in the window, oldest first (GET /users/{id}/logs; past its 1,000 cap, the complete log search).",
    ),
    Action(
        "auth0.get_user",
        get_user,
        schema_object({"user_id": USER_ID}, ["user_id"]),
        {
            "type": "object",
            "properties": {"found": {"type": "boolean"}, "user": {"type": ["object", "null"]}},
        },
        "read",
        "A user's profile, or found: false.",
    ),
    Action(
        "auth0.list_user_blocks",
        list_user_blocks,
        schema_object(
            {
                "user_id": USER_ID,
                "identifier": {"type": "string", "description": "username, email or phone"},
            },
            [],
        ),
        {
            "type": "object",
            "properties": {"blocked_for": {"type": "array"}, "count": {"type": "integer"}},
        },
        "read",
        "Brute-force protection blocks on a user (by id or identifier).",
    ),
]
