"""Log queries checked before a run: what Auth0 would refuse is found by ``soar validate``.

A query whose text is fixed is compiled by the query engine the runs use, so an
unsearchable field, a wildcard with too few literal characters or a bad date
range is an error at the playbook's line, not a 400 half-way through an
incident. A templated query is checked too when every value put into it goes
through ``| lucene``: each such value is one quoted phrase whatever it holds,
so the query is compiled with a placeholder phrase in its place. Other
templates can only be checked at run time.

Warnings: a ``type:`` value that is no Auth0 event code (``engine.eventcodes``;
a wildcard warns only when it matches no code), and operator mixes without
parentheses, which Lucene engines read differently.
"""

from __future__ import annotations

import difflib
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from engine.errors import QueryError, TemplateError
from engine.eventcodes import CODES, lookup
from engine.expr.sandbox import ENV
from engine.expr.templates import is_template, parse_template
from engine.issues import Code, Issue
from engine.logs.query import Query, compile_query
from engine.playbook.schema import place_of
from engine.playbook.source import Path, Source

# what a ``| lucene`` value becomes for the check: a phrase valid in any field, dates too
PLACEHOLDER = '"2000-01-01"'


def checkable_text(value: str) -> str | None:
    """The query text to compile: ``value`` itself, or with every ``{{ x | lucene }}``
    replaced by a placeholder phrase; None when a template makes the text unknowable."""
    if not is_template(value):
        return value
    try:
        ast = parse_template(value)
    except TemplateError:
        return None  # reported by the template check
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return None  # {% if %}, {% for %}: the text depends on the run
        for expr in node.nodes:
            lucene = isinstance(expr, nodes.Filter) and expr.name == "lucene"
            if not (isinstance(expr, nodes.TemplateData) or lucene):
                return None
    out: list[str] = []
    inside = False
    try:
        for _, kind, text in ENV.lex(value):
            if kind == "variable_begin":
                inside = True
                out.append(PLACEHOLDER)
            elif kind == "variable_end":
                inside = False
            elif kind == "data" and not inside:
                out.append(text)
    except TemplateSyntaxError:
        return None
    return "".join(out)


def query_check_issues(src: Source, value: Any, path: Path) -> list[Issue]:
    """Errors for a log query at ``path`` that Auth0 would refuse; warnings for doubts."""
    if not isinstance(value, str):
        return []
    text = checkable_text(value)
    if text is None:
        return []
    where = place_of(src, path)
    loc = src.at(path)
    try:
        query = compile_query(text)
    except QueryError as exc:
        return [
            Issue(
                "error",
                f"log query{where} would be refused: {_short(str(exc))}",
                loc,
                "Auth0 answers it with 400 invalid_query_string; see 'Log queries' in "
                "docs/playbook-language.md",
                code=Code.QUERY_REFUSED,
            )
        ]
    issues = [
        Issue(
            "warning",
            f"log query{where}: {what}",
            loc,
            "Lucene engines read such mixes differently: add parentheses",
            code=Code.QUERY_AMBIGUOUS,
        )
        for what in query.ambiguities
    ]
    issues.extend(
        Issue("warning", f"log query{where}: {problem}", loc, hint, code=code)
        for code, problem, hint in _unknown_codes(query)
    )
    return issues


def _unknown_codes(query: Query) -> list[tuple[Code, str, str]]:
    found: list[tuple[Code, str, str]] = []
    for term in query.terms:
        if term.field != "type" or term.raw == PLACEHOLDER:
            continue
        exact = term.exact
        if exact is not None:
            if lookup(exact) is None:
                near = difflib.get_close_matches(exact, list(CODES), n=3)
                hint = (
                    "did you mean " + " or ".join(repr(n) for n in near) + "?"
                    if near
                    else "see Auth0's log event type codes"
                )
                found.append(
                    (
                        Code.UNKNOWN_EVENT_CODE,
                        f"type {exact!r} is not a known Auth0 event code",
                        hint,
                    )
                )
        elif not any(term.matches(code) for code in CODES):
            found.append(
                (
                    Code.NO_EVENT_CODE_MATCHES,
                    f"type {term.raw} matches no known Auth0 event code",
                    "see Auth0's log event type codes",
                )
            )
    return found


def _short(message: str) -> str:
    """Auth0's message without the query repeated in it (the location says where)."""
    head, sep, rest = message.partition("': ")
    return rest if sep and head.startswith("Invalid query '") else message
