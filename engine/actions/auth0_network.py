"""Containing an address, not only an account: the Tenant ACL and Suspicious IP Throttling.

Auth0's own attack playbooks recommend blocking the attacker's addresses at the
tenant (the Tenant Access Control List, ``/api/v2/network-acls``) and clearing
Suspicious-IP-Throttling blocks of addresses that were wrongly caught
(``/api/v2/anomaly/blocks/ips/{ip}``). Shapes and limits are in
``docs/actions.md`` ("IP containment"), taken from Auth0's API reference:

- a Tenant ACL is ``{description (<= 255), active, priority (1..100), rule}``;
  ``rule`` is ``{action: {block|allow|log|redirect: true}, scope, match | not_match}``
  with ``match.ipv4_cidrs`` / ``ipv6_cidrs`` lists (addresses or CIDRs);
- a tenant has at most 10 ACLs, each with at most 20 entries per identifier.

``auth0.block_ips`` keeps soar's blocks in ACLs of its own, recognised by
their description, so running it again adds only what is missing (idempotent),
and an operator's own rules are never edited. Like every Auth0 write here, its
send is its plan (``engine.actions.auth0.send``): the calls the plan lists are
exactly the calls made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.actions.auth0 import planned, schema_object, send, tenant
from engine.actions.registry import Action, ActionContext, Result
from engine.auth0.client import quote_id
from engine.errors import ActionError, UpstreamError
from engine.ipforms import Network, covered_by, entry, parse_network

# soar's own ACLs carry this description (a number is added for the 2nd, 3rd ...)
SOAR_ACL = "soar: addresses blocked by incident response"
MAX_ACLS = 10
MAX_ENTRIES = 20  # per identifier (ipv4_cidrs, ipv6_cidrs) and ACL
SCOPES = ("authentication", "tenant")


def _network(text: str) -> Network:
    try:
        return parse_network(text)
    except ValueError as exc:
        raise ActionError(str(exc)) from None


def list_network_acls(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    client = tenant(ctx, "auth0.list_network_acls")
    acls: list[dict[str, Any]] = []
    page = 0
    while True:
        batch = client.get("/network-acls", params={"page": page, "per_page": 100})
        if isinstance(batch, dict):  # {network_acls, start, limit, total} with include_totals
            batch = batch.get("network_acls")
        if not isinstance(batch, list):
            raise ActionError("GET /api/v2/network-acls did not answer a list of ACLs")
        acls += [a for a in batch if isinstance(a, dict)]
        if len(batch) < 100:
            return {"acls": acls, "count": len(acls)}
        page += 1


def _soar_acls(acls: list[dict[str, Any]], scope: str) -> list[dict[str, Any]]:
    def ours(acl: dict[str, Any]) -> bool:
        rule = acl.get("rule") or {}
        return (
            str(acl.get("description", "")).startswith(SOAR_ACL)
            and (rule.get("action") or {}).get("block") is True
            and rule.get("scope") == scope
        )

    return sorted((a for a in acls if ours(a)), key=lambda a: str(a.get("description")))


def _covered(net: Network, acls: list[dict[str, Any]]) -> bool:
    for acl in acls:
        match = (acl.get("rule") or {}).get("match") or {}
        if acl.get("active", True) and covered_by(
            net, [*(match.get("ipv4_cidrs") or []), *(match.get("ipv6_cidrs") or [])]
        ):
            return True
    return False


def _wanted(args: Mapping[str, Any]) -> dict[str, Network]:
    """Each address or network of one call as the ACL will hold it, in the order given."""
    raw = args["ips"] if "ips" in args else [args["ip"]]
    wanted: dict[str, Network] = {}
    for text in raw:
        net = _network(str(text))
        wanted.setdefault(entry(net), net)
    return wanted


def _plan_block_ips(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The POST/PATCH calls that make soar's ACLs block every address not blocked yet."""
    scope = args.get("scope", "authentication")
    wanted = _wanted(args)
    if ctx.logs_file is not None:  # offline: nothing to read, so the whole list is planned
        existing: list[dict[str, Any]] = []
    else:
        existing = list_network_acls(ctx, {})["acls"]
    ours = _soar_acls(existing, scope)
    missing = [e for e, net in wanted.items() if not _covered(net, ours)]
    if not missing:
        return []
    calls: list[dict[str, Any]] = []
    taken = {a.get("priority") for a in existing}
    for acl in ours:  # fill soar's ACLs that have room, then make new ones
        if not missing:
            break
        if not acl.get("active", True):
            continue
        rule = dict(acl.get("rule") or {})
        match = {k: list(v) for k, v in (rule.get("match") or {}).items()}
        added = _add(match, missing)
        if added:
            rule["match"] = match
            path = f"/network-acls/{quote_id(str(acl.get('id')))}"
            calls.append(planned("PATCH", path, {"rule": rule}, ", ".join(added)))
    count = len(existing)
    n = len(ours) + 1
    while missing:
        if count >= MAX_ACLS:
            raise ActionError(
                f"the tenant already has {count} Tenant ACLs, Auth0's maximum: "
                f"{len(missing)} address(es) could not be blocked ({', '.join(missing[:5])}); "
                "remove or merge an ACL, or block fewer addresses"
            )
        priority = next((p for p in range(1, 101) if p not in taken), None)
        if priority is None:
            raise ActionError("every Tenant ACL priority (1..100) is taken")
        taken.add(priority)
        fresh: dict[str, list[str]] = {}
        added = _add(fresh, missing)
        body = {
            "description": SOAR_ACL if n == 1 else f"{SOAR_ACL} ({n})",
            "active": True,
            "priority": priority,
            "rule": {"action": {"block": True}, "scope": scope, "match": fresh},
        }
        calls.append(planned("POST", "/network-acls", body, ", ".join(added)))
        count += 1
        n += 1
    return calls


