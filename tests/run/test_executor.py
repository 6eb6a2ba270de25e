"""The executor's step features: order, if, for_each, retry, timeout, continue_on_error, outputs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from executor_actions import Probe, make_registry, playbook, records, types

from engine.audit.runlog import verify
from engine.errors import InputError
from engine.run.executor import run_playbook
from engine.run.outcomes import Failed, Skipped, Succeeded


def test_steps_run_in_order_and_outputs_render(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: order
inputs:
  who: {type: string, required: true}
steps:
  - id: a
    uses: t.echo
    with: {value: "{{ inputs.who }}"}
  - id: b
    uses: t.echo
    with: {value: "{{ steps.a.output.value }}-{{ steps.a.status }}"}
outputs:
  b: "{{ steps.b.output.value }}"
  run_is_dry: "{{ run.dry_run }}"
""",
        reg,
    )
    result = run_playbook(pb, {"who": "x"}, registry=reg, run_dir=tmp_path)
    assert result.status == "succeeded"
    assert result.outputs == {"b": "x-succeeded", "run_is_dry": False}
    assert isinstance(result.steps["a"], Succeeded)
    assert result.steps["b"].output == {"value": "x-succeeded"}
    assert result.run_log == tmp_path / f"{result.run_id}.jsonl"
    assert types(result.run_log) == [
        "run.started",
        "step.started",
        "step.finished",
        "step.started",
        "step.finished",
        "run.finished",
    ]
    check = verify(result.run_log)
    assert check.code == 0 and check.final_hash == result.final_hash
    started = records(result.run_log, "run.started")[0]
    assert started["inputs"] == {"who": "x"}
    assert started["playbook"]["sha256"] == pb.sha256
    assert {"operator", "host", "engine_version", "tenant", "dry_run"} <= set(started)
    finished = records(result.run_log, "run.finished")[0]
    assert finished["records"] == 6 and finished["outputs"]["b"] == "x-succeeded"


