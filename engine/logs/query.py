"""Auth0 log search queries, compiled once into predicates over log events.

The grammar is Auth0's Lucene subset, parsed by luqum; the tree is walked into
closures. Semantics follow auth0-facts.md §2:

- ``field:value`` and ``field:"phrase"`` match the field's *whole* value
  (Auth0 does not tokenise); matching is case-sensitive.
- ``*`` is the only wildcard. A prefix (``j*``) is always allowed; any other
  use needs at least 3 literal characters (``*usa`` yes, ``*sa`` no). ``?``,
  fuzzy, proximity, boosts and regexes are rejected.
- Inside a phrase a backslash escapes the next character; ``*`` and ``?`` in a
  phrase are literal (the ``lucene`` template filter relies on this).
- ``[a TO b]`` is inclusive, ``{a TO b}`` exclusive, mixable, ``*`` open.
  ``date`` bounds are zero-filled partial dates (``2018-12`` -> 2018-12-01T00:00:00.000Z),
  read, like every event's ``date``, by ``engine.timeutil.read_date``; an event
  whose date cannot be read matches no date term or range.
- AND, OR, NOT (and ``-term``), parentheses, ``field:(a OR b)``, and a space
  after the colon (``type: (s scoa)``). Terms side by side are OR-ed, as in
  Lucene and Elasticsearch (Auth0's own detections write ``type: (seacft sertft)``).
  A side-by-side sequence, with the AND and OR operands around it, is read as
  Lucene reads one clause list: ``+x`` and the clauses on each side of an AND are
  required (``-a AND a +b``: a and b), ``-x``/``NOT x`` excluded, the rest
  optional, at least one of them needed when nothing is required
  (``type:s -ip:10.0.0.1`` is "s, not from that IP"). Without side-by-side
  terms, AND binds tighter than OR. ``Query.ambiguities`` names operator mixes
  engines read differently (``a AND b OR c``, ``a AND b c``): add parentheses.
- A bare term searches client_name, connection, description, ip, log_id, type, user_name.
- Only the searchable fields are accepted; anything else is a ``QueryError``
  (the emulator answers it with Auth0's 400 ``invalid_query_string``).

A field's value, as every term and range reads it, is ``field_text``: a string
as it is; null or an absent key is no value (it matches no term, and
``NOT``/``-`` of a term holds); any other JSON value (number, boolean, list,
object) is its compact JSON text, exactly as DuckDB gives a JSON value in a
VARCHAR column: ``123``, ``true``, ``[1,2]``, ``{"a":"é"}``. So ``ip:123``
matches ``"ip": 123``, and the SQL evaluator (``engine.logs.sql``) means the
same as this one. ``date`` is read apart: by ``engine.timeutil.date_key`` of
the value itself, so only a string can be a date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from luqum import thread, tree
from luqum.exceptions import ParseError

from engine.depth import dumps
from engine.errors import DateError, QueryError
from engine.logs.clauses import ambiguities, clause_list, holds_side_by_side
from engine.timeutil import date_key, iso_ms, read_date
from engine.timeutil import date_period as _period

SEARCHABLE = frozenset(
    [
        "client_id",
        "client_name",
        "connection",
        "connection_id",
        "description",
        "date",
        "hostname",
        "ip",
        "log_id",
        "organization_id",
        "user_id",
        "user_name",
        "user_agent",
        "strategy",
        "strategy_type",
        "type",
    ]
)
DEFAULT_FIELDS = ("client_name", "connection", "description", "ip", "log_id", "type", "user_name")
INDEXED = ("type", "ip", "user_id")
Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]
_MATCH: Callable[[Event], bool] = lambda _e: True  # noqa: E731


# inside compact JSON every backslash starts an escape: pairs are kept, \u00XX control
# escapes are written with capitals as DuckDB writes them (json.dumps writes \u001f)
_ESCAPES = re.compile(r"\\(\\|u00[01][0-9a-f])")


def field_text(value: Any) -> str | None:
    """A field's value as a query reads it: str as is, None as None, else compact JSON.

    The compact JSON is DuckDB's text of the same JSON value in a VARCHAR
    column (``engine.logs.sql``): no spaces, non-ASCII as is, control
    characters as ``\\u00XX`` with capital hex digits, keys in their order.
    """
    if value is None or isinstance(value, str):
        return value
    text = dumps(value, separators=(",", ":"))
    if "\\u00" not in text:
        return text
    return _ESCAPES.sub(lambda m: "\\" + m[1][0] + m[1][1:].upper(), text)


# a word's characters: an escaped one (a backslash and the next), or any other
_WORD = re.compile(r"\\(.)|(.)", re.DOTALL)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def normalize_date(text: str) -> str:
    """A (partial) date bound as ``YYYY-MM-DDTHH:MM:SS.mmmZ``; missing parts are zero-filled."""
    try:
        return iso_ms(read_date(text))
    except DateError as exc:
        raise QueryError(f"Invalid date value '{text}': {_reason(exc)}") from None


def date_period(text: str) -> tuple[str, str]:
    """The instants a single date term covers, at its precision: ``[start, end)``."""
    try:
        lo, hi = _period(text)
    except DateError as exc:
        raise QueryError(f"Invalid date value '{text}': {_reason(exc)}") from None
    return iso_ms(lo), iso_ms(hi)


def _reason(exc: DateError) -> str:
    if "calendar" in str(exc):
        return "not a calendar date"
    return "use YYYY-MM-DD, optionally with a time (2018-12-18T12:22)"


def event_date(event: Event) -> str | None:
    """The event's date as a sortable key (``timeutil.date_key``), None when it cannot be read."""
    return date_key(event.get("date"))


