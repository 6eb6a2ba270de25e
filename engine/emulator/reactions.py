"""A tenant that reacts: soar's own writes show in the logs, and the attack meets its containment.

Two things a real tenant does that a pre-generated scenario cannot:

- **Every Management API write is logged.** Auth0 writes a ``sapi`` event
  ("Success API Operation", only for POST/PATCH/PUT/DELETE; auth0-facts.md
  section 3) for each write, with ``details.request`` (method, path, query, body,
  channel, ip, userAgent, auth) and ``details.response`` (statusCode, body), as
  in the ``sapi`` events of go-auth0's recordings. ``record_write`` appends one
  for every successful write the emulator answers, so a drill sees soar's
  containment in the tenant's own logs.
- **The attacker keeps trying.** ``continue_attack`` plays further login
  attempts of each compromised account from the attacker's addresses against
  the tenant as it is *now*: an address an active Tenant ACL blocks is refused
  before authentication (logged as ``acls_summary`` with the rule, an
  inference: Auth0 documents the code, not its body); a blocked user gets
  Auth0's ``f`` "user is blocked" (auth0-facts.md section 7); a deleted user a
  ``fu``; anyone else logs in again (``s``). Drills call it after the playbook,
  and ``soar emulator --attacker-continues S`` every S seconds.

``containment`` then scores it: whether any attacker login succeeded after the
tenant's first containment write, and how long after the first attack event
that write came.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from engine.emulator.tenant import Tenant
from engine.ipforms import covered_by, parse_network
from engine.timeutil import iso_ms, now_utc, parse_time

# Auth0's descriptions of the writes the emulator serves (the first two as in our
# scenario catalog's sapi events; the others follow the Management API's operation names)
_DESCRIPTIONS = [
    ("PATCH", r"/api/v2/users/[^/]+", "Update a User"),
    ("DELETE", r"/api/v2/users/[^/]+", "Delete a User"),
    ("DELETE", r"/api/v2/users/[^/]+/sessions", "Delete sessions for a User"),
    ("DELETE", r"/api/v2/users/[^/]+/refresh-tokens", "Delete refresh tokens for a User"),
    ("DELETE", r"/api/v2/user-blocks(/[^/]+)?", "Unblock a User"),
    ("POST", r"/api/v2/network-acls", "Create a Network ACL"),
    ("PATCH", r"/api/v2/network-acls/[^/]+", "Update a Network ACL"),
    ("PUT", r"/api/v2/network-acls/[^/]+", "Update a Network ACL"),
    ("DELETE", r"/api/v2/network-acls/[^/]+", "Delete a Network ACL"),
    ("DELETE", r"/api/v2/anomaly/blocks/ips/[^/]+", "Remove a blocked IP address"),
]
_USER = re.compile(r"^/api/v2/users/[^/]+$")
_ACL = re.compile(r"^/api/v2/network-acls(/[^/]+)?$")


def _contains(entry: dict[str, Any]) -> bool:
    """Whether an accepted write blocks or deletes a user, or makes or changes a Tenant ACL."""
    method, path, body = entry["method"], entry["path"], entry.get("body")
    if _USER.match(path):
        blocks = method == "PATCH" and isinstance(body, dict) and body.get("blocked") is True
        return blocks or method == "DELETE"
    return bool(_ACL.match(path)) and method in ("POST", "PATCH", "PUT")


def _description(method: str, path: str) -> str:
    for m, pattern, text in _DESCRIPTIONS:
        if m == method and re.fullmatch(pattern, path):
            return text
    return f"{method} {path}"


def next_log_id(tenant: Tenant, at: datetime) -> str:
    """A log id after every id the tenant has: Auth0's 900 + UTC time + 39 digits."""
    seq = tenant.count("appended")
    candidate = "900" + at.strftime("%Y%m%d%H%M%S") + f"{seq:039d}"
    last = tenant.logs.ids[-1] if len(tenant.logs) else ""
    if candidate <= last:  # a scenario anchored in the future: continue after its last id
        candidate = last[:17] + f"{int(last[17:]) + seq:039d}"
    return candidate


def _event(tenant: Tenant, at: datetime, type_: str, description: str, **fields: Any) -> None:
    log_id = next_log_id(tenant, at)
    event: dict[str, Any] = {
        "_id": log_id,
        "log_id": log_id,
        "date": iso_ms(at),
        "type": type_,
        "description": description,
        "connection": None,
        "connection_id": "",
        "client_id": None,
        "client_name": None,
        "ip": None,
        "hostname": None,
        "details": {},
        "user_id": "",
        "user_name": None,
        "user_agent": None,
        "strategy": None,
        "strategy_type": None,
        "isMobile": False,
        "location_info": None,
    }
    event.update(fields)
    tenant.logs.append(event)


