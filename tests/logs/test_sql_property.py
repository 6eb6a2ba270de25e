"""Property: on random hostile events and random queries, SQL selects what the predicate matches.

Events are subsets of the searchable fields with values from a small hostile
pool (LIKE's and SQL's specials, quotes, escapes, non-ASCII, empty, null,
numbers, booleans, small lists and objects) and dates in every form; queries
come from the grammar (terms, phrases, wildcards, ranges with every bracket
mix, date terms and ranges, AND/OR/NOT/+/-, groups, field groups, side by
side), their values mostly drawn from the strings the events hold, so that
they meet. A query compile_query refuses must be refused by where_sql too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sql import con, load, python_rows, sql_rows

from engine.errors import QueryError
from engine.expr.sandbox import lucene
from engine.logs.sql import where_sql

__all__ = ["con"]  # the module's DuckDB connection, a fixture


FIELDS = ["type", "ip", "user_name"]  # few, so that queries and events meet often
# one pool of strings for events and queries: LIKE's and SQL's specials, quotes, escapes
POOL = [
    "",
    "a",
    "ab",
    "abc",
    "A",
    "é",
    "1",
    "123",
    "true",
    "%a_",
    "%a_x",
    "aXbYc",
    "a\\b",
    'q"',
    "-- ;'",
]
ALPHABET = "ab1 *?\"\\%_'-;é\n"
TEXTS = st.one_of(st.sampled_from([*POOL, "[1,2]", '{"a":1}']), st.text(ALPHABET, max_size=4))
VALUES = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL),
    TEXTS,
    st.none(),
    st.integers(-3, 200),
    st.booleans(),
    st.sampled_from([1.5, 100000.0, 1e16]),
    st.lists(st.one_of(st.integers(0, 2), st.sampled_from(["a", "é", None])), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from([1, "é", True]), max_size=2),
)
EVENT_DATES = st.sampled_from(
    [
        "2026-11-06T06:00:00.000Z",
        "2026-11-06T06:00:00.001Z",
        "2026-11-07T00:00:00.000Z",
        "2026-11-06T07:00:00+01:00",
        "2026-11-06t06:00:00.5z",
        "2026-11-06T06:00:00.0009Z",
        "2026-11-06T05:59:59.99999-00:00",
        "2026-11-06 06:00:00Z",
        "2026-11-06",
        "2026-11",
        "2026",
        "2026-02-30T00:00:00.000Z",
        "yesterday",
        "",
        2026,
        None,
        ["2026-11-06"],
    ]
)
EVENTS = st.lists(
    st.fixed_dictionaries(
        {}, optional={**dict.fromkeys([*FIELDS, "description"], VALUES), "date": EVENT_DATES}
    ),
    min_size=1,
    max_size=6,
)
SPECIAL = re.compile(r"""([\\+\-!():^\[\]"{}~*?|&/ ;'%_<>=])""")


def word(text: str) -> str:
    """``text`` as one query word, every special character escaped."""
    return SPECIAL.sub(r"\\\1", text)


def wildcards(text: str) -> list[str]:
    """Wildcard words around ``text``: prefixes, suffixes, infixes."""
    w = [word(text[:k]) + "*" for k in range(1, len(text) + 1)]
    w += ["*" + word(text[k:]) for k in range(len(text))]
    return [*w, "*" + word(text[1:-1]) + "*", word(text[:1]) + "*" + word(text[2:])]


DATE_BOUNDS = st.sampled_from(
    ["*", "2026-11", "2026-11-06", "2026-11-06T06:00", '"2026-11-06T06:00:00.001Z"']
)


Query = Callable[[list[str]], str]  # a query, once given the strings the events hold


def _pick(make: Callable[[str], str]) -> st.SearchStrategy[Query]:
    """A leaf made of one of the events' strings (by index, so strategies stay static)."""
    return st.integers(0, 99).map(lambda k: lambda held: make(held[k % len(held)]))


def _fixed(texts: st.SearchStrategy[str]) -> st.SearchStrategy[Query]:
    return texts.map(lambda text: lambda _held: text)


FIELD = st.sampled_from([*FIELDS, "description"])
BRACKET = st.tuples(st.sampled_from("[{"), st.sampled_from("]}"))
BOUND = st.one_of(_fixed(st.just("*")), _pick(lucene), _pick(word))
LEAF: st.SearchStrategy[Query] = st.one_of(
    st.tuples(FIELD, st.one_of(_pick(lucene), _fixed(TEXTS.map(lucene)))).map(
        lambda t: lambda held: f"{t[0]}:{t[1](held)}"
    ),
    st.tuples(FIELD, _pick(word)).map(lambda t: lambda held: f"{t[0]}:{t[1](held)}"),
    st.tuples(FIELD, st.integers(0, 99), st.integers(0, 99)).map(
        lambda t: lambda held: f"{t[0]}:" + (w := wildcards(held[t[1] % len(held)]))[t[2] % len(w)]
    ),
    _fixed(
        st.tuples(FIELD, st.sampled_from(["*", "a?", "*a", "ab*c"])).map(":".join)
        | st.tuples(FIELD, st.text(ALPHABET, min_size=1, max_size=4)).map(":".join)
        | st.tuples(BRACKET, DATE_BOUNDS, DATE_BOUNDS).map(
            lambda t: f"date:{t[0][0]}{t[1]} TO {t[2]}{t[0][1]}"
        )
        | st.sampled_from(
            ["date:2026-11-06", "date:2026", 'date:"2026-11-06T06:00"', "date:2026-11-06T06"]
        )
    ),
    st.tuples(FIELD, BRACKET, BOUND, BOUND).map(
        lambda t: lambda held: f"{t[0]}:{t[1][0]}{t[2](held)} TO {t[3](held)}{t[1][1]}"
    ),
    _pick(lucene),
    _fixed(FIELD.map(lambda f: f + ":*")),
    st.tuples(FIELD, st.lists(_pick(word), min_size=1, max_size=3)).map(
        lambda t: lambda held: f"{t[0]}:({' '.join(w(held) for w in t[1])})"
    ),
)
QUERIES = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " "]), inner).map(
            lambda t: lambda held: t[0](held) + t[1] + t[2](held)
        ),
        st.tuples(st.sampled_from(["NOT ", "-", "+"]), inner).map(
            lambda t: lambda held: t[0] + t[1](held)
        ),
        inner.map(lambda q: lambda held: f"({q(held)})"),
        st.lists(st.tuples(st.sampled_from(["", "", "+", "-"]), inner), min_size=2, max_size=3).map(
            lambda qs: lambda held: " ".join(occur + q(held) for occur, q in qs)
        ),
        st.tuples(FIELD, inner).map(lambda t: lambda held: f"{t[0]}:({t[1](held)})"),
    ),
    max_leaves=5,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EVENTS, queries=st.lists(QUERIES, min_size=1, max_size=4))
def test_sql_selects_what_the_python_predicate_matches(
    con: duckdb.DuckDBPyConnection, folder: Path, events: list[Any], queries: list[Query]
) -> None:
    held = sorted({v for e in events for v in e.values() if isinstance(v, str) and v}) or POOL[1:]
    table, back = load(con, folder, events)
    try:
        for q in (make(held) for make in queries):
            try:
                want = python_rows(back, q)
            except QueryError:
                with pytest.raises(QueryError):
                    where_sql(q)
                continue
            assert sql_rows(con, table, q) == want, q
    finally:
        con.execute(f"DROP TABLE {table}")
