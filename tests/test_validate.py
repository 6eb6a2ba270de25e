"""Validation: every broken playbook in tests/broken is reported at the right place."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import PlaybookError
from engine.loader import check_playbook, load_playbook, load_playbook_text
from engine.registry import default_registry

BROKEN = Path(__file__).parent / "broken"
EXAMPLES = Path(__file__).parent.parent / "examples"

# file -> (line, col, fragment of the message)
EXPECTED = {
    "01-unknown-action": (7, 11, "unknown action 'data.uniqe' in step 'fetch'"),
    "02-duplicate-step-id": (9, 9, "duplicate step id 'a'"),
    "03-undeclared-input": (8, 19, "input 'ipp' is not declared"),
    "04-later-step": (8, 19, "step 'b' is a later step"),
    "05-missing-step": (8, 19, "step 'nope' does not exist"),
    "06-self-reference": (8, 19, "step 'a' is this step itself"),
    "07-bad-template": (8, 19, "template does not parse"),
    "08-plain-if": (7, 9, "plain string, so it is always true"),
    "09-unknown-step-key": (8, 5, "unknown key 'fro_each'"),
    "10-missing-uses": (6, 5, "missing required key 'uses'"),
    "11-bad-step-id": (6, 9, "step id 'Fetch-Logs' is not valid"),
    "12-unknown-argument": (8, 23, "unknown argument 'kee' for data.unique"),
    "13-missing-argument": (8, 11, "missing argument 'items' for data.unique"),
    "14-wrong-literal-type": (8, 19, "argument 'items' for data.unique"),
    "15-item-outside-for-each": (8, 19, "'item' is only defined inside a for_each step"),
    "16-bad-default-type": (4, 42, "expected integer"),
    "17-bad-default-format": (4, 43, "not an IPv4 or IPv6 address"),
    "18-bad-default-enum": (4, 53, "is not one of 'fast', 'slow'"),
    "19-unknown-input-type": (4, 13, "'int' is not one of"),
    "20-wrong-format-version": (1, 11, "unsupported playbook format 2"),
    "21-missing-steps": (1, 1, "missing required key 'steps'"),
    "22-empty-steps": (3, 8, "should be non-empty"),
    "23-duplicate-key": (3, 1, "duplicate key 'name'"),
    "24-python-tag": (
        6,
        19,
        "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
    ),
    "25-yaml-syntax": (6, 10, "YAML syntax error"),
    "26-not-a-mapping": (1, 1, "must be a YAML mapping"),
    "27-empty-file": (1, 1, "the file is empty"),
    "28-bad-timeout": (8, 14, "is not a duration"),
    "29-bad-max-parallel": (9, 19, "less than the minimum of 1"),
    "30-unknown-name": (8, 19, "unknown name 'input'"),
    "31-unknown-top-key": (3, 1, "unknown key 'stpes'"),
    "32-non-string-key": (8, 22, "mapping keys must be strings"),
    "33-string-max-targets": (8, 18, "must be an integer, got a string"),
    "34-bad-retry": (8, 26, "unknown key 'backof'"),
    "35-multiline-template-error": (11, 1, "template does not parse"),
    "36-not-utf8": (6, 1, "not valid UTF-8"),
}


def test_corpus_is_complete() -> None:
    files = {p.stem for p in BROKEN.glob("*.yaml")}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_defect_is_reported_at_its_line(name: str) -> None:
    line, col, fragment = EXPECTED[name]
    issues = check_playbook(BROKEN / f"{name}.yaml", default_registry())
    errors = [i for i in issues if i.severity == "error"]
    assert len(errors) == 1, [i.format() for i in issues]
    err = errors[0]
    assert (err.location.line, err.location.col) == (line, col), err.format()
    assert fragment in err.message, err.format()
    assert err.format().startswith(f"{BROKEN / name}.yaml:{line}:{col}: error: ")


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
    root = Path(__file__).parent.parent
    published = (root / "schemas" / "playbook.schema.json").read_bytes()
    packaged = (root / "engine" / "data" / "playbook.schema.json").read_bytes()
    assert published == packaged
