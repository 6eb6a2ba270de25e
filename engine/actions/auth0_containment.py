"""Auth0 containment actions (writes): block, unblock, delete, revoke sessions, clear blocks.

Each write has a ``plan`` (what it would send, computed without sending; reads
are allowed); its live call sends the requests the same function builds, for
the state it read (``auth0.send``), so a dry run shows exactly what a live run
sends. Each names its target argument (``user_id``) for approval,
``max_targets`` and protected users, and is idempotent where Auth0 allows it:
its result says whether anything ``changed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.actions.auth0 import (
    USER_ID,
    fetch_user,
    list_user_blocks,
    planned,
    schema_object,
    send,
)
from engine.actions.registry import Action, ActionContext, ActionFunc, PlanFunc, Resolved, Result
from engine.auth0.client import quote_id
from engine.errors import ActionError

_SHOWN_FIELDS = ("email", "username", "name")  # what an approver recognises a user by
_MAX_SHOWN = 200  # characters of each: a user record's strings are the user's own


def user_names(user: Mapping[str, Any]) -> frozenset[str]:
    """Every identifier a user record goes by, lower-cased, for matching protected users.

    The ``user_id``, ``email`` and ``username``, and each linked identity as
    ``provider|user_id`` (its ``user_id`` may be a number) with the email and
    username of its ``profileData``. Shapes: auth0-facts.md section 7; the
    identity object (``connection``, ``user_id``, ``provider``, ``isSocial``,
    ``profileData``) as in Auth0's Management API reference ("Get a user",
    UserIdentitySchema, auth0.com/docs/api/management/v2/users/get-users-by-id).
    """
    names = {user.get("user_id"), user.get("email"), user.get("username")}
    for identity in user.get("identities") or []:
        if not isinstance(identity, Mapping):
            continue
        provider, uid = identity.get("provider"), identity.get("user_id")
        if isinstance(provider, str) and isinstance(uid, str | int) and not isinstance(uid, bool):
            names.add(f"{provider}|{uid}")
        profile = identity.get("profileData")
        if isinstance(profile, Mapping):
            names |= {profile.get("email"), profile.get("username")}
    return frozenset(n.strip().lower() for n in names if isinstance(n, str) and n.strip())


def resolve_user(ctx: ActionContext, args: Mapping[str, Any]) -> Resolved | None:
    """The user a write targets, read before any write (``None``: the user does not exist)."""
    uid = args["user_id"]
    user = fetch_user(ctx, uid)
    if user is None:
        return None
    details: dict[str, Any] = {"user_id": str(user.get("user_id") or uid)}
    for key in _SHOWN_FIELDS:
        value = user.get(key)
        if isinstance(value, str) and value:
            details[key] = value[:_MAX_SHOWN]
    return Resolved(names=user_names(user) | {str(uid).lower()}, details=details)


def _block_calls(uid: str, user: Mapping[str, Any] | None, blocked: bool) -> list[dict[str, Any]]:
    """The PATCH that sets ``blocked``; none when ``user`` (as read; None: unknown) already is so."""
    if user is not None and bool(user.get("blocked")) == blocked:
        return []
    return [planned("PATCH", f"/users/{quote_id(uid)}", {"blocked": blocked}, uid)]


def _set_blocked(blocked: bool) -> tuple[ActionFunc, PlanFunc]:
    name = "auth0.block_user" if blocked else "auth0.unblock_user"

    def run(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
        uid = args["user_id"]
        user = fetch_user(ctx, uid)
        if user is None:
            raise ActionError(f"user {uid} does not exist")
        calls = _block_calls(uid, user, blocked)
        send(ctx, name, calls)
        return {"user_id": uid, "blocked": blocked, "changed": bool(calls)}

    def plan(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        uid = args["user_id"]
        user = None if ctx.logs_file is not None else fetch_user(ctx, uid)
        return _block_calls(uid, user, blocked)

    return run, plan


def _delete_calls(uid: str, exists: bool) -> list[dict[str, Any]]:
    """The DELETE of a user; none when the user is already gone."""
    return [planned("DELETE", f"/users/{quote_id(uid)}", None, uid)] if exists else []


def delete_user(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    uid = args["user_id"]
    calls = _delete_calls(uid, fetch_user(ctx, uid) is not None)
    send(ctx, "auth0.delete_user", calls)  # 204, also if deleted meanwhile
    return {"user_id": uid, "deleted": True, "changed": bool(calls)}


def _plan_delete(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    uid = args["user_id"]
    return _delete_calls(uid, ctx.logs_file is not None or fetch_user(ctx, uid) is not None)


def _plan_revoke(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The DELETE of a user's sessions, and of its refresh tokens unless told not to."""
    uid = args["user_id"]
    kinds = ["sessions", "refresh-tokens"] if args.get("refresh_tokens", True) else ["sessions"]
    return [planned("DELETE", f"/users/{quote_id(uid)}/{kind}", None, uid) for kind in kinds]


