"""The sandboxed native template environment."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from executor_actions import make_registry, playbook
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import TemplateError
from engine.expr.sandbox import lucene
from engine.expr.templates import compile_template, render_value
from engine.run.executor import run_playbook
from engine.secrets import Secret

CTX = {
    "inputs": {"ips": ["1.2.3.4", "5.6.7.8"], "n": 20, "ip": "1.2.3.4"},
    "steps": {
        "logs": {
            "status": "succeeded",
            "output": {
                "events": [{"user_name": "{{ 7*7 }}", "d": "{% for x in range(3) %}x{% endfor %}"}]
            },
        }
    },
    "secrets": {"hook": Secret("hook", "s3cr3t-canary")},
}


def render(src: str) -> object:
    return compile_template(src).render(CTX)


def test_whole_expression_yields_native_values() -> None:
    assert render("{{ inputs.ips }}") == ["1.2.3.4", "5.6.7.8"]
    assert render("{{ inputs.n * 2 }}") == 40
    assert render("{{ inputs.n > 10 }}") is True
    assert render(" {{ {'a': inputs.n} }} ") == {"a": 20}
    assert render("n={{ inputs.n }}") == "n=20"


def test_strings_from_data_are_never_rendered_again() -> None:
    assert render("{{ steps.logs.output.events[0].user_name }}") == "{{ 7*7 }}"
    assert render("name: {{ steps.logs.output.events[0].user_name }}") == "name: {{ 7*7 }}"
    assert render("{{ steps.logs.output.events[0].d }}") == "{% for x in range(3) %}x{% endfor %}"
    # A string that looks like a literal stays a string (no literal_eval of results).
    assert compile_template("{{ v }}").render({"v": "[1, 2]"}) == "[1, 2]"
    assert compile_template("{{ v }}").render({"v": "7"}) == "7"
    out = render_value({"a": ["{{ steps.logs.output.events }}"]}, CTX)
    assert out == {"a": [[{"user_name": "{{ 7*7 }}", "d": "{% for x in range(3) %}x{% endfor %}"}]]}


@pytest.mark.parametrize(
    "src",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs|attr('__class__') }}",
        "{{ (inputs.ips|attr('append'))(1) }}",
        "{{ range(10**10) | list }}",
        "{{ 'a' * 10**10 }}",
        "{{ [1] * 10**9 }}",
        "{{ 99999 ** 99999 }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ inputs.ips.append(1) }}",
        "{{ secrets.hook.reveal() }}",
        "{{ lipsum.__globals__ }}",
    ],
)
def test_sandbox_escapes_are_refused(src: str) -> None:
    with pytest.raises(TemplateError):
        render(src)
    assert CTX["inputs"]["ips"] == ["1.2.3.4", "5.6.7.8"]


@pytest.mark.parametrize(
    "src",
    [
        "{{ 'x'.ljust(10**9) }}",
        "{{ 'x'.center(inputs.n * 10**8) }}",
        "{{ 'x'.zfill(10**9) }}",
        "{{ 'a\tb'.expandtabs(10**9) }}",
        "{{ 'ab'.replace('', 'x' * 1000000) }}",
        "{{ ('a' * 1000)|replace('a', 'b' * 100000) }}",
        "{{ ('x' * 1000000).join([1] * 1000000) }}",
        "{{ ([1] * 1000000)|join('x' * 1000000) }}",
        "{{ '%*d' % (10**9, 1) }}",
        "{{ '%1000000000d' % 1 }}",
        "{{ '%.1000000000f' % 1.0 }}",
        "{{ '%*d'|format(10**9, 1) }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{{ '{:{w}}'.format(1, w=10**9) }}",
        "{{ '{0:.1000000000f}'.format_map({'0': 1.0}) }}",
        "{{ 'x'|center(10**9) }}",
        "{{ 'a\nb'|indent(10**9) }}",
        "{{ [1]|batch(10**9, 0)|list }}",
        "{{ [1]|slice(10**9)|list }}",
        "{{ lipsum(10**6) }}",
    ],
)
def test_operations_that_build_huge_values_are_refused_at_once(src: str) -> None:
    start = time.perf_counter()
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        render(src)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("{{ 'x'.ljust(3) ~ '|' }}", "x  |"),
        ("{{ '%5d|%-3s|%.2f|%%' % (42, 'a', 3.14159) }}", "   42|a  |3.14|%"),
        ("{{ '{:>4}|{:.1f}'.format('ab', 2.25) }}", "  ab|2.2"),
        ("{{ '%s-%s'|format('a', 'b') }}", "a-b"),
        ("{{ 'a\nb'|indent(2) }}", "a\n  b"),
        ("{{ [1, 2, 3]|batch(2, 0)|list }}", [[1, 2], [3, 0]]),
        ("{{ [1, 2, 3]|slice(2)|list }}", [[1, 2], [3]]),
        ("{{ 'hello'|replace('l', 'L') }}", "heLLo"),
        ("{{ inputs.ips|join(', ') }}", "1.2.3.4, 5.6.7.8"),
        ("{{ ', '.join(inputs.ips) }}", "1.2.3.4, 5.6.7.8"),
        ("{{ 'x'|center(5) }}", "  x  "),
        ("{{ inputs.n % 7 }}", 6),
    ],
)
def test_bounded_operations_still_work(src: str, expected: object) -> None:
    assert render(src) == expected


def test_undefined_names_fail_clearly() -> None:
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        render("{{ nope }}")
    with pytest.raises(TemplateError, match="has no attribute 'missing'"):
        render("x {{ inputs.missing }}")


def test_secrets_stay_opaque() -> None:
    whole = render("{{ secrets.hook }}")
    assert isinstance(whole, Secret) and whole.reveal() == "s3cr3t-canary"
    mixed = render("Bearer {{ secrets.hook }}")
    assert isinstance(mixed, Secret) and mixed.reveal() == "Bearer s3cr3t-canary"
    assert "s3cr3t" not in repr(mixed) and "s3cr3t" not in str(mixed)
    with pytest.raises(TemplateError, match="secret cannot be put into a log query"):
        render("{{ secrets.hook | lucene }}")


def test_lucene_quotes_and_escapes() -> None:
    assert lucene("1.2.3.4") == '"1.2.3.4"'
    assert lucene('a"b') == '"a\\"b"'
    assert lucene("a\\b") == '"a\\\\b"'
    assert lucene("adm*") == '"adm\\*"'
    assert lucene("a?") == '"a\\?"'
    assert lucene('") OR type:("s') == '"\\") OR type:(\\"s"'
    assert render('type:"s" AND ip:{{ inputs.ip | lucene }}') == 'type:"s" AND ip:"1.2.3.4"'
    with pytest.raises(TemplateError):
        lucene(None)


_PHRASE = re.compile(r'^"(?:[^"\\*?]|\\["\\*?])*"$', re.DOTALL)


@given(st.text())
def test_lucene_is_always_one_well_formed_phrase(value: str) -> None:
    quoted = lucene(value)
    assert _PHRASE.match(quoted)
    body = quoted[1:-1]
    assert re.sub(r"\\(.)", r"\1", body, flags=re.DOTALL) == value


def test_templates_compile_once() -> None:
    assert compile_template("{{ inputs.n }}") is compile_template("{{ inputs.n }}")
    with pytest.raises(TemplateError, match="does not parse"):
        compile_template("{{ inputs.n + }}")


def test_deeply_nested_expressions_fail_cleanly() -> None:
    with pytest.raises(TemplateError, match="nests too deeply"):
        compile_template("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    assert compile_template("{{ " + "(" * 20 + "1" + ")" * 20 + " }}").render({}) == 1


def test_mapping_keys_win_over_methods() -> None:
    out = {"values": ["auth0|a"], "items": [1], "keys": 2, "get": 3, "count": 4, "copy": 5}
    ctx = {"steps": {"users": {"output": out, "status": "succeeded"}}}
    for name, expected in out.items():
        assert compile_template(f"{{{{ steps.users.output.{name} }}}}").render(ctx) == expected
    text = compile_template("{{ steps.users.output.values }}!").render(ctx)
    assert text == "['auth0|a']!" and "built-in method" not in text
    # a name that is not a key still finds the method, as before
    assert compile_template("{{ steps.users.output.other is undefined }}").render(ctx) is True
    assert compile_template("{{ inputs.values()|list }}").render({"inputs": {"a": 1}}) == [1]


def test_steps_named_like_methods_work(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: method-names
steps:
  - {id: items, uses: data.set, with: {value: [1, 2]}}
  - {id: keys, uses: data.set, with: {value: "{{ steps.items.output.value }}"}}
  - {id: values, uses: data.unique, with: {items: "{{ steps.keys.output.value }}"}}
  - {id: get, uses: data.set, with: {value: "{{ steps.values.output.values }}"}}
outputs:
  got: "{{ steps.get.output.value }}"
  status: "{{ steps.items.status }}"
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"got": [1, 2], "status": "succeeded"}
