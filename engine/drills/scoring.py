"""Scoring a playbook run against a scenario's ground truth (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from engine.actions.registry import ActionRegistry, default_registry


def precision_recall(found: Iterable[str], expected: Iterable[str]) -> dict[str, Any]:
    """Precision and recall of ``found`` against ``expected`` (both 1.0 when both are empty)."""
    f, e = set(found), set(expected)
    hit = f & e
    return {
        "precision": round(len(hit) / len(f), 4) if f else 1.0,
        "recall": round(len(hit) / len(e), 4) if e else 1.0,
        "found": sorted(f),
        "expected": sorted(e),
        "missed": sorted(e - f),
        "extra": sorted(f - e),
    }


def write_targets(
    records: Iterable[Mapping[str, Any]], registry: ActionRegistry | None = None
) -> dict[str, list[str]]:
    """What a run blocked or deleted (``done``) or would have (``planned``), from its log.

    A write counts when its action ``blocks`` its targets (``Action.blocks``:
    blocking or deleting users, blocking addresses); its targets are the ones
    the record lists (``targets``; logs without it name one ``target``).
    """
    registry = registry or default_registry()
    done: list[str] = []
    planned: list[str] = []
    for rec in records:
        action = registry.get(str(rec.get("action")))
        if action is None or not action.blocks:
            continue
        targets = [str(t) for t in rec.get("targets") or [rec.get("target")]]
        if rec.get("type") == "action.call":
            done += targets
        elif rec.get("type") == "action.planned" and rec.get("planned"):
            planned += targets
    return {"done": done, "planned": planned}


_USER_PATH = re.compile(r"^/api/v2/users/([^/?]+)$")


def journal_blocks(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Users a tenant's request journal shows blocked or deleted (accepted writes only).

    What the tenant was actually told, independent of what the run log says:
    ``PATCH /api/v2/users/{id}`` with ``blocked: true`` and ``DELETE /api/v2/users/{id}``,
    answered below 400.
    """
    hit: set[str] = set()
    for e in entries:
        m = _USER_PATH.match(str(e.get("path") or ""))
        if not m or int(e.get("status") or 0) >= 400:
            continue
        body = e.get("body")
        blocks = e.get("method") == "PATCH" and isinstance(body, dict) and body.get("blocked")
        if blocks or e.get("method") == "DELETE":
            hit.add(unquote(m.group(1)))
    return sorted(hit)


def _pairs(mapping: Any, field: str | None) -> list[str]:
    """``user -> [values]`` (or ``user -> {field: [values]}``) as ``"user -> value"`` strings."""
    out: list[str] = []
    if not isinstance(mapping, Mapping):
        return out
    for user, entry in mapping.items():
        values = entry.get(field) if field is not None and isinstance(entry, Mapping) else entry
        if isinstance(values, list):
            out.extend(f"{user} -> {v}" for v in values)
    return out


def score(
    outputs: Mapping[str, Any],
    truth: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    registry: ActionRegistry | None = None,
) -> dict[str, Any]:
    """Metrics of one run: compromised users and attacker IPs found, legitimate users hit."""
    metrics: dict[str, Any] = {}
    if "compromised_users" in outputs:
        metrics["compromised_users"] = precision_recall(
            outputs.get("compromised_users") or [], truth.get("compromised_users", [])
        )
    if "suspicious_ips" in outputs:
        metrics["attacker_ips"] = precision_recall(
            outputs.get("suspicious_ips") or [], truth.get("attacker_ips", [])
        )
    if "accessed_clients" in outputs:
        # every (user, application) the attacker reached, SSO and token exchanges included
        metrics["accessed_clients"] = precision_recall(
            _pairs(outputs.get("accessed_clients"), None),
            _pairs(truth.get("accessed_clients"), None),
        )
    if "activity_elsewhere" in outputs:
        # every (user, address) the attacker went on from after switching address;
        # only recall means something: a user's own later logins are reported too
        found = _pairs(outputs.get("activity_elsewhere"), "ips")
        metrics["activity_elsewhere"] = precision_recall(
            found, _pairs(truth.get("activity_elsewhere"), None)
        )
    targets = write_targets(records, registry)
    legit = set(truth.get("legitimate_users", []))
    metrics["wrongly_blocked"] = sorted({t for t in targets["done"] if t in legit})
    metrics["wrongly_planned"] = sorted({t for t in targets["planned"] if t in legit})
    metrics["write_targets"] = sorted(set(targets["done"]) | set(targets["planned"]))
    metrics["writes_done"] = len(targets["done"])
    metrics["writes_planned"] = len(targets["planned"])
    return metrics
