"""The emulator's address controls: Tenant ACLs and Suspicious-IP-Throttling blocks.

Shapes from Auth0's Management API reference (``POST /network-acls``,
``GET /anomaly/blocks/ips/{id}``) and the OAS-generated SDK types
(auth0-python 6 ``NetworkAclRule``, ``NetworkAclMatch``): an ACL is
``{id, description (<= 255), active, priority (1..100), rule, created_at, updated_at}``
and a rule ``{action: {block|allow|log|redirect: true[, redirect_uri]}, scope
(management|authentication|tenant|dynamic_client_registration), match?, not_match?}``.
Limits from "Tenant Access Control List Limits": at most 10 ACLs (with the
Attack Protection add-on), at most 20 entries per identifier. Answers Auth0 does
not document exactly (which error body a broken rule gets) follow its
``Payload validation error`` form with ``errorCode: invalid_body``; see
docs/drills-and-emulator.md.

``Tenant.acl_blocks(ip, scope)`` is what the rest of the emulator asks before
it lets an address log in.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from engine.emulator.params import Query, Reply, boom, int_param
from engine.emulator.tenant import Tenant
from engine.timeutil import iso_ms, now_utc

MAX_ACLS = 10
MAX_ENTRIES = 20
SCOPES = ("management", "authentication", "tenant", "dynamic_client_registration")
ACTIONS = ("block", "allow", "log", "redirect")
MATCH_KEYS = {
    "asns": int,
    "auth0_managed": str,
    "geo_country_codes": str,
    "geo_subdivision_codes": str,
    "ipv4_cidrs": str,
    "ipv6_cidrs": str,
    "ja3_fingerprints": str,
    "ja4_fingerprints": str,
    "user_agents": str,
    "hostnames": str,
    "connecting_ipv4_cidrs": str,
    "connecting_ipv6_cidrs": str,
}
ACL_KEYS = {"description", "active", "priority", "rule"}


def _invalid(detail: str) -> Reply:
    return Reply(400, boom(400, f"Payload validation error: {detail}", "invalid_body"))


def _check_cidrs(key: str, values: list[Any]) -> None:
    version = 6 if "ipv6" in key else 4
    for value in values:
        try:
            net = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            net = None
        if net is None or net.version != version:
            raise _invalid(f"'Object didn't pass validation for format ipv{version}-cidr: {value}'")


def _check_match(where: str, match: Any) -> None:
    if not isinstance(match, dict) or not match:
        raise _invalid(f"'Expected type object with at least one property' on property {where}")
    for key, values in match.items():
        kind = MATCH_KEYS.get(key)
        if kind is None:
            raise _invalid(f"'Additional properties not allowed: {key}' on property {where}")
        if not isinstance(values, list) or not all(isinstance(v, kind) for v in values):
            raise _invalid(f"'Expected type array' on property {where}.{key}")
        if len(values) > MAX_ENTRIES:
            raise _invalid(
                f"'Array is too long ({len(values)}), maximum {MAX_ENTRIES}' on property "
                f"{where}.{key}"
            )
        if key.endswith("_cidrs"):
            _check_cidrs(key, values)


def _check_rule(rule: Any) -> None:
    if not isinstance(rule, dict):
        raise _invalid(
            "'Expected type object but found type " + type(rule).__name__ + "' on property rule"
        )
    extra = set(rule) - {"action", "match", "not_match", "match_all", "scope"}
    if extra:
        raise _invalid(f"'Additional properties not allowed: {sorted(extra)[0]}' on property rule")
    action = rule.get("action")
    if not isinstance(action, dict) or sum(action.get(a) is True for a in ACTIONS) != 1:
        raise _invalid("'rule.action must set exactly one of block, allow, log, redirect'")
    if action.get("redirect") is True and not isinstance(action.get("redirect_uri"), str):
        raise _invalid("'Missing required property: redirect_uri' on property rule.action")
    if rule.get("scope") not in SCOPES:
        raise _invalid(f"'No enum match for: {rule.get('scope')}' on property rule.scope")
    if "match" not in rule and "not_match" not in rule:
        raise _invalid("'Missing required property: match' on property rule")
    for key in ("match", "not_match"):
        if key in rule:
            _check_match(f"rule.{key}", rule[key])


def _check_acl(body: Any, *, partial: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid("'Expected type object' on property body")
    extra = set(body) - ACL_KEYS
    if extra:
        raise _invalid(f"'Additional properties not allowed: {sorted(extra)[0]}'")
    if not partial:
        for key in ("description", "active", "rule"):
            if key not in body:
                raise _invalid(f"'Missing required property: {key}'")
    if "description" in body and (
        not isinstance(body["description"], str) or not 1 <= len(body["description"]) <= 255
    ):
        raise _invalid("'String is too long (maximum 255)' on property description")
    if "active" in body and not isinstance(body["active"], bool):
        raise _invalid("'Expected type boolean' on property active")
    if "priority" in body:
        p = body["priority"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 1 <= p <= 100:
            raise _invalid("'Value must be between 1 and 100' on property priority")
    if "rule" in body:
        _check_rule(body["rule"])
    return body


def network_acls(
    tenant: Tenant, method: str, acl_id: str | None, q: Query, body: Any
) -> tuple[int, Any]:
    acls = tenant.network_acls
    if acl_id is None and method == "GET":
        page = int_param(q, "page", 0, 0, 10**6)
        per_page = int_param(q, "per_page", 50, 1, 100)
        ordered = sorted(acls.values(), key=lambda a: (a["priority"], a["created_at"]))
        chunk = ordered[page * per_page : (page + 1) * per_page]
        if q.get("include_totals") == "true":
            return 200, {
                "network_acls": chunk,
                "start": page * per_page,
                "limit": per_page,
                "total": len(ordered),
            }
        return 200, chunk
    if acl_id is None and method == "POST":
        acl = _check_acl(body, partial=False)
        if len(acls) >= MAX_ACLS:
            return 409, boom(
                409,
                f"You have reached the maximum number of Network ACLs ({MAX_ACLS}).",
                "too_many_acls",
            )
        now = iso_ms(now_utc())
        made = {
            "id": "acl_" + secrets.token_hex(10),
            "description": acl["description"],
            "active": acl["active"],
            "priority": acl.get("priority", 50),
            "rule": acl["rule"],
            "created_at": now,
            "updated_at": now,
        }
        acls[made["id"]] = made
        return 201, made
    found = acls.get(acl_id or "")
    if found is None:
        return 404, boom(404, "Network ACL not found", "inexistent_network_acl")
    if method == "GET":
        return 200, found
    if method in ("PATCH", "PUT"):
        change = _check_acl(body, partial=method == "PATCH")
        found.update(change)
        found["updated_at"] = iso_ms(now_utc())
        return 200, found
    if method == "DELETE":
        del acls[acl_id or ""]
        return 204, None
    return 404, boom(404, "Not Found")


def anomaly_ip(tenant: Tenant, method: str, ip: str) -> tuple[int, Any]:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return 400, boom(
            400,
            f"Path validation error: 'Object didn't pass validation for format ip: {ip}' on property id",
            "invalid_uri",
        )
    key = str(address)
    if method == "GET":
        if key in tenant.ip_blocks:
            return 200, None
        return 404, boom(404, "IP address specified is currently not blocked.")
    if method == "DELETE":
        tenant.ip_blocks.discard(key)
        return 204, None
    return 404, boom(404, "Not Found")
