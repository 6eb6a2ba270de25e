"""Auth0 investigations: who got in from given IPs, what they reached, what they did after.

A login is any successful user authentication (``engine.eventcodes``
``USER_AUTH_SUCCESS``): a password login, silent authentication and
cross-origin authentication from an SSO session, the token exchanges. An IP is
searched in every text form it may have been logged in (``engine.ipforms``):
Auth0 logs the ``ip`` it received and matches its text exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.actions.auth0 import (
    EVENTS,
    SINCE,
    STATS,
    UNTIL,
    WARNINGS,
    any_of,
    run_search,
    schema_object,
    sum_stats,
)
from engine.actions.events import fields_of, joined
from engine.actions.ip import widen
from engine.actions.registry import Action, ActionContext, Result
from engine.auth0.search import SearchResult
from engine.errors import ActionError
from engine.eventcodes import USER_AUTH_SUCCESS
from engine.expr.sandbox import lucene
from engine.ipforms import address_key, all_variants

# every way a user authenticates and reaches an application: a password login (s), an
# SSO session (ssa, scoa), a token exchange (seacft, sertft, sepft, ...)
SUCCESS_TYPES = sorted(USER_AUTH_SUCCESS)
SUCCESS_CLAUSE = " OR ".join(f"type:{lucene(t)}" for t in SUCCESS_TYPES)
_IPS = {
    "type": "array",
    "items": {"type": ["string", "object"]},
    "description": "IPs: strings, or ip.extract rows whose `forms` are all searched. Each address is also searched in the forms other writers produce (engine.ipforms).",
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
    warnings: list[str] = []
    results = []
    forms = ip_forms_of(args.get("ips") or [])
    for clause in any_of("ip", forms, ctx.logs_file is not None):
        result = run_search(ctx, f"({SUCCESS_CLAUSE}) AND ({clause})", args, "7d")
        results.append(result)
        warnings.extend(result.warnings)
    events = joined([r.events for r in results])
    users: list[str] = []
    names: dict[str, str] = {}
    first: dict[str, Any] = {}
    types: dict[str, int] = {}
    for e in fields_of(events, "type", "user_id", "user_name", "date"):
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
        "stats": sum_stats(results),
        "warnings": sorted(set(warnings)),
    }


def list_accessed_clients(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    events = args.get("events")
    user_ids = list(args.get("user_ids") or [])
    if events is None:
        events = joined(
            [
                run_search(ctx, f"({SUCCESS_CLAUSE}) AND ({clause})", args, "7d").events
                for clause in any_of("user_id", user_ids, ctx.logs_file is not None)
            ]
        )
    only = address_keys(args["ips"]) if args.get("ips") else None
    clients: dict[str, dict[str, dict[str, Any]]] = {uid: {} for uid in user_ids}
    for e in fields_of(events, "user_id", "client_id", "client_name", "type", "ip", "date"):
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
        widen(row, e.get("date"))
    ordered = {
        uid: sorted(rows.values(), key=lambda r: str(r["client_name"]))
        for uid, rows in clients.items()
    }
    names = {uid: [str(r["client_name"]) for r in rows] for uid, rows in ordered.items()}
    return {"clients": ordered, "client_names": names}


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
    for e in fields_of(args.get("logins") or [], "user_id", "date", "ip"):
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
    for clause in any_of("user_id", list(first), ctx.logs_file is not None):
        result = run_search(ctx, clause, args, "7d")
        results.append(result)
        for e in fields_of(result.events, "user_id", "ip", "date", "client_name", "type"):
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
        "stats": sum_stats(results),
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
    widen(row, e.get("date"))
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


ACTIONS = [
    Action(
        "auth0.find_successful_logins",
        find_successful_logins,
        schema_object({"ips": _IPS, "since": SINCE, "until": UNTIL}, ["ips"]),
        {
            "type": "object",
            "properties": {
                "events": EVENTS,
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
                "stats": STATS,
                "warnings": WARNINGS,
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
                "since": SINCE,
                "until": UNTIL,
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
                "since": SINCE,
                "until": UNTIL,
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
                "stats": STATS,
                "warnings": WARNINGS,
            },
        },
        "read",
        "Each compromised account's activity from other addresses after its first compromise "
        "(an attacker who switches address is still seen).",
    ),
]
