"""Validation: every broken playbook in tests/broken is reported at the right place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.actions import default_registry
from engine.actions.registry import Action, ActionContext, ActionRegistry
from engine.errors import PlaybookError
from engine.expr.templates import compile_template
from engine.playbook.loader import (
    check_playbook,
    check_playbook_text,
    load_playbook,
    load_playbook_text,
)

BROKEN = Path(__file__).parents[1] / "broken"
EXAMPLES = Path(__file__).parents[2] / "examples"

_EXPECT = re.compile(rb"^# expect: (\d+):(\d+) (SOAR\d{3}) (.+)$", re.MULTILINE)


def _expectation(path: Path) -> tuple[int, int, str, str]:
    """The ``# expect: LINE:COL CODE fragment`` comment that opens every corpus file."""
    m = _EXPECT.search(path.read_bytes())
    assert m, f"{path.name} has no '# expect: LINE:COL SOARnnn message' line"
    code, fragment = m.group(3).decode(), m.group(4).decode("utf-8").strip()
    return int(m.group(1)), int(m.group(2)), code, fragment


CORPUS = sorted(BROKEN.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_each_defect_is_reported_at_its_line(path: Path) -> None:
    line, col, code, fragment = _expectation(path)
    issues = check_playbook(path, default_registry())
    errors = [i for i in issues if i.severity == "error"]
    assert len(errors) == 1, [i.format() for i in issues]
    err = errors[0]
    assert (err.location.line, err.location.col) == (line, col), err.format()
    assert fragment in err.message, err.format()
    assert err.code == code, err.format()  # codes are stable: CI and teams count them
    assert err.format().startswith(f"{path}:{line}:{col}: error {code}: ")


def test_hints_suggest_the_nearest_name() -> None:
    issues = check_playbook(BROKEN / "01-unknown-action.yaml", default_registry())
    assert issues[0].hint is not None and "'data.unique'" in issues[0].hint
    issues = check_playbook(BROKEN / "03-undeclared-input.yaml", default_registry())
    assert issues[0].hint == "did you mean 'ip'?"


SEVERAL = """\
playbook: 1
name: several
inputs:
  since: {type: string, default: 7d}
steps:
  - id: a
    uses: data.unique
    with: {items: "{{ inputs.sinse }}", ky: x}
  - id: a
    uses: auth0.serch
    if: yes please
outputs:
  fixed: 3
"""


def test_several_defects_in_one_file_are_all_reported() -> None:
    with pytest.raises(PlaybookError) as info:
        load_playbook_text(SEVERAL, default_registry(), "several.yaml")
    got = [(i.location.line, i.message) for i in info.value.issues]
    messages = " | ".join(m for _, m in got)
    assert "input 'sinse' is not declared" in messages
    assert "unknown argument 'ky'" in messages
    assert "duplicate step id 'a'" in messages
    assert "unknown action 'auth0.serch'" in messages
    assert "always true" in messages
    assert [line for line, _ in got] == sorted(line for line, _ in got)
    assert len(got) == 5


def test_literal_output_is_a_warning_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        SEVERAL.split("steps:")[0] + "steps:\n  - id: a\n    uses: data.set\n"
        "    with: {value: 1}\noutputs:\n  fixed: 3\n"
    )
    issues = check_playbook(path, default_registry())
    assert [(i.severity, i.location.line) for i in issues] == [("warning", 10)]
    playbook = load_playbook(path, default_registry())
    assert playbook.outputs == {"fixed": 3}


def test_a_secret_in_an_output_is_a_warning() -> None:
    text = """\
playbook: 1
name: s
steps:
  - id: a
    uses: data.set
    with: {value: 1}
outputs:
  fine: "{{ steps.a.output.value }}"
  token: "Bearer {{ secrets.hook }}"
  nested: {t: ["{{ secrets.hook | upper }}"]}
"""
    issues = check_playbook_text(text, default_registry())
    got = [(i.severity, i.location.line, i.message.split(":")[0]) for i in issues]
    assert got == [
        ("warning", 9, "output 'token' reads a secret"),
        ("warning", 10, "output 'nested' reads a secret"),
    ]
    # a warning does not block loading
    assert set(load_playbook_text(text, default_registry()).outputs) == {"fine", "token", "nested"}


def test_examples_are_valid() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        errors = [i for i in check_playbook(f, default_registry()) if i.severity == "error"]
        assert errors == [], [e.format() for e in errors]


