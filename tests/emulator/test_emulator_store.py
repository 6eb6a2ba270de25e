"""The emulator's log store answers exactly what a plain filter-and-sort over the events gives.

The store narrows candidates with posting lists, date bisection and columns,
and evaluates queries on a column view; this property test compares every page
with a brute-force evaluation of the same compiled query on the decoded events.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.emulator.logstore import LogStore
from engine.emulator.packed import Packed
from engine.emulator.scenarios import generate
from engine.errors import EmulatorError
from engine.expr.sandbox import lucene
from engine.logs.files import iter_events
from engine.logs.query import compile_query, event_date, field_text

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
EVENTS = list(generate("credential-stuffing", seed=9, events=600, now=NOW).events)
SHUFFLED = EVENTS[:]
random.Random(2).shuffle(SHUFFLED)
STORE = LogStore(iter(SHUFFLED))  # built out of order: the store must reorder
IPS = sorted({e["ip"] for e in EVENTS if e["ip"]})[:6]
USERS = sorted({e["user_id"] for e in EVENTS if e["user_id"]})[:6]
DATES = ["2026-11-28T01", "2026-11-28T03:30", "2026-11-28", "2026-11-27T12"]

leaf = st.one_of(
    st.sampled_from(["s", "fp", "fu", "ssa", "f", "seccft"]).map(lambda t: f'type:"{t}"'),
    st.sampled_from(IPS).map(lambda ip: f'ip:"{ip}"'),
    st.sampled_from(USERS).map(lambda u: f'user_id:"{u}"'),
    st.tuples(st.sampled_from([*DATES, "*"]), st.sampled_from([*DATES, "*"]), st.booleans()).map(
        lambda t: f"date:[{t[0]} TO {t[1]}{']' if t[2] else '}'}"
    ),
    st.just("user_name:*mail.example"),
    st.just("client_name:Billing"),
)


def combined(leaves: st.SearchStrategy[str], max_leaves: int) -> st.SearchStrategy[str]:
    """Queries of ``leaves`` joined by AND, OR and NOT, in groups."""
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda q: f"(NOT {q})"),
        ),
        max_leaves=max_leaves,
    )


queries = combined(leaf, 4)
sorts = st.sampled_from([None, ("date", 1), ("date", -1), ("type", 1), ("ip", -1)])


def brute(
    q: str,
    sort: tuple[str, int] | None,
    skip: int,
    take: int,
    events: list[dict[str, Any]] = EVENTS,
) -> list[dict[str, Any]]:
    query = compile_query(q)
    hits = [e for e in events if query(e)]
    field, direction = sort or ("log_id", -1)
    if field == "log_id":
        hits.sort(key=lambda e: e["log_id"], reverse=direction < 0)
    else:  # log ids of two prefixes: date order is not log_id order
        hits.sort(key=lambda e: (str(e.get(field) or ""), e["log_id"]), reverse=direction < 0)
    return hits[skip : skip + take]


@given(queries, sorts, st.integers(0, 3), st.sampled_from([1, 7, 50]))
@settings(max_examples=250, deadline=None)
def test_pages_equal_a_brute_force_search(
    q: str, sort: tuple[str, int] | None, page: int, per_page: int
) -> None:
    got = STORE.search(compile_query(q), sort=sort, skip=page * per_page, take=per_page)
    assert [STORE.get(p) for p in got] == brute(q, sort, page * per_page, per_page), q


def test_the_store_is_in_log_id_order_and_indexed() -> None:
    assert [STORE.get(p) for p in range(len(STORE))] == EVENTS
    successes = STORE.index["type"]["s"]
    assert [STORE.get(p)["type"] for p in successes] == ["s"] * len(successes)
    assert STORE.position(EVENTS[5]["log_id"]) == 5 and STORE.position("9" * 56) is None
    assert STORE.after(EVENTS[5]["log_id"]) == 6


# The same events, the last 60 appended one by one as a serving tenant writes them
# (engine.emulator.reactions): every page must still equal the brute-force answer.
GROWN = LogStore(iter(EVENTS[:-60]))
for _event in EVENTS[-60:]:
    GROWN.append(_event)


@given(queries, sorts, st.integers(0, 3), st.sampled_from([1, 7, 50]))
@settings(max_examples=120, deadline=None)
def test_appended_events_are_searched_like_stored_ones(
    q: str, sort: tuple[str, int] | None, page: int, per_page: int
) -> None:
    got = GROWN.search(compile_query(q), sort=sort, skip=page * per_page, take=per_page)
    assert [GROWN.get(p) for p in got] == brute(q, sort, page * per_page, per_page), q


# Past Packed.PRIMING events a store's texts are compressed: the same pages, byte for byte.
BIG_EVENTS = list(
    generate("credential-stuffing", seed=9, events=Packed.PRIMING + 600, now=NOW).events
)
BIG = LogStore(reversed(BIG_EVENTS))  # newest first, as an export may be: reordered


def test_a_tenant_past_the_priming_serves_every_event_byte_for_byte() -> None:
    by_id = sorted(BIG_EVENTS, key=lambda e: e["log_id"])
    assert len(BIG) == len(by_id)
    assert [BIG.raw(p) for p in range(len(BIG))] == [
        json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() for e in by_id
    ]


@given(queries, sorts, st.integers(0, 3), st.sampled_from([1, 50]))
@settings(max_examples=40, deadline=None)
def test_a_compressed_tenant_s_pages_equal_a_brute_force_search(
    q: str, sort: tuple[str, int] | None, page: int, per_page: int
) -> None:
    got = BIG.search(compile_query(q), sort=sort, skip=page * per_page, take=per_page)
    assert [BIG.get(p) for p in got] == brute(q, sort, page * per_page, per_page, BIG_EVENTS), q


def test_append_refuses_an_id_out_of_order() -> None:
    store = LogStore(iter(EVENTS[:10]))
    try:
        store.append(EVENTS[3])
    except EmulatorError as exc:
        assert "does not sort after" in str(exc)
    else:
        raise AssertionError("an out-of-order id was appended")


def test_a_non_string_value_is_found_by_its_json_text_through_the_index() -> None:
    date = "2026-11-01T00:00:00.000Z"
    events = [
        {"log_id": "1", "date": date, "type": "s", "ip": 123, "client_name": ["a", 1]},
        {"log_id": "2", "date": date, "type": "s", "ip": "1.2.3.4", "client_name": "x"},
    ]
    store = LogStore(iter(events))
    for q, want in [("ip:123", ["1"]), ('client_name:"[\\"a\\",1]"', ["1"]), ("ip:*", ["1", "2"])]:
        query = compile_query(q)
        hits = [p for p in store.candidates(query, False) if store.matches(query, p)]
        assert [store.get(p)["log_id"] for p in hits] == want, q


# Every real-shaped event of tests/data/auth0 (SOURCES.md says where each shape was
# seen: go-auth0's recordings, elastic/integrations, panther-analysis, EventBridge
# events, Auth0's log catalog) in one store: ids of every prefix, id-less events, a
# log_id twice, null versus absent versus empty fields, scope as a list, IPv6.
DATA = Path(__file__).parent.parent / "data" / "auth0"
REAL = [e for p in sorted(DATA.iterdir()) if p.suffix != ".md" for e in iter_events(p)]
REAL_STORE = LogStore(iter(REAL))


def _in_store_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the tenant holds: log_id order (id-less first, as they came), each id once."""
    seen: set[str] = set()
    kept = []
    for e in sorted(events, key=lambda e: "" if e.get("log_id") is None else str(e["log_id"])):
        log_id = e.get("log_id")
        if log_id is not None and log_id != "" and str(log_id) in seen:
            continue
        seen.add(str(log_id))
        kept.append(e)
    return kept


