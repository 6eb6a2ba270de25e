"""Auth0 actions: log searches and investigations (reads), containment (writes).

Every value put into a log query goes through ``lucene`` (quoted, escaped);
every user id put into a path goes through ``quote_id``. With ``soar run
--logs FILE`` the searches read that file with the same query engine, and
writes are only planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.auth0.client import Auth0Client, quote_id
from engine.auth0.search import (
    MAX_PAGES,
    PER_PAGE,
    SearchResult,
    parse_date,
    search,
    search_file,
)
from engine.errors import ActionError, UpstreamError
from engine.eventcodes import USER_AUTH_SUCCESS
from engine.ipforms import address_key, all_variants
from engine.registry import Action, ActionContext, Result
from engine.templating import lucene
from engine.timeutil import now_utc, parse_time

CHUNK = 20  # values OR-ed into one query, to stay well under URL limits
MAX_DEPTH = 64  # levels of nesting kept in an event (see _bound_events)
CUT = "[cut: nested too deep]"
# every way a user authenticates and reaches an application: a password login (s), an
# SSO session (ssa, scoa), a token exchange (seacft, sertft, sepft, ...)
SUCCESS_TYPES = sorted(USER_AUTH_SUCCESS)
SUCCESS_CLAUSE = " OR ".join(f"type:{lucene(t)}" for t in SUCCESS_TYPES)

_SINCE = {
    "type": ["string", "null"],
    "description": "Start of the window: 30m, 24h, 7d, 2w or an ISO 8601 date/time (null: the default).",
}
_UNTIL = {
    "type": ["string", "null"],
    "description": "End of the window (exclusive): a duration before now or an ISO 8601 date/time; default (or null) now.",
}
_IPS = {
    "type": "array",
    "items": {"type": ["string", "object"]},
    "description": "IPs: strings, or ip.extract rows whose `forms` are all searched. Each address is also searched in the forms other writers produce (engine.ipforms).",
}
USER_ID = {"type": "string", "minLength": 1, "description": "Auth0 user id, e.g. auth0|64f..."}
_EVENTS = {"type": "array", "description": "Auth0 log events, oldest first."}
_STATS = {
    "type": "object",
    "description": "what the search took: requests, retries, throttled (429s), waited_s",
}
_WARNINGS = {
    "type": "array",
    "description": "e.g. a window older than the tenant's log retention",
}


def _window(args: Mapping[str, Any], default_since: str) -> tuple[Any, Any]:
    now = now_utc()
    since = parse_time(args.get("since") or default_since, now)
    until = parse_time(args["until"], now) if args.get("until") else now
    if since >= until:
        raise ActionError(f"the window is empty: since {args.get('since')} is not before until")
    return since, until


def _search(
    ctx: ActionContext,
    query: str,
    args: Mapping[str, Any],
    default_since: str,
    limit: int | None = None,
) -> SearchResult:
    """The complete search, on the tenant or (``--logs``) on the offline file; depth bounded."""
    since, until = _window(args, default_since)
    if ctx.logs_file is not None:
        result = search_file(ctx.logs_file, query, since, until, limit=limit)
        result.stats["source"] = f"file:{ctx.logs_file}"
    else:

        def progress(events: int, requests: int) -> None:
            if requests % 10 == 0:  # every 1,000 events: a long search shows it is moving
                ctx.logger.info("log search progress", events=events, requests=requests)

        result = search(
            ctx.auth0(),
            query,
            since,
            until,
            limit=limit,
            fields=args.get("fields"),
            progress=progress,
        )
    _bound_events(result)
    return result


def _bound_events(result: SearchResult) -> None:
    """Cut what is nested deeper than ``MAX_DEPTH`` in each event, with a marker and a warning.

    Event data is the attacker's: one Management API call nested 950 levels
    deep made every later recursive walk (templates, the run log, reports)
    fail. Auth0's own events nest under ten levels.
    """
    cut = 0
    for i, event in enumerate(result.events):
        if _too_deep(event):
            result.events[i] = _bounded_copy(event)
            cut += 1
            if cut == 1:
                where = event.get("log_id") or event.get("date") or f"event {i + 1}"
                result.warnings.append(
                    f"{where}: values nested deeper than {MAX_DEPTH} levels were cut "
                    f"(replaced by {CUT!r})"
                )
    if cut > 1:
        result.warnings.append(f"{cut} events in all had values nested too deep, cut the same way")


def _too_deep(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list):
            if depth >= MAX_DEPTH:
                return True
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((c, depth + 1) for c in children if isinstance(c, Mapping | list))
    return False


def _bounded_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``value`` (iterative, no recursion) with containers past ``MAX_DEPTH`` cut."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any, int]] = [(value, root, 1)]
    while stack:
        src, dst, depth = stack.pop()
        items = src.items() if isinstance(src, Mapping) else enumerate(src)
        for key, child in items:
            new: Any = child
            if isinstance(child, Mapping | list):
                if depth >= MAX_DEPTH:
                    new = CUT
                else:
                    new = {} if isinstance(child, Mapping) else []
                    stack.append((child, new, depth + 1))
            if isinstance(dst, dict):
                dst[key] = new
            else:
                dst.append(new)
    return root


def _sum_stats(results: list[SearchResult]) -> dict[str, Any]:
    keys = ("requests", "retries", "throttled", "waited_s")
    return {k: round(sum(r.stats.get(k, 0) for r in results), 3) for k in keys}


def _any_of(field: str, values: Iterable[str]) -> list[str]:
    """``field:"a" OR field:"b"`` clauses, CHUNK values at a time, every value escaped."""
    unique = list(dict.fromkeys(v for v in values if v))
    return [
        " OR ".join(f"{field}:{lucene(v)}" for v in unique[i : i + CHUNK])
        for i in range(0, len(unique), CHUNK)
    ]


def search_logs(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    result = _search(ctx, args.get("query", ""), args, "24h", args.get("limit"))
    events = result.events
    if args.get("fields"):  # also for files and servers that ignore `fields`
        keep = list(args["fields"])
        events = [{k: e.get(k) for k in keep} for e in events]
    return {
        "events": events,
        "count": len(events),
        "stats": result.stats,
        "warnings": result.warnings,
    }


def ip_forms_of(items: Iterable[Any]) -> list[str]:
    """Every text form to search for the given IPs (strings or ip.extract rows)."""
    texts: list[str] = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, Mapping):
            if item.get("ip"):
                texts.append(str(item["ip"]))
            forms = item.get("forms")
            if isinstance(forms, list):
                texts.extend(str(f) for f in forms if f)
        else:
            raise ActionError(f"an IP must be a string or an ip.extract row, not {item!r:.60}")
    return all_variants(t for t in texts if t)


def address_keys(items: Iterable[Any]) -> set[str]:
    """The addresses (``engine.ipforms.address_key``) of the given IPs, whatever their form."""
    return {k for k in (address_key(f) for f in ip_forms_of(items)) if k}


def find_successful_logins(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    """Every successful user authentication from the IPs, whatever its type and IP form."""
    events: list[dict[str, Any]] = []
    warnings: list[str] = []
    results = []
    forms = ip_forms_of(args.get("ips") or [])
    for clause in _any_of("ip", forms):
        result = _search(ctx, f"({SUCCESS_CLAUSE}) AND ({clause})", args, "7d")
        results.append(result)
        events.extend(result.events)
        warnings.extend(result.warnings)
    events.sort(key=lambda e: (str(e.get("date")), str(e.get("log_id"))))
    users: list[str] = []
    names: dict[str, str] = {}
    first: dict[str, Any] = {}
    types: dict[str, int] = {}
    for e in events:
        types[str(e.get("type"))] = types.get(str(e.get("type")), 0) + 1
        uid = e.get("user_id")
        if not uid:
            continue
        if uid not in first:
            users.append(uid)
            first[uid] = e.get("date")
            names[uid] = ""
        if not names[uid] and e.get("user_name"):
            names[uid] = e["user_name"]
    return {
        "events": events,
        "users": users,
        "user_names": names,
        "first_login": first,
        "types": dict(sorted(types.items())),
        "forms_searched": forms,
        "count": len(events),
        "stats": _sum_stats(results),
        "warnings": sorted(set(warnings)),
    }


def list_accessed_clients(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    events = args.get("events")
    user_ids = list(args.get("user_ids") or [])
    if events is None:
        events = []
        for clause in _any_of("user_id", user_ids):
            result = _search(ctx, f"({SUCCESS_CLAUSE}) AND ({clause})", args, "7d")
            events.extend(result.events)
    only = address_keys(args["ips"]) if args.get("ips") else None
    clients: dict[str, dict[str, dict[str, Any]]] = {uid: {} for uid in user_ids}
    for e in events:
        uid, cid = e.get("user_id"), e.get("client_id")
        if not uid or not (cid or e.get("client_name")) or (user_ids and uid not in clients):
            continue
        if e.get("type") not in USER_AUTH_SUCCESS:
            continue
        if only is not None and address_key(str(e.get("ip") or "")) not in only:
            continue
        key = cid or e.get("client_name")
        row = clients.setdefault(uid, {}).setdefault(
            key,
            {
                "client_id": cid,
                "client_name": e.get("client_name"),
                "first_seen": e.get("date"),
                "last_seen": e.get("date"),
                "count": 0,
                "types": [],
            },
        )
        row["count"] += 1
        if e["type"] not in row["types"]:
            row["types"].append(e["type"])
        _widen(row, e.get("date"))
    ordered = {
        uid: sorted(rows.values(), key=lambda r: str(r["client_name"]))
        for uid, rows in clients.items()
    }
    names = {uid: [str(r["client_name"]) for r in rows] for uid, rows in ordered.items()}
    return {"clients": ordered, "client_names": names}


def _widen(row: dict[str, Any], date: Any) -> None:
    """Move a row's first_seen/last_seen out to ``date``."""
    if date and (row["first_seen"] is None or date < row["first_seen"]):
        row["first_seen"] = date
    if date and (row["last_seen"] is None or date > row["last_seen"]):
        row["last_seen"] = date