def revoke_sessions(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    calls = _plan_revoke(ctx, args)
    send(ctx, "auth0.revoke_sessions", calls)
    done = [str(c["path"]).rsplit("/", 1)[1].replace("-", "_") for c in calls]
    return {"user_id": args["user_id"], "revoked": done, "changed": True}


def _plan_clear(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    uid = args["user_id"]
    return [planned("DELETE", f"/user-blocks/{quote_id(uid)}", None, uid)]


def clear_user_blocks(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    before = list_user_blocks(ctx, {"user_id": args["user_id"]})["count"]
    send(ctx, "auth0.clear_user_blocks", _plan_clear(ctx, args))
    return {"user_id": args["user_id"], "cleared": before, "changed": before > 0}


_block, _plan_block = _set_blocked(True)
_unblock, _plan_unblock = _set_blocked(False)
_WRITE_OUT = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "changed": {
            "type": "boolean",
            "description": "false when the tenant was already in that state",
        },
    },
}


def _user_write(
    name: str,
    func: ActionFunc,
    plan: PlanFunc,
    description: str,
    *,
    verbs: tuple[str, str],
    blocks: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Action:
    """A write to one user (``user_id``): idempotent, its record resolved before any write."""
    return Action(
        name,
        func,
        schema_object({"user_id": USER_ID, **(options or {})}, ["user_id"]),
        _WRITE_OUT,
        "write",
        description,
        plan=plan,
        target="user_id",
        idempotent=True,
        resolve=resolve_user,
        verbs=verbs,
        blocks=blocks,
    )


ACTIONS = [
    _user_write(
        "auth0.block_user",
        _block,
        _plan_block,
        "Block a user (PATCH blocked: true). Idempotent: changed is false when already blocked.",
        verbs=("block", "blocked"),
        blocks=True,
    ),
    _user_write(
        "auth0.unblock_user",
        _unblock,
        _plan_unblock,
        "Unblock a user (PATCH blocked: false). Does not clear brute-force blocks.",
        verbs=("unblock", "unblocked"),
    ),
    _user_write(
        "auth0.delete_user",
        delete_user,
        _plan_delete,
        "Delete a user. Idempotent: changed is false when the user was already gone.",
        verbs=("delete", "deleted"),
        blocks=True,
    ),
    _user_write(
        "auth0.revoke_sessions",
        revoke_sessions,
        _plan_revoke,
        "Revoke a user's sessions and refresh tokens.",
        verbs=("revoke the sessions of", "revoked the sessions of"),
        options={
            "refresh_tokens": {
                "type": "boolean",
                "description": "Also revoke refresh tokens (default true).",
            }
        },
    ),
    _user_write(
        "auth0.clear_user_blocks",
        clear_user_blocks,
        _plan_clear,
        "Clear brute-force protection blocks on a user.",
        verbs=("clear the brute-force blocks of", "cleared the brute-force blocks of"),
    ),
]
