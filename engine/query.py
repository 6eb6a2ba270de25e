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
  ``date`` bounds are zero-filled partial dates (``2018-12`` -> 2018-12-01T00:00:00.000Z).
- AND, OR, NOT (and ``-term``), parentheses, ``field:(a OR b)``. Terms side by
  side without an operator are AND-ed (documented choice: Auth0 does not say,
  and AND never widens a search an incident responder meant to narrow).
- A bare term searches client_name, connection, description, ip, log_id, type, user_name.
- Only the searchable fields are accepted; anything else is a ``QueryError``
  (the emulator answers it with Auth0's 400 ``invalid_query_string``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser

from engine.errors import QueryError

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


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def normalize_date(text: str, upper: bool = False) -> str:
    """A (partial) ISO date as ``YYYY-MM-DDTHH:MM:SS.mmmZ``; missing parts are zero-filled."""
    m = re.fullmatch(
        r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?Z?",
        text.strip(),
    )
    if not m:
        raise QueryError(f"Invalid date value '{text}': use YYYY-MM-DD, optionally with a time")
    y, mo, d, h, mi, s, frac = m.groups()
    ms = (frac or "0").ljust(3, "0")[:3]
    result = f"{y}-{mo or '01'}-{d or '01'}T{h or '00'}:{mi or '00'}:{s or '00'}.{ms}Z"
    try:
        datetime.fromisoformat(result[:-1])
    except ValueError:
        raise QueryError(f"Invalid date value '{text}': not a calendar date") from None
    return result


def date_period(text: str) -> tuple[str, str]:
    """The instants a single date term covers, at its precision: ``[start, end)``.

    ``date:2018-12-10`` is the whole day, ``date:2018-12`` the month, as a date
    term on an Elasticsearch date field rounds; a full timestamp is that millisecond.
    """
    start = normalize_date(text)
    digits = len(re.sub(r"\D", "", text.split(".")[0]))
    try:
        when = datetime.fromisoformat(start.replace("Z", "+00:00"))
        if "." in text:
            end = when + timedelta(milliseconds=1)
        elif digits <= 4:
            end = when.replace(year=when.year + 1)
        elif digits <= 6:
            end = (when.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            units = {8: "days", 10: "hours", 12: "minutes", 14: "seconds"}
            end = when + timedelta(**{units[digits]: 1})
    except (ValueError, OverflowError):
        raise QueryError(f"Invalid date value '{text}': not a calendar date") from None
    return start, end.strftime("%Y-%m-%dT%H:%M:%S.") + f"{end.microsecond // 1000:03d}Z"


def event_date(event: Event) -> str | None:
    value = event.get("date")
    if not isinstance(value, str):
        return None
    if len(value) == 24 and value.endswith("Z"):
        return value
    try:
        return normalize_date(value.replace("+00:00", "Z"))
    except QueryError:
        return None


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
class Query:
    """A compiled query: call it on an event (any mapping with ``get``).

    ``hints`` say what every match must satisfy, so a store can narrow its
    candidates by index before calling the predicate.
    """

    text: str
    predicate: Predicate
    hints: Hints

    def __call__(self, event: Event) -> bool:
        return self.predicate(event)


def _value_matcher(
    raw: str, phrase: bool, fieldname: str
) -> tuple[Callable[[Any], bool], str | None]:
    """A test on one field value, and the exact value when the term is not a wildcard."""
    if phrase:
        exact = _unescape(raw[1:-1])
        return (lambda v: v == exact), exact
    if "?" in raw.replace("\\?", ""):
        raise QueryError(
            f"Invalid query '{fieldname}:{raw}': the wildcard ? is not supported, use *"
        )
    if "*" not in raw.replace("\\*", ""):
        exact = _unescape(raw)
        return (lambda v: v == exact), exact
    if raw == "*":
        return (lambda v: v is not None and v != ""), None
    parts = re.split(r"(?<!\\)\*", raw)
    literal = sum(len(_unescape(p)) for p in parts)
    is_prefix = len(parts) == 2 and parts[1] == "" and parts[0] != ""
    if not is_prefix and literal < 3:
        raise QueryError(
            f"Invalid wildcard query '{fieldname}:{raw}': wildcards other than a prefix need "
            "at least 3 literal characters"
        )
    pattern = re.compile(".*".join(re.escape(_unescape(p)) for p in parts), re.DOTALL)
    return (lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None), None


def _field_test(name: str, test: Callable[[Any], bool]) -> Predicate:
    if name == "date":
        return lambda e: test(event_date(e))
    return lambda e: test(e.get(name))


class _Compiler:
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
        if isinstance(node, tree.AndOperation | tree.UnknownOperation):
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

    def range(self, node: tree.Range, fieldname: str | None) -> tuple[Predicate, Hints]:
        if fieldname is None:
            raise QueryError("Invalid query: a range needs a field, e.g. date:[2018-12 TO *]")
        lo_raw, hi_raw = _unescape(str(node.low)), _unescape(str(node.high))
        inc_lo, inc_hi = node.include_low, node.include_high
        if fieldname == "date":
            lo = None if lo_raw == "*" else normalize_date(lo_raw)
            hi = None if hi_raw == "*" else normalize_date(hi_raw)
        else:
            lo = None if lo_raw == "*" else lo_raw.strip('"')
            hi = None if hi_raw == "*" else hi_raw.strip('"')

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


@lru_cache(maxsize=512)
def compile_query(q: str) -> Query:
    """Parse and compile ``q``; an empty query matches everything. Raises ``QueryError``."""
    text = q.strip()
    if not text:
        return Query(q, _MATCH, Hints())
    try:
        node = parser.parse(text)
    except (ParseError, TypeError, ValueError) as exc:
        raise QueryError(f"Invalid query '{q}': {exc}") from None
    predicate, hints = _Compiler().compile(node, None)
    return Query(q, predicate, hints)
