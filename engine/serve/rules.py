"""Detection rules as files: ``detections/*.yaml`` loaded into checked ``Rule`` values.

A rule selects Auth0 log events with a log query (``engine.logs.query``: the
language and evaluator of ``auth0.search_logs``), optionally narrowed by
``where:`` conditions on any field (dotted paths reach into ``details``),
groups them by fields, and holds when a threshold or a sequence is met within
a window on the events' own ``date`` (``engine.serve.detect`` evaluates it).
The format is ``schemas/detection.schema.json``, described in
``docs/detections.md``. Loading collects every problem of every file, located
(``path:line:col``), as the playbook loader does (``engine.playbook``), and
raises ``DetectionError`` carrying them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.errors import DetectionError
from engine.issues import Code, Issue, Location
from engine.logs.query import Query, compile_query, field_text, glob_match, value_pattern
from engine.playbook.loader import read_bounded
from engine.playbook.source import Source, load_yaml, load_yaml_all
from engine.serve.rulecheck import response_playbook, rule_issues
from engine.timeutil import parse_duration

Event = Mapping[str, Any]
DEFAULT_LATENESS = timedelta(minutes=1)
RESPONSES = ("dry-run", "auto")


def field_value(event: Event, path: str) -> Any:
    """The value at a dotted ``path`` of an event (``details.request.ip``); None if absent."""
    if "." not in path:
        return event.get(path)
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def where_test(name: str, values: Sequence[Any]) -> Callable[[Event], bool]:
    """A test that the field ``name`` matches one of ``values`` (terms: exact, or ``*``).

    A value is read as a term of the query language (``value_pattern``); a
    boolean or a number is its JSON text, as the field's value is
    (``field_text``: ``details.request.body.enabled: false`` matches ``false``).
    Raises ``QueryError`` for a term the query language refuses.
    """
    exact: set[str] = set()
    globs: list[tuple[str, ...]] = []  # () is a lone *: any value but the empty text
    for value in values:
        raw = value if isinstance(value, str) else field_text(value) or ""
        pattern = value_pattern(raw, False, name)
        if pattern.exact is not None:
            exact.add(pattern.exact)
        else:
            globs.append(pattern.parts)

    def test(event: Event) -> bool:
        text = field_text(field_value(event, name))
        if text is None:
            return False
        if text in exact:
            return True
        return any(glob_match(g, text) if g else text != "" for g in globs)

    return test


@dataclass(frozen=True)
class Match:
    """What an event must be: the ``select`` query, and one of the ``where`` alternatives.

    ``where`` is a mapping (every condition holds) or a list of them (one holds).
    """

    query: Query | None
    where: tuple[tuple[Callable[[Event], bool], ...], ...] = ()

    def __call__(self, event: Event) -> bool:
        if self.query is not None and not self.query.predicate(event):
            return False
        if not self.where:
            return True
        return any(all(test(event) for test in tests) for tests in self.where)


@dataclass(frozen=True)
class Threshold:
    """At least ``count`` matching events and/or ``distinct`` values of a field in the window."""

    count: int | None = None
    distinct_field: str | None = None
    distinct: int | None = None


@dataclass(frozen=True)
class Stage:
    """One step of a sequence: its events and the threshold they must reach."""

    name: str
    match: Match
    threshold: Threshold


@dataclass(frozen=True)
class Response:
    playbook: Path  # resolved
    inputs: Mapping[str, str]  # templates (group values are data, never re-rendered)
    respond: str  # "dry-run" | "auto"
    max_targets: int | None


@dataclass(frozen=True)
class RuleTest:
    """A test the rule carries: events in, whether it fires and for which groups."""

    name: str
    events: tuple[Mapping[str, Any], ...]  # as written: Auth0 log objects or repeat/every
    expect: Mapping[str, Any]
    location: Location
    delivery: str = "batch"  # or "one-by-one": each event a delivery of its own, in order


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
    description: str = ""
    match: Match = field(default_factory=lambda: Match(None))
    threshold: Threshold | None = None
    sequence: tuple[Stage, ...] = ()
    tests: tuple[RuleTest, ...] = ()
    location: Location = field(default_factory=lambda: Location("<rule>", 1, 1))

    def selects(self, event: Event) -> bool:
        """Whether the event is evidence for this rule (its select, or one of its stages)."""
        if not self.match(event):
            return False
        return not self.sequence or any(stage.match(event) for stage in self.sequence)


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """The rule files: each file named, and the ``*.yaml``/``*.yml`` of each folder, sorted."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml")))
        else:
            files.append(p)
    return files


def is_rule_source(src: Source) -> bool:
    """A YAML document is a detection rule when it has the ``detection:`` key."""
    return isinstance(src.data, dict) and "detection" in src.data


def is_rule_file(path: Path) -> bool:
    """Whether the file is a detection rule (its YAML has ``detection:``); False if unreadable."""
    raw, _ = read_bounded(path)
    return raw is not None and is_rule_source(load_yaml(raw, str(path))[0])


