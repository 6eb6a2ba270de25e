"""Checks on values that leave the engine: log queries and playbook outputs.

A value put into an Auth0 log query must go through ``| lucene``, or a user
name such as ``") OR type:("s`` changes the query; a secret must never be put
into a query (queries are logged and sent in URLs). Outputs are printed and
logged, so a secret there could only ever show as ``***``.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes

from engine.errors import TemplateError
from engine.expr.templates import is_template, iter_templates, parse_template, reads_secret
from engine.issues import Code, Issue
from engine.playbook.schema import place_of
from engine.playbook.source import Path, Source


def query_issues(src: Source, value: Any, path: Path) -> list[Issue]:
    """A warning per value put into the log query at ``path`` without ``| lucene``; an
    error per secret put into it. A template that does not parse is left to the
    template check, which reports it."""
    if not is_template(value):
        return []
    try:
        ast = parse_template(value)
    except TemplateError:
        return []
    where = place_of(src, path)
    issues: list[Issue] = []
    for output in ast.find_all(nodes.Output):
        for expr in output.nodes:
            if isinstance(expr, nodes.TemplateData):
                continue
            if reads_secret(expr):
                issues.append(
                    Issue(
                        "error",
                        f"a secret is put into a log query{where}",
                        src.at(path),
                        "log queries are logged and sent in URLs: never put a secret in one",
                        code=Code.SECRET_IN_QUERY,
                    )
                )
            elif not (isinstance(expr, nodes.Filter) and expr.name == "lucene"):
                issues.append(
                    Issue(
                        "warning",
                        f"a value is put into the log query{where} without '| lucene'",
                        src.at(path),
                        "quotes or wildcards in the value would change the query: "
                        "ip:{{ inputs.ip | lucene }}",
                        code=Code.UNQUOTED_QUERY_VALUE,
                    )
                )
    return issues


def output_secret_issues(src: Source, name: str, value: Any, path: Path) -> list[Issue]:
    """A warning when output ``name`` reads a secret anywhere in its value."""
    for text in iter_templates(value):
        try:
            ast = parse_template(text)
        except TemplateError:
            return []  # reported by the template check
        if reads_secret(ast):
            return [
                Issue(
                    "warning",
                    f"output {name!r} reads a secret: outputs are printed and logged, "
                    "so it will only show as ***",
                    src.at(path),
                    "remove the secret from the output",
                    code=Code.SECRET_IN_OUTPUT,
                )
            ]
    return []
