"""A step's calls: its condition, its items, each call's rendered arguments, and their keys.

Pure functions over the template context (``inputs``, ``steps``, ``secrets``,
``run``; plus ``item`` and ``index`` per ``for_each`` item). Only playbook
templates are ever rendered: values that came from data are never fed back
into the template engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Undefined
from jinja2.exceptions import UndefinedError

from engine.actions.registry import Action
from engine.depth import walk, walk_keeps
from engine.errors import ActionError, TemplateError
from engine.expr.templates import (
    Deferred,
    compile_template,
    is_template,
    iter_templates,
    render_value,
)
from engine.logs.eventset import EventSet
from engine.playbook.model import Playbook, Step
from engine.secrets import MASK, Secret


def precompile(playbook: Playbook) -> None:
    """Compile every template of ``playbook`` once, before its first step (cached by text).

    A template that does not compile is left to fail its own step with the
    message (validation reports it before a run in any case).
    """
    parts: list[Any] = [dict(playbook.outputs)]
    for step in playbook.steps:
        parts += [dict(step.with_), step.if_, step.for_each]
    for source in iter_templates(parts):
        try:
            compile_template(source)
        except TemplateError:
            continue


_FALSE_TEXT = frozenset({"", "false", "none", "null"})


def condition(step: Step, context: Mapping[str, Any]) -> bool:
    """Whether ``step`` runs: its ``if`` (absent: true).

    A whole-expression ``if`` yields a native value (Python truthiness). An
    expression mixed with text (``"{{ inputs.block }} "``) yields a string, and
    the string "False" would be true: such a result counts as false when it is
    ``false``, ``none``, ``null`` (any case) or blank.
    """
    if step.if_ is None:
        return True
    if isinstance(step.if_, bool):
        return step.if_
    value = compile_template(str(step.if_)).render(context)
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_TEXT
    return bool(value)


def items(step: Step, context: Mapping[str, Any]) -> list[Any] | None:
    """The ``for_each`` items (a template or a literal list); ``None`` without ``for_each``."""
    if step.for_each is None:
        return None
    value = render_value(step.for_each, context)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ActionError(
            f"for_each must give a list, got {type(value).__name__} (check the expression)"
        )
    return list(value)


def render_calls(
    step: Step, action: Action, each: list[Any] | None, context: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The arguments of each call; deferred properties stay templates (``Deferred``)."""
    props = action.input_schema.get("properties", {})
    deferred = {k for k, v in props.items() if v.get("x-template") == "deferred"}
    calls = []
    for index, item in enumerate(each if each is not None else [None]):
        ctx = {**context, "item": item, "index": index} if each is not None else context
        args: dict[str, Any] = {}
        for key, value in step.with_.items():
            if key in deferred and is_template(value):
                args[key] = Deferred(compile_template(value), ctx)
            else:
                args[key] = render_value(value, ctx)
        calls.append(args)
    return calls


def call_keys(step_id: str, calls: list[dict[str, Any]]) -> list[str]:
    """``<step>:<index>`` per call: a write's identity is its step and its occurrence.

    The index is the call's position among the step's calls (its ``for_each``
    index; 0 without ``for_each``). It does not depend on the arguments: a
    resumed run whose read steps found something new must not take a sent
    write for a new one and send it again (``engine.run.replay`` compares the
    arguments separately, with ``call_digest``).
    """
    return [f"{step_id}:{index}" for index in range(len(calls))]


def call_digest(args: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a call's arguments, to tell whether they changed since approved.

    Secrets count by name (never by value), deferred templates by their source.
    """
    text = json.dumps(_fingerprint(args), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


def _fingerprint(value: Any) -> Any:
    """``value`` with secrets as their names and templates as their source (iterative)."""
    return walk(value, _fingerprint_leaf, key=str)


def _fingerprint_leaf(value: Any) -> Any:
    if isinstance(value, Secret):
        return {"$secret": value.name}
    if isinstance(value, Deferred):
        return {"$template": value.template.source}
    return value


def loggable(args: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments as logged: secrets shown as ``***``, deferred templates as their source."""
    return {
        k: (v.template.source if isinstance(v, Deferred) else plain(v)) for k, v in args.items()
    }


def plain(value: Any) -> Any:
    """A plain JSON-like copy with every ``Secret`` shown as ``***``, event sets as lists.

    Raises ``TemplateError`` for an undefined value left inside a list (a
    ``map(attribute=...)`` over items that lack it). The walk is iterative and
    depth-bounded (``engine.depth``): outputs may hold hostile event data.
    Plain JSON within the bound is returned as it is (``walk_keeps``).
    """
    if walk_keeps(value):
        return value
    return walk(value, _plain_leaf)


def _plain_leaf(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, EventSet):  # an output is a value: its events, read back
        return list(value)
    if isinstance(value, Undefined):
        try:
            value._fail_with_undefined_error()
        except UndefinedError as exc:
            raise TemplateError(str(exc)) from None
    return value
