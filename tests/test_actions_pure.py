"""ip.extract and the data.* helpers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from engine.actions import data, ip
from engine.errors import ActionError
from engine.registry import ActionContext, ActionRegistry, DuplicateActionError, default_registry
from engine.templating import Deferred, compile_template


@pytest.fixture
def ctx() -> ActionContext:
    return ActionContext(dry_run=False, http=httpx.Client())


EVENTS: list[dict[str, Any]] = [
    {"ip": "203.0.113.7", "date": "2026-11-01T10:00:00.000Z", "user_id": "u1", "type": "fp"},
    {"ip": "203.0.113.7", "date": "2026-11-01T09:00:00.000Z", "user_id": "u2", "type": "fu"},
    {
        "ip": "10.0.0.8",
        "date": "2026-11-01T11:00:00.000Z",
        "user_id": "u1",
        "type": "s",
        "details": {"request": {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"}},
    },
    {"ip": "999.1.1.1", "date": "2026-11-01T12:00:00.000Z", "user_id": "", "type": "f"},
    {"ip": None, "date": "2026-11-01T12:00:00.000Z", "user_id": None},
]


def test_ip_extract_counts_dates_and_public(ctx: ActionContext) -> None:
    out = ip.extract(ctx, {"events": EVENTS})
    rows = {r["ip"]: r for r in out["ips"]}
    assert set(rows) == {"203.0.113.7", "10.0.0.8", "2001:db8::1"}
    assert out["ips"][0]["ip"] == "203.0.113.7"
    assert rows["203.0.113.7"]["count"] == 2
    assert rows["203.0.113.7"]["first_seen"] == "2026-11-01T09:00:00.000Z"
    assert rows["203.0.113.7"]["last_seen"] == "2026-11-01T10:00:00.000Z"
    assert rows["10.0.0.8"]["public"] is False
    assert rows["2001:db8::1"]["public"] is False  # documentation range
    assert ip.extract(ctx, {"events": EVENTS, "min_count": 2})["count"] == 1


def test_ip_extract_from_text(ctx: ActionContext) -> None:
    text = "from 8.8.8.8, 8.8.8.8 and [2606:4700::1111]; not 1.2.3.999 nor 1.2.3.4.5 nor ::"
    out = ip.extract(ctx, {"text": text})
    assert [(r["ip"], r["count"], r["public"]) for r in out["ips"]] == [
        ("8.8.8.8", 2, True),
        ("2606:4700::1111", 1, True),
    ]


def test_data_unique_and_count_by(ctx: ActionContext) -> None:
    assert data.unique(ctx, {"items": EVENTS, "key": "user_id"}) == {
        "values": ["u1", "u2"],
        "count": 2,
    }
    assert data.unique(ctx, {"items": [[1], [1], [2]]})["values"] == [[1], [2]]
    out = data.count_by(ctx, {"items": EVENTS, "key": "type"})
    assert out["counts"] == {"fp": 1, "fu": 1, "s": 1, "f": 1}
    out = data.count_by(ctx, {"items": EVENTS, "key": "details.request.ip"})
    assert out["top"] == [{"value": "2001:0db8:0000:0000:0000:0000:0000:0001", "count": 1}]


def test_data_filter_renders_its_condition_per_item(ctx: ActionContext) -> None:
    where = Deferred(
        compile_template("{{ item.get('type') in ['fp', 'fu'] and item.ip != inputs.skip }}"),
        {"inputs": {"skip": "none"}},
    )
    out = data.filter_items(ctx, {"items": EVENTS, "where": where})
    assert [e["user_id"] for e in out["items"]] == ["u1", "u2"]
    with pytest.raises(ActionError, match="must be an expression"):
        data.filter_items(ctx, {"items": EVENTS, "where": "item.type"})


def test_registry_is_explicit_and_refuses_duplicates() -> None:
    reg = default_registry()
    assert {"ip.extract", "data.unique", "data.filter", "data.count_by", "data.set"} <= set(
        reg.names()
    )
    with pytest.raises(DuplicateActionError):
        ActionRegistry(data.ACTIONS + data.ACTIONS)
    assert reg.suggest("data.uniq")[0] == "data.unique"
