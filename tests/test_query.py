"""Auth0 log query syntax: every documented example, every restriction, and a property test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import QueryError
from engine.query import DEFAULT_FIELDS, compile_query, normalize_date
from engine.templating import lucene


def ev(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        f: None
        for f in (
            "type",
            "description",
            "connection",
            "client_name",
            "ip",
            "log_id",
            "user_id",
            "user_name",
            "date",
        )
    }
    base.update(fields)
    return base


DOC_EXAMPLES = [
    # (query, matching event, non-matching event) from auth0-facts.md section 2
    ("connection:*pass*", ev(connection="my-password-db"), ev(connection="Username-Password")),
    ("user_name:*fred*", ev(user_name="alfredo"), ev(user_name="Fred")),
    ('user_id:"123"', ev(user_id="123"), ev(user_id="1234")),
    ("type:s*", ev(type="sapi"), ev(type="fs")),
    ("user_name:jane*smith", ev(user_name="jane.b.smith"), ev(user_name="jane.smithers")),
    (
        "date:[2018-12 TO 2019-01-01}",
        ev(date="2018-12-31T23:59:59.999Z"),
        ev(date="2019-01-01T00:00:00.000Z"),
    ),
    (
        "date:[2018-12-10 TO *]",
        ev(date="2018-12-10T00:00:00.000Z"),
        ev(date="2018-12-09T23:59:59.999Z"),
    ),
    (
        "date:[2019-01-01T01:00:00 TO 2019-01-01T12:23:45}",
        ev(date="2019-01-01T12:23:44.999Z"),
        ev(date="2019-01-01T12:23:45.000Z"),
    ),
    (
        "date:[2018-12-18 TO *]",
        ev(date="2018-12-18T00:00:00.000Z"),
        ev(date="2018-12-17T10:00:00.000Z"),
    ),
    (
        "date:[* TO 2018-12-19}",
        ev(date="2018-12-18T23:00:00.000Z"),
        ev(date="2018-12-19T00:00:00.000Z"),
    ),
    ("user_name:john*", ev(user_name="johnny"), ev(user_name="ajohn")),
    (
        "type:depnote AND description:*logs*",
        ev(type="depnote", description="old logs API"),
        ev(type="depnote", description="old API"),
    ),
    (
        'description:"Username invalid"',
        ev(description="Username invalid"),
        ev(description="Username invalid."),
    ),
    ("description:rule", ev(description="rule"), ev(description="Create a rule")),
    ("description:*rule", ev(description="Create a rule"), ev(description="rules")),
    ('type:"s" AND ip:"1.2.3.4"', ev(type="s", ip="1.2.3.4"), ev(type="s", ip="1.2.3.45")),
    ("type:fp OR type:fu", ev(type="fu"), ev(type="f")),
    ("NOT type:s", ev(type="f"), ev(type="s")),
    (
        "type:(s OR ssa) AND NOT ip:10.0.0.1",
        ev(type="ssa", ip="10.0.0.2"),
        ev(type="s", ip="10.0.0.1"),
    ),
    ("fu", ev(type="fu"), ev(user_id="fu")),
    ("type:s user_id:abc", ev(type="s", user_id="abc"), ev(type="s", user_id="x")),
    (
        'description:"Wrong email or password"',
        ev(description="Wrong email or password"),
        ev(description="Wrong email or password."),
    ),
]


@pytest.mark.parametrize(("query", "yes", "no"), DOC_EXAMPLES)
def test_documented_examples(query: str, yes: dict[str, Any], no: dict[str, Any]) -> None:
    predicate = compile_query(query)
    assert predicate(yes) is True
    assert predicate(no) is False


def test_matching_is_case_sensitive() -> None:
    assert compile_query("connection:*pass*")(ev(connection="Pass-db")) is False
    assert compile_query("type:S")(ev(type="s")) is False


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("user_name:*sa", "at least 3 literal characters"),
        ("name:*s*", "not searchable"),
        ("user_name:j?hn", "? is not supported"),
        ("details.request.ip:1.2.3.4", "not searchable"),
        ("foo:bar", "not searchable"),
        ("user_name:jo~1", "fuzzy"),
        ("user_name:/jo.*/", "regex"),
        ('"ab"~3', "proximity"),
        ('type:"s', "Invalid query"),
        ("date:2018-13-45x", "Invalid date"),
    ],
)
def test_restrictions_are_rejected_like_auth0(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        compile_query(query)


def test_partial_dates_are_zero_filled() -> None:
    assert normalize_date("2018-12") == "2018-12-01T00:00:00.000Z"
    assert normalize_date("2018-12-18") == "2018-12-18T00:00:00.000Z"
    assert normalize_date("2018-12-18T12:22") == "2018-12-18T12:22:00.000Z"


HOSTILE = ['") OR type:("s', "a\\", 'x" OR "y', "*", "adm*", "?", "{{ 7*7 }}", "\\*", 'we\\"ird']


@pytest.mark.parametrize("value", HOSTILE)
def test_lucene_quoted_values_match_exactly_that_value(value: str) -> None:
    q = compile_query(f"type:s AND user_name:{lucene(value)}")
    assert q(ev(type="s", user_name=value)) is True
    for other in ["", "x", "adm", "administrator", "s", "y", value + "x"]:
        if other != value:
            assert q(ev(type="s", user_name=other)) is False
    assert q(ev(type="f", user_name=value)) is False


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_lucene_round_trips_any_string(value: str) -> None:
    q = compile_query(f"user_name:{lucene(value)}")
    assert q(ev(user_name=value)) is True
    assert q(ev(user_name=value + "x")) is False


# -- property: compiled predicates agree with a direct reference evaluation ----
FIELDS = ["type", "ip", "user_name"]
VALUES = ["s", "fp", "fu", "1.2.3.4", "10.0.0.1", "alice", "bob", "alfred"]


def _term() -> st.SearchStrategy[tuple[str, Any]]:
    exact = st.tuples(st.sampled_from(FIELDS), st.sampled_from(VALUES)).map(lambda t: ("eq", *t))
    prefix = st.tuples(st.sampled_from(FIELDS), st.sampled_from(["a", "al", "f", "1."])).map(
        lambda t: ("prefix", *t)
    )
    bare = st.sampled_from(VALUES).map(lambda v: ("bare", v))
    return st.one_of(exact, prefix, bare)


def _queries() -> st.SearchStrategy[Any]:
    return st.recursive(
        _term(),
        lambda inner: st.one_of(
            st.tuples(st.just("and"), inner, inner),
            st.tuples(st.just("or"), inner, inner),
            st.tuples(st.just("not"), inner),
        ),
        max_leaves=6,
    )


def render(node: Any) -> str:
    kind = node[0]
    if kind == "eq":
        return f'{node[1]}:"{node[2]}"'
    if kind == "prefix":
        return f"{node[1]}:{node[2]}*"
    if kind == "bare":
        return f'"{node[1]}"'
    if kind == "not":
        return f"(NOT {render(node[1])})"
    return f"({render(node[1])} {kind.upper()} {render(node[2])})"


def reference(node: Any, e: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "eq":
        return bool(e.get(node[1]) == node[2])
    if kind == "prefix":
        v = e.get(node[1])
        return isinstance(v, str) and v.startswith(node[2])
    if kind == "bare":
        return any(e.get(f) == node[1] for f in DEFAULT_FIELDS)
    if kind == "not":
        return not reference(node[1], e)
    a, b = reference(node[1], e), reference(node[2], e)
    return (a and b) if kind == "and" else (a or b)


events = st.fixed_dictionaries({f: st.one_of(st.none(), st.sampled_from(VALUES)) for f in FIELDS})


@given(_queries(), st.lists(events, min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_compiled_predicates_agree_with_reference(node: Any, evs: list[dict[str, Any]]) -> None:
    predicate = compile_query(render(node))
    for e in evs:
        assert predicate(e) == reference(node, e), render(node)
