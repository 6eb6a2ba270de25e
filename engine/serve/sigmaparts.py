"""The parts of a Sigma document read as soar means them: a query, fields, a timespan, a condition.

``engine.serve.sigma`` builds a detection from them; each function reports
what it cannot read to a ``Findings`` (a located ``Issue``) and returns None,
so that one file's every problem is found in one pass, and what the
conversion had to decide goes to ``Findings.notes`` (kept in the rule's
description).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.issues import Code, Issue
from engine.playbook.queries import query_check_issues
from engine.playbook.source import Source
from engine.serve.rulecheck import MAX_WINDOW_DAYS
from engine.timeutil import parse_duration

_TIMESPAN = re.compile(r"([1-9][0-9]{0,5})([smhd])")  # the spec: number + s, m, h or d
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_-]*\}")  # {your-tenant-url}: fill me in
_LOWER = ("gte", "gt")
_UPPER = ("lt", "lte", "eq")


@dataclass
class Findings:
    """The problems of one file, and the notes on what its conversion decided."""

    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(
        self, src: Source, where: tuple[str | int, ...], message: str, hint: str, code: Code
    ) -> None:
        self.issues.append(Issue("error", message, src.at(where), hint, code=code))


def spec_of(f: Findings, corr: Source) -> Mapping[str, Any] | None:
    spec = corr.data["correlation"]
    if isinstance(spec, Mapping):
        return spec
    f.error(
        corr,
        ("correlation",),
        "correlation: is not a mapping",
        "write type:, rules:, group-by:, timespan:, condition:",
        Code.SIGMA_UNSUPPORTED,
    )
    return None


def no_aliases(f: Findings, corr: Source, spec: Mapping[str, Any]) -> None:
    if "aliases" in spec:
        f.error(
            corr,
            ("correlation", "aliases"),
            "correlation aliases: is not supported",
            "group by the same fields in every rule",
            Code.SIGMA_UNSUPPORTED,
        )


def referenced(
    f: Findings, corr: Source, spec: Mapping[str, Any], rules: list[Source]
) -> list[Source]:
    """The plain rules the correlation names, by ``name`` or ``id``, each located if absent."""
    refs = spec.get("rules")
    if not isinstance(refs, list) or not refs:
        f.error(
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
            f.error(
                corr,
                ("correlation", "rules", n),
                f"correlation rule {ref!r} is not a rule of this file",
                f"the file's rules: {known}; soar does not look for rules in other files",
                Code.SIGMA_REFERENCE,
            )
        elif base not in found:
            found.append(base)
    return found


def query_of(f: Findings, base: Source) -> str | None:
    """The rule's Auth0 log query, checked as ``soar validate`` checks a playbook's."""
    text = base.data.get("tenant_logs")
    if not isinstance(text, str) or not text.strip():
        f.error(
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
        f.error(
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
        f.error(
            base,
            ("tenant_logs",),
            f"tenant_logs still holds the placeholder {placeholder.group()}",
            "replace it with your tenant's value: the catalog leaves it to you",
            Code.SIGMA_PLACEHOLDER,
        )
        return None
    found = query_check_issues(base, query, ("tenant_logs",))
    f.issues.extend(found)
    return None if any(i.severity == "error" for i in found) else query


def group_by_of(f: Findings, corr: Source, spec: Mapping[str, Any]) -> list[str] | None:
    fields = spec.get("group-by")
    if not isinstance(fields, list) or not fields:
        f.error(
            corr,
            ("correlation", "group-by") if "group-by" in spec else ("correlation",),
            "correlation group-by: is missing or empty",
            "name the fields that make a group, e.g. data.ip",
            Code.SIGMA_MISSING,
        )
        return None
    out = [field_of(f, corr, ("correlation", "group-by", n), name) for n, name in enumerate(fields)]
    return None if None in out else [f for f in out if f is not None]


def field_of(f: Findings, src: Source, where: tuple[str | int, ...], name: Any) -> str | None:
    """A Sigma field as a path in the log object: the stream item's ``data.x`` is ``x``."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_$][\w$-]*(\.[\w$-]+)*", name):
        f.error(
            src,
            where,
            f"field {name!r} is not a field name",
            "write a dotted field, e.g. data.ip",
            Code.SIGMA_UNSUPPORTED,
        )
        return None
    if name == "data":
        f.error(
            src,
            where,
            "field data is the whole log object, not a field of it",
            "name a field inside it, e.g. data.ip",
            Code.SIGMA_UNSUPPORTED,
        )
        return None
    return name.removeprefix("data.")


def timespan_of(f: Findings, corr: Source, spec: Mapping[str, Any]) -> str | None:
    text = spec.get("timespan")
    if not isinstance(text, str) or not _TIMESPAN.fullmatch(text):
        f.error(
            corr,
            ("correlation", "timespan") if "timespan" in spec else ("correlation",),
            f"timespan {text!r} is not a Sigma timespan",
            "a number and s, m, h or d, e.g. 1h or 90m",
            Code.SIGMA_UNSUPPORTED,
        )
        return None
    if parse_duration(text) > parse_duration(f"{MAX_WINDOW_DAYS}d"):
        f.error(
            corr,
            ("correlation", "timespan"),
            f"timespan {text!r}: at most {MAX_WINDOW_DAYS}d",
            "the detector keeps every event of the window in memory: keep a longer one in "
            "your SIEM",
            Code.BAD_DURATION,
        )
        return None
    return text


def threshold_of(
    f: Findings, corr: Source, spec: Mapping[str, Any], kind: str
) -> dict[str, Any] | None:
    where: tuple[str | int, ...] = ("correlation", "condition")
    cond = spec.get("condition")
    if not isinstance(cond, Mapping):
        f.error(
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
        f.error(
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
        f.error(
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
        f.error(
            corr,
            (*where, op),
            f"condition {op}: {n!r} is not a count",
            "write a whole number, 0 or more",
            Code.SIGMA_UNSUPPORTED,
        )
        return None
    at_least = n + 1 if op == "gt" else n
    if at_least < 1:
        f.notes.append(f"condition {op}: {n} holds for every group with an event: read as gte: 1")
        at_least = 1
    field = cond.get("field")
    if kind == "value_count":
        if field is None:
            f.error(
                corr,
                where,
                "a value_count condition needs field: (what to count the distinct values of)",
                "add e.g. field: data.user_name",
                Code.SIGMA_MISSING,
            )
            return None
        name = field_of(f, corr, (*where, "field"), field)
        return None if name is None else {"distinct": {"field": name, "gte": at_least}}
    if field is not None:
        f.notes.append(
            f"condition field {field} ignored: an event_count counts events (Sigma: field is for value_count)"
        )
    return {"count": {"gte": at_least}}
