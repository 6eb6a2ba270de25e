"""The emulator's user endpoints: users, their logs, user-blocks, session and token revocation.

Auth0's behaviour (auth0-facts.md §7): PATCH merges metadata one level deep and
replaces other properties; DELETE answers 204 even for an id already deleted;
an unknown user is 404 ``inexistent_user``; revocations answer 202 ``{}`` and are
recorded on the tenant for tests and drills to read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.emulator.params import (
    CAP_MESSAGE,
    MAX_RESULTS,
    Query,
    Reply,
    bool_param,
    boom,
    int_param,
    invalid_query,
    sort_param,
)
from engine.emulator.tenant import Tenant
from engine.timeutil import iso_ms, now_utc

# what PATCH /users/{id} accepts (OAS UpdateUserRequestContent)
USER_PATCH = frozenset(
    [
        "blocked",
        "email_verified",
        "email",
        "phone_number",
        "phone_verified",
        "user_metadata",
        "app_metadata",
        "given_name",
        "family_name",
        "name",
        "nickname",
        "picture",
        "verify_email",
        "verify_phone_number",
        "password",
        "connection",
        "client_id",
        "username",
    ]
)


def users(
    tenant: Tenant, method: str, uid: str, rest: list[str], q: Query, body: Any
) -> tuple[int, Any]:
    user = tenant.users.get(uid)
    missing = 404, boom(404, "The user does not exist.", "inexistent_user")
    if rest == [] and method == "GET":
        return (200, user) if user else missing
    if rest == [] and method == "PATCH":
        if not user:
            return missing
        problem = _patch_problem(body)
        if problem:
            return 400, boom(400, f"Payload validation error: {problem}", "invalid_body")
        _apply_patch(user, body)
        return 200, user
    if rest == [] and method == "DELETE":
        if user:
            tenant.deleted.add(uid)
            del tenant.users[uid]
        return 204, None
    if rest == ["logs"] and method == "GET":
        page = int_param(q, "page", 0, 0, 10**9)
        per_page = int_param(q, "per_page", 50, 1, 100)
        if (page + 1) * per_page > MAX_RESULTS:
            return 400, boom(400, CAP_MESSAGE, "invalid_paging")
        sort = sort_param(q) or ("date", -1)
        positions: Sequence[int] = tenant.logs.by_user(uid)
        logs = tenant.logs
        if sort[0] == "log_id" or (sort[0] == "date" and logs.dates_sorted):
            positions = positions if sort[1] > 0 else positions[::-1]
        elif sort[0] == "date":  # by instant, however each date is written
            positions = sorted(
                positions, key=lambda p: (logs.dates[p], logs.ids[p]), reverse=sort[1] < 0
            )
        else:
            positions = sorted(
                positions,
                key=lambda p: (str(tenant.logs.get(p).get(sort[0]) or ""), tenant.logs.ids[p]),
                reverse=sort[1] < 0,
            )
        chosen = positions[page * per_page : (page + 1) * per_page]
        data = b"[" + b",".join(tenant.logs.raw(p) for p in chosen) + b"]"
        if bool_param(q, "include_totals", False):
            return 200, {
                "start": page * per_page,
                "limit": per_page,
                "length": len(chosen),
                "total": len(positions),
                "logs": json.loads(data),
            }
        raise Reply(200, data)
    if rest == ["sessions"] and method == "GET":
        if not user:
            return missing
        return 200, {"sessions": [] if uid in tenant.revoked_sessions else _sessions(tenant, uid)}
    if rest in (["sessions"], ["refresh-tokens"]) and method == "DELETE":
        if not user:
            return missing
        (tenant.revoked_sessions if rest == ["sessions"] else tenant.revoked_refresh_tokens).append(
            uid
        )
        return 202, {}
    return 404, boom(404, "Not Found")


def _sessions(tenant: Tenant, uid: str) -> list[dict[str, Any]]:
    """One live session per client the user last logged in to (newest login first).

    Derived from the user's ``s`` events; a ``DELETE .../sessions`` empties the list
    (the emulator makes no new logins, so nothing can refill it).
    """
    out: dict[str, dict[str, Any]] = {}
    logs = tenant.logs
    for pos in sorted(logs.by_user(uid), key=lambda p: (logs.dates[p], logs.ids[p]), reverse=True):
        e = logs.get(pos)
        if e.get("type") != "s" or e.get("client_id") in out:
            continue
        out[str(e.get("client_id"))] = {
            "id": "ses_" + str(e.get("log_id"))[-24:],
            "user_id": uid,
            "created_at": e.get("date"),
            "updated_at": e.get("date"),
            "authenticated_at": e.get("date"),
            "device": {
                "initial_ip": e.get("ip"),
                "initial_user_agent": e.get("user_agent"),
                "last_ip": e.get("ip"),
                "last_user_agent": e.get("user_agent"),
            },
            "clients": [{"client_id": e.get("client_id")}],
            "authentication": {"methods": [{"name": "pwd", "timestamp": e.get("date")}]},
        }
    return list(out.values())


def user_blocks(tenant: Tenant, method: str, uid: str | None, q: Query) -> tuple[int, Any]:
    if uid is None:
        ident = q.get("identifier")
        if not ident:
            refused = invalid_query("'Missing required property: identifier'.")
            return refused.status, refused.body
        user = tenant.find_user(ident)
        uid = user["user_id"] if user else None
    elif uid not in tenant.users:
        return 404, boom(404, "The user does not exist.", "inexistent_user")
    if method == "GET":
        return 200, {"blocked_for": list(tenant.user_blocks.get(uid or "", []))}
    if method == "DELETE":
        tenant.user_blocks.pop(uid or "", None)
        return 204, None
    return 404, boom(404, "Not Found")


def _patch_problem(body: Any) -> str | None:
    """What Auth0's payload validation would reject in a PATCH /users/{id} body, if anything."""
    if not isinstance(body, dict):
        return "'Expected type object but found type " + type(body).__name__ + "'."
    extra = sorted(k for k in body if k not in USER_PATCH)
    if extra:
        return f"'Additional properties not allowed: {','.join(extra)}'."
    for key in ("blocked", "email_verified", "phone_verified", "verify_email"):
        if key in body and not isinstance(body[key], bool):
            return f"'Expected type boolean but found type {type(body[key]).__name__}' on property {key}."
    for key in ("app_metadata", "user_metadata"):
        if key in body and body[key] is not None and not isinstance(body[key], dict):
            return f"'Expected type object but found type {type(body[key]).__name__}' on property {key}."
    return None


def _apply_patch(user: dict[str, Any], body: dict[str, Any]) -> None:
    """Metadata merged one level deep (a null value removes the key); others replaced."""
    for key, value in body.items():
        if key in ("app_metadata", "user_metadata"):
            merged = dict(user.get(key) or {})
            for k, v in (value or {}).items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            user[key] = merged
        elif key == "password":
            # never stored: only the reset time is visible, as in Auth0
            user["last_password_reset"] = iso_ms(now_utc())
        elif key not in ("verify_email", "verify_phone_number", "connection", "client_id"):
            user[key] = value
    user["updated_at"] = iso_ms(now_utc())
