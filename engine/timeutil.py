"""Durations (``30m``, ``24h``, ``7d``, ``2w``) and times (relative or ISO 8601), all UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from engine.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
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
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"not a time: {value!r} (use a duration such as 24h or 7d, "
            "or an ISO 8601 date such as 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_time(text: str) -> bool:
    try:
        parse_time(text)
    except InputError:
        return False
    return True


def iso_ms(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``, as Auth0 writes dates."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
