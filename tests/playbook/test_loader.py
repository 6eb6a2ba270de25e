"""The YAML layer: safe, bounded, positioned."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.actions.registry import ActionRegistry
from engine.errors import PlaybookError
from engine.playbook.loader import check_playbook, check_text, load_playbook
from engine.playbook.source import MAX_BYTES, load_yaml, load_yaml_all

BOMB = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_fails_fast_with_a_clear_message() -> None:
    start = time.perf_counter()
    src, issues = load_yaml(BOMB, "bomb.yaml")
    elapsed = time.perf_counter() - start
    assert elapsed < 0.05  # measured on the composed nodes, before anything is built
    assert len(issues) == 1 and "alias bomb" in issues[0].message
    assert (issues[0].location.line, issues[0].location.col) == (6, 1)  # "f:" crosses the bound
    assert src.data is None


def test_expansion_is_bounded_wherever_it_happens() -> None:
    # the same bomb, one level down as a flow mapping under steps[0].with.v
    flow = b"{" + b", ".join(line for line in BOMB.splitlines()) + b"}"
    nested = b"playbook: 1\nname: n\nsteps:\n  - id: a\n    with: {v: " + flow + b"}\n"
    _, issues = load_yaml(nested, "n.yaml")
    assert [(i.location.line, i.message) for i in issues] == [
        (3, "the document expands to more than 100000 nodes (alias bomb?)")
    ]
    wide = b"x: [" + b",".join(b"1" for _ in range(100_001)) + b"]\n"
    _, issues = load_yaml(wide, "wide.yaml")
    assert len(issues) == 1 and "more than 100000 nodes" in issues[0].message
    fits = (
        b"a: &a ["
        + b",".join(b"1" for _ in range(100))
        + b"]\nb: ["
        + b",".join([b"*a"] * 90)
        + b"]\n"
    )
    src, issues = load_yaml(fits, "fits.yaml")  # 9,192 nodes once expanded: well within
    assert issues == [] and len(src.data["b"]) == 90 and src.data["b"][89] == [1] * 100


def test_a_few_aliases_are_fine() -> None:
    src, issues = load_yaml(b"a: &x [1, 2]\nb: *x\n", "ok.yaml")
    assert issues == []
    assert src.data == {"a": [1, 2], "b": [1, 2]}


def test_python_tags_are_refused_and_never_constructed() -> None:
    for tag in (
        "!!python/object/apply:os.system ['touch /tmp/pwned']",
        "!!python/name:os.system",
        "!custom 1",
    ):
        src, issues = load_yaml(f"x: {tag}\n".encode(), "t.yaml")
        assert issues and "is not allowed" in issues[0].message, tag
        assert src.data == {"x": None}


def test_positions_are_kept_for_values_and_keys() -> None:
    src, issues = load_yaml(b"steps:\n  - id: a\n    with: {x: 1}\n", "p.yaml")
    assert issues == []
    assert (src.at(("steps", 0, "with", "x")).line, src.at(("steps", 0, "with", "x")).col) == (
        3,
        15,
    )
    assert src.key_at(("steps", 0, "id")).line == 2
    assert src.at(("steps", 0, "missing")).line == 2  # falls back to the parent


def test_oversized_and_non_utf8_files() -> None:
    _, issues = load_yaml(b"a: 1\n" + b"#" * MAX_BYTES, "big.yaml")
    assert "larger than" in issues[0].message
    _, issues = load_yaml(b"a: 1\nb: \xff\n", "bin.yaml")
    assert issues[0].location.line == 2 and "UTF-8" in issues[0].message


def test_timestamps_and_numbers_are_plain_values() -> None:
    src, issues = load_yaml(b"a: 0x10\nb: 1.5\nc: true\nd: null\n", "v.yaml")
    assert issues == [] and src.data == {"a": 16, "b": 1.5, "c": True, "d": None}


def test_recursive_aliases_and_deep_nesting_are_refused_without_a_traceback() -> None:
    _, issues = load_yaml(b"a: &x [1, *x]\n", "r.yaml")
    assert "recursive alias" in issues[0].message
    assert (issues[0].location.line, issues[0].location.col) == (1, 4)
    _, issues = load_yaml(b"a: " + b"[" * 100 + b"]" * 100, "d.yaml")
    assert "nests deeper than" in issues[0].message
    deep = b"a: " + b"[" * 20_000 + b"]" * 20_000
    _, issues = load_yaml(deep, "d.yaml")  # libyaml bounds nesting itself
    assert "nesting depth" in issues[0].message
    _, issues = load_yaml(deep, "d.yaml", loader=yaml.SafeLoader)  # the pure-Python fallback
    assert "nests too deeply" in issues[0].message


def test_both_parsers_give_the_same_data_and_positions() -> None:
    raw = b"steps:\n  - id: a\n    with:\n      x: [1, {y: 2}]\n      t: |\n        two\n        lines\n"
    fast, fast_issues = load_yaml(raw, "p.yaml")
    pure, pure_issues = load_yaml(raw, "p.yaml", loader=yaml.SafeLoader)
    assert fast_issues == pure_issues == []
    assert fast.data == pure.data and fast.values == pure.values and fast.keys == pure.keys
    assert fast.block_scalars == pure.block_scalars == {("steps", 0, "with", "t")}


def test_dates_stay_the_strings_they_were_written_as() -> None:
    src, issues = load_yaml(b"d: 2026-11-01\nt: 2026-11-01T12:00:00Z\n", "t.yaml")
    assert issues == [] and src.data == {"d": "2026-11-01", "t": "2026-11-01T12:00:00Z"}


def test_boolean_looking_keys_are_explained() -> None:
    _, issues = load_yaml(b"on: 1\n", "k.yaml")
    assert "read as a boolean" in issues[0].message and issues[0].hint == "quote it: 'on':"


def test_files_are_read_with_a_bound_and_unreadable_paths_are_issues(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"playbook: 1\n" + b"#" * (3 * MAX_BYTES))
    issues = check_playbook(big, ActionRegistry())
    assert len(issues) == 1 and "larger than" in issues[0].message
    missing = check_playbook(tmp_path / "nope.yaml", ActionRegistry())
    assert "cannot read the file" in missing[0].message
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path, ActionRegistry())
    assert info.value.issues and "cannot read the file" in info.value.issues[0].message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet="[]{}:-&*!|>'\"#\n ab1", max_size=120))
def test_any_input_gives_issues_never_an_exception(raw: bytes | str) -> None:
    data = raw.encode() if isinstance(raw, str) else raw
    src, issues = check_text(data, ActionRegistry(), "f.yaml")
    if not isinstance(src.data, dict):
        assert any(i.severity == "error" for i in issues)
    for issue in issues:
        assert issue.location.line >= 1 and issue.location.col >= 1


def test_a_stream_of_documents_keeps_each_value_at_its_place_in_the_file() -> None:
    raw = b"title: a\nname: r\n---\ncorrelation:\n  timespan: 1h\n"
    sources, issues = load_yaml_all(raw, "s.yml")
    assert [s.data for s in sources] == [
        {"title": "a", "name": "r"},
        {"correlation": {"timespan": "1h"}},
    ]
    assert str(sources[1].at(("correlation", "timespan"))) == "s.yml:5:13" and issues == []
    broken, issues = load_yaml_all(raw + b"---\nb: *nope\n", "s.yml")
    assert broken == [] and issues[0].code == "SOAR104" and issues[0].location.line == 7
    bombs, found = load_yaml_all(b"a: 1\n---\n" + BOMB, "b.yml")
    assert bombs[0].data == {"a": 1} and found and found[0].code == "SOAR107"
    assert load_yaml_all(b"", "e.yml")[1][0].code == "SOAR106"
