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

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import InvalidError
from engine.issues import Code, Issue
from engine.playbook.queries import query_check_issues
from engine.playbook.source import MAX_BYTES, Source, load_yaml_all

LEVELS = {
    "informational": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}
SINGLE_WINDOW = "1m"  # a plain rule: one detection per event, so any window holds it
_TIMESPAN = re.compile(r"([1-9][0-9]{0,5})([smhd])")  # the spec: number + s, m, h or d
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_-]*\}")  # {your-tenant-url}: fill me in
_LOWER = ("gte", "gt")
_UPPER = ("lt", "lte", "eq")


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
    refused = rule is None or any(i.severity == "error" for i in c.issues)
    return (None if refused else rule), c.issues


def _located(docs: Sequence[Mapping[str, Any]], source: Path) -> list[Source]:
    """``docs`` with the positions of ``source`` when it holds them, else at its first line."""
    try:
        with source.open("rb") as f:
            sources, issues = load_yaml_all(f.read(MAX_BYTES + 1), str(source))
    except OSError:
        sources, issues = [], []
    if not issues and [s.data for s in sources] == [dict(d) for d in docs]:
        return sources
    return [Source(str(source), data=doc) for doc in docs]


class _Converter:
    """One file's conversion: every problem collected, as ``engine.playbook.checks`` does."""

    def __init__(self, sources: Sequence[Source], path: Path) -> None:
        self.sources, self.path = sources, path
        self.issues: list[Issue] = []
        self.notes: list[str] = []

    def error(
        self, src: Source, where: tuple[str | int, ...], message: str, hint: str, code: Code
    ) -> None:
        self.issues.append(Issue("error", message, src.at(where), hint, code=code))

    def rule(self) -> dict[str, Any] | None:
        docs = [s for s in self.sources if isinstance(s.data, Mapping)]
        for s in self.sources:
            if not isinstance(s.data, Mapping):
                self.error(
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
                self.error(
                    where,
                    (),
                    f"{len(rules)} Sigma rules and no correlation: soar imports one detection a file",
                    "put each rule in its own file, or add the correlation that joins them",
                    Code.SIGMA_UNSUPPORTED,
                )
                return None
            return self._single(rules[0])
        top = self._top(correlations)
        spec = self._spec(top) if top is not None else None
        if top is None or spec is None:
            return None
        kind = spec.get("type")
        if kind == "temporal_ordered":
            return self._sequence(top, spec, rules, [c for c in correlations if c is not top])
        if kind not in ("event_count", "value_count"):
            self.error(
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
            self.error(
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
        self.error(
            (tops or correlations)[-1],
            ("correlation",),
            f"{len(tops)} correlations that no other names: soar imports one detection a file",
            "keep one correlation at the top of a file",
            Code.SIGMA_UNSUPPORTED,
        )
        return None

    def _spec(self, corr: Source) -> Mapping[str, Any] | None:
        spec = corr.data["correlation"]
        if isinstance(spec, Mapping):
            return spec
        self.error(
            corr,
            ("correlation",),
            "correlation: is not a mapping",
            "write type:, rules:, group-by:, timespan:, condition:",
            Code.SIGMA_UNSUPPORTED,
        )
        return None

    # -- the two shapes ----------------------------------------------------------

    def _single(self, base: Source) -> dict[str, Any] | None:
        select = self._query(base)
        if select is None:
            return None
        self.notes.append("no correlation: each matching event is a detection of its own")
        return self._document(base, None, select, ["log_id"], SINGLE_WINDOW, {"count": {"gte": 1}})

    def _correlated(
        self, corr: Source, spec: Mapping[str, Any], rules: list[Source]
    ) -> dict[str, Any] | None:
        kind = spec.get("type")
        self._no_aliases(corr, spec)
        bases = self._referenced(corr, spec, rules)
        queries = [self._query(b) for b in bases]
        group_by = self._group_by(corr, spec)
        window = self._timespan(corr, spec)
        threshold = self._threshold(corr, spec, str(kind))
        if None in queries or not bases or group_by is None or window is None or threshold is None:
            return None
        texts = [q for q in queries if q is not None]
        select = texts[0] if len(texts) == 1 else " OR ".join(f"({q})" for q in texts)
        if spec.get("generate"):
            self.notes.append(
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
        self._no_aliases(top, spec)
        refs = self._referenced(top, spec, rules + inner)
        group_by = self._group_by(top, spec)
        window = self._timespan(top, spec)
        cond = spec.get("condition")
        if cond is not None and (not isinstance(cond, Mapping) or dict(cond) != {"gte": len(refs)}):
            self.error(
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
            query = self._query(ref)
            return None if query is None else {"as": label, "select": query, "count": {"gte": 1}}
        spec = self._spec(ref)
        if spec is None:
            return None
        if spec.get("type") != "event_count":
            self.error(
                ref,
                ("correlation", "type"),
                f"a step of a temporal_ordered sequence is a rule or an event_count, not "
                f"{spec.get('type')!r}",
                "count events in the step, or keep this one in your SIEM",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        bases = self._referenced(ref, spec, rules)
        queries = [self._query(b) for b in bases]
        inner_groups, inner_window = self._group_by(ref, spec), self._timespan(ref, spec)
        threshold = self._threshold(ref, spec, "event_count")
        for mine, theirs, what in (
            (inner_groups, group_by, "group-by"),
            (inner_window, window, "timespan"),
        ):
            if mine is not None and theirs is not None and mine != theirs:
                self.error(
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

    def _no_aliases(self, corr: Source, spec: Mapping[str, Any]) -> None:
        if "aliases" in spec:
            self.error(
                corr,
                ("correlation", "aliases"),
                "correlation aliases: is not supported",
                "group by the same fields in every rule",
                Code.SIGMA_UNSUPPORTED,
            )

    # -- the parts -------------------------------------------------------------------

    def _referenced(
        self, corr: Source, spec: Mapping[str, Any], rules: list[Source]
    ) -> list[Source]:
        """The plain rules the correlation names, by ``name`` or ``id``, each located if absent."""
        refs = spec.get("rules")
        if not isinstance(refs, list) or not refs:
            self.error(
                corr,
                ("correlation", "rules"),
                "correlation rules: is missing or empty",
                "name the rules it counts (their name: or id:)",
                Code.SIGMA_MISSING,
            )
            return []
        by_name: dict[str, Source] = {}
        for r in rules:
            for key in ("name", "id"):
                if isinstance(r.data.get(key), str):
                    by_name[r.data[key]] = r
        found: list[Source] = []
        for n, ref in enumerate(refs):
            base = by_name.get(ref) if isinstance(ref, str) else None
            if base is None:
                known = ", ".join(sorted(by_name)) or "none"
                self.error(
                    corr,
                    ("correlation", "rules", n),
                    f"correlation rule {ref!r} is not a rule of this file",
                    f"the file's rules: {known}; soar does not look for rules in other files",
                    Code.SIGMA_REFERENCE,
                )
            elif base not in found:
                found.append(base)
        return found

    def _query(self, base: Source) -> str | None:
        """The rule's Auth0 log query, checked as ``soar validate`` checks a playbook's."""
        text = base.data.get("tenant_logs")
        if not isinstance(text, str) or not text.strip():
            self.error(
                base,
                ("tenant_logs",) if "tenant_logs" in base.data else (),
                "no tenant_logs query (the Auth0 log query of the rule)",
                "soar imports Sigma rules by their tenant_logs, as Auth0's catalog writes them; "
                "translating the Sigma detection section is not supported",
                Code.SIGMA_MISSING,
            )
            return None
        query = text.strip()  # as written: a block scalar's line breaks are spaces to Lucene
        if "{{" in query or "{%" in query:
            self.error(
                base,
                ("tenant_logs",),
                "tenant_logs holds template syntax ({{ or {%): a detection's select is a plain "
                "Auth0 log query, never a template",
                "write the values themselves",
                Code.SIGMA_PLACEHOLDER,
            )
            return None
        placeholder = _PLACEHOLDER.search(query)
        if placeholder:
            self.error(
                base,
                ("tenant_logs",),
                f"tenant_logs still holds the placeholder {placeholder.group()}",
                "replace it with your tenant's value: the catalog leaves it to you",
                Code.SIGMA_PLACEHOLDER,
            )
            return None
        found = query_check_issues(base, query, ("tenant_logs",))
        self.issues.extend(found)
        return None if any(i.severity == "error" for i in found) else query

    def _group_by(self, corr: Source, spec: Mapping[str, Any]) -> list[str] | None:
        fields = spec.get("group-by")
        if not isinstance(fields, list) or not fields:
            self.error(
                corr,
                ("correlation", "group-by") if "group-by" in spec else ("correlation",),
                "correlation group-by: is missing or empty",
                "name the fields that make a group, e.g. data.ip",
                Code.SIGMA_MISSING,
            )
            return None
        out = [self._field(corr, ("correlation", "group-by", n), f) for n, f in enumerate(fields)]
        return None if None in out else [f for f in out if f is not None]

    def _field(self, src: Source, where: tuple[str | int, ...], name: Any) -> str | None:
        """A Sigma field as a path in the log object: the stream item's ``data.x`` is ``x``."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_$][\w$-]*(\.[\w$-]+)*", name):
            self.error(
                src,
                where,
                f"field {name!r} is not a field name",
                "write a dotted field, e.g. data.ip",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        if name == "data":
            self.error(
                src,
                where,
                "field data is the whole log object, not a field of it",
                "name a field inside it, e.g. data.ip",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        return name.removeprefix("data.")

    def _timespan(self, corr: Source, spec: Mapping[str, Any]) -> str | None:
        text = spec.get("timespan")
        if not isinstance(text, str) or not _TIMESPAN.fullmatch(text):
            self.error(
                corr,
                ("correlation", "timespan") if "timespan" in spec else ("correlation",),
                f"timespan {text!r} is not a Sigma timespan",
                "a number and s, m, h or d, e.g. 1h or 90m",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        return text

    def _threshold(self, corr: Source, spec: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
        where: tuple[str | int, ...] = ("correlation", "condition")
        cond = spec.get("condition")
        if not isinstance(cond, Mapping):
            self.error(
                corr,
                where if "condition" in spec else ("correlation",),
                "correlation condition: is missing",
                "write e.g. gte: 10",
                Code.SIGMA_MISSING,
            )
            return None
        upper = [op for op in _UPPER if op in cond]
        if upper:
            op = upper[0]
            self.error(
                corr,
                (*where, op),
                f"condition {op}: {cond[op]!r} cannot be expressed: an upper bound holds only once "
                "a window has closed, and a soar detection fires when a count is reached",
                "rewrite it as gte/gt, or keep it in your SIEM",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        lower = [op for op in _LOWER if op in cond]
        unknown = sorted(set(cond) - {*_LOWER, "field"})
        if unknown or len(lower) != 1:
            self.error(
                corr,
                where,
                f"condition {dict(cond)!r}: expected exactly one of gte or gt (and field)",
                "write e.g. gte: 10",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        op = lower[0]
        n = cond[op]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            self.error(
                corr,
                (*where, op),
                f"condition {op}: {n!r} is not a count",
                "write a whole number, 0 or more",
                Code.SIGMA_UNSUPPORTED,
            )
            return None
        at_least = n + 1 if op == "gt" else n
        if at_least < 1:
            self.notes.append(
                f"condition {op}: {n} holds for every group with an event: read as gte: 1"
            )
            at_least = 1
        field = cond.get("field")
        if kind == "value_count":
            if field is None:
                self.error(
                    corr,
                    where,
                    "a value_count condition needs field: (what to count the distinct values of)",
                    "add e.g. field: data.user_name",
                    Code.SIGMA_MISSING,
                )
                return None
            name = self._field(corr, (*where, "field"), field)
            return None if name is None else {"distinct": {"field": name, "gte": at_least}}
        if field is not None:
            self.notes.append(
                f"condition field {field} ignored: an event_count counts events (Sigma: field is for value_count)"
            )
        return {"count": {"gte": at_least}}

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
            self.error(base, (), "the Sigma rule has no title", "add title:", Code.SIGMA_MISSING)
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
                self.error(
                    src,
                    ("level",),
                    f"level {level!r} is not a Sigma level",
                    "one of " + ", ".join(LEVELS),
                    Code.SIGMA_UNSUPPORTED,
                )
                return "medium"
        self.notes.append("no level: medium assumed")
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
        if self.notes:
            parts.append("Conversion: " + "; ".join(self.notes) + ".")
        return "\n".join(parts)


def rule_id(path: Path, sigma_id: Any) -> str:
    """The rule's id: its file name in soar's id form (``[a-z0-9-]+``), else the Sigma id."""
    for text in (path.stem, str(sigma_id or "")):
        slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
        if slug:
            return slug
    return "sigma-rule"
