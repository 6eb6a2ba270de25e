"""Auth0's Sigma detections as soar detection rules: the catalog read without rewriting it.

Auth0 publishes its detections (github.com/auth0/auth0-customer-detections,
``detections/*.yml``) as Sigma rules that carry an Auth0 log query,
``tenant_logs``, beside the Sigma ``detection`` section, and as Sigma
correlations (``event_count``, ``value_count``) in the same YAML stream. A file
becomes one rule of soar's format (docs/sigma.md has the whole mapping):

- ``select`` is the rule's ``tenant_logs`` (several rules of a correlation: OR-ed);
- ``group_by`` is the correlation's ``group-by``, each ``data.x`` (the stream
  item's ``data``, which is the log object) read as ``x``;
- ``window`` is its ``timespan``; the threshold its ``condition``: ``gte: n``
  as is, ``gt: n`` as ``gte: n+1``; ``event_count`` a count, ``value_count`` a
  ``distinct`` count of its ``field``;
- a rule without a correlation fires on each matching event (grouped by
  ``log_id``: one detection per event, as a plain Sigma rule alerts);
- severity from ``level`` (the correlation's if it has one; ``informational``
  is ``low``); the Sigma id, title, references, author and tags are kept in
  the description.

- a ``temporal_ordered`` correlation (over rules and event counts with its
  groups and timespan) is a ``sequence``, one step per rule it names.

What soar's format cannot mean is refused with a located problem, never
imported in part: an upper bound (``lt``, ``lte``, ``eq``: it holds only once
a window has closed, while a stream detection fires when a count is reached),
unordered ``temporal`` correlations, other chains and ``aliases``, a rule without
``tenant_logs`` (translating the Sigma ``detection`` section is not
supported), a query with a placeholder left in (``{your-tenant-url}``) or one
Auth0 would refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import InvalidError
from engine.issues import Code, Issue
from engine.playbook.source import MAX_BYTES, Source, load_yaml_all
from engine.serve.sigmaparts import (
    Findings,
    group_by_of,
    no_aliases,
    query_of,
    referenced,
    spec_of,
    threshold_of,
    timespan_of,
)

LEVELS = {
    "informational": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}
SINGLE_WINDOW = "1m"  # a plain rule: one detection per event, so any window holds it


def is_sigma(doc: Any) -> bool:
    """Whether a YAML document is Sigma (a rule or a correlation), not a soar detection."""
    if not isinstance(doc, Mapping):
        return False
    return "correlation" in doc or isinstance(doc.get("detection"), Mapping) or "logsource" in doc


def from_sigma(docs: Sequence[Mapping[str, Any]], source: Path) -> dict[str, Any]:
    """The documents of one Sigma file as one rule document of soar's detection format.

    Problems are located in ``source`` when it holds these documents (its
    positions are read again); raises ``InvalidError`` with every problem found.
    """
    rule, issues = convert(_located(docs, source), source)
    if rule is None:
        errors = [i for i in issues if i.severity == "error"]
        raise InvalidError(
            f"{source}: cannot be imported from Sigma ({len(errors)} problem"
            f"{'s' if len(errors) != 1 else ''}): "
            + "; ".join(f"{i.location}: {i.message}" for i in errors[:3]),
            issues,
        )
    return rule


def convert(sources: Sequence[Source], path: Path) -> tuple[dict[str, Any] | None, list[Issue]]:
    """The rule of one Sigma YAML stream, or None, and every problem (errors and warnings)."""
    c = _Converter(sources, path)
    rule = c.rule()
    refused = rule is None or any(i.severity == "error" for i in c.f.issues)
    return (None if refused else rule), c.f.issues


def _located(docs: Sequence[Mapping[str, Any]], source: Path) -> list[Source]:
    """``docs`` with the positions of ``source`` when it holds them, else at its first line."""
    try:
        with source.open("rb") as f:
            sources, issues = load_yaml_all(f.read(MAX_BYTES + 1), str(source))
    except OSError:
        sources, issues = [], []
    if not issues and _same(sources, docs):
        return sources
    return [Source(str(source), data=doc) for doc in docs]


def _same(sources: Sequence[Source], docs: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the file's documents are ``docs``: compared as JSON, since another YAML
    loader makes ``date: 2025-10-15`` a ``datetime.date`` where ours keeps the text."""
    try:
        return [_canonical(s.data) for s in sources] == [_canonical(d) for d in docs]
    except (TypeError, ValueError):  # not JSON-shaped (a non-string key): not ours to compare
        return False


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, default=str)