@dataclass(frozen=True)
class Hints:
    """What any match must satisfy, for index use: exact values per field, date bounds."""

    eq: dict[str, frozenset[str]] = field(default_factory=dict)
    date_lo: str | None = None  # inclusive
    date_hi: str | None = None  # exclusive

    def both(self, other: Hints) -> Hints:
        eq = dict(self.eq)
        for k, v in other.eq.items():
            eq[k] = eq[k] & v if k in eq else v
        lo = max(filter(None, [self.date_lo, other.date_lo]), default=None)
        hi = min(filter(None, [self.date_hi, other.date_hi]), default=None)
        return Hints(eq, lo, hi)

    def either(self, other: Hints) -> Hints:
        if (
            set(self.eq) == set(other.eq)
            and len(self.eq) == 1
            and not (self.date_lo or self.date_hi or other.date_lo or other.date_hi)
        ):
            (k,) = self.eq
            return Hints({k: self.eq[k] | other.eq[k]})
        return Hints()


@dataclass(frozen=True)
class Term:
    """A ``field:value`` term as written (``raw``, quotes and escapes kept), for checks on values."""

    field: str
    raw: str
    phrase: bool

    def matches(self, value: str) -> bool:
        """Whether this term alone matches ``value`` in its field."""
        return _value_matcher(self.raw, self.phrase, self.field)[0](value)

    @property
    def exact(self) -> str | None:
        """The one value the term matches, or None for a wildcard."""
        return _value_matcher(self.raw, self.phrase, self.field)[1]


@dataclass(frozen=True)
class Query:
    """A compiled query: call it on an event (any mapping with ``get``).

    ``hints`` say what every match must satisfy, so a store can narrow its
    candidates by index before calling the predicate.
    """

    text: str
    predicate: Predicate
    hints: Hints
    ambiguities: tuple[str, ...] = ()
    terms: tuple[Term, ...] = ()

    def __call__(self, event: Event) -> bool:
        return self.predicate(event)


@dataclass(frozen=True)
class Pattern:
    """What a term's value matches: the ``exact`` value, or a wildcard.

    A wildcard has its literal ``parts`` (unescaped) around each ``*``; a lone
    ``*`` has none and matches any value but the empty string.
    """

    exact: str | None
    parts: tuple[str, ...] = ()


def value_pattern(raw: str, phrase: bool, fieldname: str) -> Pattern:
    """The pattern of a term's ``raw`` text (quotes and escapes kept); refused ones raise."""
    if phrase:
        return Pattern(_unescape(raw[1:-1]))
    parts = [""]  # the literal text around each unescaped *
    for escaped, char in _WORD.findall(raw):
        if char == "?":
            raise QueryError(
                f"Invalid query '{fieldname}:{raw}': the wildcard ? is not supported, use *"
            )
        if char == "*":
            parts.append("")
        else:
            parts[-1] += escaped or char
    if len(parts) == 1:
        return Pattern(parts[0])
    if raw == "*":
        return Pattern(None)
    is_prefix = len(parts) == 2 and parts[1] == "" and parts[0] != ""
    if not is_prefix and sum(map(len, parts)) < 3:
        raise QueryError(
            f"Invalid wildcard query '{fieldname}:{raw}': wildcards other than a prefix need "
            "at least 3 literal characters"
        )
    return Pattern(None, tuple(parts))


