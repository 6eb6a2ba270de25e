"""Auth0 log queries as SQL over a DuckDB table of events: two evaluators, one meaning.

``load_ndjson`` makes the table from a JSON-lines file, one plain event a line:
one VARCHAR column per searchable field (``engine.logs.query.SEARCHABLE``)
plus ``_id``, each holding the value as ``engine.logs.query.field_text``
reads it (DuckDB's own text of a JSON value), and ``date_key``, the event's
``engine.timeutil.date_key``. The ``rowid`` is the event's index in the file.

``where_sql`` translates a query into a boolean expression over those columns
with the same meaning as ``engine.logs.query.compile_query``'s predicate, and
refuses what it refuses with the same ``QueryError`` (the query is compiled
first, by the same parser and checks). Every value from the query is a bound
``?`` parameter; the SQL text holds only column names and operators.

- ``field:value`` is ``=`` (whole values of one field OR-ed together: one ``IN`` over
  their list, whatever their number); a wildcard is ``LIKE`` with ``\\`` as escape (``%``,
  ``_`` and ``\\`` of the value escaped); ``field:*`` is any value but ``''``.
- A range compares VARCHARs, which DuckDB orders by UTF-8 bytes, the order of
  Python's ``str`` (code points); date terms and ranges compare ``date_key``.
- Every leaf is false, never NULL, on a missing value (``c IS NOT NULL AND ...``),
  so NOT, AND and OR never meet SQL's three-valued logic.
- Side-by-side clause lists are read as ``engine.logs.clauses.clause_list`` reads them.

``date_key`` costs nothing per row in Python for Auth0's own form (checked in
SQL: the pattern of ``engine.timeutil`` and a calendar day) and for RFC 3339 in
UTC with any fraction (Go's RFC3339Nano); the other dates are keyed in Python
once per distinct value. A bare year (``2023``) is a date as a string
and not as a JSON number, which a VARCHAR column cannot tell apart: only a
file holding such a value is read a second time, for the type of ``date``.

Where DuckDB's text of a value and ``field_text`` could still differ (found
by checking both, not promised by either): a number beyond a double's range
(``1E400``: DuckDB keeps the text, Python reads ``Infinity``), an object with
a key twice (DuckDB keeps both), and nesting deeper than ``engine.depth``
cuts. An event with a top-level key twice is refused (``LogFileError``, the line
named), where Python would keep the last (the store then reads the file with the exact
reader, and says so: ``store._repeated_key``), and so is a lone surrogate escape
(``"\\ud800"``), which Python's ``json`` reads; a line holding ``null`` loads
as an event with no fields.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import duckdb
from luqum import tree

from engine.errors import LogFileError, QueryError
from engine.logs.clauses import clause_list, holds_side_by_side
from engine.logs.files import MAX_LINE
from engine.logs.query import (
    DEFAULT_FIELDS,
    SEARCHABLE,
    Pattern,
    compile_query,
    date_period,
    parse_query,
    range_bounds,
    value_pattern,
)
from engine.timeutil import date_key

COLUMNS = (*sorted(SEARCHABLE), "_id")  # VARCHAR, then date_key
Sql = tuple[str, list[Any]]  # an expression and its parameters, in order
_AUTH0_PARSE = "%Y-%m-%dT%H:%M:%S.%gZ"  # try_strptime's check of the calendar day
# Auth0's own form (timeutil.AUTH0_FORM, ASCII digits), checked in SQL at a third of a
# regular expression's cost: 24 characters from a digit to the Z, which try_strptime
# parses as exactly that form (it skips leading and trailing blanks, hence the ends).
# The same as the expression on every near miss (tests/logs/test_sql.py).
_AUTH0_KEY = (
    "length(date) = 24 AND left(date, 1) BETWEEN '0' AND '9' AND right(date, 1) = 'Z' "
    "AND try_strptime(date, ?) IS NOT NULL"
)
_YEAR = re.compile(r"[0-9]{4}")  # a date's text that a JSON number also has (2023)
# RFC 3339 in UTC with 0 to 9 fraction digits, as Go (RFC3339Nano) and other tools
# write dates; keyed in SQL as timeutil.date_key keys it (a year from 1000, so the
# key's four digits are the text's). Other forms are keyed in Python.
_UTC_FORM = (
    r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-([0-2][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]00:?00)?"
)
_UTC_KEY = (
    "regexp_full_match(date, ?) AND try_strptime(left(date, 10), '%Y-%m-%d') IS NOT NULL "
    "THEN left(date, 10) || 'T' || substr(date, 12, 8) || '.' "
    "|| rpad(left(regexp_extract(date, '\\.([0-9]+)', 1), 3), 3, '0') || 'Z'"
)


def file_arg(path: Path) -> str:
    """``path`` as DuckDB's readers take it: absolute, its glob characters literal.

    DuckDB globs every path it reads (``b*.jsonl`` would read ``bx.jsonl`` too);
    ``[*]``, ``[?]`` and ``[[]`` match only the character itself.
    """
    return re.sub(r"([*?\[])", r"[\1]", str(Path(path).resolve()))


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class Executes(Protocol):
    """What the loader needs of a connection: DuckDB's own, or the store's (``Connection``)."""

    def execute(self, query: str, parameters: object = None) -> duckdb.DuckDBPyConnection: ...


def load_ndjson(con: Executes, path: Path, table: str, database: str | None = None) -> int:
    """Create ``table`` (in the attached ``database``, else the connection's own) from the
    JSON-lines file at ``path``; its row count.

    Each non-blank line must hold one JSON object, an Auth0 event; the table's
    ``rowid`` is the event's index among them (the connection is set to
    ``preserve_insertion_order``). The table's ``date`` is NULL where it is
    ``date_key``, and ``_id`` where it is ``log_id`` (``_STORED``): a source
    reads it through ``table_select``, which puts the date back. Raises
    ``LogFileError`` for a file that cannot be read so, naming DuckDB's reason
    (and line); a ``table`` that exists already is DuckDB's own
    ``CatalogException``.
    """
    con.execute("SET preserve_insertion_order=true")
    reader, params = events_sql(path)
    name = ident(table) if database is None else f"{ident(database)}.{ident(table)}"
    try:
        created = con.execute(
            f"CREATE TABLE {name} AS SELECT * {_STORED} FROM ({reader})", params
        ).fetchone()
    except (duckdb.InvalidInputException, duckdb.IOException) as exc:  # the file, not the SQL
        raise read_error(path, exc) from None
    _fix_date_keys(con, path, name, f"{table}_date_kinds")
    return int(created[0]) if created else 0


# What a table leaves out, since another of its columns holds it: ``date`` where it is its
# ``date_key`` (Auth0's own form, every date of an export) and ``_id`` where it is the
# ``log_id`` (an identity alone reads ``_id``, and only where there is no ``log_id``:
# eventset.IDENTITY). Two columns of unique texts fewer to compress: a million events write
# in 2.8 s instead of 3.3 s, into 50 MB instead of 74 MB.
_STORED = (
    "REPLACE (CASE WHEN date = date_key THEN NULL ELSE date END AS date, "
    'CASE WHEN "_id" = log_id THEN NULL ELSE "_id" END AS "_id")'
)


def table_select(table: str) -> str:
    """The SELECT of a table ``load_ndjson`` made as a source's view reads it: ``rid`` (the
    ``rowid``, the event's place in its file) and every column, the date put back."""
    return f"SELECT rowid AS rid, * REPLACE (coalesce(date, date_key) AS date) FROM {table}"


def events_sql(path: Path) -> Sql:
    """A SELECT of the JSON-lines file at ``path`` as the table's columns, and its parameters.

    ``date_key`` is the SQL key alone: NULL where a date is in a form only
    Python keys (``_fix_date_keys``). DuckDB reads only the columns a query
    over it uses (projection pushdown), so a count reads two or three.
    """
    columns = ", ".join(ident(c) for c in COLUMNS)
    return (
        f"SELECT {columns}, "
        f"CASE WHEN {_AUTH0_KEY} THEN date WHEN {_UTC_KEY} END AS date_key "
        "FROM read_json(?, format='newline_delimited', records=true, columns=?, "
        "maximum_object_size=?)",
        [
            _AUTH0_PARSE,
            _UTC_FORM,
            file_arg(path),
            dict.fromkeys(COLUMNS, "VARCHAR"),
            MAX_LINE,
        ],
    )


def read_error(path: Path, exc: duckdb.Error) -> LogFileError:
    """DuckDB's refusal of a file as the error soar says (DuckDB's reason, and line)."""
    return LogFileError(f"{path}: not read as Auth0 log events: {first_line(exc)}")


def first_line(exc: duckdb.Error) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _fix_date_keys(con: Executes, path: Path, name: str, scratch: str) -> None:
    """``date_key`` of the dates not in Auth0's own form, computed once per distinct value,
    in the table called ``name`` (SQL); ``scratch``: a name free for a temporary table."""
    rows = con.execute(
        f"SELECT DISTINCT date FROM {name} WHERE date_key IS NULL AND date IS NOT NULL"
    ).fetchall()
    keys = {text: key for (text,) in rows if (key := date_key(text)) is not None}
    if not keys:
        return
    con.execute(
        f"UPDATE {name} AS e SET date_key = k.key FROM (SELECT unnest(?::VARCHAR[]) AS date, "
        "unnest(?::VARCHAR[]) AS key) k WHERE e.date = k.date AND e.date_key IS NULL",
        [list(keys), list(keys.values())],
    )
    if any(_YEAR.fullmatch(text) for text in keys):
        _unset_numbers(con, path, name, scratch)


def _unset_numbers(con: Executes, path: Path, name: str, scratch: str) -> None:
    """No ``date_key`` where ``date`` was a JSON number (2023): only a string is a date.

    The VARCHAR column cannot tell ``2023`` from ``"2023"``, so the file is read
    again for the type of ``date`` alone; this happens only for files that hold
    a bare year as a date.
    """
    kinds = ident(scratch)
    con.execute(
        f"CREATE TEMP TABLE {kinds} AS SELECT json_type(date) AS kind "
        "FROM read_json(?, format='newline_delimited', records=true, columns={'date': 'JSON'}, "
        "maximum_object_size=?)",
        [file_arg(path), MAX_LINE],
    )
    try:
        con.execute(
            f"UPDATE {name} AS e SET date_key = NULL FROM {kinds} k "
            "WHERE e.rowid = k.rowid AND k.kind <> 'VARCHAR' AND e.date_key IS NOT NULL"
        )
    finally:
        con.execute(f"DROP TABLE {kinds}")


def where_sql(q: str) -> tuple[str, list[Any]]:
    """A SQL boolean expression meaning what ``compile_query(q)`` means, and its parameters.

    Raises ``QueryError`` for exactly the queries ``compile_query`` refuses.
    """
    text, params = _where(q)
    return text, list(params)


@lru_cache(maxsize=512)
def _where(q: str) -> tuple[str, tuple[Any, ...]]:
    compile_query(q)  # every check, and every message, of the Python evaluator
    node = parse_query(q)
    if node is None:
        return "TRUE", ()
    text, params = _expr(node, None)
    return text, tuple(params)


def _expr(node: tree.Item, field: str | None) -> Sql:
    """The SQL of ``node``, read case by case as ``compile_query`` reads it."""
    if isinstance(node, tree.SearchField):
        return _expr(node.expr, node.name)
    if isinstance(node, tree.Group | tree.FieldGroup):
        return _expr(node.expr, field)
    if isinstance(node, tree.UnknownOperation) or (
        isinstance(node, tree.AndOperation | tree.OrOperation) and holds_side_by_side(node)
    ):
        return _clauses(node, field)
    if isinstance(node, tree.AndOperation):
        return _join("AND", [_expr(c, field) for c in node.children])
    if isinstance(node, tree.OrOperation):
        return _join("OR", [_expr(c, field) for c in node.children])
    if isinstance(node, tree.Not | tree.Prohibit):
        return _not(_expr(node.a, field))
    if isinstance(node, tree.Plus):
        return _expr(node.a, field)
    if isinstance(node, tree.Range):
        return _range(node, field)
    if isinstance(node, tree.Word | tree.Phrase):
        return _term(node, field)
    # compile_query refused it already; kept so no node is ever read as something else
    raise QueryError(f"Invalid query: {type(node).__name__.lower()} queries are not supported")


def _clauses(node: tree.Item, field: str | None) -> Sql:
    """A Lucene clause list: every required one, one optional one if none is, no excluded one."""
    must: list[Sql] = []
    should: list[Sql] = []
    must_not: list[Sql] = []
    for occur, item in clause_list(node):
        {"must": must, "should": should, "not": must_not}[occur].append(_expr(item, field))
    parts = list(must)
    if should and not must:
        parts.append(_join("OR", should))
    if must_not:
        parts.append(_not(_join("OR", must_not)))
    return _join("AND", parts)


def _term(node: tree.Word | tree.Phrase, field: str | None) -> Sql:
    phrase = isinstance(node, tree.Phrase)
    if field == "date":  # compile_query allows only an exact date here
        lo, hi = date_period(value_pattern(node.value, phrase, field).exact or "")
        return "(date_key IS NOT NULL AND date_key >= ? AND date_key < ?)", [lo, hi]
    fields = [field] if field else DEFAULT_FIELDS
    return _join("OR", [_match(f, value_pattern(node.value, phrase, f)) for f in fields])


class _Value(tuple[str, list[Any]]):
    """The SQL of one whole value of one column (``_match``), which knows its column: the
    values of one column OR-ed together become one ``IN`` (``_same_field_values``)."""

    column: str

    def __new__(cls, column: str, value: str) -> _Value:
        part = super().__new__(cls, (f"({column} IS NOT NULL AND {column} = ?)", [value]))
        part.column = column
        return part


def _match(field: str, pattern: Pattern) -> Sql:
    col = ident(field)
    if pattern.exact is not None:
        return _Value(col, pattern.exact)
    if not pattern.parts:
        return f"({col} IS NOT NULL AND {col} <> '')", []
    like = "%".join(re.sub(r"([\\%_])", r"\\\1", p) for p in pattern.parts)
    return f"({col} IS NOT NULL AND {col} LIKE ? ESCAPE '\\')", [like]


def _range(node: tree.Range, field: str | None) -> Sql:
    if field is None:  # compile_query refused it already
        raise QueryError("Invalid query: a range needs a field, e.g. date:[2018-12 TO *]")
    lo, hi = range_bounds(node, field)
    col = "date_key" if field == "date" else ident(field)
    conds, params = [f"{col} IS NOT NULL"], []
    if lo is not None:
        conds.append(f"{col} {'>=' if node.include_low else '>'} ?")
        params.append(lo)
    if hi is not None:
        conds.append(f"{col} {'<=' if node.include_high else '<'} ?")
        params.append(hi)
    return "(" + " AND ".join(conds) + ")", params


def _join(op: str, parts: list[Sql]) -> Sql:
    if op == "OR":
        parts = _same_field_values(parts)
    if not parts:
        return ("TRUE" if op == "AND" else "FALSE"), []
    if len(parts) == 1:
        return parts[0]
    return "(" + f" {op} ".join(t for t, _ in parts) + ")", [p for _, ps in parts for p in ps]


def _same_field_values(parts: list[Sql]) -> list[Sql]:
    """OR-ed whole values of one field as one ``IN`` over a list of them, in the place of
    the first: DuckDB tests each OR-ed comparison on every row (a thousand addresses cost
    a thousand times one), and an ``IN`` over a list once (a hash join). The same rows:
    a value in the list is one of the values, and the column is not NULL in either."""
    # each part's column when it is one whole value of it (``_match``), else None
    cols = [part.column if isinstance(part, _Value) else None for part in parts]
    values: dict[str, list[Any]] = {}
    for col, (_, params) in zip(cols, parts, strict=True):
        if col is not None:
            values.setdefault(col, []).append(params[0])
    merged: list[Sql] = []
    done: set[str] = set()
    for col, part in zip(cols, parts, strict=True):
        if col is None or len(values[col]) < 2:
            merged.append(part)
        elif col not in done:
            done.add(col)
            merged.append(
                (f"({col} IS NOT NULL AND {col} IN (SELECT unnest(?::VARCHAR[])))", [values[col]])
            )
    return merged


def _not(part: Sql) -> Sql:
    return f"(NOT {part[0]})", part[1]