HELD = _in_store_order(REAL)


def _values(name: str) -> list[str]:
    return sorted({v for e in REAL if isinstance(v := e.get(name), str)})


real_leaf = st.one_of(
    *(
        st.sampled_from(_values(name)).map(lambda v, n=name: f"{n}:{lucene(v)}")
        for name in ("type", "ip", "user_id", "client_name", "user_name", "connection", "log_id")
    ),
    st.sampled_from(
        ["user_name:*example*", "description:*", "client_name:*", "ip:*.10*", "ip:2a05*"]
    ),
    st.tuples(st.sampled_from(["2026-11-02", "2026-11-03T12", "*"]), st.booleans()).map(
        lambda t: f"date:[{t[0]} TO *{']' if t[1] else '}'}"
    ),
)
real_queries = combined(real_leaf, 3)


def sort_key(sort: tuple[str, int] | None, n: int) -> tuple[str, str]:
    """What orders the event at ``n``: the sort field as a query reads it, then its log_id."""
    field = (sort or ("log_id", -1))[0]
    e = HELD[n]
    log_id = "" if e.get("log_id") is None else str(e["log_id"])
    if field == "date":
        return event_date(e) or "", log_id
    return ("" if field == "log_id" else field_text(e.get(field)) or ""), log_id


def reference(q: str, sort: tuple[str, int] | None) -> list[int]:
    """Positions of the matches in the requested order, by the Python evaluator."""
    query = compile_query(q)
    hits = [n for n, e in enumerate(HELD) if query(e)]
    return sorted(hits, key=lambda n: sort_key(sort, n), reverse=(sort or ("", -1))[1] < 0)


@given(real_queries, st.sampled_from([None, ("date", 1), ("date", -1), ("user_name", 1)]))
@settings(max_examples=60, deadline=None)
def test_real_shaped_events_answer_as_the_python_evaluator(
    q: str, sort: tuple[str, int] | None
) -> None:
    want = reference(q, sort)
    got = REAL_STORE.search(compile_query(q), sort=sort, skip=0, take=len(HELD))
    # the same events in the same order (id-less events that tie on the key: in any order)
    assert sorted(got) == sorted(want), q
    assert [sort_key(sort, n) for n in got] == [sort_key(sort, n) for n in want], q
    assert [REAL_STORE.get(p) for p in got] == [HELD[p] for p in got]


def test_real_shaped_events_are_held_once_each_and_served_as_they_came() -> None:
    assert len(REAL_STORE) == len(HELD) < len(REAL)  # a redelivered log_id is one event
    assert [REAL_STORE.raw(n) for n in range(len(HELD))] == [
        json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() for e in HELD
    ]
    idless = [n for n, e in enumerate(HELD) if e.get("log_id") is None]
    assert idless and all(REAL_STORE.value("log_id", n) is None for n in idless)
    assert REAL_STORE.position("") is None
    # checkpoint paging starts after the id-less events and the empty id ("" in EB-CONSOLE)
    first = next(n for n, e in enumerate(HELD) if e.get("log_id"))
    assert first > len(idless)
    assert REAL_STORE.after("") == first and REAL_STORE.after(HELD[first]["log_id"]) == first + 1
    assert REAL_STORE.position(HELD[first]["log_id"]) == first
