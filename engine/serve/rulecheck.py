"""A detection rule checked in two passes that collect every problem: schema, then meaning.

The schema pass is the playbook's (``engine.playbook.schema``, with
``schemas/detection.schema.json``); the queries are checked as a playbook's
are (``engine.playbook.queries``: what Auth0 would refuse, unknown event
codes); then what only the rule's meaning can say: one condition, ``where``
terms, durations within bounds, the response playbook and its inputs, and the
tests' events.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import nodes

from engine.errors import PlaybookError, QueryError, TemplateError
from engine.expr.templates import free_names, is_template, parse_template
from engine.issues import Code, Issue
from engine.logs.query import value_pattern
from engine.playbook.model import MISSING, Playbook
from engine.playbook.queries import query_check_issues
from engine.playbook.schema import schema_issues
from engine.playbook.source import Source
from engine.timeutil import date_key, parse_duration

# what a response's input templates may read (docs/detections.md, "Responses")
RESPONSE_NAMES = frozenset(["group", "incident", "rule"])
MAX_WINDOW_DAYS = 7  # state is kept for window + lateness: a week of events at most
MAX_LATENESS_HOURS = 24
MAX_TEST_EVENTS = 100_000  # one rule test's events once repeat is expanded


def rule_issues(src: Source) -> list[Issue]:
    """Every problem of one rule's source: schema first, then the semantic checks."""
    issues = list(schema_issues(src, "detection"))
    if any(i.severity == "error" for i in issues):
        return issues
    data = src.data
    issues.extend(_condition_issues(src, data))
    issues.extend(_query_issues(src, data))
    issues.extend(_duration_issues(src, data))
    if "response" in data:
        issues.extend(_response_issues(src, data))
    issues.extend(_test_issues(src, data))
    return issues


def _condition_issues(src: Source, data: dict[str, Any]) -> Iterator[Issue]:
    has = [k for k in ("threshold", "sequence") if k in data]
    if len(has) != 1:
        yield Issue(
            "error",
            "a detection needs exactly one of 'threshold' and 'sequence'"
            + (", not both" if has else ""),
            src.at((has[-1],) if has else ()),
            "threshold: {count: {gte: 20}}, or a sequence of stages",
            code=Code.NO_CONDITION,
        )
    elif has == ["threshold"] and "select" not in data:
        yield Issue(
            "error",
            "a threshold rule needs 'select': the events it counts",
            src.at(()),
            'e.g. select: \'type:"fp" OR type:"fu"\'',
            code=Code.NO_CONDITION,
        )


def _query_issues(src: Source, data: dict[str, Any]) -> Iterator[Issue]:
    places: list[tuple[dict[str, Any], tuple[str | int, ...]]] = [(data, ())]
    places += [(stage, ("sequence", n)) for n, stage in enumerate(data.get("sequence") or [])]
    for spec, path in places:
        if "select" in spec:
            if is_template(spec["select"]):
                yield Issue(
                    "error",
                    "a rule's query is not a template: nothing renders it",
                    src.at((*path, "select")),
                    "write the query itself",
                    code=Code.QUERY_REFUSED,
                )
            else:
                yield from query_check_issues(src, spec["select"], (*path, "select"))
        where = spec.get("where") or []
        alternatives = where if isinstance(where, list) else [where]
        for a, conditions in enumerate(alternatives):
            at = (*path, "where", a) if isinstance(where, list) else (*path, "where")
            yield from _where_issues(src, conditions, at)


def _where_issues(
    src: Source, conditions: dict[str, Any], at: tuple[str | int, ...]
) -> Iterator[Issue]:
    for name, values in conditions.items():
        for n, value in enumerate(values if isinstance(values, list) else [values]):
            if not isinstance(value, str):
                continue
            try:
                value_pattern(value, False, name)
            except QueryError as exc:
                yield Issue(
                    "error",
                    f"where {name!r}: {exc}",
                    src.at((*at, name, n) if isinstance(values, list) else (*at, name)),
                    "'*' is the only wildcard; escape a literal * or ? with a backslash",
                    code=Code.BAD_WHERE_VALUE,
                )


def _duration_issues(src: Source, data: dict[str, Any]) -> Iterator[Issue]:
    bounds = {
        "window": parse_duration(f"{MAX_WINDOW_DAYS}d"),
        "lateness": parse_duration(f"{MAX_LATENESS_HOURS}h"),
        "quiet": parse_duration(f"{MAX_WINDOW_DAYS}d"),
    }
    for key, most in bounds.items():
        if key in data and parse_duration(data[key]) > most:
            yield Issue(
                "error",
                f"{key!r} is {data[key]!r}: at most {most.days or most.seconds // 3600}"
                f"{'d' if most.days else 'h'}",
                src.at((key,)),
                "the detector keeps every event of the window in memory",
                code=Code.BAD_DURATION,
            )


