"""Expressions: templates compiled once in the one sandboxed environment (``engine.expr.sandbox``).

- A string that is exactly one ``{{ expression }}`` yields the expression's
  native value (a list stays a list, an int an int). It is evaluated with
  ``compile_expression``, not rendered and re-parsed, so a *string* value such
  as ``"[1, 2]"`` or ``"7"`` that came from data stays that string.
- Any other string containing ``{{``/``{%`` renders to a string.
- Rendering never feeds its result back into the template engine: a value such
  as ``{{ 7*7 }}`` arriving in data (a log event's ``user_name``) stays literal.
- The environment is immutable-sandboxed with strict undefined; string and
  list repetition and powers are bounded so ``'a' * 10**10`` cannot exhaust memory,
  and so are widths, padding and replacement in calls and filters (``engine.expr.bounds``).
  Every string and list an expression builds is bounded, and so is the time a
  render takes: loops stop at the step's ``timeout`` with an error naming the step.
- Mapping keys win over methods: ``output.values`` is the key, not ``dict.values``.
- A secret never enters the engine as text: while a template renders it is a
  placeholder, and a string holding a whole placeholder becomes a ``Secret``
  (so ``"Bearer {{ secrets.token }}"`` stays opaque in every log); see
  ``engine.expr.secrets``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from engine.errors import TemplateError
from engine.expr import secrets as exprsecrets
from engine.expr.budget import (
    StepLimit,
    current_step_limit,
    end_budget,
    start_budget,
)
from engine.expr.sandbox import ENV

_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass(frozen=True)
class Template:
    """A compiled template string. ``render`` gives a native value or a string."""

    source: str
    _render: Callable[[Mapping[str, Any]], Any]
    ast: nodes.Template

    def render(self, context: Mapping[str, Any], limit: StepLimit | None = None) -> Any:
        """The value (secrets sealed, see ``engine.expr.secrets``), within the step's limit."""
        budget = start_budget(limit)
        try:
            with exprsecrets.placeholders() as scope:
                try:
                    value = self._render(context)
                    if isinstance(value, Undefined):
                        value._fail_with_undefined_error()
                    return scope.seal(value)
                except UndefinedError as exc:
                    message = f"in {self.source!r}: {exc}"
                except SecurityError as exc:
                    message = f"in {self.source!r}: refused by the sandbox: {exc}"
                except TemplateError as exc:
                    message = str(exc)
                except RecursionError:
                    message = f"in {self.source!r}: the expression recurses too deeply"
                except Exception as exc:  # any other failure inside an expression
                    message = f"in {self.source!r}: {type(exc).__name__}: {exc}"
                # the message may quote a value: a placeholder is shown as ***, never the secret
                raise TemplateError(scope.scrub(message)) from None
        finally:
            end_budget(budget)


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """Compile ``source`` once (cached by text); raises ``TemplateError`` with the line."""
    try:
        ast = ENV.parse(source)
        m = _WHOLE.match(source)
        if m and "{{" not in m.group("expr") and "}}" not in m.group("expr"):
            expr = ENV.compile_expression(m.group("expr").strip(), undefined_to_none=False)
            return Template(source, lambda ctx: expr(**ctx), ast)
        tmpl = ENV.from_string(ast)
        return Template(source, lambda ctx: tmpl.render(**ctx), ast)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not parse: {exc.message}", exc.lineno) from None
    except RecursionError:
        # Jinja's parser and compiler recurse per nesting level: a hostile file could nest deeply
        raise TemplateError("template does not parse: the expression nests too deeply") from None


@lru_cache(maxsize=4096)
def parse_template(source: str) -> nodes.Template:
    """The syntax tree of ``source`` without generating code (what validation needs).

    Raises ``TemplateError`` (with ``lineno``) as ``compile_template`` does for
    syntax errors. Unknown filters and tests are only found when compiling:
    validation checks them on the tree with ``unknown_filters_and_tests``.
    """
    try:
        return ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not parse: {exc.message}", exc.lineno) from None
    except RecursionError:
        raise TemplateError("template does not parse: the expression nests too deeply") from None


def template_references(ast: nodes.Node) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """``(root, name, rest)`` for each ``inputs.x`` / ``steps.x...`` / ``secrets.x`` /
    ``run.x`` in a tree."""
    yield from _references(ast)


def free_names(ast: nodes.Template) -> set[str]:
    """Names a template reads from its context (a cheap walk; jinja2.meta compiles code)."""
    stored = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    if any(True for _ in ast.find_all(nodes.For)):
        stored.add("loop")  # the implicit loop variable of {% for %}
    if any(True for _ in ast.find_all(nodes.Macro)):
        stored.update(("caller", "varargs", "kwargs"))
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"} - stored


def unknown_filters_and_tests(ast: nodes.Template) -> Iterator[tuple[str, str, list[str]]]:
    """``(kind, name, known names)`` for each filter or test the environment lacks."""
    for node in ast.find_all(nodes.Filter):
        if node.name not in ENV.filters:
            yield "filter", node.name, sorted(ENV.filters)
    for test in ast.find_all(nodes.Test):
        if test.name not in ENV.tests:
            yield "test", test.name, sorted(ENV.tests)


def reads_secret(expr: nodes.Node) -> bool:
    """Whether an expression reads ``secrets.<name>`` anywhere inside it."""
    return any(n.name == "secrets" for n in expr.find_all(nodes.Name)) or (
        isinstance(expr, nodes.Name) and expr.name == "secrets"
    )


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template string inside ``value`` (lists and mappings walked); once only."""
    if isinstance(value, str):
        return compile_template(value).render(context) if is_template(value) else value
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    return value


def iter_templates(value: Any) -> Iterator[str]:
    """Every template string inside a (possibly nested) literal value."""
    if isinstance(value, str):
        if is_template(value):
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from iter_templates(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from iter_templates(v)


@dataclass(frozen=True)
class Deferred:
    """A template an action renders itself, once per item (``data.filter``'s ``where``).

    Actions whose input schema marks a property ``"x-template": "deferred"``
    receive this instead of a rendered value; ``render(item=...)`` evaluates it
    in the step's context plus the given names.
    """

    template: Template
    context: Mapping[str, Any]
    # the step's deadline, caught when the step made it: actions render on other threads
    limit: StepLimit | None = field(default_factory=current_step_limit)

    def render(self, **extra: Any) -> Any:
        return self.template.render({**self.context, **extra}, self.limit)


def _chain(node: nodes.Node) -> tuple[str, list[str]] | None:
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            return node.name, list(reversed(parts))
        else:
            return None


def _references(ast: nodes.Node) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    seen: set[int] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in seen:
            continue
        chain = _chain(node)
        if chain is None:
            continue
        # mark inner nodes so only the outermost chain is reported
        inner: nodes.Node = node
        while isinstance(inner, nodes.Getattr | nodes.Getitem):
            seen.add(id(inner))
            inner = inner.node
        root, parts = chain
        if root in ("inputs", "steps", "secrets", "run") and parts:
            yield root, parts[0], tuple(parts[1:])