def test_if_false_skips_with_null_output(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: cond
inputs:
  go: {type: boolean, default: false}
steps:
  - id: maybe
    uses: t.echo
    if: "{{ inputs.go }}"
    with: {value: 1}
  - id: after
    uses: t.echo
    with: {value: "{{ steps.maybe.status }} {{ steps.maybe.output is none }}"}
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert isinstance(result.steps["maybe"], Skipped)
    assert result.steps["maybe"].output is None
    assert result.steps["after"].output == {"value": "skipped True"}
    assert records(result.run_log, "step.finished")[0]["status"] == "skipped"
    ran = run_playbook(pb, {"go": True}, registry=reg, run_dir=tmp_path)
    assert ran.steps["maybe"].output == {"value": 1}


@pytest.mark.parametrize(
    ("expr", "runs"),
    [
        ("{{ inputs.go }} ", False),  # text around it: the string "False "
        ("go={{ inputs.go }}", True),
        ("{{ 'NULL' }}", False),
        ("{{ '  ' }}", False),
        ("{{ [] }}", False),
        ("{{ [0] }}", True),
        ("{{ 'no' }}", True),  # only false / none / null / blank count as false
    ],
)
def test_an_if_that_renders_text_is_read_as_a_boolean(
    tmp_path: Path, expr: str, runs: bool
) -> None:
    reg = make_registry()
    pb = playbook(
        f"""
playbook: 1
name: cond
inputs:
  go: {{type: boolean, default: false}}
steps:
  - id: maybe
    uses: t.echo
    if: "{expr}"
    with: {{value: 1}}
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.steps["maybe"].status == ("succeeded" if runs else "skipped")


def test_for_each_keeps_item_order_and_bounds_concurrency(tmp_path: Path) -> None:
    probe = Probe()
    reg = make_registry(probe=probe)
    pb = playbook(
        """
playbook: 1
name: fan
inputs:
  delays: {type: array, default: [0.12, 0.02, 0.08, 0.01, 0.05, 0.03, 0.06, 0.0]}
steps:
  - id: each
    uses: t.slow
    for_each: "{{ inputs.delays }}"
    max_parallel: 3
    with: {seconds: "{{ item }}", value: "{{ index }}:{{ item }}"}
  - id: literal
    uses: t.echo
    for_each: [a, b]
    with: {value: "{{ item }}"}
outputs:
  values: "{{ steps.each.output | map(attribute='value') | list }}"
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    delays = [0.12, 0.02, 0.08, 0.01, 0.05, 0.03, 0.06, 0.0]
    assert result.outputs["values"] == [f"{i}:{d}" for i, d in enumerate(delays)]
    assert 1 < probe.max_running <= 3
    assert probe.calls == 8
    assert result.steps["literal"].output == [{"value": "a"}, {"value": "b"}]
    assert records(result.run_log, "step.started")[0]["items"] == 8


def test_retry_with_backoff_then_success_and_exhaustion(tmp_path: Path) -> None:
    probe = Probe()
    reg = make_registry(probe=probe)
    text = """
playbook: 1
name: retry
steps:
  - id: flaky
    uses: t.flaky
    retry: {attempts: ATTEMPTS, backoff: 10ms, max_backoff: 20ms}
    with: {failures: 2}
"""
    result = run_playbook(
        playbook(text.replace("ATTEMPTS", "3"), reg), {}, registry=reg, run_dir=tmp_path
    )
    assert result.status == "succeeded"
    assert result.steps["flaky"].output == {"attempt": 3}
    retries = records(result.run_log, "action.retry")
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(0.005 <= r["wait_s"] <= 0.03 for r in retries)
    assert retries[0]["error"] == "flaky failure 1"

    probe2 = Probe()
    reg2 = make_registry(probe=probe2)
    failed = run_playbook(
        playbook(text.replace("ATTEMPTS", "2"), reg2), {}, registry=reg2, run_dir=tmp_path
    )
    assert failed.status == "failed"
    assert probe2.calls == 2
    outcome = failed.steps["flaky"]
    assert isinstance(outcome, Failed) and outcome.error == "flaky failure 2"


def test_timeout_fails_the_step_promptly(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: slow
steps:
  - id: slow
    uses: t.slow
    timeout: 200ms
    with: {seconds: 8}
  - id: never
    uses: t.echo
""",
        reg,
    )
    # promptly: well before the call's 8 s (the bounds leave room for a loaded machine)
    start = time.monotonic()
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert time.monotonic() - start < 5
    outcome = result.steps["slow"]
    assert isinstance(outcome, Failed)
    assert "timed out after 0.2s" in outcome.error and "1 of 1" in outcome.error
    assert 0.15 < outcome.duration < 4
    assert "never" not in result.steps
    assert result.status == "failed"
    assert verify(result.run_log).code == 0


def test_continue_on_error_goes_on_and_no_raw_exception_escapes(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: coe
steps:
  - id: bug
    uses: t.boom
    continue_on_error: true
  - id: after
    uses: t.echo
    with: {value: "{{ steps.bug.status }}"}
outputs:
  seen: "{{ steps.after.output.value }}"
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "succeeded"
    assert result.outputs == {"seen": "failed"}
    bug = result.steps["bug"]
    assert isinstance(bug, Failed)
    assert bug.error == "RuntimeError: unexpected bug in an action"
    assert records(result.run_log, "step.finished")[0]["error"] == bug.error


def test_a_failed_step_stops_the_run(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: stop
steps:
  - id: bug
    uses: t.boom
  - id: after
    uses: t.echo
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "failed"
    assert list(result.steps) == ["bug"]
    assert result.error == "step 'bug' failed: RuntimeError: unexpected bug in an action"
    assert records(result.run_log, "run.finished")[0]["status"] == "failed"


def test_rendered_arguments_are_checked_against_the_schema(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: schema
inputs:
  n: {type: string, default: "three"}
steps:
  - id: bad
    uses: t.flaky
    with: {failures: "{{ inputs.n }}"}
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    outcome = result.steps["bad"]
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith("t.flaky: argument failures: 'three' is not of type 'integer'")


def test_deferred_arguments_are_rendered_per_item_by_the_action(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: deferred
inputs:
  events: {type: array, default: [{t: s, u: a}, {t: f, u: b}, {t: s, u: c}]}
steps:
  - id: ok
    uses: data.filter
    with:
      items: "{{ inputs.events }}"
      where: "{{ item.t == 's' }}"
outputs:
  users: "{{ steps.ok.output['items'] | map(attribute='u') | list }}"
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"users": ["a", "c"]}


def test_data_is_never_rendered_as_a_template(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: literal
inputs:
  name: {type: string}
steps:
  - id: a
    uses: t.echo
    with: {value: "{{ inputs.name }}"}
  - id: b
    uses: t.echo
    with: {value: "user {{ steps.a.output.value }}"}
""",
        reg,
    )
    result = run_playbook(pb, {"name": "{{ 7*7 }}"}, registry=reg, run_dir=tmp_path)
    assert result.steps["a"].output == {"value": "{{ 7*7 }}"}
    assert result.steps["b"].output == {"value": "user {{ 7*7 }}"}


def test_for_each_over_a_non_list_fails_clearly(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: notlist
inputs:
  x: {type: object, default: {a: 1}}
steps:
  - id: each
    uses: t.echo
    for_each: "{{ inputs.x }}"
    with: {value: "{{ item }}"}
""",
        reg,
    )
    outcome = run_playbook(pb, {}, registry=reg, run_dir=tmp_path).steps["each"]
    assert isinstance(outcome, Failed)
    assert "for_each must give a list, got dict" in outcome.error


def test_bad_inputs_fail_before_anything_runs(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: inputs
inputs:
  count: {type: integer, required: true}
steps:
  - id: a
    uses: t.echo
""",
        reg,
    )
    with pytest.raises(InputError, match="count"):
        run_playbook(pb, {"count": "many"}, registry=reg, run_dir=tmp_path)
    with pytest.raises(InputError, match="required"):
        run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no run log: nothing ran


def test_an_output_that_cannot_render_fails_the_run(tmp_path: Path) -> None:
    reg = make_registry()
    pb = playbook(
        """
playbook: 1
name: outputs
steps:
  - id: a
    uses: t.echo
    for_each: [1, 2]
    with: {value: "{{ item }}"}
outputs:
  good: "{{ steps.a.output | map(attribute='value') | list }}"
  bad: "{{ steps.a.output | map(attribute='missing') | list }}"
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    assert result.status == "failed"
    assert result.outputs == {"good": [1, 2], "bad": None}
    assert result.error is not None and result.error.startswith("output 'bad': ")
    assert "missing" in result.error
    assert verify(result.run_log).code == 0


def test_a_for_each_timeout_starts_no_further_items(tmp_path: Path) -> None:
    probe = Probe()
    reg = make_registry(probe=probe)
    pb = playbook(
        """
playbook: 1
name: many
steps:
  - id: each
    uses: t.slow
    for_each: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    max_parallel: 2
    timeout: 300ms
    with: {seconds: 0.5}
""",
        reg,
    )
    start = time.monotonic()
    result = run_playbook(pb, {}, registry=reg, run_dir=tmp_path)
    # all ten would take 2.5 s at least (five rounds of two half-second calls); under the
    # suite's load on two cores the run that stops took up to 1.8 s, so the bound sits between
    assert time.monotonic() - start < 2.4
    outcome = result.steps["each"]
    assert isinstance(outcome, Failed)
    assert "10 of 10 call(s) unfinished" in outcome.error
    time.sleep(0.6)  # the two abandoned calls end; nothing else was started
    assert probe.calls == 2


def test_the_auth0_client_is_built_once_per_run_and_closed_at_the_end(tmp_path: Path) -> None:
    from collections.abc import Mapping
    from typing import Any

    from engine.actions.registry import Action, ActionContext

    class Client:
        closed = False

        def close(self) -> None:
            self.closed = True

    built: list[Client] = []

    def factory(guard: object, on_secret: object) -> Any:
        time.sleep(0.05)  # widen the window in which for_each threads could race
        built.append(Client())
        return built[-1]

    def which(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"client": id(ctx.auth0())}

    reg = make_registry()
    reg.register(Action("t.client", which, {"type": "object"}, {"type": "object"}, "read", "x"))
    pb = playbook(
        """
playbook: 1
name: client
steps:
  - id: c
    uses: t.client
    for_each: [1, 2, 3, 4, 5, 6, 7, 8]
    max_parallel: 8
""",
        reg,
    )
    result = run_playbook(pb, {}, registry=reg, auth0_factory=factory, run_dir=tmp_path)
    assert result.status == "succeeded", result.error
    assert len(built) == 1 and built[0].closed
    assert {r["client"] for r in result.steps["c"].output} == {id(built[0])}