def response_playbook(value: str, rule_file: Path) -> Path | None:
    """A response's playbook: a file relative to the rule, else a standard playbook by name."""
    from engine.bundled import bundled_dir
    from engine.errors import ConfigError

    beside = rule_file.parent / value
    if beside.is_file():
        return beside
    name = value if value.endswith((".yaml", ".yml")) else f"{value}.yaml"
    if "/" in value or "\\" in value:
        return None
    try:
        standard = bundled_dir("playbooks") / name
    except ConfigError:
        return None
    return standard if standard.is_file() else None


@cache
def _playbook(path: Path) -> Playbook | PlaybookError:
    from engine.actions import default_registry
    from engine.playbook.loader import load_playbook

    try:
        return load_playbook(path, default_registry())
    except PlaybookError as exc:
        return exc


def _response_issues(src: Source, data: dict[str, Any]) -> Iterator[Issue]:
    spec = data["response"]
    path = response_playbook(spec["playbook"], Path(src.path))
    if path is None:
        yield Issue(
            "error",
            f"response playbook {spec['playbook']!r} is neither beside the rule nor a standard one",
            src.at(("response", "playbook")),
            "name a standard playbook (auth0-attack-triage) or a path relative to the rule file",
            code=Code.UNKNOWN_RESPONSE_PLAYBOOK,
        )
        return
    playbook = _playbook(path.resolve())
    if isinstance(playbook, PlaybookError):
        yield Issue(
            "error",
            f"response playbook {spec['playbook']!r} does not load: {len(playbook.issues)} problem(s)",
            src.at(("response", "playbook")),
            f"run 'soar validate {path}'",
            code=Code.INVALID_RESPONSE_PLAYBOOK,
        )
        return
    inputs = spec.get("inputs") or {}
    declared = list(playbook.inputs)
    for name in inputs:
        if name not in playbook.inputs:
            near = difflib.get_close_matches(name, declared, n=1)
            yield Issue(
                "error",
                f"response input {name!r}: playbook {playbook.name!r} declares no such input",
                src.key_at(("response", "inputs", name)),
                f"did you mean {near[0]!r}?" if near else f"declared: {', '.join(declared)}",
                code=Code.RESPONSE_INPUT,
            )
    for name, declared_spec in playbook.inputs.items():
        if declared_spec.required and declared_spec.default is MISSING and name not in inputs:
            yield Issue(
                "error",
                f"response input {name!r} is required by playbook {playbook.name!r}",
                src.at(("response",)),
                f"give it, e.g. {name}: '{{{{ group.{(data.get('group_by') or ['ip'])[0]} }}}}'",
                code=Code.RESPONSE_INPUT,
            )
    group_by = set(data.get("group_by") or [])
    for name, value in inputs.items():
        if isinstance(value, str) and is_template(value):
            yield from _template_issues(src, ("response", "inputs", name), value, group_by)


def _template_issues(
    src: Source, path: tuple[str | int, ...], value: str, group_by: set[str]
) -> Iterator[Issue]:
    try:
        ast = parse_template(value)
    except TemplateError as exc:
        yield Issue("error", str(exc), src.at(path), code=Code.RESPONSE_INPUT)
        return
    for name in sorted(free_names(ast) - RESPONSE_NAMES):
        yield Issue(
            "error",
            f"response input {path[-1]!r} reads {name!r}: a response has only group, incident, rule",
            src.at(path),
            "e.g. '{{ group.ip }}', '{{ incident.first }}'",
            code=Code.RESPONSE_INPUT,
        )
    for node in ast.find_all(nodes.Getattr):
        group = isinstance(node.node, nodes.Name) and node.node.name == "group"
        if group and node.attr not in group_by:
            yield Issue(
                "error",
                f"response input {path[-1]!r} reads group.{node.attr}, "
                "which is not a group_by field",
                src.at(path),
                f"group_by: {', '.join(sorted(group_by)) or 'none'}",
                code=Code.RESPONSE_INPUT,
            )


def _test_issues(src: Source, data: dict[str, Any]) -> Iterator[Issue]:
    for t, test in enumerate(data.get("tests") or []):
        expanded = sum(item.get("repeat", 1) if "event" in item else 1 for item in test["events"])
        if expanded > MAX_TEST_EVENTS:
            yield Issue(
                "error",
                f"test {test['name']!r} expands to {expanded:,} events: at most {MAX_TEST_EVENTS:,}",
                src.at(("tests", t, "events")),
                "a rule test needs the events around its threshold, not a flood",
                code=Code.BAD_TEST_EVENT,
            )
        for e, item in enumerate(test["events"]):
            event = item.get("event", item)
            where = ("tests", t, "events", e)
            if date_key(event.get("date")) is None:
                yield Issue(
                    "error",
                    f"test {test['name']!r}: event {e + 1} has no readable date",
                    src.at(where),
                    "give it an Auth0 date: 2026-11-20T10:00:00.000Z",
                    code=Code.BAD_TEST_EVENT,
                )
            for name, text in (item.get("vary") or {}).items() if "event" in item else []:
                if "{n}" not in text:
                    yield Issue(
                        "error",
                        f"test {test['name']!r}: vary {name!r} has no {{n}}",
                        src.at((*where, "vary", name)),
                        "e.g. user_name: 'user{n}@example.com'",
                        code=Code.BAD_TEST_EVENT,
                    )
