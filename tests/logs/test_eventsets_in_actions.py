"""Actions give the same answers on an event set as on the list of its events; online
searches keep their pages in the run's store, each identity once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.actions import default_registry
from engine.actions.registry import ActionContext
from engine.auth0.search import search
from engine.emulator import RunningEmulator
from engine.ipforms import address_key
from engine.logs.eventset import EventSet
from engine.logs.store import EventStore
from engine.timeutil import now_utc

DATA = Path(__file__).parent.parent / "data" / "auth0"
REGISTRY = default_registry()


def call(ctx: ActionContext, name: str, **args: Any) -> Any:
    return REGISTRY.get(name).func(ctx, args)


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    s = EventStore(tmp_path / "work")
    yield s
    s.close()


@pytest.mark.parametrize("name", ["triage-export.jsonl", "export.jsonl", "stream.jsonl"])
def test_the_event_actions_answer_the_same_on_a_set_and_on_its_list(
    ctx: ActionContext, store: EventStore, name: str
) -> None:
    events = store.select(DATA / name, "")
    assert isinstance(events, EventSet)
    plain = list(events)
    for include_details in (False, True):
        assert call(ctx, "ip.extract", events=events, include_details=include_details) == call(
            ctx, "ip.extract", events=plain, include_details=include_details
        )
    for min_count in (2, 3, 10):
        for text in (None, "seen from 203.0.113.7 and 198.51.100.4"):
            more = {} if text is None else {"text": text}
            assert call(
                ctx, "ip.extract", events=events, include_details=False, min_count=min_count, **more
            ) == call(
                ctx, "ip.extract", events=plain, include_details=False, min_count=min_count, **more
            )
    for key in ("ip", "type", "user_id", "client_name"):
        assert call(ctx, "data.count_by", items=events, key=key) == call(
            ctx, "data.count_by", items=plain, key=key
        )
        assert call(ctx, "data.unique", items=events, key=key) == call(
            ctx, "data.unique", items=plain, key=key
        )
    users = call(ctx, "data.unique", items=plain, key="user_id")["values"]
    assert call(ctx, "auth0.list_accessed_clients", events=events, user_ids=users) == call(
        ctx, "auth0.list_accessed_clients", events=plain, user_ids=users
    )


def test_ip_extract_keeps_an_address_whose_forms_together_reach_min_count(
    ctx: ActionContext, store: EventStore, tmp_path: Path
) -> None:
    # one address in three texts (plain, IPv4-mapped, first of a proxy chain), each below
    # the bar alone; the bar counts the address, and the text's mentions count too
    ips = ["203.0.113.7"] * 2 + ["::ffff:203.0.113.7"] * 2 + ["203.0.113.7, 10.0.0.1"]
    ips += ["198.51.100.4"] * 3 + ["unknown"] * 2 + ["0.0.0.0"]  # noqa: S104 (no address)
    path = tmp_path / "forms.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "log_id": f"9002026112000000000{i:03d}",
                    "date": f"2026-11-20T0{i % 3}:00:0{i % 10}.000Z",
                    "type": "f",
                    "ip": ip,
                }
            )
            + "\n"
            for i, ip in enumerate(ips)
        )
    )
    events = store.select(path, "")
    plain = list(events)
    five = {"203.0.113.7": 5}
    for min_count, text, expected in (
        (5, None, five),
        (4, None, five),
        (6, None, {}),
        (4, "from 198.51.100.4", {**five, "198.51.100.4": 4}),
    ):
        more = {} if text is None else {"text": text}
        on_set = call(
            ctx, "ip.extract", events=events, include_details=False, min_count=min_count, **more
        )
        assert on_set == call(
            ctx, "ip.extract", events=plain, include_details=False, min_count=min_count, **more
        )
        assert on_set["warnings"][0].startswith("ip 'unknown' of 2 event(s)")
        assert {r["address"]: r["count"] for r in on_set["ips"]} == expected


def test_an_offline_triage_step_answers_with_sets_and_the_same_users(tmp_path: Path) -> None:
    with httpx.Client() as http:
        offline = ActionContext(dry_run=True, http=http, logs_file=DATA / "triage-export.jsonl")
        args = {"since": "2026-11-01", "until": "2026-12-01"}
        ips = call(
            offline,
            "ip.extract",
            events=call(offline, "auth0.search_logs", query='type:"fp" OR type:"fu"', **args)[
                "events"
            ],
            include_details=False,
        )["ips"]
        logins = call(offline, "auth0.find_successful_logins", ips=ips[:3], **args)
        assert isinstance(logins["events"], EventSet)
        # the same logins from the list of the file's events, by hand
        wanted = {row["address"] for row in ips[:3]}  # every form of each address
        from engine.eventcodes import USER_AUTH_SUCCESS

        by_hand = [
            e
            for e in (
                json.loads(line)
                for line in (DATA / "triage-export.jsonl").read_text().splitlines()
                if line.strip()
            )
            if e.get("type") in USER_AUTH_SUCCESS and address_key(str(e.get("ip"))) in wanted
        ]
        assert sorted(e["log_id"] for e in logins["events"]) == sorted(e["log_id"] for e in by_hand)
        firsts = []
        for e in sorted(by_hand, key=lambda e: (e["date"], e["log_id"])):
            if e.get("user_id") and e["user_id"] not in firsts:
                firsts.append(e["user_id"])
        assert logins["users"] == firsts and logins["count"] == len(by_hand)


def test_an_online_search_keeps_its_pages_in_the_store(
    emulator: RunningEmulator, auth0_client: Any, store: EventStore
) -> None:
    client = auth0_client(emulator, dry_run=True)
    since, until = now_utc() - timedelta(days=3), now_utc() + timedelta(minutes=1)
    listed = search(client, 'type:"s" OR type:"fp"', since, until)
    pages = store.pages()
    kept = search(client, 'type:"s" OR type:"fp"', since, until, kept=pages)
    assert isinstance(kept.events, EventSet) and len(kept.events) > 100
    assert list(kept.events) == listed.events  # the same events, in the order they came
    limited = search(client, 'type:"s"', since, until, limit=150, kept=store.pages())
    assert list(limited.events) == search(client, 'type:"s"', since, until, limit=150).events


def test_a_page_sink_drops_redeliveries_by_key(store: EventStore) -> None:
    sink = store.pages()
    a = {"log_id": "1", "date": "2026-11-01T00:00:00.000Z", "type": "s"}
    b = {"log_id": "2", "date": "2026-11-01T00:00:01.000Z", "type": "s"}
    anon = {"date": "2026-11-01T00:00:02.000Z", "type": "f"}
    assert sink.add([a, a, b], None) == 2
    assert sink.add([b, dict(anon), dict(anon), {**anon, "ip": "1.2.3.4"}], None) == 4
    assert sink.add([{**a, "type": "changed"}], None) == 4  # the same log id: a redelivery
    assert sink.add([{"log_id": "3", "date": "x", "type": "s"}] * 2, 0) == 4  # no room left
    events = sink.events()
    assert [e.get("log_id") for e in events] == ["1", "2", None, None]
    assert events[0] == a and events[3] == {**anon, "ip": "1.2.3.4"}


def test_search_logs_fields_come_from_the_columns_as_from_the_events(tmp_path: Path) -> None:
    with httpx.Client() as http:
        ctx = ActionContext(dry_run=True, http=http, logs_file=DATA / "export.jsonl")
        args = {"since": "2000-01-01", "query": "", "fields": ["date", "ip", "user_name"]}
        got = call(ctx, "auth0.search_logs", **args)
        whole = call(ctx, "auth0.search_logs", **{**args, "fields": None})["events"]
        assert got["events"] == [{k: e.get(k) for k in args["fields"]} for e in whole]
        assert got["count"] == len(whole) > 0
        assert not [w for w in got["warnings"] if w.startswith("fields:")]
        # a field no event has a value for is said, from the columns and from the events alike
        for picked in (["ip", "User_name"], ["ip", "User_name", "details"]):
            odd = call(ctx, "auth0.search_logs", **{**args, "fields": picked})
            said = [w for w in odd["warnings"] if w.startswith("fields:")]
            assert len(said) == 1 and "'User_name'" in said[0], said
            assert odd["events"] == [{k: e.get(k) for k in picked} for e in whole]


@pytest.mark.parametrize(
    "where",
    [
        "{{ item.type == 'sapi' }}",
        "{{ 's' == item.type or item.type == 'fp' }}",
        "{{ item.type != 's' and not (item.ip == none) }}",
        "{{ item.type in ['s', 'ssa'] and item.client_name != 'Default App' }}",
        "{{ item.type not in inputs.kinds }}",
        "{{ item['user_name'] == inputs.who }}",
        "{{ item.connection == none }}",
        "{{ item.type in [] }}",
    ],
)
def test_data_filter_on_a_set_is_sql_and_agrees_with_the_events(
    store: EventStore, where: str
) -> None:
    from engine.actions.filtersql import where_of
    from engine.expr.templates import Deferred, compile_template

    events = store.select(DATA / "export.jsonl", "")
    plain = list(events)
    who = next(e["user_name"] for e in plain if e.get("user_name"))
    context = {"inputs": {"kinds": ["s", "f"], "who": who}}
    template = compile_template(where)
    assert where_of(template.ast, context) is not None  # the SQL path, not the loop
    got = call(
        ActionContext(True, None), "data.filter", items=events, where=Deferred(template, context)
    )  # type: ignore[arg-type]
    assert isinstance(got["items"], EventSet)
    # by hand, over the events (a missing field is none, as in the set's columns)
    full = [
        {**{f: None for f in ("type", "ip", "user_name", "client_name", "connection")}, **e}
        for e in plain
    ]
    expected = [
        e
        for e, f in zip(plain, full, strict=True)
        if compile_template(where).render({**context, "item": f})
    ]
    assert list(got["items"]) == expected and got["count"] == len(expected)


@pytest.mark.parametrize(
    "where",
    [
        "{{ item.count > 5 }}",
        "{{ item.type | upper == 'S' }}",
        "{{ item.details == none }}",
        "{{ item.type == inputs.missing }}",
        "{{ item.type == secrets.s }}",
    ],
)
def test_data_filter_leaves_what_sql_cannot_say_to_the_loop(where: str) -> None:
    from engine.actions.filtersql import where_of
    from engine.expr.templates import compile_template

    assert where_of(compile_template(where).ast, {"inputs": {}, "secrets": {"s": object()}}) is None
