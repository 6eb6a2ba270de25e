"""The SQL evaluator (engine.logs.sql over DuckDB) means what the Python predicate means.

Events are written with ``json.dumps`` to a JSON-lines file and loaded by the
real loader (``load_ndjson``); the Python side reads the same lines back with
``json.loads``. Every check compares the rowids SQL selects with the indexes
of the events ``compile_query`` matches. The property test over random events
and queries is in test_sql_property.py.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import test_dates
import yaml

from engine.actions.auth0 import any_of
from engine.actions.auth0_logins import SUCCESS_CLAUSE, ip_forms_of
from engine.errors import LogFileError, QueryError
from engine.expr.sandbox import lucene
from engine.logs.files import iter_events
from engine.logs.query import SEARCHABLE, compile_query, field_text
from engine.logs.sql import COLUMNS, load_ndjson, where_sql
from engine.timeutil import date_key

DATA = Path(__file__).resolve().parents[1] / "data" / "auth0"
_tables = itertools.count()


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as c:
        yield c


def load(con: duckdb.DuckDBPyConnection, folder: Path, events: list[Any]) -> tuple[str, list[Any]]:
    """A table of ``events`` loaded from a file, and the events as that file reads back."""
    path = folder / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    table = f"t{next(_tables)}"
    assert load_ndjson(con, path, table) == len(events)
    return table, [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def sql_rows(con: duckdb.DuckDBPyConnection, table: str, q: str) -> list[int]:
    where, params = where_sql(q)
    rows = con.execute(f"SELECT rowid FROM {table} WHERE {where} ORDER BY rowid", params)  # noqa: S608
    return [r[0] for r in rows.fetchall()]


def python_rows(events: list[Any], q: str) -> list[int]:
    query = compile_query(q)
    return [i for i, e in enumerate(events) if query(e)]


# -- the table ---------------------------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    "plain",
    "",
    "é日本😀",
    'q"uo\\te',
    "tab\tnew\nline\x01\x1f\x7f\u2028",
    0,
    -1,
    123,
    2**70,
    1.5,
    1e16,
    1e-7,
    100000.0,
    True,
    False,
    [],
    {},
    [1, "a", None, True],
    {"a": {"b": [1.5, "é"]}, "c": 'x"y\\z\x00\x1f/'},
    ["\\u001f", "\x1f"],
]


def test_each_column_holds_the_text_a_query_reads(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    events = [{"description": v, "ip": None} for v in HOSTILE_VALUES] + [{"type": "s"}]
    table, back = load(con, tmp_path, events)
    rows = con.execute(f"SELECT description, ip, type FROM {table} ORDER BY rowid").fetchall()  # noqa: S608
    assert [r[0] for r in rows] == [field_text(e.get("description")) for e in back]
    assert [r[1] for r in rows] == [None] * len(rows)  # null and absent: no value
    assert rows[-1] == (None, None, "s")


def test_the_table_has_a_varchar_column_per_searchable_field(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    table, _ = load(con, tmp_path, [{"_id": "x", "log_id": "y"}])
    described = con.execute(f"DESCRIBE {table}").fetchall()
    assert [(r[0], r[1]) for r in described] == [
        *((c, "VARCHAR") for c in sorted(SEARCHABLE)),
        ("_id", "VARCHAR"),
        ("date_key", "VARCHAR"),
    ]
    assert set(COLUMNS) == SEARCHABLE | {"_id"}


def test_rowid_is_the_events_index_among_the_lines(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"log_id": "0"}\n\n   \n{"log_id": "1"}\n{"log_id": "2"}', encoding="utf-8")
    assert load_ndjson(con, path, "gaps") == 3
    assert con.execute("SELECT rowid, log_id FROM gaps").fetchall() == [
        (0, "0"),
        (1, "1"),
        (2, "2"),
    ]


@pytest.mark.parametrize("name", ["b*.jsonl", "b?.jsonl", "[b].jsonl", "b{x,y}.jsonl"])
def test_a_file_name_is_never_a_glob(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str
) -> None:
    for other in ("bx.jsonl", "b.jsonl", "bxy.jsonl"):  # what a glob of each name would take
        (tmp_path / other).write_text('{"log_id": "other"}\n', encoding="utf-8")
    (tmp_path / name).write_text('{"log_id": "this"}\n', encoding="utf-8")
    table = f"t{next(_tables)}"
    assert load_ndjson(con, tmp_path / name, table) == 1
    assert con.execute(f"SELECT log_id FROM {table}").fetchall() == [("this",)]  # noqa: S608


def test_a_table_that_exists_is_not_blamed_on_the_file(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    table, _ = load(con, tmp_path, [{"type": "s"}])
    with pytest.raises(duckdb.CatalogException):
        load_ndjson(con, tmp_path / "events.jsonl", table)


def test_a_missing_file_is_a_log_file_error(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(LogFileError, match=r"gone\.jsonl"):
        load_ndjson(con, tmp_path / "gone.jsonl", "gone")


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ('{"type": "s"}\n{"type": \n', "Malformed JSON"),
        ('{"type": "s"}\n[1]\n', "line 2"),
        ('{"type": "s", "type": "f"}\n', "duplicate key"),
    ],
)
def test_a_line_that_is_no_event_is_a_log_file_error(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, body: str, said: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(LogFileError, match=re.escape(str(path)) + ".*" + said):
        load_ndjson(con, path, "bad")


def fixture_dates() -> list[Any]:
    found = {e.get("date") for f in sorted(DATA.glob("*.json*")) for e in iter_events(f)}
    return sorted(found, key=repr)


def dates_test_cases() -> list[Any]:
    marks = [
        m
        for fn in (
            test_dates.test_the_forms_auth0_data_comes_in,
            test_dates.test_what_is_not_a_date_is_refused_everywhere,
        )
        for m in fn.pytestmark
    ]
    texts = [c[0] if isinstance(c, tuple) else c for m in marks for c in m.args[1]]
    return [d for d, _ in test_dates.DATES] + texts


ODD_DATES: list[Any] = [
    "2026",  # a year as a string is a date, as a number it is not
    2026,
    "0000-01-01T00:00:00.000Z",
    "0000-02-29T00:00:00.000Z",
    "1900-02-29T00:00:00.000Z",
    "2000-02-29T00:00:00.000Z",
    "2026-01-00T00:00:00.000Z",
    "٢٠٢٦-11-06T06:00:00.000Z",  # digits Python's \d reads and DuckDB's does not
    " 2026-11-06 ",
    "2026-11-06T06:00:00.99Z",  # Go's RFC3339Nano, keyed in SQL
    "2026-11-06 06:00:00.123456789z",
    "2026-11-06T06:00:00-00:00",
    "2026-11-06T06:00:00+0000",
    "2026-11-06T06:00:00.1234567890Z",
    "2026-11-06T24:00:00Z",
    "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "0999-01-01T00:00:00Z",
    "2026-11-20T10:00:00.\u0663\u0663\u0663Z",  # Arabic-Indic digits: Auth0 writes none
    "\u0662\u0660\u0662\u0666-11-20",
    "２０２６-11-20T10:00:00Z",  # fullwidth
    None,
    True,
    ["2026-11-06"],
    {"date": "2026-11-06"},
]


def test_date_key_is_timeutils_for_every_form(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    dates = fixture_dates() + dates_test_cases() + ODD_DATES
    assert len(dates) > 40 and 1685700000 in dates
    table, back = load(con, tmp_path, [{"date": d} for d in dates])
    got = [r[0] for r in con.execute(f"SELECT date_key FROM {table} ORDER BY rowid").fetchall()]  # noqa: S608
    assert got == [date_key(e.get("date")) for e in back]
    assert got[dates.index("2026")] == "2026-01-01T00:00:00.000Z"
    assert got[dates.index(2026)] is None
    # Python's \d takes any Unicode digit, and int() reads them: such a date was keyed with
    # its own digits, sorting after every Auth0 date of its second
    assert [got[dates.index(d)] for d in ODD_DATES[-6:-3]] == [None, None, None]


# -- the translator, point by point -------------------------------------------------------

POINTS: list[tuple[str, list[dict[str, Any]], str, list[int]]] = [
    # (what, events, query, the rowids both must give)
    ("whole value", [{"type": "s"}, {"type": "ss"}, {"type": "s "}], "type:s", [0]),
    ("case-sensitive", [{"user_name": "Bob"}, {"user_name": "bob"}], "user_name:bob", [1]),
    (
        "a phrase",
        [{"description": "Wrong email"}, {"description": "Wrong"}],
        'description:"Wrong email"',
        [0],
    ),
    (
        "phrase escapes",
        [{"user_name": 'a"b\\c'}, {"user_name": "abc"}],
        r'user_name:"a\"b\\c"',
        [0],
    ),
    ("word escapes", [{"ip": "a:b*"}, {"ip": "a:bc"}], r"ip:a\:b\*", [0]),
    ("a phrase's * is literal", [{"user_name": "j*"}, {"user_name": "jo"}], 'user_name:"j*"', [0]),
    (
        "prefix",
        [{"user_name": "alice"}, {"user_name": "bob"}, {"user_name": "a"}],
        "user_name:a*",
        [0, 2],
    ),
    (
        "infix",
        [{"user_name": "xlicex"}, {"user_name": "lic"}, {"user_name": "li"}],
        "user_name:*lic*",
        [0, 1],
    ),
    (
        "% and _ are literal",
        [{"user_name": "a%b_c"}, {"user_name": "aXbYc"}],
        r"user_name:a%b_*",
        [0],
    ),
    ("\\ is literal", [{"user_name": "a\\bcd"}, {"user_name": "abcd"}], r"user_name:a\\b*", [0]),
    ("wildcards cross lines", [{"description": "x\nyzw"}], "description:*yzw", [0]),
    (
        "field:* is any value but empty",
        [{"ip": ""}, {"ip": None}, {}, {"ip": "1"}, {"ip": 0}],
        "ip:*",
        [3, 4],
    ),
    ("inclusive", [{"ip": "a"}, {"ip": "b"}, {"ip": "c"}], "ip:[a TO b]", [0, 1]),
    ("exclusive", [{"ip": "a"}, {"ip": "b"}, {"ip": "c"}], "ip:{a TO c}", [1]),
    ("mixed", [{"ip": "a"}, {"ip": "b"}, {"ip": "c"}], "ip:{a TO c]", [1, 2]),
    ("open", [{"ip": "a"}, {"ip": "b"}, {}], "ip:[b TO *]", [1]),
    (
        "text order of non-ASCII",
        [{"ip": "z"}, {"ip": "é"}, {"ip": "\uffff"}, {"ip": "😀"}],
        "ip:{z TO *]",
        [1, 2, 3],
    ),
    (
        "a date term is its period",
        [{"date": "2026-11-06T23:59:59.999Z"}, {"date": "2026-11-07T00:00:00.000Z"}],
        "date:2026-11-06",
        [0],
    ),
    (
        "a date range",
        [{"date": "2026-11-06T06:00:00+01:00"}, {"date": "2026-11-06T05:00:00Z"}],
        "date:[2026-11-06T05:00 TO *}",
        [0, 1],
    ),
    ("an unreadable date", [{"date": "soon"}, {"date": 2026}, {}], "date:[* TO *]", []),
    ("NOT of a missing field", [{"ip": "1"}, {}, {"ip": None}], "NOT ip:1", [1, 2]),
    ("-x of a missing field", [{"ip": "1"}, {}], "type:* OR -ip:1", [1]),
    (
        "AND binds tighter than OR",
        [{"type": "s"}, {"type": "f", "ip": "1"}, {"type": "f"}],
        "type:s OR type:f AND ip:1",
        [0, 1],
    ),
    ("side by side is OR", [{"type": "s"}, {"type": "f"}, {"type": "x"}], "type:(s f)", [0, 1]),
    (
        "a clause list",
        [{"type": "s", "ip": "1"}, {"type": "s"}, {"type": "f"}],
        "type:s -ip:1",
        [1],
    ),
    ("AND joins its neighbours", [{"type": "a"}, {"type": "b"}], "-type:a AND type:a +type:b", []),
    ("+x is required", [{"type": "s", "ip": "1"}, {"type": "s"}], "+type:s +ip:1 type:f", [0]),
    (
        "a group",
        [{"type": "s", "ip": "1"}, {"type": "f", "ip": "2"}],
        "(type:s OR type:f) AND NOT (ip:2)",
        [0],
    ),
    ("bare terms", [{"client_name": "App"}, {"hostname": "App"}, {"log_id": "App"}], "App", [0, 2]),
    ("a non-string value", [{"ip": 123}, {"ip": "123"}, {"ip": [1]}], "ip:123", [0, 1]),
    ("empty query", [{}, {"type": "s"}], "", [0, 1]),
]


@pytest.mark.parametrize(
    ("events", "query", "want"), [p[1:] for p in POINTS], ids=[p[0] for p in POINTS]
)
def test_each_point_means_the_same_in_sql(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    events: list[dict[str, Any]],
    query: str,
    want: list[int],
) -> None:
    table, back = load(con, tmp_path, events)
    assert python_rows(back, query) == want
    assert sql_rows(con, table, query) == want


REFUSED = [
    "type:s?",
    "type:*a",
    "user_name:*ab*",
    "details.x:1",
    "type:(ip:1)",
    "date:2026-*",
    "date:2018-13",
    "date:[2018-02-30 TO *]",
    "[a TO b]",
    "type:s~2",
    "type:s^2",
    "type:/re/",
    "type:(s",
]


@pytest.mark.parametrize("query", REFUSED)
def test_what_compile_query_refuses_where_sql_refuses_alike(query: str) -> None:
    with pytest.raises(QueryError) as python:
        compile_query(query)
    with pytest.raises(QueryError) as sql:
        where_sql(query)
    assert str(sql.value) == str(python.value)


ATTACKS = ["x' OR '1'='1", 'a"b', "--", "; DROP TABLE attack; --", "%", "_", "\\", "\\'", "%_\\"]
SHAPES = [
    lambda v: f"user_name:{lucene(v)}",
    lambda v: f"user_name:{lucene(v)} OR -user_name:[{lucene(v)} TO {lucene(v)}]",
    lambda v: "user_name:" + re.sub(r"([\\+\-!():^\[\]\"{}~*?|&/ ;'%_])", r"\\\1", v) + "*",
]


def test_every_query_value_is_a_bound_parameter(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    table, back = load(con, tmp_path, [{"user_name": v} for v in ATTACKS] + [{"user_name": "ok"}])
    for shape in SHAPES:
        harmless, _ = where_sql(shape("zzz"))
        for n, value in enumerate(ATTACKS):
            where, params = where_sql(shape(value))
            assert where == harmless, shape(value)  # the value never reaches the SQL text
            assert params, shape(value)
            assert n in sql_rows(con, table, shape(value)), shape(value)
            assert sql_rows(con, table, shape(value)) == python_rows(back, shape(value))
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (len(back),)  # noqa: S608


# -- the real-shaped corpus ---------------------------------------------------------------

REALISTIC = [
    '(type:"s" OR type:"ssa") AND (user_id:"auth0|1" OR user_id:*github*)',
    "type: (seacft sertft) -client_name:*Portal*",
    "date:[2026-11-02 TO 2026-11-03} AND NOT type:f*",
    "user_name:*example.com",
    "connection:* AND NOT strategy_type:*",
]
LUCENE_VALUE = re.compile(r"\{\{\s*[\w.]+\s*\|\s*lucene\s*\}\}")


def playbook_queries() -> list[str]:
    """Every ``query`` of the standard playbooks, as written (``| lucene`` values left in)."""
    found: list[str] = []
    for path in sorted((DATA.parents[2] / "playbooks").glob("*.yaml")):
        for step in yaml.safe_load(path.read_text(encoding="utf-8"))["steps"]:
            query = (step.get("with") or {}).get("query")
            if isinstance(query, str):
                found.append(query)
    return found


def test_both_evaluators_agree_on_the_real_shaped_corpus(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    events = [e for f in sorted(DATA.glob("*.json*")) for e in iter_events(f)]
    ids = sorted({e["user_id"] for e in events if isinstance(e.get("user_id"), str)})
    ips = sorted({e["ip"] for e in events if isinstance(e.get("ip"), str)})
    written = playbook_queries()
    assert any("pwd_leak" in q for q in written) and any(LUCENE_VALUE.search(q) for q in written)
    queries = [
        *REALISTIC,
        *(q for q in written if "{{" not in q),
        *(LUCENE_VALUE.sub(lucene(v), q) for q in written if "{{" in q for v in ids + ips),
        *(f"user_id:{lucene(u)}" for u in ids),  # auth0.user_logs
        *(
            f"({SUCCESS_CLAUSE}) AND ({c})"
            for offline in (False, True)  # a tenant's chunks, and a file's
            for c in any_of("ip", ip_forms_of(ips), offline)
        ),
    ]
    table, back = load(con, tmp_path, events)
    matched = 0
    for q in queries:
        want = python_rows(back, q)
        assert sql_rows(con, table, q) == want, q
        matched += bool(want)
    assert matched > len(queries) // 2  # the queries are not vacuous


def test_the_cli_start_up_and_the_python_evaluator_do_not_import_duckdb() -> None:
    code = (
        "import sys, engine.cli, engine.logs.query, engine.logs.files; "
        "engine.logs.query.compile_query('type:s'); "
        "print(sorted(m for m in sys.modules if 'duckdb' in m or m == 'engine.logs.sql'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_date_key_of_every_near_miss_of_auth0s_form_is_timeutils(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """One to three characters changed, added or dropped: SQL keys in Auth0's form only
    what timeutil keys so (blanks, signs, a 60th second, Feb 29 of 2026, other digits)."""
    rng = random.Random(5)
    chars = [*"0123456789 +-:.TtZz\t", "٣", "２", "\u00a0"]
    bases = ["2026-11-01T10:00:00.000Z", "2024-02-29T23:59:59.999Z", "0999-12-31T00:00:00.000Z"]
    dates = set(bases)
    while len(dates) < 3000:
        text = list(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(text))
            edit = rng.random()
            if edit < 0.6:
                text[i] = rng.choice(chars)
            elif edit < 0.8:
                text.insert(i, rng.choice(chars))
            else:
                del text[i]
        dates.add("".join(text))
    table, back = load(con, tmp_path, [{"date": d} for d in sorted(dates)])
    got = [r[0] for r in con.execute(f"SELECT date_key FROM {table} ORDER BY rowid").fetchall()]  # noqa: S608
    assert got == [date_key(e["date"]) for e in back]
    assert sum(k == e["date"] for k, e in zip(got, back, strict=True)) > 40  # some still are


def test_or_ed_values_of_one_field_are_one_list_and_find_the_same_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # find_successful_logins ORs every form of every suspicious address: DuckDB tested each
    # OR-ed comparison on every row, so 1,000 addresses cost 1,000 times one
    addresses = [f"203.0.{i // 256}.{i % 256}" for i in range(1000)]
    events = [{"ip": a, "type": "s"} for a in addresses[::7]] + [
        {"ip": "198.51.100.1", "type": "s"},
        {"ip": None, "type": "s"},
        {"type": "s"},
        {"ip": addresses[3], "type": "fp"},
        {"ip": addresses[3].upper() + " ", "type": "s"},  # whole values: not this one
    ]
    table, back = load(con, tmp_path, events)
    ors = " OR ".join(f'ip:"{a}"' for a in addresses)
    for q in (ors, f'type:"s" AND ({ors})', f"NOT ({ors})", f'({ors}) OR type:"fp"'):
        where, params = where_sql(q)
        assert where.count("unnest(?") == 1 and addresses in params, q[:40]
        assert sql_rows(con, table, q) == python_rows(back, q), q[:40]
    assert len(sql_rows(con, table, ors)) == len(addresses[::7]) + 1
    # a value OR-ed once, or values of different fields, stay comparisons
    assert "unnest" not in where_sql('ip:"1.2.3.4" OR type:"s"')[0]


def test_a_file_is_searched_for_a_thousand_values_a_query_a_tenant_for_twenty() -> None:
    forms = [f"203.0.{i // 256}.{i % 256}" for i in range(1500)]
    assert len(any_of("ip", forms)) == 75  # a tenant's URL stays short
    offline = any_of("ip", forms, offline=True)  # each query a pass over the file
    assert len(offline) == 2 and offline[0].count(" OR ") == 999
    assert [v for q in offline for v in re.findall(r'"([^"]+)"', q)] == forms