def test_model_is_built_with_durations_and_defaults() -> None:
    pb = load_playbook_text(
        """\
playbook: 1
name: m
inputs:
  n: {type: integer, default: 3}
steps:
  - id: s
    uses: data.set
    timeout: 2m
    retry: {attempts: 3, backoff: 500ms}
    for_each: [1, 2]
    max_parallel: 2
    with: {value: "{{ item }}"}
""",
        default_registry(),
    )
    step = pb.steps[0]
    assert step.timeout == 120.0
    assert step.retry.attempts == 3 and step.retry.backoff == 0.5
    assert step.max_parallel == 2 and step.max_targets == 25
    assert pb.inputs["n"].default == 3
    assert len(pb.sha256) == 64


def test_published_schema_is_the_one_the_package_uses() -> None:
    root = Path(__file__).parents[2]
    published = (root / "schemas" / "playbook.schema.json").read_bytes()
    packaged = (root / "engine" / "data" / "playbook.schema.json").read_bytes()
    assert published == packaged


def test_yaml_problems_and_validation_problems_come_together() -> None:
    text = "playbook: 1\nname: x\nname: y\nsteps:\n  - id: a\n    uses: data.sett\n"
    issues = check_playbook_text(text, default_registry(), "two.yaml")
    assert [(i.location.line, i.message.split(" '")[0]) for i in issues] == [
        (3, "duplicate key"),
        (6, "unknown action"),
    ]


def test_every_step_key_reaches_the_model() -> None:
    pb = load_playbook_text(
        """\
playbook: 1
name: all-keys
steps:
  - id: s
    name: Shape
    uses: data.set
    if: "{{ true }}"
    for_each: "{{ [1, 2] }}"
    max_parallel: 8
    continue_on_error: true
    retry: {attempts: 2, backoff: 2, max_backoff: 1m}
    timeout: 30
    with: {value: "{{ item }}"}
""",
        default_registry(),
    )
    step = pb.steps[0]
    assert (step.name, step.if_, step.for_each) == ("Shape", "{{ true }}", "{{ [1, 2] }}")
    assert step.max_parallel == 8 and step.continue_on_error is True
    assert (step.retry.attempts, step.retry.backoff, step.retry.max_backoff) == (2, 2.0, 60.0)
    assert step.timeout == 30.0
    assert step.location is not None and step.location.line == 4


def test_schema_errors_read_in_playbook_terms() -> None:
    text = """\
playbook: 1
name: "my playbook"
steps:
  - id: s
    uses: data.set
    with: {value: 1}
    retry: {max_backoff: forever}
  - "just a string"
  - id: t
    uses: data.set
    with: [1]
outputs: [1]
"""
    got = [(i.location.line, i.message) for i in check_playbook_text(text, default_registry())]
    assert got == [
        (2, "playbook name 'my playbook' is not valid"),
        (7, "'max_backoff' in step 's' is not a duration above zero: 'forever'"),
        (8, "step 2 must be a mapping, got a string"),
        (11, "'with' in step 't' must be a mapping, got a list"),
        (12, "'outputs' must be a mapping, got a list"),
    ]


