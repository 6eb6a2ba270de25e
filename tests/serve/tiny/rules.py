"""A minimal stand-in for ``engine.serve.rules`` (the detect helper's), for tests only.

Used only while ``engine/serve/rules.py`` does not exist: ``tests/serve/serving.py``
appends this folder to ``engine.serve.__path__``, so the engine's own module wins
once it is merged. It reads the subset of the rule format (notes/rulefmt.md) the
serve tests write: ``threshold: {count: {gte: N}}`` rules with a response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from engine.bundled import standard_playbook
from engine.logs.query import compile_query
from engine.timeutil import parse_duration


@dataclass(frozen=True)
class Response:
    playbook: Path
    inputs: Mapping[str, str]
    respond: str
    max_targets: int | None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    source: Path
    window: timedelta
    lateness: timedelta
    quiet: timedelta
    group_by: tuple[str, ...]
    response: Response | None
    select: Any
    gte: int


def _response(doc: Mapping[str, Any] | None, source: Path) -> Response | None:
    if not doc:
        return None
    name = str(doc["playbook"])
    path = source.parent / name
    if not path.is_file():
        path = standard_playbook(name if name.endswith(".yaml") else f"{name}.yaml")
    return Response(
        path,
        dict(doc.get("inputs") or {}),
        str(doc.get("respond", "dry-run")),
        doc.get("max_targets"),
    )


def load_rules(paths: Sequence[Path]) -> list[Rule]:
    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    rules = []
    for f in files:
        doc = yaml.safe_load(f.read_text())
        window = parse_duration(doc["window"])
        rules.append(
            Rule(
                id=doc["id"],
                title=doc["title"],
                severity=doc["severity"],
                source=f,
                window=window,
                lateness=parse_duration(doc.get("lateness", "1m")),
                quiet=parse_duration(doc["quiet"]) if "quiet" in doc else window,
                group_by=tuple(doc["group_by"]),
                response=_response(doc.get("response"), f),
                select=compile_query(doc["select"]),
                gte=int(doc["threshold"]["count"]["gte"]),
            )
        )
    return rules