def activity_after_compromise(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    """Each compromised account's events from other addresses after its first compromise.

    An attacker holding a session or a refresh token can go on from a new
    address that never failed a login, so it is not among the suspicious
    IPs. ``logins`` are the attacker's successful logins (as
    ``find_successful_logins`` returns them): their users, the date each was
    first reached and the addresses used. Every event of those users from
    ``since`` is read; those at or after the user's first compromise, from an
    address that is none of the attacker's (any form), are summarised.
    """
    first: dict[str, str] = {}
    attacker: set[str] = address_keys(args.get("ips") or [])
    for e in args.get("logins") or []:
        if not isinstance(e, Mapping) or not e.get("user_id"):
            continue
        date = str(e.get("date") or "")
        uid = str(e["user_id"])
        if uid not in first or date < first[uid]:
            first[uid] = date
        key = address_key(str(e.get("ip") or ""))
        if key:
            attacker.add(key)
    activity: dict[str, dict[str, Any]] = {}
    results: list[SearchResult] = []
    for clause in _any_of("user_id", list(first)):
        result = _search(ctx, clause, args, "7d")
        results.append(result)
        for e in result.events:
            uid = str(e.get("user_id") or "")
            key = address_key(str(e.get("ip") or ""))
            if uid not in first or not key or key in attacker:
                continue
            if str(e.get("date") or "") < first[uid]:
                continue
            _add_elsewhere(activity, uid, key, e)
    out = {uid: _summary(activity.get(uid)) for uid in first}
    return {
        "activity": out,
        "first_compromise": first,
        "count": sum(v["count"] for v in out.values()),
        "stats": _sum_stats(results),
        "warnings": sorted({w for r in results for w in r.warnings}),
    }


def _add_elsewhere(
    activity: dict[str, dict[str, Any]], uid: str, key: str, e: Mapping[str, Any]
) -> None:
    user = activity.setdefault(uid, {"ips": {}, "clients": {}, "types": {}, "count": 0})
    user["count"] += 1
    row = user["ips"].setdefault(
        key, {"ip": e.get("ip"), "address": key, "count": 0, "first_seen": None, "last_seen": None}
    )
    row["count"] += 1
    _widen(row, e.get("date"))
    if e.get("client_name"):
        user["clients"][str(e["client_name"])] = None
    t = str(e.get("type"))
    user["types"][t] = user["types"].get(t, 0) + 1


def _summary(user: dict[str, Any] | None) -> dict[str, Any]:
    if user is None:
        return {"ips": [], "addresses": [], "clients": [], "types": {}, "count": 0}
    rows = sorted(user["ips"].values(), key=lambda r: (str(r["first_seen"]), r["address"]))
    return {
        "ips": [r["ip"] for r in rows],
        "addresses": rows,
        "clients": sorted(user["clients"]),
        "types": dict(sorted(user["types"].items())),
        "count": user["count"],
    }


def user_logs(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    """``GET /users/{id}/logs`` newest first until ``since``; past its 1,000 cap, the complete search."""
    by_query = f"user_id:{lucene(args['user_id'])}"
    if ctx.logs_file is not None:
        result = _search(ctx, by_query, args, "7d")
        return {"events": result.events, "count": len(result.events)}
    since, until = _window(args, "7d")
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
    result = _search(ctx, by_query, args, "7d")
    return {"events": result.events, "count": len(result.events)}


def tenant(ctx: ActionContext, action: str) -> Auth0Client:
    """The run's Auth0 client; an offline run (``--logs``) has none for user calls."""
    if ctx.logs_file is not None:
        raise ActionError(
            f"{action} needs a tenant; it cannot read an exported log file (run without --logs)"
        )
    return ctx.auth0()


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
                "since": _SINCE,
                "until": _UNTIL,
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Stop after this many events.",
                },
                "fields": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Only these fields of each event.",
                },
            },
            [],
        ),
        {
            "type": "object",
            "properties": {
                "events": _EVENTS,
                "count": {"type": "integer", "description": "number of events"},
                "stats": _STATS,
                "warnings": _WARNINGS,
            },
        },
        "read",
        "Every log event matching a query in a window (also past Auth0's 1,000-result cap), oldest first.",
    ),
    Action(
        "auth0.find_successful_logins",
        find_successful_logins,
        schema_object({"ips": _IPS, "since": _SINCE, "until": _UNTIL}, ["ips"]),
        {
            "type": "object",
            "properties": {
                "events": _EVENTS,
                "users": {"type": "array", "description": "distinct user ids, first login first"},
                "user_names": {
                    "type": "object",
                    "description": "user id -> user_name seen, verbatim",
                },
                "first_login": {
                    "type": "object",
                    "description": "user id -> date of its first successful login from these IPs",
                },
                "types": {"type": "object", "description": "event type -> number of events"},
                "forms_searched": {
                    "type": "array",
                    "description": "every IP text searched (the forms given and their common variants)",
                },
                "count": {"type": "integer", "description": "number of events"},
                "stats": _STATS,
                "warnings": _WARNINGS,
            },
        },
        "read",
        "Successful user authentications of every type (s, ssa, scoa, token exchanges: "
        "engine.eventcodes.USER_AUTH_SUCCESS) from the given IPs, in every form: the events, "
        "the distinct users and their names.",
    ),
    Action(
        "auth0.list_accessed_clients",
        list_accessed_clients,
        schema_object(
            {
                "user_ids": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Users to look at.",
                },
                "events": {
                    "type": "array",
                    "description": "Use these events instead of searching.",
                },
                "ips": {**_IPS, "description": "Count only events from these IPs (any form)."},
                "since": _SINCE,
                "until": _UNTIL,
            },
            [],
        ),
        {
            "type": "object",
            "properties": {
                "clients": {
                    "type": "object",
                    "description": "user id -> [{client_id, client_name, first_seen, last_seen, count, types}]",
                },
                "client_names": {
                    "type": "object",
                    "description": "user id -> [client_name], sorted",
                },
            },
        },
        "read",
        "Per user, the applications reached by any successful authentication (logins, SSO, "
        "token exchanges), with first/last seen, count and types.",
    ),
    Action(
        "auth0.activity_after_compromise",
        activity_after_compromise,
        schema_object(
            {
                "logins": {
                    "type": "array",
                    "description": "The attacker's successful logins (find_successful_logins events).",
                },
                "ips": {**_IPS, "description": "More attacker IPs to leave out (any form)."},
                "since": _SINCE,
                "until": _UNTIL,
            },
            ["logins"],
        ),
        {
            "type": "object",
            "properties": {
                "activity": {
                    "type": "object",
                    "description": "user id -> {ips (as logged), addresses [{ip, address, count, first_seen, last_seen}], clients, types, count}: events from other addresses at or after the first compromise",
                },
                "first_compromise": {
                    "type": "object",
                    "description": "user id -> date of its first login from an attacker IP",
                },
                "count": {"type": "integer", "description": "number of such events"},
                "stats": _STATS,
                "warnings": _WARNINGS,
            },
        },
        "read",
        "Each compromised account's activity from other addresses after its first compromise "
        "(an attacker who switches address is still seen).",
    ),
    Action(
        "auth0.user_logs",
        user_logs,
        schema_object({"user_id": USER_ID, "since": _SINCE, "until": _UNTIL}, ["user_id"]),
        {"type": "object", "properties": {"events": _EVENTS, "count": {"type": "integer"}}},
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
