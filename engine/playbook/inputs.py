"""Run inputs checked against a playbook's declared inputs, all problems at once."""

from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from engine.depth import MAX_DEPTH, too_deep
from engine.errors import InputError
from engine.issues import Code, Issue, Location
from engine.playbook.model import MISSING, InputSpec
from engine.timeutil import is_duration, is_time

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def type_problem(spec: InputSpec, value: Any) -> str | None:
    """Why ``value`` does not fit ``spec`` (type, enum, format), or None when it does."""
    expected = _PY_TYPES[spec.type]
    if isinstance(value, bool) and spec.type != "boolean":
        return f"expected {spec.type}, got a boolean"
    if not isinstance(value, expected):
        return f"expected {spec.type}, got {type(value).__name__} {_short(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{_short(value)} is not a finite number"
    if spec.enum is not None and value not in spec.enum:
        allowed = ", ".join(repr(v) for v in spec.enum)
        return f"{_short(value)} is not one of {allowed}"
    if spec.format and isinstance(value, str):
        if spec.format == "ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                return f"{_short(value)} is not an IPv4 or IPv6 address"
        elif spec.format == "duration" and not is_duration(value):
            return f"{_short(value)} is not a duration (use e.g. 30m, 24h, 7d, 2w)"
        elif spec.format == "date-time" and not is_time(value):
            return (
                f"{_short(value)} is not a date-time (use ISO 8601 such as 2026-11-01T12:00:00Z, "
                "or a duration before now such as 24h)"
            )
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def convert_cli(spec: InputSpec, text: str) -> Any:
    """Convert a ``-i KEY=VALUE`` string to the input's declared type."""
    if spec.type == "string":
        return text
    if spec.type == "boolean":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a boolean (use true or false)")
    if spec.type == "integer":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if spec.type == "number":
        try:
            number = float(text.strip()) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    if too_deep(text):  # checked before the decoder's own recursion
        raise ValueError(f"{spec.type} inputs may nest at most {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{spec.type} inputs are given as JSON: {exc.msg}") from None
    return value


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON (and the run log) do not have
    raise ValueError(f"{name} is not a finite number")


def input_issue(name: str, code: Code, message: str, hint: str | None = None) -> Issue:
    """A problem with the run input ``name`` (it has no place in a file: ``input 'name'``)."""
    return Issue("error", message, Location(f"input {name!r}"), hint, code=code)


def inputs_error(issues: list[Issue]) -> InputError:
    """One ``InputError`` carrying ``issues``; its message lists them, one per line."""
    return InputError("bad inputs:\n  " + "\n  ".join(i.format() for i in issues), issues)


def check_inputs(
    specs: Mapping[str, InputSpec], given: Mapping[str, Any], *, from_cli: bool = False
) -> dict[str, Any]:
    """Defaults applied, types converted (``from_cli``) and checked; raises ``InputError``.

    Every problem is collected first and reported in one ``InputError`` whose
    ``issues`` hold them (codes SOAR501-505). An optional input without a
    default is ``None`` (so ``{% if inputs.x %}`` works). With ``from_cli``
    string values come from ``-i KEY=VALUE`` and are converted to the declared
    type: booleans from true/false/yes/no/on/off/1/0, numbers, and arrays or
    objects as JSON.
    """
    problems: list[Issue] = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in specs:
            near = difflib.get_close_matches(name, list(specs), n=1)
            declared = ", ".join(sorted(specs)) or "none"
            problems.append(
                input_issue(
                    name,
                    Code.UNKNOWN_INPUT,
                    f"unknown input; the playbook declares: {declared}",
                    f"did you mean {near[0]!r}?" if near else None,
                )
            )
    for name, spec in specs.items():
        if name in given:
            value = given[name]
            if from_cli and isinstance(value, str):
                try:
                    value = convert_cli(spec, value)
                except ValueError as exc:
                    problems.append(input_issue(name, Code.INPUT_CONVERSION, str(exc)))
                    continue
            elif spec.type == "string" and isinstance(value, date | datetime):
                # an --inputs YAML file read by a plain safe_load turns 2026-11-01 into a date
                value = value.isoformat()
        elif spec.default is not MISSING:
            value = copy.deepcopy(spec.default)  # a run never changes the playbook's default
        elif spec.required:
            problems.append(
                input_issue(
                    name,
                    Code.MISSING_INPUT,
                    "required input not given",
                    f"give it with -i {name}=VALUE",
                )
            )
            continue
        else:
            values[name] = None
            continue
        if value is None and spec.required:
            problems.append(input_issue(name, Code.NULL_INPUT, "required input given as null"))
            continue
        problem = type_problem(spec, value) if value is not None else None
        if problem:
            problems.append(input_issue(name, Code.INPUT_MISMATCH, problem))
        else:
            values[name] = value
    if problems:
        raise inputs_error(problems)
    return values
