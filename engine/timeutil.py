"""Durations (``30m``, ``24h``, ``7d``, ``2w``) and times (relative or ISO 8601), all UTC.

``read_date`` is the one reader of dates: event ``date`` fields (the query
engine, offline files and windows, the emulator's store, the connector's
windowed search), the bounds of a ``date:`` query and ``since``/``until`` all
go through it, so an event is inside a window on every path or on none.

Its grammar is RFC 3339 plus the partial dates of Auth0's log search syntax
(auth0-facts.md section 2)::

    YYYY[-MM[-DD[(T|t|space)HH[:MM[:SS[.fraction]]]]]][Z|z|+HH:MM|-HH:MM|+HHMM]

- missing parts are zero-filled (``2018-12`` is 2018-12-01T00:00:00.000Z);
- 1 to 9 fraction digits (Auth0 writes 3; Go's RFC3339Nano, which go-auth0
  and auth0-cli re-serialise with, drops trailing zeros, so 0 to 3 appear;
  other tools write 6 or 9); an offset is converted to UTC, no offset is UTC;
- instants compare at millisecond precision, the precision Auth0 stores.

Anything else (week dates, ``20230602T1058``, a comma fraction) is not a date.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from engine.errors import DateError, InputError

# ASCII digits only (re.ASCII): Python's \d takes any Unicode digit (٣, ２), and int() reads
# them, so a date in Arabic-Indic digits was a date whose key sorted after every other
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.ASCII)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def is_duration(text: str) -> bool:
    """``text`` is a duration ``parse_duration`` and ``parse_time`` accept (not too long)."""
    if not _DURATION.match(text):
        return False
    try:
        parse_time(text)
    except InputError:
        return False
    return True


def parse_duration(value: str | int | float) -> timedelta:
    """``30m`` -> 30 minutes. A bare number is seconds."""
    if isinstance(value, bool):
        raise InputError(f"not a duration: {value!r} (use e.g. 30s, 15m, 24h, 7d, 2w)")
    if isinstance(value, int | float):
        try:
            return timedelta(seconds=float(value))
        except (OverflowError, ValueError):  # too long, or NaN
            raise InputError(
                f"not a duration: {value!r} (use e.g. 30s, 15m, 24h, 7d, 2w)"
            ) from None
    m = _DURATION.match(value)
    if not m:
        raise InputError(f"not a duration: {value!r} (use e.g. 30s, 15m, 24h, 7d, 2w)")
    try:
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    except OverflowError:  # timedelta holds at most 999,999,999 days
        raise InputError(
            f"duration {value!r} is too long (at most about 2.7 million years)"
        ) from None


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | datetime, now: datetime | None = None) -> datetime:
    """A point in time: a duration before ``now`` (``7d``), or an ISO 8601 date or date-time.

    A date without a time is midnight UTC; a date-time without an offset is UTC.
    Dates are read by ``read_date`` (at least a whole day: ``2026`` alone is refused).
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    now = now or now_utc()
    text = value.strip()
    if _DURATION.match(text):
        try:
            return now - parse_duration(text)
        except OverflowError:  # before year 1
            raise InputError(
                f"{value!r} reaches back before the year 1 (use a shorter duration)"
            ) from None
    try:
        parsed, given = _read(text)
    except DateError as exc:
        reason = f"{exc}: " if "calendar" in str(exc) else ""
        raise InputError(
            f"not a time: {value!r} ({reason}use a duration such as 24h or 7d, "
            "or an ISO 8601 date such as 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None
    if given < 3:
        raise InputError(
            f"not a time: {value!r} (give at least a whole date, such as 2026-11-01, "
            "or a duration such as 24h or 7d)"
        )
    return parsed


def is_time(text: str) -> bool:
    try:
        parse_time(text)
    except InputError:
        return False
    return True


def iso_ms(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``, as Auth0 writes dates."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?)?)?)?",
    re.ASCII,
)
# what a date with n parts given covers: year, month, day, hour, minute, second
_PRECISION = ("year", "month", "day", "hour", "minute", "second", "millisecond")


# how Auth0 writes a date (ASCII digits, as DuckDB's RE2 reads \d)
AUTH0_FORM = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(\d\d)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z", re.ASCII
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_days(year: int, month: int) -> int:
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return _DAYS[month - 1] + leap


def _read(text: str) -> tuple[datetime, int]:
    """The instant ``text`` names (UTC) and how many of its parts were given (1..7)."""
    m = _DATE.fullmatch(text.strip())
    if not m:
        raise DateError(f"not a date: {text!r} (use YYYY-MM-DD, optionally with a time)")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    given = 1 + sum(part is not None for part in (mo, d, h, mi, s)) + (frac is not None)
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        tz = UTC
        if zone and zone not in "Zz":
            sign = -1 if zone[0] == "-" else 1
            hh, mm = int(zone[1:3]), int(zone[-2:])
            if mm > 59:
                raise ValueError
            tz = timezone(sign * timedelta(hours=hh, minutes=mm))
        when = datetime(
            int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0), micro, tz
        )
        return when.astimezone(UTC), given
    except (ValueError, OverflowError):
        raise DateError(f"not a calendar date: {text!r}") from None


def read_date(text: str) -> datetime:
    """The instant a (partial) ISO 8601 / RFC 3339 date names, in UTC. Raises ``DateError``."""
    return _read(text)[0]


def date_key(value: Any) -> str | None:
    """An event's ``date`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (sortable), or None if unreadable."""
    if not isinstance(value, str):
        return None
    m = AUTH0_FORM.fullmatch(value)
    if m and 1 <= int(m.group(3)) <= _month_days(int(m.group(1)), int(m.group(2))):
        return value  # Auth0's own form, the common case: already the key (and fast)
    try:
        return iso_ms(_read(value)[0])
    except DateError:
        return None


def date_period(text: str) -> tuple[datetime, datetime]:
    """The instants a date covers at its precision, ``[start, end)``.

    ``2018-12-10`` is that whole day, ``2018-12`` the month (as a date term on
    an Elasticsearch date field rounds); a time with a fraction is that millisecond.
    """
    start, given = _read(text)
    unit = _PRECISION[given - 1]
    try:
        if unit == "year":
            return start, start.replace(year=start.year + 1)
        if unit == "month":
            return start, (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        step = {"day": 86400.0, "hour": 3600.0, "minute": 60.0, "second": 1.0}.get(unit, 0.001)
        return start, start + timedelta(seconds=step)
    except (ValueError, OverflowError):
        raise DateError(f"not a calendar date: {text!r}") from None