def _add(match: dict[str, list[str]], missing: list[str]) -> list[str]:
    """Move entries from ``missing`` into ``match`` while each identifier has room."""
    added = []
    for text in list(missing):
        key = "ipv6_cidrs" if ":" in text else "ipv4_cidrs"
        entries = match.setdefault(key, [])
        if len(entries) < MAX_ENTRIES:
            entries.append(text)
            missing.remove(text)
            added.append(text)
    for key in [k for k, v in match.items() if not v]:
        del match[key]
    return added


def block_ips(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    tenant(ctx, "auth0.block_ips")
    calls = _plan_block_ips(ctx, args)
    acl_ids = []
    for response in send(ctx, "auth0.block_ips", calls):
        body = response.json() if response.content else {}
        acl_ids.append(body.get("id") if isinstance(body, dict) else None)
    blocked = [text for call in calls for text in call["target"].split(", ")]
    return {
        "ips": sorted(_wanted(args)),
        "newly_blocked": blocked,
        "acl_ids": [i for i in acl_ids if i],
        "changed": bool(calls),
    }


def addresses(args: Mapping[str, Any]) -> list[str]:
    """The targets of one call: each address or network, as the ACL will hold it."""
    return list(_wanted(args))


def _anomaly_path(ip: str) -> str:
    return f"/anomaly/blocks/ips/{quote_id(ip)}"


def get_ip_block(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    client = tenant(ctx, "auth0.get_ip_block")
    try:
        client.request("GET", _anomaly_path(args["ip"]))
    except UpstreamError as exc:
        if exc.status == 404:  # "IP address specified is currently not blocked"
            return {"ip": args["ip"], "blocked": False}
        raise
    return {"ip": args["ip"], "blocked": True}


def _unblock_ip_calls(ip: str, blocked: bool) -> list[dict[str, Any]]:
    """The DELETE of an address's anomaly block; none when it is not blocked."""
    return [planned("DELETE", _anomaly_path(ip), None, ip)] if blocked else []


def unblock_ip(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    calls = _unblock_ip_calls(args["ip"], get_ip_block(ctx, args)["blocked"])
    send(ctx, "auth0.unblock_ip", calls)
    return {"ip": args["ip"], "blocked": False, "changed": bool(calls)}


def _plan_unblock_ip(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocked = ctx.logs_file is not None or get_ip_block(ctx, args)["blocked"]
    return _unblock_ip_calls(args["ip"], blocked)


IP = {"type": "string", "minLength": 2, "maxLength": 64, "description": "An IPv4 or IPv6 address"}
IPS = {
    "type": "array",
    "items": {"type": "string", "minLength": 2, "maxLength": 64},
    "minItems": 1,
    "maxItems": MAX_ACLS * MAX_ENTRIES * 2,
    "description": "Addresses or CIDRs to block; every textual form of one address is one entry",
}

ACTIONS = [
    Action(
        "auth0.list_network_acls",
        list_network_acls,
        schema_object({}, []),
        {"type": "object", "properties": {"acls": {"type": "array"}, "count": {"type": "integer"}}},
        "read",
        "List the tenant's Tenant ACLs (GET /network-acls, every page).",
    ),
    Action(
        "auth0.get_ip_block",
        get_ip_block,
        schema_object({"ip": IP}, ["ip"]),
        {
            "type": "object",
            "properties": {"ip": {"type": "string"}, "blocked": {"type": "boolean"}},
        },
        "read",
        "Whether Suspicious IP Throttling blocks an address (GET /anomaly/blocks/ips/{ip}).",
    ),
    Action(
        "auth0.block_ips",
        block_ips,
        schema_object(
            {
                "ips": IPS,
                "scope": {
                    "enum": list(SCOPES),
                    "description": "authentication (default): logins and tokens; tenant: every endpoint",
                },
            },
            ["ips"],
        ),
        {
            "type": "object",
            "properties": {
                "ips": {"type": "array"},
                "newly_blocked": {"type": "array"},
                "acl_ids": {"type": "array"},
                "changed": {"type": "boolean"},
            },
        },
        "write",
        "Block addresses or CIDRs in a Tenant ACL of soar's own, created or extended "
        "idempotently (max_targets counts addresses; SOAR_PROTECTED_IPS are refused).",
        plan=_plan_block_ips,
        target="ips",
        idempotent=True,
        addresses=addresses,
        verbs=("block IP", "blocked IP"),
        blocks=True,
    ),
    Action(
        "auth0.unblock_ip",
        unblock_ip,
        schema_object({"ip": IP}, ["ip"]),
        {
            "type": "object",
            "properties": {"ip": {"type": "string"}, "changed": {"type": "boolean"}},
        },
        "write",
        "Clear a Suspicious-IP-Throttling block (DELETE /anomaly/blocks/ips/{ip}); "
        "changed is false when the address was not blocked.",
        plan=_plan_unblock_ip,
        target="ip",
        idempotent=True,
        addresses=addresses,
        verbs=("unblock IP", "unblocked IP"),
    ),
]
