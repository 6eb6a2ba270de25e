"""Policy lives on the ``Action`` record: whether a call writes, what it targets, what it blocks.

Nothing outside ``engine/actions`` checks action names: an action registered
under any name gets the same treatment from the guardrails, the run log and
the drills' scoring, because they ask its record.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soarcli import parse_py

from engine.actions import default_registry, http
from engine.actions.registry import Action, ActionContext, ActionRegistry
from engine.drills.scoring import write_targets
from engine.playbook.loader import check_playbook
from engine.run.guardrails import target_of
from engine.secrets import MASK, Secret

ENGINE = Path(__file__).parents[2] / "engine"
USER = {"type": "object", "properties": {"user_id": {"type": "string"}}}


def nothing(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def no_calls(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    return []


def write(name: str, **policy: Any) -> Action:
    return Action(name, nothing, USER, {}, "write", "a write", plan=no_calls, **policy)


def test_whether_a_call_writes_is_the_records_answer_not_its_names() -> None:
    hook = write("x.hook", target="url", writes_when=http.writes)  # http.request's policy
    assert not hook.is_write({"url": "https://x", "method": "GET"})
    assert hook.is_write({"url": "https://x", "method": "POST"})
    assert hook.is_write({"url": "https://x", "effect": "write"})
    assert hook.is_write()  # without arguments: whether the action can write
    # the name alone decides nothing: without the policy every call is a write
    assert write("http.request", target="url").is_write({"url": "https://x", "method": "GET"})
    (real,) = http.ACTIONS
    assert not real.is_write({"url": "https://x"}) and real.is_write({"url": "x", "method": "PUT"})


def test_targets_come_from_the_record() -> None:
    block = write("x.ban", target="user_id")
    assert block.targets({"user_id": "auth0|1"}) == ["auth0|1"]
    assert target_of(block, {"user_id": "auth0|1"}) == "auth0|1"
    assert block.targets({"user_id": Secret("u", "auth0|secret-id")}) == [MASK]
    assert write("x.untargeted").targets({"user_id": "u"}) == ["x.untargeted"]
    nets = write("x.fence", target="ips", addresses=lambda args: list(args["ips"]))
    assert nets.targets({"ips": ["203.0.113.7", "2001:db8::/32"]}) == [
        "203.0.113.7",
        "2001:db8::/32",
    ]
    assert target_of(nets, {"ips": ["203.0.113.7", "198.51.100.1"]}) == "203.0.113.7, 198.51.100.1"
    registry = default_registry()
    assert registry["auth0.block_ips"].address_targets({"ips": ["203.0.113.7"]}) == ("203.0.113.7",)
    assert registry["auth0.block_user"].address_targets({"user_id": "u"}) == ()


def test_scoring_counts_the_writes_whose_record_says_they_block() -> None:
    registry = ActionRegistry(
        [write("x.ban", target="user_id", blocks=True), write("x.note", target="user_id")]
    )
    records = [
        {"type": "action.call", "action": "x.ban", "target": "a", "targets": ["a"]},
        {"type": "action.call", "action": "x.note", "target": "b", "targets": ["b"]},
        {"type": "action.call", "action": "auth0.block_user", "target": "c"},  # not registered
        {"type": "action.planned", "action": "x.ban", "targets": ["d", "e"], "planned": [{}]},
    ]
    assert write_targets(records, registry) == {"done": ["a"], "planned": ["d", "e"]}
    blocking = {a.name for a in default_registry() if a.blocks}
    assert blocking == {"auth0.block_user", "auth0.delete_user", "auth0.block_ips"}


def _literals(tree: ast.AST) -> set[str]:
    """Every string constant of a module that is not a docstring."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    }


def test_no_module_outside_the_actions_names_an_action() -> None:
    names = set(default_registry().names())
    found = {}
    for path in ENGINE.rglob("*.py"):
        if "actions" in path.relative_to(ENGINE).parts:
            continue
        hit = _literals(parse_py(path.read_text(encoding="utf-8"))) & names
        if hit:
            found[str(path.relative_to(ENGINE))] = sorted(hit)
    assert found == {}


def test_validate_and_the_run_check_arguments_with_the_actions_one_validator(
    tmp_path: Path,
) -> None:
    registry = default_registry()
    action = registry["data.filter"]
    assert action.arg_validator is action.arg_validator  # built once per action
    pb = tmp_path / "pb.yaml"
    pb.write_text(
        "playbook: 1\nname: x\nsteps:\n  - id: f\n    uses: data.filter\n"
        "    with: {items: 3, where: 5}\n"
    )
    problems = [i.message for i in check_playbook(pb, registry)]
    # a deferred argument is a template until each item renders it: one problem, not a
    # type error beside it; the other arguments are checked as values
    assert [p for p in problems if "'where'" in p] == [
        "argument 'where' for data.filter in step 'f' must be an expression"
    ]
    assert any("'items'" in p and "must be" in p for p in problems)
