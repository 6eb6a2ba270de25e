"""The data.* helpers: unique, filter, count_by, set."""

from __future__ import annotations

from typing import Any

import pytest

from engine.actions import data, default_registry
from engine.actions.registry import ActionContext, ActionRegistry
from engine.errors import ActionError, DuplicateActionError
from engine.expr.templates import Deferred, compile_template


def test_data_unique_and_count_by(ctx: ActionContext, sample_events: list[dict[str, Any]]) -> None:
    assert data.unique(ctx, {"items": sample_events, "key": "user_id"}) == {
        "values": ["u1", "u2"],
        "count": 2,
    }
    assert data.unique(ctx, {"items": [[1], [1], [2]]})["values"] == [[1], [2]]
    out = data.count_by(ctx, {"items": sample_events, "key": "type"})
    assert out["counts"] == {"fp": 1, "fu": 1, "s": 1, "f": 1}
    out = data.count_by(ctx, {"items": sample_events, "key": "details.request.ip"})
    assert out["top"] == [{"value": "2001:0db8:0000:0000:0000:0000:0000:0001", "count": 1}]


def test_data_filter_renders_its_condition_per_item(
    ctx: ActionContext, sample_events: list[dict[str, Any]]
) -> None:
    where = Deferred(
        compile_template("{{ item.get('type') in ['fp', 'fu'] and item.ip != inputs.skip }}"),
        {"inputs": {"skip": "none"}},
    )
    out = data.filter_items(ctx, {"items": sample_events, "where": where})
    assert [e["user_id"] for e in out["items"]] == ["u1", "u2"]
    with pytest.raises(ActionError, match="must be an expression"):
        data.filter_items(ctx, {"items": sample_events, "where": "item.type"})


def test_registry_is_explicit_and_refuses_duplicates() -> None:
    reg = default_registry()
    assert {"ip.extract", "data.unique", "data.filter", "data.count_by", "data.set"} <= set(
        reg.names()
    )
    with pytest.raises(DuplicateActionError):
        ActionRegistry(data.ACTIONS + data.ACTIONS)
    assert reg.suggest("data.uniq")[0] == "data.unique"


def test_unique_skips_nulls_and_empty_strings(ctx: ActionContext) -> None:
    items = [{"u": "a"}, {"u": ""}, {"u": None}, {}, {"u": "b"}, {"u": "a"}]
    assert data.unique(ctx, {"items": items, "key": "u"}) == {"values": ["a", "b"], "count": 2}


def test_count_by_orders_top_by_count(ctx: ActionContext) -> None:
    items = [{"t": "fp"}, {"t": "fu"}, {"t": "fp"}, {"t": None}, {"t": "fp"}, {"t": "fu"}]
    out = data.count_by(ctx, {"items": items, "key": "t"})
    assert out == {
        "counts": {"fp": 3, "fu": 2},
        "top": [{"value": "fp", "count": 3}, {"value": "fu", "count": 2}],
    }


def test_filter_sees_index_and_keeps_order(ctx: ActionContext) -> None:
    where = Deferred(compile_template("{{ index % 2 == 0 }}"), {})
    out = data.filter_items(ctx, {"items": ["a", "b", "c", "d", "e"], "where": where})
    assert out == {"items": ["a", "c", "e"], "count": 3}


def test_filter_keeps_attacker_strings_literal(ctx: ActionContext) -> None:
    items: list[Any] = [{"user_name": "{{ 7*7 }}"}, {"user_name": "bob"}]
    where = Deferred(compile_template("{{ item.user_name[:1] == '{' }}"), {})
    out = data.filter_items(ctx, {"items": items, "where": where})
    assert out["items"] == [{"user_name": "{{ 7*7 }}"}]


def test_set_returns_the_rendered_value(ctx: ActionContext) -> None:
    value = {"u1": ["App A", "App B"], "u2": []}
    assert data.set_value(ctx, {"value": value}) == {"value": value}