def _value_matcher(
    raw: str, phrase: bool, fieldname: str
) -> tuple[Callable[[Any], bool], str | None]:
    """A test on one field value, and the exact value when the term is not a wildcard."""
    pattern = value_pattern(raw, phrase, fieldname)
    exact = pattern.exact
    if exact is not None:
        return (lambda v: v == exact), exact
    if not pattern.parts:
        return (lambda v: v is not None and v != ""), None
    parts = pattern.parts
    return (lambda v: isinstance(v, str) and glob_match(parts, v)), None


def glob_match(parts: tuple[str, ...], value: str) -> bool:
    """Whether ``value`` is ``parts`` joined by ``*`` wildcards (any text, empty included).

    In linear time: the first part is a prefix, the last a suffix, the others
    found in order leftmost-first (which finds a match whenever one exists). A
    regular expression ``a.*b.*c`` backtracks: on an attacker's 8,000-character
    user_name it took 14 s.
    """
    head, *middle, tail = parts
    if len(value) < len(head) + len(tail) or not value.startswith(head):
        return False
    if not value.endswith(tail):
        return False
    at, end = len(head), len(value) - len(tail)
    for part in middle:
        found = value.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


def _field_test(name: str, test: Callable[[Any], bool]) -> Predicate:
    if name == "date":
        return lambda e: test(event_date(e))
    return lambda e: test(field_text(e.get(name)))


class _Compiler:
    def __init__(self) -> None:
        self.terms: list[Term] = []

    def compile(self, node: tree.Item, fieldname: str | None) -> tuple[Predicate, Hints]:
        if isinstance(node, tree.SearchField):
            if fieldname is not None:
                raise QueryError(f"Invalid query: nested field {node.name!r} inside {fieldname!r}")
            name = node.name
            if name not in SEARCHABLE:
                raise QueryError(
                    f"Invalid query: field '{name}' is not searchable. Searchable fields: "
                    + ", ".join(sorted(SEARCHABLE))
                )
            return self.compile(node.expr, name)
        if isinstance(node, tree.Group | tree.FieldGroup):
            return self.compile(node.expr, fieldname)
        if isinstance(node, tree.UnknownOperation) or (
            isinstance(node, tree.AndOperation | tree.OrOperation) and holds_side_by_side(node)
        ):
            return self.clauses(node, fieldname)
        if isinstance(node, tree.AndOperation):
            parts = [self.compile(c, fieldname) for c in node.children]
            preds = [p for p, _ in parts]
            hints = Hints()
            for _, h in parts:
                hints = hints.both(h)
            return (lambda e: all(p(e) for p in preds)), hints
        if isinstance(node, tree.OrOperation):
            parts = [self.compile(c, fieldname) for c in node.children]
            preds = [p for p, _ in parts]
            hints = parts[0][1]
            for _, h in parts[1:]:
                hints = hints.either(h)
            return (lambda e: any(p(e) for p in preds)), hints
        if isinstance(node, tree.Not | tree.Prohibit):
            inner, _ = self.compile(node.a, fieldname)
            return (lambda e: not inner(e)), Hints()
        if isinstance(node, tree.Plus):
            return self.compile(node.a, fieldname)
        if isinstance(node, tree.Range):
            return self.range(node, fieldname)
        if isinstance(node, tree.Word | tree.Phrase):
            phrase = isinstance(node, tree.Phrase)
            fields = [fieldname] if fieldname else list(DEFAULT_FIELDS)
            tests = []
            exact: str | None = None
            if fieldname:
                self.terms.append(Term(fieldname, node.value, phrase))
            for f in fields:
                test, exact = _value_matcher(node.value, phrase, f)
                if f == "date":
                    if exact is None:
                        raise QueryError(
                            "Invalid query: use a range for dates, e.g. date:[2018-12 TO *]"
                        )
                    lo, hi = date_period(exact)
                    test = (lambda a, b: lambda v: v is not None and a <= v < b)(lo, hi)
                    tests.append(_field_test(f, test))
                    return tests[0], Hints(date_lo=lo, date_hi=hi)
                tests.append(_field_test(f, test))
            hints = (
                Hints({fieldname: frozenset([exact])})
                if (fieldname in INDEXED and exact is not None)
                else Hints()
            )
            if len(tests) == 1:
                return tests[0], hints
            return (lambda e: any(t(e) for t in tests)), hints
        kind = type(node).__name__
        raise QueryError(f"Invalid query: {kind.lower()} queries are not supported in log search")

    def clauses(self, node: tree.Item, fieldname: str | None) -> tuple[Predicate, Hints]:
        """Side-by-side terms, read as Lucene reads a clause list (default operator OR).

        The ungrouped operands of AND and OR around and inside the sequence are
        clauses of the same list (Lucene has no precedence, whatever tree luqum
        builds: ``-a AND a +b`` is three clauses): AND makes the clauses on both
        sides of it required, ``+x`` is required, ``-x``/``NOT x`` excluded, the
        rest optional.
        """
        must: list[tuple[Predicate, Hints]] = []
        should: list[tuple[Predicate, Hints]] = []
        must_not: list[Predicate] = []
        for occur, item in clause_list(node):
            if occur == "not":
                must_not.append(self.compile(item, fieldname)[0])
            else:
                (must if occur == "must" else should).append(self.compile(item, fieldname))
        req = [p for p, _ in must]
        opt = [p for p, _ in should] if not must else []
        excluded = must_not

        def predicate(e: Event) -> bool:
            return (
                all(p(e) for p in req)
                and (not opt or any(p(e) for p in opt))
                and not any(p(e) for p in excluded)
            )

        hints = Hints()
        if must:
            for _, h in must:
                hints = hints.both(h)
        elif should:
            hints = should[0][1]
            for _, h in should[1:]:
                hints = hints.either(h)
        return predicate, hints

    def range(self, node: tree.Range, fieldname: str | None) -> tuple[Predicate, Hints]:
        if fieldname is None:
            raise QueryError("Invalid query: a range needs a field, e.g. date:[2018-12 TO *]")
        lo, hi = range_bounds(node, fieldname)
        inc_lo, inc_hi = node.include_low, node.include_high

        def test(v: Any) -> bool:
            if not isinstance(v, str):
                return False
            if lo is not None and (v < lo or (v == lo and not inc_lo)):
                return False
            return not (hi is not None and (v > hi or (v == hi and not inc_hi)))

        hints = Hints()
        if fieldname == "date":
            # bounds for bisection over normalised date strings: "\x00" sorts right
            # after a string, so an exclusive low and an inclusive high stay exact
            hints = Hints(
                date_lo=lo if inc_lo else (lo + "\x00" if lo else None),
                date_hi=(hi + "\x00" if inc_hi else hi) if hi else None,
            )
        return _field_test(fieldname, test), hints