def record_write(
    tenant: Tenant,
    *,
    method: str,
    path: str,
    query: dict[str, Any],
    body: Any,
    status: int,
    response: Any,
    ip: str,
    user_agent: str,
) -> None:
    """Log a successful Management API write as Auth0 does: one ``sapi`` event."""
    if method not in ("POST", "PATCH", "PUT", "DELETE") or not 200 <= status < 300:
        return
    _event(
        tenant,
        now_utc(),
        "sapi",
        _description(method, path),
        client_id=tenant.client_id,
        client_name="soar (Machine to Machine)",
        ip=ip,
        user_agent=user_agent,
        details={
            "request": {
                "method": method.lower(),
                "path": path,
                "query": query,
                "body": body if body is not None else {},
                "channel": "api",
                "ip": ip,
                "userAgent": user_agent,
                "auth": {
                    "strategy": "jwt",
                    "credentials": {"grantType": "client_credentials", "scopes": []},
                },
            },
            "response": {"statusCode": status, "body": response if response is not None else {}},
        },
    )


def acl_blocking(tenant: Tenant, ip: str) -> dict[str, Any] | None:
    """The active Tenant ACL that refuses ``ip`` at authentication, by priority, if any."""
    try:
        address = parse_network(ip)  # any textual form: ::ffff:1.2.3.4 is 1.2.3.4
    except ValueError:
        return None
    for acl in sorted(tenant.network_acls.values(), key=lambda a: a["priority"]):
        rule = acl["rule"]
        if not acl.get("active") or rule.get("scope") not in ("authentication", "tenant"):
            continue
        match = rule.get("match") or {}
        if covered_by(address, match.get(f"ipv{address.version}_cidrs") or []):
            # the first matching rule decides: an allow rule lets the address through
            return acl if rule["action"].get("block") else None
    return None


def continue_attack(tenant: Tenant, truth: dict[str, Any], attempts: int = 1) -> list[str]:
    """Play ``attempts`` more logins per compromised account and attacker address; their types."""
    ips = truth.get("attacker_ips") or []
    names = truth.get("compromised_user_names") or {}
    clients = truth.get("accessed_clients") or {}
    outcomes: list[str] = []
    for _ in range(attempts):
        for uid in truth.get("compromised_users") or []:
            for ip in ips:
                outcomes.append(_attempt(tenant, uid, names.get(uid), ip, clients.get(uid)))
    return outcomes


def _attempt(tenant: Tenant, uid: str, name: str | None, ip: str, clients: list[str] | None) -> str:
    at = now_utc()
    client = clients[0] if clients else None
    common = {
        "ip": ip,
        "client_id": _client_id(tenant, uid, client),
        "client_name": client,
        "user_agent": "python-requests 2.31.0 / Other 0.0.0",
        "connection": "Username-Password-Authentication",
    }
    acl = acl_blocking(tenant, ip)
    if acl is not None:
        _event(
            tenant,
            at,
            "acls_summary",
            "Request blocked by Tenant ACL",
            details={"acl_id": acl["id"], "description": acl["description"], "action": "block"},
            **common,
        )
        return "acls_summary"
    user = tenant.users.get(uid)
    if user is None or uid in tenant.deleted:
        _event(tenant, at, "fu", "Wrong email or password.", user_name=name, **common)
        return "fu"
    if user.get("blocked"):
        _event(
            tenant,
            at,
            "f",
            "user is blocked",
            user_id=uid,
            user_name=name,
            details={"error": {"message": "user is blocked"}},
            **common,
        )
        return "f"
    _event(tenant, at, "s", "Successful login", user_id=uid, user_name=name, **common)
    return "s"


def _client_id(tenant: Tenant, uid: str, name: str | None) -> str | None:
    """The id of the application ``name`` as the account's own earlier events give it."""
    for pos in reversed(tenant.logs.by_user(uid)):
        if tenant.logs.value("client_name", pos) == name:
            found = tenant.logs.value("client_id", pos)
            return found if isinstance(found, str) else None
    return None


def containment(tenant: Tenant, truth: dict[str, Any]) -> dict[str, Any]:
    """Whether the attack stopped at containment, and how long containment took.

    Containment is the first successful write that blocks or deletes a user or
    makes or changes a Tenant ACL; the attack stopped when no attacker address logged in as
    a compromised account after it.
    """
    writes = [
        w
        for w in tenant.journal
        if w["method"] != "GET" and 200 <= w["status"] < 300 and _contains(w)
    ]
    attackers = set(truth.get("attacker_ips") or [])
    compromised = set(truth.get("compromised_users") or [])
    first_attack: str | None = None
    later_logins = 0
    contained_at = writes[0]["ts"] if writes else None
    for pos in range(len(tenant.logs)):
        ip, date = tenant.logs.value("ip", pos), tenant.logs.value("date", pos)
        if ip not in attackers or not isinstance(date, str):
            continue
        if first_attack is None or date < first_attack:
            first_attack = date
        if (
            contained_at is not None
            and date > contained_at
            and tenant.logs.value("type", pos) == "s"
            and tenant.logs.value("user_id", pos) in compromised
        ):
            later_logins += 1
    seconds = None
    if first_attack and contained_at:
        seconds = round((parse_time(contained_at) - parse_time(first_attack)).total_seconds(), 3)
    return {
        "contained_at": contained_at,
        "first_attack_event": first_attack,
        "time_to_containment_s": seconds,
        "attacker_logins_after_containment": later_logins,
        "attack_stopped": contained_at is not None and later_logins == 0,
    }
