"""Playbook validation in two passes that collect every problem.

Pass 1 (``engine.playbook.schema``) checks the JSON Schema, each error located at
the offending YAML node. Pass 2, here, checks meaning: actions exist,
arguments fit their action, templates parse, references point backwards to
declared inputs and earlier steps, ``if`` is an expression, defaults fit;
``engine.playbook.leaks`` checks what leaves the engine (log queries, outputs) and
``engine.playbook.queries`` compiles the log queries whose text is fixed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from engine.actions.registry import Action, ActionRegistry
from engine.errors import TemplateError
from engine.expr.sandbox import ENV
from engine.expr.templates import (
    free_names,
    is_template,
    iter_templates,
    parse_template,
    template_references,
    unknown_filters_and_tests,
)
from engine.issues import Code, Issue, Location
from engine.playbook.inputs import type_problem
from engine.playbook.leaks import output_secret_issues, query_issues
from engine.playbook.model import InputSpec
from engine.playbook.queries import query_check_issues
from engine.playbook.schema import phrase, place_of, schema_issues
from engine.playbook.source import Path, Source

_KNOWN_NAMES = {"inputs", "steps", "secrets", "run"}
_ITEM_NAMES = {"item", "index"}
_STEP_FIELDS = {"output", "status"}
_RUN_FIELDS = {"id", "dry_run"}  # what the executor puts under `run`


def validate(src: Source, registry: ActionRegistry) -> list[Issue]:
    """Every problem in the loaded document, schema and semantic, in file order."""
    issues = list(schema_issues(src))
    if isinstance(src.data, dict):
        issues.extend(_Semantic(src, registry).run())
    return sorted(issues, key=lambda i: (i.location.line, i.location.col))


class _Semantic:
    def __init__(self, src: Source, registry: ActionRegistry) -> None:
        self.src = src
        self.registry = registry
        self.issues: list[Issue] = []
        data = src.data
        inputs = data.get("inputs")
        self.inputs = inputs if isinstance(inputs, dict) else {}
        steps = data.get("steps")
        # indices stay those of the YAML list (positions are looked up by them);
        # entries that are not mappings were reported by the schema pass
        self.steps: list[Any] = steps if isinstance(steps, list) else []
        self.step_index = {
            s["id"]: i
            for i, s in reversed(list(enumerate(self.steps)))
            if isinstance(s, dict) and isinstance(s.get("id"), str)
        }

    def error(self, code: Code, loc: Location, message: str, hint: str | None = None) -> None:
        self.issues.append(Issue("error", message, loc, hint, code=code))

    def run(self) -> list[Issue]:
        self._check_defaults()
        seen: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if not isinstance(step, dict):
                continue
            sid = step.get("id")
            if isinstance(sid, str):
                if sid in seen:
                    self.error(
                        Code.DUPLICATE_STEP_ID,
                        self.src.at(("steps", i, "id")),
                        f"duplicate step id {sid!r} (first used by step {seen[sid] + 1})",
                        "step ids must be unique",
                    )
                else:
                    seen[sid] = i
            self._check_step(i, step)
        outputs = self.src.data.get("outputs")
        if isinstance(outputs, dict):
            for name, value in outputs.items():
                path: Path = ("outputs", name)
                if not any(True for _ in iter_templates(value)):
                    self.issues.append(
                        Issue(
                            "warning",
                            f"output {name!r} references nothing (a literal value)",
                            self.src.at(path),
                            "use an expression such as {{ steps.<id>.output... }}",
                            code=Code.LITERAL_OUTPUT,
                        )
                    )
                self._check_templates(value, path, len(self.steps), for_each=False)
                self.issues.extend(output_secret_issues(self.src, name, value, path))
        return self.issues

    def _check_defaults(self) -> None:
        for name, spec in self.inputs.items():
            if not isinstance(spec, dict) or "default" not in spec:
                continue
            if spec.get("required") is True:
                self.issues.append(
                    Issue(
                        "warning",
                        f"input {name!r} is required and has a default, so the default is never used",
                        self.src.key_at(("inputs", name, "required")),
                        "drop 'required: true' or the default",
                        code=Code.REQUIRED_WITH_DEFAULT,
                    )
                )
            try:
                ispec = InputSpec(
                    name=name,
                    type=spec.get("type", "string"),
                    enum=tuple(spec["enum"]) if isinstance(spec.get("enum"), list) else None,
                    format=spec.get("format"),
                )
                problem = (
                    type_problem(ispec, spec["default"]) if spec["default"] is not None else None
                )
            except (KeyError, TypeError):
                continue
            if problem:
                self.error(
                    Code.BAD_DEFAULT,
                    self.src.at(("inputs", name, "default")),
                    f"default of input {name!r} does not fit its declaration: {problem}",
                )

    def _check_step(self, i: int, step: Mapping[str, Any]) -> None:
        sid = step.get("id")
        label = f"step {sid!r}" if isinstance(sid, str) else f"step {i + 1}"
        uses = step.get("uses")
        action = self.registry.get(uses) if isinstance(uses, str) else None
        if isinstance(uses, str) and action is None:
            near = self.registry.suggest(uses)
            hint = (
                "did you mean " + " or ".join(repr(n) for n in near) + "?"
                if near
                else "run 'soar actions' for the list"
            )
            self.error(
                Code.UNKNOWN_ACTION,
                self.src.at(("steps", i, "uses")),
                f"unknown action {uses!r} in {label}",
                hint,
            )
        cond = step.get("if")
        if isinstance(cond, str) and not is_template(cond):
            self.error(
                Code.PLAIN_IF,
                self.src.at(("steps", i, "if")),
                f"'if' in {label} is a plain string, so it is always true",
                'write an expression: if: "{{ inputs.block }}"',
            )
        for_each = step.get("for_each")
        if isinstance(for_each, str) and not is_template(for_each):
            self.error(
                Code.PLAIN_FOR_EACH,
                self.src.at(("steps", i, "for_each")),
                f"'for_each' in {label} is a plain string, not a list",
                'give a list or an expression: for_each: "{{ steps.users.output.values }}"',
            )
        if "max_targets" in step and action is not None and action.effect == "read":
            self.issues.append(
                Issue(
                    "warning",
                    f"'max_targets' has no effect on {label}: {action.name} only reads",
                    self.src.key_at(("steps", i, "max_targets")),
                    "max_targets bounds write steps",
                    code=Code.MAX_TARGETS_ON_READ,
                )
            )
        deferred: set[str] = set()
        args = step.get("with", {})  # no 'with' at all still misses required arguments
        if action is not None and isinstance(args, dict):
            props = action.input_schema.get("properties", {})
            deferred = {k for k, v in props.items() if v.get("x-template") == "deferred"}
            self._check_args(i, label, action, args)
            for key in sorted(deferred & set(args)):
                if not is_template(args[key]):
                    self.error(
                        Code.DEFERRED_NOT_EXPRESSION,
                        self.src.at(("steps", i, "with", key)),
                        f"argument {key!r} for {action.name} in {label} must be an expression",
                        'it is evaluated per item: "{{ item.count > 5 }}"',
                    )
        in_loop = "for_each" in step
        for key in ("if", "for_each"):
            if key in step:
                # both are evaluated once, before the loop: no item yet
                self._check_templates(
                    step[key], ("steps", i, key), i, for_each=False, loop_step=in_loop
                )
        if isinstance(args, dict):
            props = action.input_schema.get("properties", {}) if action is not None else {}
            for key, value in args.items():
                path: Path = ("steps", i, "with", key)
                self._check_templates(value, path, i, for_each=in_loop or key in deferred)
                prop = props.get(key)
                if key == "query" or (isinstance(prop, Mapping) and prop.get("x-query")):
                    self.issues.extend(query_issues(self.src, value, path))
                    self.issues.extend(query_check_issues(self.src, value, path))

    def _check_args(self, i: int, label: str, action: Action, args: Mapping[str, Any]) -> None:
        name, schema = action.name, action.input_schema
        props: Mapping[str, Any] = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            for key in args:
                if key not in props:
                    near = difflib.get_close_matches(key, list(props), n=1)
                    hint = (
                        f"did you mean {near[0]!r}?"
                        if near
                        else f"{name} takes: {', '.join(props)}"
                    )
                    self.error(
                        Code.UNKNOWN_ARGUMENT,
                        self.src.key_at(("steps", i, "with", key)),
                        f"unknown argument {key!r} for {name} in {label}",
                        hint,
                    )
        for key in schema.get("required", []):
            if key not in args:
                self.error(
                    Code.MISSING_ARGUMENT,
                    self.src.at(("steps", i, "with"))
                    if "with" in self.steps[i]
                    else self.src.at(("steps", i)),
                    f"missing argument {key!r} for {name} in {label}",
                    f"add it under 'with:'; see 'soar actions {name}'",
                )
        # literal arguments are checked against the whole schema (so local $refs
        # resolve); templated ones are only known at run time
        literal = {
            k: v for k, v in args.items() if k in props and not any(True for _ in iter_templates(v))
        }
        reported: set[str] = set()
        for err in action.arg_validator.iter_errors(literal):
            arg = str(err.absolute_path[0]) if err.absolute_path else ""
            if arg not in literal or arg in reported:
                continue  # required / unknown arguments are reported above
            reported.add(arg)
            message, advice = phrase(err)
            inner = "".join(
                f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in list(err.absolute_path)[1:]
            )
            what = f"argument {arg!r}{f' at {inner}' if inner else ''} for {name} in {label}"
            self.error(
                Code.WRONG_ARGUMENT,
                self.src.at(("steps", i, "with", *err.absolute_path)),
                f"{what} {message}" if message.startswith("must") else f"{what}: {message}",
                advice,
            )

    def _check_templates(
        self, value: Any, path: Path, step_pos: int, *, for_each: bool, loop_step: bool = False
    ) -> None:
        """Parse every template in ``value`` and check the names and references it uses.

        ``step_pos`` is the index of the step the value belongs to (outputs pass
        the step count: every step is earlier). ``for_each`` allows ``item``;
        ``loop_step`` tells that the step loops although this value does not see ``item``.
        """
        if isinstance(value, dict):
            for k, v in value.items():
                self._check_templates(
                    v, (*path, k), step_pos, for_each=for_each, loop_step=loop_step
                )
            return
        if isinstance(value, list):
            for n, v in enumerate(value):
                self._check_templates(
                    v, (*path, n), step_pos, for_each=for_each, loop_step=loop_step
                )
            return
        if not is_template(value):
            return
        loc = self.src.at(path)
        where = place_of(self.src, path)
        try:
            ast = parse_template(value)  # parse only: code is generated when a run loads it
        except TemplateError as exc:
            if exc.lineno:
                # block scalars start on the line after their indicator
                line = loc.line + exc.lineno - (0 if path in self.src.block_scalars else 1)
                loc = Location(loc.path, line, loc.col if line == loc.line else 1)
            detail = str(exc).removeprefix("template does not parse: ")
            self.error(
                Code.TEMPLATE_SYNTAX,
                loc,
                f"template{where} does not parse: {detail}",
                "check the {{ }} expression",
            )
            return
        for kind, name, known in unknown_filters_and_tests(ast):
            near = difflib.get_close_matches(name, known, n=1)
            self.error(
                Code.UNKNOWN_FILTER,
                loc,
                f"unknown {kind} {name!r}{where}",
                f"did you mean {near[0]!r}?" if near else f"see the {kind}s in the Jinja docs",
            )
        allowed = _KNOWN_NAMES | (_ITEM_NAMES if for_each else set())
        for name in sorted(free_names(ast) - set(ENV.globals)):
            if name in allowed:
                continue
            if name in _ITEM_NAMES and loop_step:
                self.error(
                    Code.ITEM_BEFORE_LOOP,
                    loc,
                    f"{name!r} is not defined in {path[-1]!r}{where}: it is evaluated once, "
                    "before the loop",
                    "use item under 'with:'; to skip items, filter the list first with data.filter",
                )
            elif name in _ITEM_NAMES:
                self.error(
                    Code.ITEM_OUTSIDE_LOOP,
                    loc,
                    f"{name!r} is only defined inside a for_each step{where}",
                    "add for_each: to the step, or refer to a step output",
                )
            else:
                near = difflib.get_close_matches(name, sorted(allowed), n=1)
                self.error(
                    Code.UNKNOWN_NAME,
                    loc,
                    f"unknown name {name!r}{where}",
                    f"did you mean {near[0]!r}?"
                    if near
                    else "expressions read inputs.<name>, steps.<id>.output, secrets.<name>, item",
                )
        for root, name, rest in template_references(ast):
            if root == "inputs" and name not in self.inputs:
                near = difflib.get_close_matches(name, list(self.inputs), n=1)
                self.error(
                    Code.UNDECLARED_INPUT,
                    loc,
                    f"input {name!r} is not declared{where}",
                    f"did you mean {near[0]!r}?" if near else "declare it under 'inputs:'",
                )
            elif root == "steps":
                self._check_step_ref(loc, where, step_pos, name, rest)
            elif root == "run" and name not in _RUN_FIELDS:
                near = difflib.get_close_matches(name, sorted(_RUN_FIELDS), n=1)
                self.error(
                    Code.UNKNOWN_RUN_FIELD,
                    loc,
                    f"run has no {name!r}{where}",
                    f"did you mean 'run.{near[0]}'?"
                    if near
                    else f"the run offers {' and '.join(f'run.{f}' for f in sorted(_RUN_FIELDS))}",
                )

    def _check_step_ref(
        self, loc: Location, where: str, step_pos: int, name: str, rest: tuple[str, ...]
    ) -> None:
        pos = self.step_index.get(name)
        if pos is None:
            near = difflib.get_close_matches(name, list(self.step_index), n=1)
            self.error(
                Code.UNKNOWN_STEP,
                loc,
                f"step {name!r} does not exist{where}",
                f"did you mean {near[0]!r}?" if near else "refer to an earlier step's id",
            )
        elif pos >= step_pos:
            when = "this step itself" if pos == step_pos else "a later step"
            self.error(
                Code.STEP_NOT_YET,
                loc,
                f"step {name!r} is {when}: its output is not available yet{where}",
                "a step can only read the steps before it",
            )
        elif rest and rest[0] not in _STEP_FIELDS:
            near = difflib.get_close_matches(rest[0], sorted(_STEP_FIELDS), n=1)
            self.error(
                Code.UNKNOWN_STEP_FIELD,
                loc,
                f"steps.{name} has no {rest[0]!r}{where}",
                f"did you mean 'steps.{name}.{near[0]}'?"
                if near
                else f"a step result has {' and '.join(sorted(_STEP_FIELDS))}",
            )