def range_bounds(node: tree.Range, fieldname: str) -> tuple[str | None, str | None]:
    """A range's low and high bound, None where open (``*``); ``date`` bounds normalised."""
    lo_raw, hi_raw = _unescape(str(node.low)), _unescape(str(node.high))
    if fieldname == "date":  # a bound may be quoted, as a value put in with | lucene is
        lo = None if lo_raw == "*" else normalize_date(lo_raw.strip('"'))
        hi = None if hi_raw == "*" else normalize_date(hi_raw.strip('"'))
    else:
        lo = None if lo_raw == "*" else lo_raw.strip('"')
        hi = None if hi_raw == "*" else hi_raw.strip('"')
    return lo, hi


def parse_query(q: str) -> tree.Item | None:
    """luqum's tree of ``q``, None for an empty query. Raises ``QueryError``.

    Only the syntax is checked here; ``compile_query`` checks the rest.
    """
    text = q.strip()
    if not text:
        return None
    try:
        # luqum's module-level parser shares one PLY lexer between threads: in
        # parallel, compiles were refused or came out wrong (and were cached so)
        return thread.parse(text)
    except (ParseError, TypeError, ValueError) as exc:
        raise QueryError(f"Invalid query '{q}': {exc}") from None


@lru_cache(maxsize=512)
def compile_query(q: str) -> Query:
    """Parse and compile ``q``; an empty query matches everything. Raises ``QueryError``."""
    node = parse_query(q)
    if node is None:
        return Query(q, _MATCH, Hints())
    compiler = _Compiler()
    predicate, hints = compiler.compile(node, None)
    return Query(q, predicate, hints, tuple(ambiguities(node)), tuple(compiler.terms))
