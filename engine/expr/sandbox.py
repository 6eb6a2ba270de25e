"""The expression environment: Jinja's immutable sandbox with soar's policy in one class.

``ENV`` is built once. Its class is where every policy of the expression
language is applied: mapping keys before methods, no attribute of a ``Secret``,
and every operator, call, concatenation and loop charged to the render's
budget (``engine.expr.budget``) and checked against the size bounds
(``engine.expr.bounds``). soar's own filters are ``lucene`` (an exact Auth0
search phrase) and ``ip_forms`` (every form of one address, ``engine.ipforms``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import TemplateError
from engine.expr import secrets as exprsecrets
from engine.expr.bounds import (
    MAX_SIZE,
    bounded_concat,
    bounded_filters,
    check_add,
    check_call,
    check_printf,
    check_product,
    check_text,
    join_text,
    text_size,
)
from engine.expr.budget import loop_items, spent
from engine.ipforms import ip_forms
from engine.secrets import Secret

MAX_EXPONENT_BITS = 4096


def lucene(value: Any) -> str:
    """Quote a value as an exact Auth0 log-search phrase.

    ``"`` and ``\\`` are backslash-escaped, and so are ``*`` and ``?`` so that no
    value can become a wildcard; the result is always one double-quoted phrase,
    whatever the value holds (``") OR type:("s``, newlines, template syntax).
    A list gives one group of phrases, ``("a" OR "b")``, for ``field:{{ xs | lucene }}``.
    """
    if isinstance(value, list | tuple):
        # a list of values (e.g. every logged form of one IP): one OR-ed group, ("a" OR "b")
        if not value:
            raise TemplateError("lucene: cannot quote an empty list (it would match nothing)")
        return "(" + " OR ".join(lucene(v) for v in value) + ")"
    if value is None:
        raise TemplateError("lucene: cannot quote a null value (check the expression)")
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    scope = exprsecrets.current()
    if isinstance(value, Secret) or (scope is not None and scope.holds(text)):
        raise TemplateError("a secret cannot be put into a log query")
    escaped = re.sub(r'(["\\*?])', r"\\\1", text)
    return f'"{escaped}"'


def _finalize(value: Any) -> Any:
    # ``{{ x }}`` inside text: the output is str(x), so a container is measured first
    check_text(value, "the text of an output")
    return value


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with ``~`` and ``{% for %}`` routed through the bounds."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_text((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        charged = nodes.Call(nodes.EnvironmentAttribute("loop_items"), [node.iter], [], None, None)
        guarded = nodes.For(node.target, charged, node.body, node.else_, node.test, node.recursive)
        guarded.set_lineno(node.lineno)
        guarded.set_environment(self.environment)
        super().visit_For(guarded, frame)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, plus bounds on what expressions build and how long they run.

    Mapping keys win over methods: ``steps.users.output.values`` is the
    ``values`` key of the result, not ``dict.values`` (Jinja's default tries the
    attribute first); a name that is not a key still finds the method.
    """

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        spent()
        if op == "%":
            if isinstance(left, str):
                check_printf(left)  # '%*d' % (10**9, 1) would build a gigabyte
                if text_size(right) + len(left) > MAX_SIZE:
                    raise SecurityError("the formatted string is too large for an expression")
            return operator.mod(left, right)
        if op == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and abs(left) > 1
                and right * max(abs(left).bit_length(), 1) > MAX_EXPONENT_BITS
            ):
                raise SecurityError("the power is too large for an expression")
            return operator.pow(left, right)
        if op == "*":
            check_product(left, right)
            return operator.mul(left, right)
        if op == "+":
            check_add(left, right)
            return operator.add(left, right)
        return super().call_binop(context, op, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # Jinja's own signature: the double underscores keep keyword arguments free
        spent()
        check_call(__obj, args, kwargs, __self.globals.get("lipsum"))
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        spent()
        if isinstance(obj, Mapping) and isinstance(attribute, str):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass  # not a key: the method or attribute of that name, as Jinja does
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        spent()
        return super().getitem(obj, argument)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, Secret):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def concat(self, parts: Iterable[Any]) -> str:
        return bounded_concat(parts)

    def join_text(self, parts: Iterable[Any]) -> str:
        return join_text(parts)

    def loop_items(self, items: Any) -> Iterator[Any]:
        return loop_items(items)


def _build_env() -> _Environment:
    env = _Environment(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
    env.filters["lucene"] = lucene
    env.filters["ip_forms"] = ip_forms  # every form to search for one IP (engine.ipforms)
    env.filters.update(bounded_filters())
    return env


ENV = _build_env()
