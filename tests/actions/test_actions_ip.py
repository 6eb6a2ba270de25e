"""ip.extract: IPv4 and IPv6 from log events and free text."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.actions import ip
from engine.actions.registry import ActionContext


def test_ip_extract_counts_dates_and_public(
    ctx: ActionContext, sample_events: list[dict[str, Any]]
) -> None:
    out = ip.extract(ctx, {"events": sample_events})
    rows = {r["address"]: r for r in out["ips"]}
    assert set(rows) == {"203.0.113.7", "10.0.0.8", "2001:db8::1"}
    assert out["ips"][0]["ip"] == "203.0.113.7"
    # reported as logged, found in details
    assert rows["2001:db8::1"]["ip"] == "2001:0db8:0000:0000:0000:0000:0000:0001"
    assert rows["2001:db8::1"]["sources"] == ["details.request.ip"]
    assert rows["203.0.113.7"]["sources"] == ["ip"]
    assert rows["203.0.113.7"]["count"] == 2
    assert rows["203.0.113.7"]["first_seen"] == "2026-11-01T09:00:00.000Z"
    assert rows["203.0.113.7"]["last_seen"] == "2026-11-01T10:00:00.000Z"
    assert rows["10.0.0.8"]["public"] is False
    assert rows["2001:db8::1"]["public"] is False  # documentation range
    assert ip.extract(ctx, {"events": sample_events, "min_count": 2})["count"] == 1
    # the unreadable ip is said, not silently dropped
    assert out["warnings"] == ["ip '999.1.1.1' of 1 event(s) is not an IP address; not counted"]


def test_each_address_counts_its_events_per_hour_whatever_the_date_form(
    ctx: ActionContext,
) -> None:
    """The timeline of an attack: per hour by the event's date, Auth0's form or RFC 3339
    with an offset (a SIEM's row); an undated event counts for the total, in no hour."""
    events = [
        {"ip": "203.0.113.7", "date": "2026-11-20T10:05:00.000Z"},
        {"ip": "203.0.113.7", "date": "2026-11-20T10:59:59.999Z"},
        {"ip": "203.0.113.7", "date": "2026-11-20T13:10:00+02:00"},  # 11:10 UTC
        {"ip": "203.0.113.7", "date": "yesterday"},
        {"ip": "::ffff:203.0.113.7", "date": "2026-11-20T12:00:00.000Z"},
    ]
    (row,) = ip.extract(ctx, {"events": events})["ips"]
    assert row["count"] == 5
    assert row["hours"] == [
        ["2026-11-20T10:00:00.000Z", 2],
        ["2026-11-20T11:00:00.000Z", 1],
        ["2026-11-20T12:00:00.000Z", 1],
    ]
    month = [{"ip": "198.51.100.4", "date": "2026-09-30T23:00:00.000Z"}]
    month += [
        {"ip": "198.51.100.4", "date": f"2026-10-{d:02d}T{h:02d}:30:00.000Z"}
        for d in range(1, 32)
        for h in range(24)
    ]
    (row,) = ip.extract(ctx, {"events": month})["ips"]
    assert len(row["hours"]) == ip.MAX_HOURS == 31 * 24 and row["hours_cut"] == 1
    assert row["hours"][0] == ["2026-09-30T23:00:00.000Z", 1]  # the earliest kept


def test_ip_extract_from_text(ctx: ActionContext) -> None:
    text = "from 8.8.8.8, 8.8.8.8 and [2606:4700::1111]; not 1.2.3.999 nor 1.2.3.4.5 nor ::"
    out = ip.extract(ctx, {"text": text})
    assert [(r["ip"], r["count"], r["public"]) for r in out["ips"]] == [
        ("8.8.8.8", 2, True),
        ("2606:4700::1111", 1, True),
    ]


def test_an_event_counts_once_per_address_and_keeps_every_form(ctx: ActionContext) -> None:
    events = [
        {
            "ip": "2001:DB8::0:1",
            "date": "2026-11-02T00:00:00.000Z",
            "details": {"note": "retry from 2001:db8:0:0::1 and 192.0.2.10", "n": 3},
        }
    ]
    out = ip.extract(ctx, {"events": events, "text": "also 192.0.2.10"})
    assert [(r["address"], r["count"]) for r in out["ips"]] == [
        ("192.0.2.10", 2),
        ("2001:db8::1", 1),
    ]
    text_row, v6 = out["ips"]
    assert text_row["first_seen"] == "2026-11-02T00:00:00.000Z"  # text adds no date
    assert text_row["sources"] == ["details.note", "text"]
    assert v6["ip"] == "2001:DB8::0:1" and v6["forms"] == ["2001:DB8::0:1", "2001:db8:0:0::1"]
    without = ip.extract(ctx, {"events": events, "include_details": False})
    assert [r["ip"] for r in without["ips"]] == ["2001:DB8::0:1"]


def test_nothing_to_scan_gives_an_empty_result(ctx: ActionContext) -> None:
    assert ip.extract(ctx, {}) == {"ips": [], "count": 0, "warnings": []}
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
    assert [(r["address"], r["count"]) for r in out["ips"]] == [
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
    assert [r["ip"] for r in out["ips"]] == ["8.8.8.8", "::FFFF:203.0.113.9", "2606:4700::1111"]


# -- text forms (issue 9 item 1) --------------------------------------------------------
# The forms below are how Auth0 logs addresses it received: a pwd_leak event with the
# zero group written out, "2601:140:9702:ee80:9049:1f55:0000:e970" (panther-labs/pypanther,
# rule Auth0.Leaked.Password.Login.Attempt-prototype, its test event), an EU tenant's
# IPv6 login "3a02:c7d:bb78:ad10:343c:4c88:60cb:be04" (this-andy/thiscovery-core
# api/tests/test_data/auth0_test_events.py), and dual-stack IPv4-mapped clients.
FORMS = [
    ("2601:140:9702:ee80:9049:1f55:0000:e970", "2601:140:9702:ee80:9049:1f55:0:e970"),
    ("2001:0DB8:0000:0000:0000:0000:0000:E970", "2001:db8::e970"),
    ("2001:db8:00:0::e970", "2001:db8::e970"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("::FFFF:cb00:7109", "203.0.113.9"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("[2606:4700::1111]", "2606:4700::1111"),
]


@pytest.mark.parametrize(("logged", "address"), FORMS)
def test_an_address_is_reported_as_logged(ctx: ActionContext, logged: str, address: str) -> None:
    events = [{"ip": logged, "date": "2026-11-20T10:00:00.000Z", "type": "fp"}]
    (row,) = ip.extract(ctx, {"events": events})["ips"]
    assert (row["ip"], row["address"], row["forms"], row["sources"]) == (
        logged,
        address,
        [logged],
        ["ip"],
    )


def test_the_forms_of_one_address_are_grouped_most_frequent_first(ctx: ActionContext) -> None:
    forms = ["2001:db8::e970", "2001:DB8:0:0:0:0:0:E970", "2001:db8::e970", "2001:0db8::e970"]
    events = [{"ip": f, "date": f"2026-11-20T10:0{i}:00.000Z"} for i, f in enumerate(forms)]
    events.append({"ip": "203.0.113.9", "date": "2026-11-20T11:00:00.000Z"})
    events.append({"ip": "::ffff:203.0.113.9", "date": "2026-11-20T12:00:00.000Z"})
    rows = {r["address"]: r for r in ip.extract(ctx, {"events": events})["ips"]}
    v6 = rows["2001:db8::e970"]
    assert v6["ip"] == "2001:db8::e970" and v6["count"] == 4
    assert v6["forms"] == ["2001:db8::e970", "2001:DB8:0:0:0:0:0:E970", "2001:0db8::e970"]
    assert (v6["first_seen"], v6["last_seen"]) == (
        "2026-11-20T10:00:00.000Z",
        "2026-11-20T10:03:00.000Z",
    )
    v4 = rows["203.0.113.9"]
    assert v4["ip"] == "203.0.113.9" and v4["forms"] == ["203.0.113.9", "::ffff:203.0.113.9"]


def test_the_zone_of_a_link_local_address_is_kept(ctx: ActionContext) -> None:
    out = ip.extract(ctx, {"text": "peer fe80::1%eth0 and fe80::1%eth1 and fe80::1"})
    assert sorted(r["ip"] for r in out["ips"]) == ["fe80::1", "fe80::1%eth0", "fe80::1%eth1"]


# -- only real addresses (issue 9 item 2) -----------------------------------------------
# A Management API event's details.request.userAgent is the raw browser string
# (elastic/integrations packages/auth0/data_stream/logs/_dev/test/pipeline/
# test-mgmt-api-success.json); Chrome's reduced user agent ends in a.0.0.0
# ("Chrome/140.0.0.0", the user_agent of pypanther's Auth0.Limits-prototype test event).
SAPI = {
    "date": "2026-11-20T10:00:00.000Z",
    "type": "sapi",
    "ip": "35.167.74.121",
    "details": {
        "request": {
            "method": "post",
            "path": "/api/v2/log-streams",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36",
            "channel": "https://manage.auth0.com/",
            "ip": "35.167.74.121",
            "body": {"note": "build-1.2.3.4 v10.0.0.1 Opera/99.0.0.0 10.0.0.0/8 fw 10.9.8.7"},
        },
        "response": {"statusCode": 200, "body": {"allow": ["198.51.100.0/24", "2001:db8::/32"]}},
    },
}


def test_versions_and_networks_are_not_addresses(ctx: ActionContext) -> None:
    rows = ip.extract(ctx, {"events": [SAPI]})["ips"]
    assert [(r["ip"], r["sources"]) for r in rows] == [
        ("10.9.8.7", ["details.request.body.note"]),
        ("35.167.74.121", ["details.request.ip", "ip"]),
    ]


def test_a_user_agent_in_text_is_not_an_address(ctx: ActionContext) -> None:
    text = "Chrome/114.0.0.0 Safari/537.36 from http://198.51.100.7/login, [2001:db8::2]:443"
    assert [r["ip"] for r in ip.extract(ctx, {"text": text})["ips"]] == [
        "198.51.100.7",
        "2001:db8::2",
    ]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"ip": "198.51.100.99"}
    for _ in range(depth):
        value = {"x": value}
    return value


def test_details_deeper_than_the_bound_are_cut_and_said(ctx: ActionContext) -> None:
    shallow = {"log_id": "900a", "ip": "203.0.113.1", "details": _nested(10)}
    deep = {"log_id": "900b", "ip": "203.0.113.2", "details": _nested(950)}
    out = ip.extract(ctx, {"events": [shallow, deep]})
    assert sorted(r["ip"] for r in out["ips"]) == ["198.51.100.99", "203.0.113.1", "203.0.113.2"]
    (warning,) = out["warnings"]
    assert warning.startswith("900b: details deeper than 64 levels at details.x.x")