def check_rule_text(raw: bytes, path: str) -> tuple[Source, list[Issue]]:
    """The loaded source and every problem of one rule file, in file order."""
    src, issues = load_yaml(raw, path)
    if src.data is not None or not issues:
        issues = sorted(
            [*issues, *rule_issues(src)], key=lambda i: (i.location.line, i.location.col)
        )
    return src, issues


def check_rules(paths: Sequence[Path]) -> list[Issue]:
    """Every problem in the rule files (``rule_files``), duplicate ids across them included."""
    return _load(paths)[1]


def load_rules(paths: Sequence[Path]) -> list[Rule]:
    """The rules in files or folders; raises ``DetectionError`` listing every located problem."""
    rules, issues = _load(paths)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        lines = "\n".join(i.format() for i in errors)
        raise DetectionError(f"{len(errors)} problem(s) in detection rules:\n{lines}", errors)
    return rules


def _load(paths: Sequence[Path]) -> tuple[list[Rule], list[Issue]]:
    rules: list[Rule] = []
    issues: list[Issue] = []
    seen: dict[str, Location] = {}
    for path in rule_files(paths):
        raw, problems = read_bounded(path)
        if raw is None:
            issues.extend(problems)
            continue
        sigma = _sigma(raw, path)
        if sigma:  # Auth0's catalog, read as it is: converted (docs/sigma.md)
            from engine.serve.sigma import convert
            from engine.serve.sigmafile import render

            converted, found = convert(sigma, path)
            issues.extend(found)
            if converted is None:
                continue
            raw = render(converted, sigma, path).encode("utf-8")
        src, found = check_rule_text(raw, str(path))
        issues.extend(found)
        rule_id = src.data.get("id") if isinstance(src.data, dict) else None
        if isinstance(rule_id, str):
            if rule_id in seen:
                issues.append(
                    Issue(
                        "error",
                        f"detection id {rule_id!r} is already used at {seen[rule_id]}",
                        src.at(("id",)),
                        "give each rule its own id",
                        code=Code.DUPLICATE_DETECTION_ID,
                    )
                )
                continue
            seen[rule_id] = src.at(("id",))
        if not any(i.severity == "error" for i in found):
            rules.append(build_rule(src, path))
    return rules, issues


def _sigma(raw: bytes, path: Path) -> list[Source]:
    """A Sigma rule file's documents (a rule with its correlations); none for soar's own format."""
    from engine.serve.sigma import is_sigma

    sources, problems = load_yaml_all(raw, str(path))
    return sources if not problems and sources and is_sigma(sources[0].data) else []


def match_of(spec: Mapping[str, Any]) -> Match:
    """The ``select`` and ``where`` of a rule or a stage (checked already)."""
    select = spec.get("select")
    where = spec.get("where") or []
    alternatives = tuple(
        tuple(
            where_test(name, values if isinstance(values, list) else [values])
            for name, values in conditions.items()
        )
        for conditions in (where if isinstance(where, list) else [where])
    )
    return Match(compile_query(select) if isinstance(select, str) else None, alternatives)


def threshold_of(spec: Mapping[str, Any]) -> Threshold:
    distinct = spec.get("distinct") or {}
    count = spec.get("count")
    return Threshold(
        count=count["gte"] if count else None,
        distinct_field=distinct.get("field"),
        distinct=distinct.get("gte"),
    )


def build_rule(src: Source, path: Path) -> Rule:
    """The ``Rule`` of a checked source (``check_rule_text`` found no error)."""
    data = src.data
    window = parse_duration(data["window"])
    response = None
    if "response" in data:
        spec = data["response"]
        playbook = response_playbook(spec["playbook"], path)
        assert playbook is not None  # checked: SOAR704
        response = Response(
            playbook=playbook,
            inputs={
                k: v if isinstance(v, str) else field_text(v) or ""
                for k, v in (spec.get("inputs") or {}).items()
            },
            respond=spec.get("respond", "dry-run"),
            max_targets=spec.get("max_targets"),
        )
    tests = tuple(
        RuleTest(
            t["name"],
            tuple(t["events"]),
            t["expect"],
            src.at(("tests", n)),
            t.get("delivery", "batch"),
        )
        for n, t in enumerate(data.get("tests") or [])
    )
    return Rule(
        id=data["id"],
        title=data["title"],
        severity=data["severity"],
        source=path,
        window=window,
        lateness=parse_duration(data["lateness"]) if "lateness" in data else DEFAULT_LATENESS,
        quiet=parse_duration(data["quiet"]) if "quiet" in data else window,
        group_by=tuple(data.get("group_by") or ()),
        response=response,
        description=data.get("description", ""),
        match=match_of(data),
        threshold=threshold_of(data["threshold"]) if "threshold" in data else None,
        sequence=tuple(
            Stage(s["as"], match_of(s), threshold_of(s)) for s in data.get("sequence") or []
        ),
        tests=tests,
        location=src.at(("id",)),
    )