def _fake_registry() -> ActionRegistry:
    def run(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def q_schema(name: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": [name],
            "properties": {name: {"type": "string", "description": "a query", **extra}},
        }

    return ActionRegistry(
        [
            Action("logs.search", run, q_schema("query", {}), {}, "read", "search"),
            Action("logs.find", run, q_schema("q", {"x-query": True}), {}, "read", "find"),
        ]
    )


def test_values_in_log_queries_must_be_quoted() -> None:
    text = """\
playbook: 1
name: q
inputs:
  ip: {type: string}
steps:
  - id: ok
    uses: logs.search
    with: {query: 'type:"s" AND ip:{{ inputs.ip | lucene }}'}
  - id: raw
    uses: logs.search
    with: {query: "ip:{{ inputs.ip }}"}
  - id: marked
    uses: logs.find
    with: {q: "ip:{{ inputs.ip | upper }}"}
  - id: leak
    uses: logs.search
    with: {query: "user_id:{{ secrets.token | lucene }}"}
"""
    issues = check_playbook_text(text, _fake_registry())
    got = [(i.severity, i.location.line, i.message) for i in issues]
    assert got == [
        ("warning", 11, "a value is put into the log query in step 'raw' without '| lucene'"),
        ("warning", 14, "a value is put into the log query in step 'marked' without '| lucene'"),
        ("error", 17, "a secret is put into a log query in step 'leak'"),
    ]


def test_a_non_mapping_step_does_not_shift_the_positions_of_the_next() -> None:
    text = """\
playbook: 1
name: shift
steps:
  - just text
  - id: b
    uses: data.unique
"""
    got = [(i.location.line, i.message) for i in check_playbook_text(text, default_registry())]
    assert got == [
        (4, "step 1 must be a mapping, got a string"),
        (5, "missing argument 'items' for data.unique in step 'b'"),
    ]


def test_literal_arguments_are_checked_through_local_refs() -> None:
    def run(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    schema = {
        "type": "object",
        "$defs": {"level": {"enum": ["low", "high"]}},
        "properties": {"level": {"$ref": "#/$defs/level", "description": "how much"}},
    }
    registry = ActionRegistry([Action("x.set", run, schema, {}, "read", "set a level")])
    text = (
        "playbook: 1\nname: r\nsteps:\n  - id: a\n    uses: x.set\n"
        "    with: {level: medium}\n  - id: b\n    uses: x.set\n"
        '    with: {level: "{{ steps.a.output }}"}\n'
    )
    got = [(i.location.line, i.message) for i in check_playbook_text(text, registry)]
    assert got == [
        (6, "argument 'level' for x.set in step 'a': 'medium' is not one of 'low', 'high'")
    ]


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(
        ["", "x", "data.set", "{{ item }}", "{{ steps.a.output }}", "{{ inputs.n }}", "{{ ", "7d"]
    ),
)
_KEYS = st.sampled_from(
    [
        "id",
        "uses",
        "with",
        "if",
        "for_each",
        "retry",
        "timeout",
        "items",
        "value",
        "type",
        "default",
        "enum",
        "format",
        "required",
        "where",
        "max_targets",
        "attempts",
        "n",
        "a",
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    inputs=st.dictionaries(st.sampled_from(["n", "ip", "Bad"]), _VALUES, max_size=2),
    steps=st.lists(_VALUES, max_size=3),
    outputs=_VALUES,
)
def test_validation_never_raises_whatever_the_shape(
    inputs: dict[str, Any], steps: list[Any], outputs: Any
) -> None:
    doc = {"playbook": 1, "name": "fuzz", "inputs": inputs, "steps": steps, "outputs": outputs}
    text = yaml.safe_dump(doc)
    issues = check_playbook_text(text, default_registry(), "fuzz.yaml")
    for issue in issues:
        assert issue.location.line >= 1 and issue.location.col >= 1
        assert issue.format().startswith("fuzz.yaml:")


def test_load_compiles_every_expression_once() -> None:
    marker = "{{ inputs.n + 41 }}"  # a template no other test uses
    before = compile_template.cache_info()
    pb = load_playbook_text(
        "playbook: 1\nname: c\ninputs:\n  n: {type: integer, default: 1}\nsteps:\n"
        f'  - id: a\n    uses: data.set\n    with: {{value: "{marker}"}}\n',
        default_registry(),
    )
    after = compile_template.cache_info()
    assert after.misses == before.misses + 1
    assert compile_template(pb.steps[0].with_["value"]).render({"inputs": {"n": 1}}) == 42
    assert compile_template.cache_info().hits == after.hits + 1


def test_argument_errors_name_the_nested_value_and_suggest_enum_values() -> None:
    def run(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    schema = {
        "type": "object",
        "properties": {
            "names": {"type": "array", "items": {"type": "string"}, "description": "names"},
            "mode": {"enum": ["fast", "slow"], "description": "how"},
        },
    }
    registry = ActionRegistry([Action("x.names", run, schema, {}, "read", "names")])
    text = (
        "playbook: 1\nname: r\nsteps:\n  - id: a\n    uses: x.names\n"
        "    with:\n      names: [ann, 3]\n      mode: fsat\n"
    )
    got = [
        (i.location.line, i.location.col, i.message, i.hint)
        for i in check_playbook_text(text, registry)
    ]
    assert got == [
        (
            7,
            20,
            "argument 'names' at [2] for x.names in step 'a' must be a string, got an integer",
            None,
        ),
        (
            8,
            13,
            "argument 'mode' for x.names in step 'a': 'fsat' is not one of 'fast', 'slow'",
            "did you mean 'fast'?",
        ),
    ]
