"""Bounded expressions: no string or list grows past the bound, no render outlives its step.

Each case is the attack itself, timed: it must be refused quickly, before it has
built the value (``a ~ a`` doubling in a loop once built 512 MB in half a second).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from executor_actions import make_registry, playbook

from engine.errors import TemplateError
from engine.expr.budget import MAX_BUILT, MAX_ITERATIONS
from engine.expr.templates import compile_template
from engine.run.executor import run_playbook
from engine.run.outcomes import Failed

CTX = {"inputs": {"n": 3}, "steps": {}}
DOUBLING = "{% set ns = namespace(a=X) %}{% for i in range(40) %}{% set ns.a = OP %}{% endfor %}"


@pytest.mark.parametrize(
    "src",
    [
        DOUBLING.replace("X", "'x'").replace("OP", "ns.a ~ ns.a"),
        DOUBLING.replace("X", "'x'").replace("OP", "ns.a + ns.a"),
        DOUBLING.replace("X", "[1]").replace("OP", "ns.a + ns.a"),
        DOUBLING.replace("X", "'x'").replace("OP", "'%s%s' % (ns.a, ns.a)"),
        DOUBLING.replace("X", "'x'").replace("OP", "'{}{}'.format(ns.a, ns.a)"),
        DOUBLING.replace("X", "'x'").replace("OP", "[ns.a, ns.a]|join"),
        DOUBLING.replace("X", "'x'").replace("OP", "(ns.a, ns.a)|string"),
        DOUBLING.replace("X", "'x'").replace("OP", "[ns.a, ns.a]|tojson"),
        DOUBLING.replace("X", "[1]").replace("OP", "[ns.a, ns.a]|sum(start=[])"),
        DOUBLING.replace("X", "2").replace("OP", "ns.a * ns.a"),
        "{{ (['x' * 100000] * 1000)|string }}",
        "{{ (['x' * 100000] * 1000)|join }}",
        "{{ ''.join(['x' * 100000] * 1000) }}",
        "{{ ['x' * 100000] * 1000 ~ '' }}",
        "{{ '%s' % (['x' * 100000] * 1000,) }}",
        "{{ ([['x'] * 1000] * 2000)|sum(start=[]) }}",
        "x{{ ['x' * 100000] * 1000 }}",
        "{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}",
        "{% set s %}{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}{{ s|length }}",
        "{% macro m() %}{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}{% endmacro %}{{ m()|length }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for x in [1] recursive %}{{ loop([1, 1]) }}{% endfor %}",
    ],
)
def test_expressions_that_grow_without_bound_are_stopped_at_once(src: str) -> None:
    start = time.perf_counter()
    with pytest.raises(TemplateError, match=r"too large|stopped after|too deeply"):
        compile_template(src).render(CTX)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("{{ 'a' ~ 'b' ~ inputs.n }}", "ab3"),
        ("{{ [1, 2] + [3] }}", [1, 2, 3]),
        ("{{ 'x' * 3 + 'y' }}", "xxxy"),
        ("{{ 2 ** 10 * 3 }}", 3072),
        ("{{ [[1], [2, 3]]|sum(start=[]) }}", [1, 2, 3]),
        ("{{ ['a', 'b']|join('-') }}", "a-b"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
        (
            "{% set s %}{% for i in range(2) %}<{{ loop.index }}/{{ loop.length }}>{% endfor %}{% endset %}{{ s }}",
            "<1/2><2/2>",
        ),
        (
            "{% for x in [[1, [2]], [3]] recursive %}{{ x if x is number else loop(x) }}{% endfor %}",
            "123",
        ),
        ("{{ ('x' * 900000)|length }}", 900000),
        ("{% for x in [1, 2, 3] if x > 1 %}{{ x }}{% endfor %}", "23"),
        ("{% for x in [] %}x{% else %}none{% endfor %}", "none"),
        ("{% for x in [1, 2] %}{{ loop.last }}{{ loop.revindex }}{% endfor %}", "False2True1"),
        (
            "{% macro m(a) %}[{{ a }}]{% endmacro %}{% for x in range(2) %}{{ m(x) }}{% endfor %}",
            "[0][1]",
        ),
    ],
)
def test_ordinary_expressions_still_work(src: str, expected: object) -> None:
    assert compile_template(src).render(CTX) == expected


def test_many_values_each_under_the_bound_are_stopped_by_their_sum() -> None:
    keep = (
        "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
        "{% set ns.l = ns.l + [('x' * 999990) ~ i] %}{% endfor %}{{ ns.l|length }}"
    )
    start = time.perf_counter()
    with pytest.raises(TemplateError, match=f"building {MAX_BUILT:,} characters"):
        compile_template(keep).render(CTX)
    assert time.perf_counter() - start < 2.0


def test_the_loop_budget_counts_all_loops_of_a_render() -> None:
    inside = "{% for i in range(1000) %}{% for j in range(999) %}{% endfor %}{% endfor %}"
    compile_template(inside).render(CTX)  # 999,000 + 1,000 iterations: within the budget
    over = "{% for i in range(1001) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError, match=f"{MAX_ITERATIONS:,} loop iterations"):
        compile_template(over).render(CTX)


# each iteration adds up 100,000 numbers (about a millisecond, building nothing):
# 10,000 of them far outlast the timeout
SLOW = "{% for i in range(10000) %}{% set x = range(100000)|sum %}{% endfor %}"


def test_a_step_timeout_stops_a_render_that_runs_long(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: slow
steps:
  - id: slow_shape
    uses: data.set
    timeout: 300ms
    with: {value: "SLOW"}
""".replace("SLOW", SLOW),
        reg,
    )
    start = time.monotonic()
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert time.monotonic() - start < 3.0
    shape = result.steps["slow_shape"]
    assert result.status == "failed" and isinstance(shape, Failed)
    assert "step 'slow_shape'" in shape.error and "timeout of 0.3s" in shape.error


def test_a_deferred_expression_stops_at_its_step_timeout_on_the_action_thread(
    tmp_path: Path,
) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: slow-filter
steps:
  - id: pick
    uses: data.filter
    timeout: 300ms
    with:
      items: "{{ range(20000)|list }}"
      where: "{{ (('x' * 900000)|replace('x', 'y'))|length > item }}"
""",
        reg,
    )
    before = threading.active_count()
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "failed"
    assert re.search(r"timed out|timeout of 0.3s passed", str(result.error))
    # the abandoned action thread stops too: its next render is past the step's deadline
    deadline = time.monotonic() + 3.0
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