class _Converter:
    """One file's conversion: every problem collected, as ``engine.playbook.checks`` does."""

    def __init__(self, sources: Sequence[Source], path: Path) -> None:
        self.sources, self.path = sources, path
        self.f = Findings()

    def rule(self) -> dict[str, Any] | None:
        docs = [s for s in self.sources if isinstance(s.data, Mapping)]
        for s in self.sources:
            if not isinstance(s.data, Mapping):
                self.f.error(
                    s,
                    (),
                    "a Sigma document is a mapping",
                    "write title:, detection: ...",
                    Code.SIGMA_UNSUPPORTED,
                )
        correlations = [s for s in docs if "correlation" in s.data]
        rules = [s for s in docs if "correlation" not in s.data]
        if not correlations:
            if len(rules) != 1:
                where = (
                    rules[1]
                    if len(rules) > 1
                    else (self.sources[0] if self.sources else Source(str(self.path)))
                )
                self.f.error(
                    where,
                    (),
                    f"{len(rules)} Sigma rules and no correlation: soar imports one detection a file",
                    "put each rule in its own file, or add the correlation that joins them",
                    Code.SIGMA_UNSUPPORTED,
                )
                return None
            return self._single(rules[0])
        top = self._top(correlations)
        spec = spec_of(self.f, top) if top is not None else None
        if top is None or spec is None:
            return None
        kind = spec.get("type")
        if kind == "temporal_ordered":
            return self._sequence(top, spec, rules, [c for c in correlations if c is not top])
        if kind not in ("event_count", "value_count"):
            self.f.error(
                top,
                ("correlation", "type"),
                f"correlation type {kind!r} cannot be expressed as a soar detection",
                "soar imports event_count, value_count and temporal_ordered; write an "
                "unordered one as rules of its own (docs/sigma.md)",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        if len(correlations) > 1:
            inner = next(c for c in correlations if c is not top)
            self.f.error(
                inner,
                ("correlation",),
                "a correlation of correlations counts counts: not expressible as one threshold",
                "soar imports a chain only under temporal_ordered, as a sequence",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        return self._correlated(top, spec, rules)

    def _top(self, correlations: list[Source]) -> Source | None:
        """The one correlation no other names: the detection the file is."""
        named = {c.data.get(k) for c in correlations for k in ("name", "id")} - {None}
        used = {
            ref
            for c in correlations
            if isinstance(c.data["correlation"], Mapping)
            for ref in c.data["correlation"].get("rules") or []
            if isinstance(ref, str) and ref in named
        }
        tops = [c for c in correlations if not {c.data.get("name"), c.data.get("id")} & used]
        if len(tops) == 1:
            return tops[0]
        self.f.error(
            (tops or correlations)[-1],
            ("correlation",),
            f"{len(tops)} correlations that no other names: soar imports one detection a file",
            "keep one correlation at the top of a file",
            Code.SIGMA_UNSUPPORTED,
        )
        return None

    # -- the two shapes ----------------------------------------------------------

    def _single(self, base: Source) -> dict[str, Any] | None:
        select = query_of(self.f, base)
        if select is None:
            return None
        self.f.notes.append("no correlation: each matching event is a detection of its own")
        return self._document(base, None, select, ["log_id"], SINGLE_WINDOW, {"count": {"gte": 1}})

    def _correlated(
        self, corr: Source, spec: Mapping[str, Any], rules: list[Source]
    ) -> dict[str, Any] | None:
        kind = spec.get("type")
        no_aliases(self.f, corr, spec)
        bases = referenced(self.f, corr, spec, rules)
        queries = [query_of(self.f, b) for b in bases]
        group_by = group_by_of(self.f, corr, spec)
        window = timespan_of(self.f, corr, spec)
        threshold = threshold_of(self.f, corr, spec, str(kind))
        if None in queries or not bases or group_by is None or window is None or threshold is None:
            return None
        texts = [q for q in queries if q is not None]
        select = texts[0] if len(texts) == 1 else " OR ".join(f"({q})" for q in texts)
        if spec.get("generate"):
            self.f.notes.append(
                "generate: true (the rules as stand-alone queries too) has no meaning here"
            )
        return self._document(bases[0], corr, select, group_by, window, threshold)

    def _sequence(
        self,
        top: Source,
        spec: Mapping[str, Any],
        rules: list[Source],
        inner: list[Source],
    ) -> dict[str, Any] | None:
        """A ``temporal_ordered`` correlation: soar's ``sequence``, one step per rule it names."""
        no_aliases(self.f, top, spec)
        refs = referenced(self.f, top, spec, rules + inner)
        group_by = group_by_of(self.f, top, spec)
        window = timespan_of(self.f, top, spec)
        cond = spec.get("condition")
        if cond is not None and (not isinstance(cond, Mapping) or dict(cond) != {"gte": len(refs)}):
            self.f.error(
                top,
                ("correlation", "condition"),
                f"condition {cond!r}: a soar sequence needs every one of its {len(refs)} "
                "rules, in order",
                f"drop the condition, or write gte: {len(refs)}",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        steps = [self._step(r, rules, group_by, window) for r in refs]
        if not refs or None in steps or group_by is None or window is None:
            return None
        kept = [st for st in steps if st is not None]
        names: set[str] = set()
        for n, step in enumerate(kept, 1):
            if step["as"] in names:
                step["as"] = f"{step['as']}_{n}"
            names.add(step["as"])
        select = " OR ".join(f"({st['select']})" for st in kept)
        return self._document(top, None, select, group_by, window, {"sequence": kept})

    def _step(
        self, ref: Source, rules: list[Source], group_by: list[str] | None, window: str | None
    ) -> dict[str, Any] | None:
        """One step: a rule (once), or an event count over the same groups and timespan."""
        name = ref.data.get("name") or ref.data.get("id") or "step"
        label = re.sub(r"[^a-z0-9_]+", "_", str(name).lower()).strip("_") or "step"
        if "correlation" not in ref.data:
            query = query_of(self.f, ref)
            return None if query is None else {"as": label, "select": query, "count": {"gte": 1}}
        spec = spec_of(self.f, ref)
        if spec is None:
            return None
        if spec.get("type") != "event_count":
            self.f.error(
                ref,
                ("correlation", "type"),
                f"a step of a temporal_ordered sequence is a rule or an event_count, not "
                f"{spec.get('type')!r}",
                "count events in the step, or keep this one in your SIEM",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        bases = referenced(self.f, ref, spec, rules)
        queries = [query_of(self.f, b) for b in bases]
        inner_groups, inner_window = group_by_of(self.f, ref, spec), timespan_of(self.f, ref, spec)
        threshold = threshold_of(self.f, ref, spec, "event_count")
        for mine, theirs, what in (
            (inner_groups, group_by, "group-by"),
            (inner_window, window, "timespan"),
        ):
            if mine is not None and theirs is not None and mine != theirs:
                self.f.error(
                    ref,
                    ("correlation", what),
                    f"the step's {what} differs from its sequence's: a soar sequence counts "
                    "every step in the same groups and window",
                    f"use the sequence's {what} here too",
                    Code.SIGMA_UNSUPPORTED,
                )
                return None
        if not bases or None in queries or threshold is None or "count" not in threshold:
            return None
        texts = [q for q in queries if q is not None]
        select = texts[0] if len(texts) == 1 else " OR ".join(f"({q})" for q in texts)
        return {"as": label, "select": select, "count": threshold["count"]}

    # -- the parts -------------------------------------------------------------------

    def _document(
        self,
        base: Source,
        corr: Source | None,
        select: str,
        group_by: list[str],
        window: str,
        threshold: dict[str, Any],
    ) -> dict[str, Any]:
        meta = base.data
        # Auth0's catalog writes the meta information on the rule, the correlation a "- Correlation"
        title = meta.get("title") or (corr.data.get("title") if corr is not None else None)
        if not isinstance(title, str) or not title.strip():
            self.f.error(base, (), "the Sigma rule has no title", "add title:", Code.SIGMA_MISSING)
            title = ""
        return {
            "detection": 1,
            "id": rule_id(self.path, meta.get("id")),
            "title": " ".join(title.split()),
            "description": self._description(base, corr),
            "severity": self._severity(base, corr),
            "select": select,
            "group_by": group_by,
            "window": window,
            **(
                {"sequence": threshold["sequence"]}
                if "sequence" in threshold
                else {"threshold": threshold}
            ),
        }

    def _severity(self, base: Source, corr: Source | None) -> str:
        for src in (corr, base):  # Sigma: the correlation's level adjusts the rule's
            if src is not None and "level" in src.data:
                level = src.data["level"]
                if isinstance(level, str) and level in LEVELS:
                    return LEVELS[level]
                self.f.error(
                    src,
                    ("level",),
                    f"level {level!r} is not a Sigma level",
                    "one of " + ", ".join(LEVELS),
                    Code.SIGMA_UNSUPPORTED,
                )
                return "medium"
        self.f.notes.append("no level: medium assumed")
        return "medium"

    def _description(self, base: Source, corr: Source | None) -> str:
        meta = base.data
        text = meta.get("description")
        parts = [text.strip()] if isinstance(text, str) and text.strip() else []
        origin = f"Imported from Sigma ({self.path.name})"
        ids = [str(d.data["id"]) for d in (base, corr) if d is not None and d.data.get("id")]
        if ids:
            origin += ", id " + " / ".join(ids)
        for key in ("author", "status"):
            if isinstance(meta.get(key), str):
                origin += f"; {key} {meta[key]}"
        parts.append(origin + ".")
        for key in ("references", "tags", "falsepositives"):
            values = meta.get(key)
            if isinstance(values, list) and values:
                parts.append(f"{key}: " + ", ".join(str(v) for v in values))
        if self.f.notes:
            parts.append("Conversion: " + "; ".join(self.f.notes) + ".")
        return "\n".join(parts)


def rule_id(path: Path, sigma_id: Any) -> str:
    """The rule's id: its file name in soar's id form (``[a-z0-9-]+``), else the Sigma id."""
    for text in (path.stem, str(sigma_id or "")):
        slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
        if slug:
            return slug
    return "sigma-rule"
