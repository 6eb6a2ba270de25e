"""Auth0 log query syntax: every documented example, every restriction, hostile quoted values.

The property test against a reference evaluator is in test_query_property.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import QueryError
from engine.expr.sandbox import lucene
from engine.logs.files import search_file
from engine.logs.query import compile_query, field_text, normalize_date


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
    # terms side by side are OR-ed (auth0-facts.md section 2)
    ("type:s user_id:abc", ev(type="f", user_id="abc"), ev(type="f", user_id="x")),
    ("type:s -ip:10.0.0.1", ev(type="s", ip="10.0.0.2"), ev(type="s", ip="10.0.0.1")),
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


@pytest.mark.parametrize(
    ("query", "ok"),
    [
        ("user_name:a*b", False),  # infix with 2 literal characters
        ("user_name:*ab", False),
        ("user_name:abc*d", True),
        ("user_name:*usa", True),
        ("user_name:j*", True),  # a prefix needs no minimum
        ('user_name:"j?hn*"', True),  # inside a phrase ? and * are literal
    ],
)
def test_wildcard_literal_minimum(query: str, ok: bool) -> None:
    if ok:
        compile_query(query)
    else:
        with pytest.raises(QueryError, match="3 literal characters"):
            compile_query(query)


def test_phrase_wildcards_are_literal() -> None:
    q = compile_query('user_name:"j?hn*"')
    assert q(ev(user_name="j?hn*")) is True
    assert q(ev(user_name="john")) is False


def test_index_hints_name_required_values_and_date_bounds() -> None:
    h = compile_query('type:"s" AND ip:"1.2.3.4" AND date:[2018-12 TO 2019-01-01}').hints
    assert h.eq == {"type": frozenset({"s"}), "ip": frozenset({"1.2.3.4"})}
    assert (h.date_lo, h.date_hi) == ("2018-12-01T00:00:00.000Z", "2019-01-01T00:00:00.000Z")
    assert compile_query("type:fp OR type:fu").hints.eq == {"type": frozenset({"fp", "fu"})}
    # an OR over different fields, or a NOT, requires nothing an index could use
    assert compile_query("type:fp OR ip:1.2.3.4").hints.eq == {}
    assert compile_query("NOT type:s").hints.eq == {}


@pytest.mark.parametrize(
    ("query", "inside", "outside"),
    [
        ("date:2018-12-10", "2018-12-10T23:59:59.999Z", "2018-12-11T00:00:00.000Z"),
        ("date:2018-12", "2018-12-31T12:00:00.000Z", "2018-11-30T23:59:59.999Z"),
        ('date:"2018-12-10T12:22"', "2018-12-10T12:22:59.999Z", "2018-12-10T12:23:00.000Z"),
    ],
)
def test_a_single_date_covers_its_precision(query: str, inside: str, outside: str) -> None:
    q = compile_query(query)
    assert q(ev(date=inside)) is True
    assert q(ev(date=outside)) is False
    assert q.hints.date_lo is not None and q.hints.date_hi is not None


def test_impossible_dates_are_query_errors() -> None:
    for query in ("date:2018-13", "date:9999", "date:2018-02-30"):
        with pytest.raises(QueryError, match="Invalid date"):
            compile_query(query)
    with pytest.raises(QueryError, match="Invalid date"):
        compile_query("date:[2018-12-32 TO *]")


NON_STRINGS = [
    ("ip:123", {"ip": 123}),
    ("user_id:true", {"user_id": True}),
    ("strategy:1.5", {"strategy": 1.5}),
    ('description:"[1,2]"', {"description": [1, 2]}),
    ('description:"{\\"a\\":\\"é\\",\\"b\\":null}"', {"description": {"a": "é", "b": None}}),
    (
        "user_name:" + lucene('["tab\\t\\\\u0001","\\u001F"]'),
        {"user_name": ["tab\t\\u0001", "\x1f"]},
    ),
    ("connection:*", {"connection": []}),
    ("ip:[100 TO 200]", {"ip": 1000}),  # text order, as every range over a field
]


@pytest.mark.parametrize(("query", "event"), NON_STRINGS)
def test_a_non_string_value_is_read_as_its_compact_json_text(
    query: str, event: dict[str, Any]
) -> None:
    assert compile_query(query)(ev(**event)) is True
    assert compile_query(f"NOT {query}")(ev(**event)) is False


def test_field_text_is_the_value_a_query_reads() -> None:
    assert field_text("x") == "x"
    assert field_text(None) is None
    assert field_text({"k": [True, 2, "é\n\x01"]}) == '{"k":[true,2,"é\\n\\u0001"]}'
    assert field_text(["\\u001f", "\x1f"]) == '["\\\\u001f","\\u001F"]'  # a backslash stays one
    # null and absent are no value: no term matches, NOT holds; only a string is a date
    assert compile_query("ip:*")(ev(ip=None)) is False
    assert compile_query("NOT ip:null")(ev(ip=None)) is True
    assert compile_query("date:2023")(ev(date=2023)) is False
    assert compile_query("date:2023")(ev(date="2023")) is True


def test_a_file_search_finds_a_number_its_query_names(tmp_path: Path) -> None:
    # the raw-line prefilter must not drop a line whose value is a bare number
    path = tmp_path / "e.jsonl"
    lines = [{"type": "s", "date": "2026-11-01T00:00:00.000Z", "ip": ip} for ip in (123, "1.2.3.4")]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    assert [e["ip"] for e in search_file(path, "ip:123")] == [123]
    assert [e["ip"] for e in search_file(path, "ip:1e2 OR ip:100.0")] == []


def test_an_escaped_backslash_before_a_star_leaves_the_star_a_wildcard() -> None:
    q = compile_query(r"user_name:a\\*")  # a backslash, then the wildcard: Lucene's reading
    assert q(ev(user_name="a\\bc")) is True
    assert q(ev(user_name="a\\*")) is True
    assert q(ev(user_name="abc")) is False
    assert compile_query(r"user_name:a\*")(ev(user_name="a*")) is True  # an escaped star
    with pytest.raises(QueryError, match="wildcard"):
        compile_query(r"user_name:\\?")


def test_a_wildcard_with_several_parts_takes_linear_time_on_a_hostile_value() -> None:
    # as a regular expression (ab.*cd.*ef) this took 14 s on 8,000 characters, and grows
    # with the cube of the length: an attacker's user_name could stall a search or a detector
    q = compile_query("user_name:*ab*cd*ef*")
    hostile = "ab" * 500_000 + "cd" * 500_000
    start = time.perf_counter()
    assert q(ev(user_name=hostile)) is False
    assert time.perf_counter() - start < 0.5
    assert q(ev(user_name=hostile + "ef")) is True
    assert q(ev(user_name="abefcd")) is False and q(ev(user_name="xabcdefx")) is True
    assert compile_query("user_name:ab*ab")(ev(user_name="ab")) is False  # no overlap
