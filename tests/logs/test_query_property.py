"""Property: compiled queries agree with a direct reference evaluation on random events.

Random query trees (exact words and phrases, prefix and infix wildcards,
ranges with any mix of brackets and ``*`` bounds, partial-date ranges, bare
terms, AND / OR / NOT / side by side (OR), hostile phrases quoted by ``lucene``) are
rendered to Auth0 query text, compiled, and compared with a reference that
evaluates the tree directly with plain Python (no luqum, no regex).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expr.sandbox import lucene
from engine.logs.query import DEFAULT_FIELDS, compile_query

FIELDS = ["type", "ip", "user_name", "client_name"]
VALUES = ["s", "fp", "fu", "1.2.3.4", "10.0.0.1", "alice", "alfred", "bob", "Alfred"]
HOSTILE = ['") OR type:("s', "a*b", "x?y", "\\", "{{ 7*7 }}", "tab\there"]
DATES = [
    "2018-11-30T23:59:59.999Z",
    "2018-12-01T00:00:00.000Z",
    "2018-12-10T08:00:00.000Z",
    "2018-12-31T23:59:59.999Z",
    "2019-01-01T00:00:00.000Z",
    "2019-01-01T12:23:45.000Z",
]
# partial bounds and the instant each stands for (zero-filled)
BOUNDS = {
    "2018-12": "2018-12-01T00:00:00.000Z",
    "2018-12-10": "2018-12-10T00:00:00.000Z",
    "2019-01-01": "2019-01-01T00:00:00.000Z",
    "2019-01-01T12:23:45": "2019-01-01T12:23:45.000Z",
}


def _leaf() -> st.SearchStrategy[tuple[Any, ...]]:
    field = st.sampled_from(FIELDS)
    return st.one_of(
        st.tuples(st.just("eq"), field, st.sampled_from(VALUES)),
        st.tuples(st.just("word"), field, st.sampled_from(["s", "fu", "alice", "bob"])),
        st.tuples(st.just("prefix"), field, st.sampled_from(["a", "al", "f", "1.", "A"])),
        st.tuples(st.just("contains"), field, st.sampled_from(["lfr", "0.0", "lic", "ice"])),
        st.tuples(
            st.just("range"),
            field,
            st.sampled_from(["*", "1", "alice", "f"]),
            st.sampled_from(["*", "fu", "bob", "s"]),
            st.booleans(),
            st.booleans(),
        ),
        st.tuples(
            st.just("dates"),
            st.sampled_from([*BOUNDS, "*"]),
            st.sampled_from([*BOUNDS, "*"]),
            st.booleans(),
            st.booleans(),
        ),
        st.tuples(st.just("bare"), st.sampled_from(VALUES)),
        st.tuples(st.just("hostile"), field, st.sampled_from(HOSTILE)),
    )


queries = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["and", "or", "implicit"]), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=6,
)


def render(node: tuple[Any, ...]) -> str:
    kind = node[0]
    if kind == "eq":
        return f'{node[1]}:"{node[2]}"'
    if kind == "word":
        return f"{node[1]}:{node[2]}"
    if kind == "prefix":
        return f"{node[1]}:{node[2]}*"
    if kind == "contains":
        return f"{node[1]}:*{node[2]}*"
    if kind == "range":
        _, f, lo, hi, inc_lo, inc_hi = node
        return f"{f}:{'[' if inc_lo else '{'}{lo} TO {hi}{']' if inc_hi else '}'}"
    if kind == "dates":
        _, lo, hi, inc_lo, inc_hi = node
        return f"date:{'[' if inc_lo else '{'}{lo} TO {hi}{']' if inc_hi else '}'}"
    if kind == "bare":
        return f'"{node[1]}"'
    if kind == "hostile":
        return f"{node[1]}:{lucene(node[2])}"
    if kind == "not":
        return f"(NOT {render(node[1])})"
    op = " " if kind == "implicit" else f" {kind.upper()} "
    return f"({render(node[1])}{op}{render(node[2])})"


def _in_range(v: Any, lo: str, hi: str, inc_lo: bool, inc_hi: bool) -> bool:
    if not isinstance(v, str):
        return False
    above = lo == "*" or v > lo or (inc_lo and v == lo)
    below = hi == "*" or v < hi or (inc_hi and v == hi)
    return above and below


def reference(node: tuple[Any, ...], e: dict[str, Any]) -> bool:
    kind = node[0]
    if kind in ("eq", "word", "hostile"):
        return bool(e.get(node[1]) == node[2])
    if kind == "prefix":
        v = e.get(node[1])
        return isinstance(v, str) and v.startswith(node[2])
    if kind == "contains":
        v = e.get(node[1])
        return isinstance(v, str) and node[2] in v
    if kind == "range":
        return _in_range(e.get(node[1]), *node[2:])
    if kind == "dates":
        _, lo, hi, inc_lo, inc_hi = node
        d = e.get("date")
        if not isinstance(d, str):
            return False
        when = datetime.fromisoformat(d)
        lo_t = None if lo == "*" else datetime.fromisoformat(BOUNDS[lo])
        hi_t = None if hi == "*" else datetime.fromisoformat(BOUNDS[hi])
        above = lo_t is None or when > lo_t or (inc_lo and when == lo_t)
        below = hi_t is None or when < hi_t or (inc_hi and when == hi_t)
        return above and below
    if kind == "bare":
        return any(e.get(f) == node[1] for f in DEFAULT_FIELDS)
    if kind == "not":
        return not reference(node[1], e)
    a, b = reference(node[1], e), reference(node[2], e)
    return (a or b) if kind in ("or", "implicit") else (a and b)


events = st.fixed_dictionaries(
    {
        **{f: st.one_of(st.none(), st.sampled_from(VALUES + HOSTILE)) for f in FIELDS},
        "date": st.one_of(st.none(), st.sampled_from(DATES)),
    }
)


@given(queries, st.lists(events, min_size=1, max_size=8))
@settings(max_examples=400, deadline=None)
def test_compiled_predicates_agree_with_reference(
    node: tuple[Any, ...], evs: list[dict[str, Any]]
) -> None:
    text = render(node)
    predicate = compile_query(text)
    for e in evs:
        assert predicate(e) == reference(node, e), (text, e)


def test_reference_dates_are_utc() -> None:
    # the reference parses "...Z" as an aware UTC instant, like Auth0's dates
    assert datetime.fromisoformat(DATES[0]).tzinfo == UTC


# one unparenthesised clause list: (modifier, leaf), modifier "" optional, "+" required,
# "-" or "NOT " excluded, "&" joined to the previous clause by AND (both required)
clause_lists = st.lists(
    st.tuples(st.sampled_from(["", "", "+", "-", "NOT ", "&"]), _leaf()), min_size=2, max_size=5
)


def render_clauses(clauses: list[tuple[str, tuple[Any, ...]]]) -> str:
    out = []
    for i, (mod, leaf) in enumerate(clauses):
        if mod == "&":
            out.append(("AND " if i else "") + render(leaf))
        else:
            out.append(mod + render(leaf))
    return " ".join(out)


def lucene_reference(clauses: list[tuple[str, tuple[Any, ...]]], e: dict[str, Any]) -> bool:
    """Lucene's classic parser with default operator OR, written out plainly.

    AND makes the clause before it (unless excluded) and the one after it required;
    when nothing is required, one of the optional clauses must match; a list of
    exclusions only matches everything else (as Elasticsearch completes it).
    """
    occur = []
    for i, (mod, _) in enumerate(clauses):
        kind = {"+": "must", "-": "not", "NOT ": "not"}.get(mod, "should")
        if mod == "&" and i:
            kind = "must"
            if occur[i - 1] == "should":
                occur[i - 1] = "must"
        occur.append(kind)
    hits = [reference(leaf, e) for _, leaf in clauses]
    if any(h for h, o in zip(hits, occur, strict=True) if o == "not"):
        return False
    if "must" in occur:
        return all(h for h, o in zip(hits, occur, strict=True) if o == "must")
    should = [h for h, o in zip(hits, occur, strict=True) if o == "should"]
    return any(should) if should else True


@given(clause_lists, st.lists(events, min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_side_by_side_terms_are_read_as_lucene_reads_them(
    clauses: list[tuple[str, tuple[Any, ...]]], evs: list[dict[str, Any]]
) -> None:
    text = render_clauses(clauses)
    predicate = compile_query(text)
    for e in evs:
        assert predicate(e) == lucene_reference(clauses, e), (text, e)
        if predicate(e):  # the index hints never exclude a match
            assert all(e.get(f) in values for f, values in predicate.hints.eq.items()), text


def test_an_and_beside_side_by_side_terms_joins_only_its_neighbours() -> None:
    """luqum builds ``AND(-a, (a +b))``; Lucene reads one list: -a, AND a, +b (found by the test above)."""
    q = compile_query('-type:"s" AND type:"s" +user_name:{* TO *}')
    assert not q({"type": None, "user_name": "s"})  # type:"s" is required by the AND
    assert not q({"type": "s", "user_name": "s"})  # and excluded by -type:"s": nothing matches
    q = compile_query('type:"f" ip:"1.2.3.4" AND user_name:"x"')  # ip and user_name required
    assert q({"type": "s", "ip": "1.2.3.4", "user_name": "x"})
    assert not q({"type": "f", "ip": "9.9.9.9", "user_name": "x"})
