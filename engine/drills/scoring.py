"""Scoring a playbook run against a scenario's ground truth (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from engine.actions import default_registry
from engine.actions.registry import ActionRegistry


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


# the truth keys a run can be scored on: each answered by a list of ids (SETS) or
# by a mapping user -> list (PAIRS, scored per (user, value))
SETS = ("compromised_users", "attacker_ips")
PAIRS = ("accessed_clients", "activity_elsewhere")
METRICS = SETS + PAIRS


def same_name_answers(outputs: Iterable[str]) -> dict[str, str]:
    """The default answers: each output named after a truth key answers that key."""
    names = set(outputs)
    return {key: key for key in METRICS if key in names}


def answer(outputs: Mapping[str, Any], spec: str) -> tuple[bool, Any, str | None]:
    """What ``spec`` (``OUTPUT`` or ``OUTPUT.FIELD``) reads from ``outputs``.

    Whether the output exists, its value, and the field to take from each entry
    of a mapping (``activity_elsewhere.ips``: each user's ``ips``).
    """
    name, _, field = spec.partition(".")
    return name in outputs, outputs.get(name), field or None


def score(
    outputs: Mapping[str, Any],
    truth: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    answers: Mapping[str, str] | None = None,
    registry: ActionRegistry | None = None,
) -> dict[str, Any]:
    """Metrics of one run: what it found against the truth, and what its writes hit.

    ``answers`` maps a truth key (``METRICS``) to the output that answers it
    (a drill's ``answers``; default ``same_name_answers``); a key whose output
    the run does not have is not scored. The writes come from the run log
    (``write_targets``), whatever the playbook calls its outputs.
    """
    metrics: dict[str, Any] = {}
    answers = answers if answers is not None else same_name_answers(outputs)
    for key in METRICS:  # in this order, whatever order the drill lists them in
        present, value, field = answer(outputs, answers.get(key, ""))
        if not present:
            continue
        if key in SETS:
            metrics[key] = precision_recall(value or [], truth.get(key, []))
        else:
            # every (user, application) the attacker reached, SSO and token exchanges
            # included; every (user, address) it went on from: for activity_elsewhere only
            # recall means something (a user's own later logins are reported too)
            metrics[key] = precision_recall(_pairs(value, field), _pairs(truth.get(key), None))
    targets = write_targets(records, registry)
    legit = set(truth.get("legitimate_users", []))
    metrics["wrongly_blocked"] = sorted({t for t in targets["done"] if t in legit})
    metrics["wrongly_planned"] = sorted({t for t in targets["planned"] if t in legit})
    metrics["write_targets"] = sorted(set(targets["done"]) | set(targets["planned"]))
    metrics["writes_done"] = len(targets["done"])
    metrics["writes_planned"] = len(targets["planned"])
    return metrics
