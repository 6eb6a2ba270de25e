"""A minimal stand-in for ``engine.serve.detect`` (the detect helper's), for tests only.

Same interface as notes/rulefmt.md (``Detector(rules)``, ``horizon``, ``feed``,
``stats``, ``Detection``); count thresholds only, per group, over the window
on the events' dates. Used only until the real module is merged (see rules.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from engine.timeutil import date_key, iso_ms, read_date

MAX_EVIDENCE = 1000


@dataclass(frozen=True)
class Detection:
    rule: Any
    group: Mapping[str, str]
    key: str
    first: str
    last: str
    count: int
    evidence: tuple[str, ...]


def _field(event: Mapping[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class Detector:
    def __init__(self, rules: Sequence[Any]) -> None:
        self.rules = list(rules)
        self.horizon = max((r.window + r.lateness for r in self.rules), default=timedelta())
        self.groups: dict[str, list[tuple[str, str]]] = {}
        self.stats: dict[str, int] = {"seen": 0, "matched": 0}

    def feed(self, events: Iterable[Mapping[str, Any]]) -> list[Detection]:
        touched: dict[str, tuple[Any, dict[str, str]]] = {}
        for event in events:
            self.stats["seen"] += 1
            when = date_key(event.get("date"))
            if when is None:
                continue
            for rule in self.rules:
                if not rule.select(event):
                    continue
                values = [_field(event, f) for f in rule.group_by]
                if any(v is None for v in values):
                    continue
                group = {f: str(v) for f, v in zip(rule.group_by, values, strict=True)}
                key = rule.id + json.dumps(group, sort_keys=True)
                self.groups.setdefault(key, []).append((when, str(event.get("log_id"))))
                touched[key] = (rule, group)
                self.stats["matched"] += 1
        found = []
        for key, (rule, group) in touched.items():
            entries = sorted(self.groups[key])
            since = iso_ms(read_date(entries[-1][0]) - rule.window)
            entries = [e for e in entries if e[0] >= since]
            self.groups[key] = entries
            if len(entries) >= rule.gte:
                found.append(
                    Detection(
                        rule,
                        group,
                        key,
                        entries[0][0],
                        entries[-1][0],
                        len(entries),
                        tuple(e[1] for e in entries[-MAX_EVIDENCE:]),
                    )
                )
        return found