def test_schemas_describe_every_property() -> None:
    for action in data.ACTIONS:
        for schema in (action.input_schema, action.output_schema):
            for name, prop in schema["properties"].items():
                assert prop.get("description"), f"{action.name}: {name}"


def test_filter_names_the_item_its_condition_failed_on(ctx: ActionContext) -> None:
    where = Deferred(compile_template("{{ item.count > 1 }}"), {})
    with pytest.raises(ActionError, match="failed on item 1"):
        data.filter_items(ctx, {"items": [{"count": 2}, {"other": 1}], "where": where})


def test_values_of_every_json_type_are_kept_apart(ctx: ActionContext) -> None:
    items = [{"v": v} for v in (True, 1, 1, "1", [1], [1], {"a": 1}, False, 0, "x")]
    assert data.unique(ctx, {"items": items, "key": "v"})["values"] == [
        True,
        1,
        "1",
        [1],
        {"a": 1},
        False,
        0,
        "x",
    ]
    out = data.count_by(ctx, {"items": items, "key": "v"})
    assert out["top"][:3] == [
        {"value": 1, "count": 2},
        {"value": [1], "count": 2},
        {"value": True, "count": 1},
    ]
    assert out["counts"] == {
        "true": 1,
        "1": 3,  # the number 1 twice and the string "1" once share a JSON key
        "[1]": 2,
        '{"a": 1}': 1,
        "false": 1,
        "0": 1,
        "x": 1,
    }


def test_data_filter_decides_as_jinja_does_with_or_without_a_template_per_item(
    ctx: ActionContext,
) -> None:
    """The plain test (engine.actions.filtersql.item_test) and Jinja keep the same items."""
    from engine.actions.filtersql import item_test

    items = [
        {"count": 25, "ip": "1.2.3.4", "public": True},
        {"count": 20, "ip": "10.0.0.1", "public": False},
        {"count": 19.5, "ip": None, "public": True},
        {"count": "many", "ip": "x"},  # a string against a number: Jinja's error for this item
        {"ip": "2001:db8::1"},  # no count
        {"count": None, "ip": "5.6.7.8"},
        {"count": True, "ip": "9.9.9.9", "public": False},
        {"count": [1], "ip": "1.1.1.1"},
    ]
    context = {"inputs": {"min": 20, "ips": ["1.2.3.4", "5.6.7.8"], "name": "x"}}
    conditions = [
        "{{ item.count >= inputs.min }}",
        "{{ 20 < item.count }}",
        "{{ item.count == 20 or item.ip in inputs.ips }}",
        "{{ not (item.ip == none) and item.ip not in ['x'] }}",
        "{{ item['ip'] != inputs.name and item.public == true }}",
        "{{ item.count > 5 and item.count <= 25 }}",
    ]
    for source in conditions:
        template = compile_template(source)
        test = item_test(template.ast, context)
        assert test is not None, source  # the plain path is taken
        for item in items:
            decided = test(item)
            try:
                jinja = bool(template.render({**context, "item": item, "index": 0}))
            except Exception:  # Jinja refuses this item: the plain test must not decide it
                assert decided is None, (source, item)
                continue
            assert decided in (None, jinja), (source, item)
        # through the action: the same items kept as rendering each one would keep
        safe = [*items[:3], items[6]]  # items every condition can be rendered for
        got = data.filter_items(ctx, {"items": safe, "where": Deferred(template, context)})
        want = [i for i in safe if template.render({**context, "item": i, "index": 0})]
        assert got["items"] == want, source


def test_data_filter_still_fails_where_jinja_fails(ctx: ActionContext) -> None:
    where = Deferred(compile_template("{{ item.count >= 5 }}"), {})
    with pytest.raises(ActionError, match="failed on item 1"):
        data.filter_items(ctx, {"items": [{"count": 6}, {"ip": "no count"}], "where": where})
    with pytest.raises(ActionError, match="failed on item 0"):
        data.filter_items(ctx, {"items": [{"count": "six"}], "where": where})
