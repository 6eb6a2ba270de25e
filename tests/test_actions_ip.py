"""ip.extract: IPv4 and IPv6 from log events and free text."""

from __future__ import annotations

import time
from typing import Any

from engine.actions import ip
from engine.registry import ActionContext


def test_ip_extract_counts_dates_and_public(
    ctx: ActionContext, sample_events: list[dict[str, Any]]
) -> None:
    out = ip.extract(ctx, {"events": sample_events})
    rows = {r["ip"]: r for r in out["ips"]}
    assert set(rows) == {"203.0.113.7", "10.0.0.8", "2001:db8::1"}
    assert out["ips"][0]["ip"] == "203.0.113.7"
    assert rows["203.0.113.7"]["count"] == 2
    assert rows["203.0.113.7"]["first_seen"] == "2026-11-01T09:00:00.000Z"
    assert rows["203.0.113.7"]["last_seen"] == "2026-11-01T10:00:00.000Z"
    assert rows["10.0.0.8"]["public"] is False
    assert rows["2001:db8::1"]["public"] is False  # documentation range
    assert ip.extract(ctx, {"events": sample_events, "min_count": 2})["count"] == 1


def test_ip_extract_from_text(ctx: ActionContext) -> None:
    text = "from 8.8.8.8, 8.8.8.8 and [2606:4700::1111]; not 1.2.3.999 nor 1.2.3.4.5 nor ::"
    out = ip.extract(ctx, {"text": text})
    assert [(r["ip"], r["count"], r["public"]) for r in out["ips"]] == [
        ("8.8.8.8", 2, True),
        ("2606:4700::1111", 1, True),
    ]


def test_an_event_counts_once_per_ip_and_ipv6_is_normalised(ctx: ActionContext) -> None:
    events = [
        {
            "ip": "2001:DB8::0:1",
            "date": "2026-11-02T00:00:00.000Z",
            "details": {"note": "retry from 2001:db8:0:0::1 and 192.0.2.10", "n": 3},
        }
    ]
    out = ip.extract(ctx, {"events": events, "text": "also 192.0.2.10"})
    assert [(r["ip"], r["count"]) for r in out["ips"]] == [("192.0.2.10", 2), ("2001:db8::1", 1)]
    text_row = out["ips"][0]
    assert text_row["first_seen"] == "2026-11-02T00:00:00.000Z"  # text adds no date
    without = ip.extract(ctx, {"events": events, "include_details": False})
    assert [r["ip"] for r in without["ips"]] == ["2001:db8::1"]


def test_nothing_to_scan_gives_an_empty_result(ctx: ActionContext) -> None:
    assert ip.extract(ctx, {}) == {"ips": [], "count": 0}
    assert ip.extract(ctx, {"events": ["not an event", 3], "text": "no address here"})["count"] == 0


def test_hostile_text_is_scanned_in_linear_time(ctx: ActionContext) -> None:
    start = time.perf_counter()
    ip.extract(ctx, {"text": ":" * 200_000 + "1:" * 100_000 + "1." * 100_000})
    assert time.perf_counter() - start < 2.0


def test_schemas_describe_every_property() -> None:
    for action in ip.ACTIONS:
        for schema in (action.input_schema, action.output_schema):
            for name, prop in schema["properties"].items():
                assert prop.get("description"), f"{action.name}: {name}"


def test_a_proxy_chain_in_the_ip_field_is_scanned(ctx: ActionContext) -> None:
    events = [{"ip": "203.0.113.7, 10.0.0.1", "date": "2026-11-03T00:00:00.000Z"}]
    out = ip.extract(ctx, {"events": events})
    assert [r["ip"] for r in out["ips"]] == ["10.0.0.1", "203.0.113.7"]


def test_ties_are_ordered_by_address_and_mapped_ipv6_is_ipv4(ctx: ActionContext) -> None:
    text = "9.0.0.1 10.0.0.2 2001:db8::2 ::ffff:10.0.0.3 ::ffff:0.0.0.0 2001:db8::10 1.0.0.9"
    out = ip.extract(ctx, {"text": text + " 10.0.0.3"})
    assert [(r["ip"], r["count"]) for r in out["ips"]] == [
        ("10.0.0.3", 2),  # once as ::ffff:10.0.0.3, once plain
        ("1.0.0.9", 1),
        ("9.0.0.1", 1),
        ("10.0.0.2", 1),
        ("2001:db8::2", 1),
        ("2001:db8::10", 1),
    ]


def test_addresses_at_the_end_of_a_sentence_and_inside_longer_numbers(ctx: ActionContext) -> None:
    text = (
        "Login from 8.8.8.8. Then 2606:4700::1111. Not 1.2.3.4.5, not 5.6.7.8.9.10, "
        "not ::ffff:10.0.0 (cut), but ::FFFF:203.0.113.9."
    )
    out = ip.extract(ctx, {"text": text})
    assert [r["ip"] for r in out["ips"]] == ["8.8.8.8", "203.0.113.9", "2606:4700::1111"]
