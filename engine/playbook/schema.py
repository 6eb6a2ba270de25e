"""The first validation pass: the playbook JSON Schema, each error at its YAML node.

``schemas/playbook.schema.json`` is the published schema (editors load it); the
package loads its copy ``engine/data/playbook.schema.json`` (a test keeps the two
byte-identical). jsonschema's errors are turned into issues that say what and
where in playbook terms: an unknown key comes with the nearest valid key.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from engine.issues import Code, Issue
from engine.playbook.source import Path, Source

# what each kind of file starts with, for the message when it is not a mapping at all
_STARTS = {
    "playbook": "start with 'playbook: 1', 'name:', 'steps:'",
    "detection": "start with 'detection: 1', 'id:', 'title:', 'severity:', 'window:'",
}
# keys whose value is a duration, in playbooks (steps, retries) and detection rules
DURATION_KEYS = ("timeout", "backoff", "max_backoff", "window", "lateness", "quiet", "every")


@cache
def packaged_schema(kind: str) -> dict[str, Any]:
    """The packaged copy of ``schemas/<kind>.schema.json`` (a test keeps them identical)."""
    text = resources.files("engine").joinpath(f"data/{kind}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def playbook_schema() -> dict[str, Any]:
    """The packaged copy of ``schemas/playbook.schema.json`` (a test keeps them identical)."""
    return packaged_schema("playbook")


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(packaged_schema(kind))


def place_of(src: Source, path: Path) -> str:
    """`` in step 'fetch'`` / `` in input 'ip'`` for a path, to say where in words."""
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        steps = src.data.get("steps") if isinstance(src.data, dict) else None
        step = steps[path[1]] if isinstance(steps, list) and path[1] < len(steps) else None
        sid = step.get("id") if isinstance(step, dict) else None
        return f" in step {sid!r}" if isinstance(sid, str) else f" in step {path[1] + 1}"
    if len(path) >= 2 and path[0] in ("inputs", "outputs"):
        return f" in {path[0][:-1]} {path[1]!r}"
    if len(path) >= 2 and path[0] in ("tests", "sequence") and isinstance(path[1], int):
        items = src.data.get(path[0]) if isinstance(src.data, dict) else None
        item = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
        label = item.get("name" if path[0] == "tests" else "as") if isinstance(item, dict) else None
        what = "test" if path[0] == "tests" else "stage"
        return f" in {what} {label!r}" if isinstance(label, str) else f" in {what} {path[1] + 1}"
    return ""


def schema_issues(src: Source, schema: str = "playbook") -> Iterator[Issue]:
    """One issue per schema error, at the YAML node (or key) it is about.

    ``schema`` names it: ``playbook`` or ``detection`` (a detection rule).
    """
    if not isinstance(src.data, dict):
        article = "a detection rule" if schema == "detection" else f"a {schema}"
        yield Issue(
            "error",
            f"{article} must be a YAML mapping",
            src.at(()),
            _STARTS[schema],
            code=Code.NOT_A_MAPPING,
        )
        return
    for err in _validator(schema).iter_errors(src.data):
        path: Path = tuple(err.absolute_path)
        place = place_of(src, path)
        kind = err.validator
        if kind == "additionalProperties" and isinstance(err.instance, dict):
            allowed = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed:
                    near = difflib.get_close_matches(key, allowed, n=1)
                    hint = (
                        f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(allowed)}"
                    )
                    yield Issue(
                        "error",
                        f"unknown key {key!r}{place}",
                        src.key_at((*path, key)),
                        hint,
                        code=Code.UNKNOWN_KEY,
                    )
        elif kind == "required":
            missing = str(err.message).split("'")[1] if "'" in err.message else err.message
            yield Issue(
                "error",
                f"missing required key {missing!r}{place}",
                src.at(path),
                code=Code.MISSING_KEY,
            )
        elif kind == "type":
            field, place = _field(path, place)
            yield Issue(
                "error",
                f"{field}{place} must be {_types(err.validator_value)}, "
                f"got {_json_type(err.instance)}",
                src.at(path),
                code=Code.WRONG_TYPE,
            )
        elif kind == "pattern" and "propertyNames" in err.relative_schema_path and path:
            yield Issue(
                "error",
                f"{str(path[-1])[:-1]} name {err.instance!r} is not valid",
                src.key_at((*path, err.instance)),
                "use lower case letters, digits and _, starting with a letter",
                code=Code.BAD_NAME,
            )
        elif kind == "pattern" and path == ("id",):
            yield Issue(
                "error",
                f"detection id {err.instance!r} is not valid",
                src.at(path),
                "use lower case letters and digits in words joined by -, e.g. credential-stuffing",
                code=Code.BAD_DETECTION_ID,
            )
        elif kind == "pattern" and len(path) == 3 and path[0] == "steps" and path[-1] == "id":
            yield Issue(
                "error",
                f"step id {err.instance!r} is not valid",
                src.at(path),
                "use lower case letters, digits and _, starting with a letter",
                code=Code.BAD_STEP_ID,
            )
        elif kind == "pattern" and path == ("name",):
            yield Issue(
                "error",
                f"playbook name {err.instance!r} is not valid",
                src.at(path),
                "use letters, digits, _, . and -, e.g. auth0-suspicious-ip",
                code=Code.BAD_PLAYBOOK_NAME,
            )
        elif kind == "oneOf" and path and path[-1] in DURATION_KEYS:
            yield Issue(
                "error",
                f"{path[-1]!r}{place} is not a duration above zero: {err.instance!r}",
                src.at(path),
                "use seconds or e.g. 30s, 5m, 1h",
                code=Code.BAD_DURATION,
            )
        elif kind == "const" and path in (("playbook",), ("detection",)):
            yield Issue(
                "error",
                f"unsupported {path[0]} format {err.instance!r}",
                src.at(path),
                f"this soar reads format 1: '{path[0]}: 1'",
                code=Code.UNSUPPORTED_FORMAT,
            )
        else:
            field, place = _field(path, place)
            message, advice = phrase(err)
            sep = " " if message.startswith("must") else ": "
            yield Issue(
                "error", f"{field}{place}{sep}{message}", src.at(path), advice, code=Code.SCHEMA
            )


def phrase(err: jsonschema.ValidationError) -> tuple[str, str | None]:
    """A schema error in playbook words, and a hint; ``must ...`` reads after the field name.

    Used for the playbook schema and for literal action arguments alike.
    """
    kind = err.validator
    if kind == "type":
        return f"must be {_types(err.validator_value)}, got {_json_type(err.instance)}", None
    if kind == "enum" and isinstance(err.validator_value, list):
        allowed = [str(v) for v in err.validator_value]
        near = difflib.get_close_matches(str(err.instance), allowed, n=1)
        return (
            f"{err.instance!r} is not one of {', '.join(repr(v) for v in err.validator_value)}",
            f"did you mean {near[0]!r}?" if near else None,
        )
    if kind == "minItems" and err.validator_value == 1:
        return "must not be empty", None
    message = str(err.message)
    return (message if len(message) <= 200 else message[:197] + "..."), None


def _field(path: Path, place: str) -> tuple[str, str]:
    """How to name the value at ``path`` in a message, and the place suffix to keep."""
    if not path:
        return "the document", ""
    last = path[-1]
    if len(path) == 2 and path[0] in ("inputs", "outputs"):
        return f"{path[0][:-1]} {last!r}", ""
    if isinstance(last, int):
        if path == ("steps", last):
            return f"step {last + 1}", ""
        return f"item {last + 1} of {path[-2]!r}", place
    return repr(last), place


def _types(value: Any) -> str:
    words = {"object": "a mapping", "array": "a list", "integer": "an integer"}
    names = value if isinstance(value, list) else [value]
    return " or ".join(words.get(str(n), f"a {n}") for n in names)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)
