"""One date reader: every path puts the same events in a window, and says which it could not.

The date forms are those real Auth0 data comes in:

- ``2023-07-26T13:11:14.360Z``: the Management API's own form (MG177/sso
  ``src/dummy/userLog.js``, a saved ``GET /api/v2/logs`` answer; go-auth0 v1.45.0
  ``test/data/recordings``).
- ``2021-01-16T12:12:43Z``, no fraction: the ``time`` of Auth0's EventBridge events
  (this-andy/thiscovery-core ``api/tests/test_data/auth0_test_events.py``), and what
  Go writes for a whole second: go-auth0 v1.45.0 ``management/log.go`` decodes ``date``
  into a ``time.Time``, which re-encodes as RFC3339Nano, trailing zeros dropped
  (``.99Z``), as an export written by a Go tool has it.
- ``+00:00`` with 6 digits: Python's ``isoformat()``, as a re-serialised export has it;
  9 digits from nanosecond tools; another offset; RFC 3339's lower-case ``t``/``z``
  and its space separator.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from soarcli import soar

from engine.auth0 import Auth0Client, Auth0Settings
from engine.auth0.search import search, search_file, window_query
from engine.emulator import start_emulator
from engine.emulator.logstore import LogStore
from engine.errors import DateError, InputError, QueryError
from engine.httpguard import DryRunGuard
from engine.logs.files import Undated, iter_events
from engine.logs.files import search_file as scan
from engine.logs.query import compile_query, normalize_date
from engine.timeutil import date_key, iso_ms, parse_time, read_date

SINCE = datetime(2023, 6, 2, 10, 0, tzinfo=UTC)
UNTIL = datetime(2023, 6, 2, 11, 0, tzinfo=UTC)

# (date as written, inside [SINCE, UNTIL)?); None = cannot be read
DATES: list[tuple[Any, bool | None]] = [
    ("2023-06-02T10:58:05.996Z", True),
    ("2023-06-02T10:58:06Z", True),
    ("2023-06-02T10:58:05.99Z", True),
    ("2023-06-02T10:58:05.996000+00:00", True),
    ("2023-06-02T10:58:05.996123456Z", True),
    ("2023-06-02T12:30:00.000+02:00", True),  # 10:30Z
    ("2023-06-02T11:30:00.000+02:00", False),  # 09:30Z, though the text sorts inside
    ("2023-06-02t10:15:00.000z", True),
    ("2023-06-02 10:20:00.000Z", True),
    ("2023-06-02T11:00:00.000Z", False),  # until is exclusive
    ("2023-06-02T10:00:00Z", True),  # since is inclusive
    ("02/06/2023 10:30:00", None),
    (1685700000, None),
    ("2023-02-30T10:30:00.000Z", None),
]


def log_id(n: int) -> str:
    return "90020230602" + f"{n:045d}"  # 56 digits, like Auth0's


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "export.jsonl"
    lines = [
        json.dumps({"log_id": log_id(n), "type": "s", "date": d, "user_id": f"auth0|{n}"})
        for n, (d, _) in enumerate(DATES)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def inside() -> set[str]:
    return {log_id(n) for n, (_, ok) in enumerate(DATES) if ok}


def undated() -> list[str]:
    return [log_id(n) for n, (_, ok) in enumerate(DATES) if ok is None]


def by_instant() -> list[str]:
    rows = [(date_key(d), log_id(n)) for n, (d, ok) in enumerate(DATES) if ok]
    return [i for _, i in sorted(rows)]


def test_every_path_puts_the_same_events_in_the_window(export: Path) -> None:
    tally = Undated()
    offline = [e["log_id"] for e in scan(export, 'type:"s"', SINCE, UNTIL, tally)]
    assert set(offline) == inside()
    assert (tally.count, tally.first) == (
        3,
        {"log_id": undated()[0], "date": "'02/06/2023 10:30:00'"},
    )

    result = search_file(export, 'type:"s"', SINCE, UNTIL)
    assert [e["log_id"] for e in result.events] == by_instant()
    assert result.stats["undated"] == 3
    assert any(
        "3 matching event(s) have no readable date" in w and undated()[0] in w
        for w in result.warnings
    )

    query = compile_query(window_query('type:"s"', SINCE, UNTIL))
    assert {e["log_id"] for e in iter_events(export) if query(e)} == inside()

    store = LogStore(iter_events(export))
    got = [store.ids[p] for p in store.search(query, sort=("date", 1), skip=0, take=100)]
    assert got == by_instant()


def test_the_emulator_serves_the_same_window(export: Path) -> None:
    with start_emulator(logs_file=export, rate_limit=(1000, 5000.0)) as emu:
        settings = Auth0Settings.create(
            emu.base_url, client_id=emu.client_id, client_secret=emu.client_secret
        )
        with Auth0Client(settings, guard=DryRunGuard(False)) as client:
            online = search(client, 'type:"s"', SINCE, UNTIL)
    assert [e["log_id"] for e in online.events] == by_instant()


def test_a_date_range_query_reads_dates_as_windows_do() -> None:
    q = compile_query("date:[2023-06-02T10:00 TO 2023-06-02T11:00}")
    for n, (d, ok) in enumerate(DATES):
        assert q({"date": d}) is bool(ok), (n, d)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2023-06-02T10:58:05.996Z", "2023-06-02T10:58:05.996Z"),
        ("2021-01-16T12:12:43Z", "2021-01-16T12:12:43.000Z"),
        ("2023-06-02T10:58:05.9Z", "2023-06-02T10:58:05.900Z"),
        ("2023-06-02T10:58:05.9961234Z", "2023-06-02T10:58:05.996Z"),  # 7 digits
        ("2023-06-02T10:58:05.996123456+00:00", "2023-06-02T10:58:05.996Z"),
        ("2023-06-02T10:58:05.996-05:30", "2023-06-02T16:28:05.996Z"),
        ("2023-06-02T10:58:05.996+0200", "2023-06-02T08:58:05.996Z"),
        ("2023-06-02T10:58:05.996", "2023-06-02T10:58:05.996Z"),  # no offset: UTC
        ("2023-06-02", "2023-06-02T00:00:00.000Z"),
        ("2018-12", "2018-12-01T00:00:00.000Z"),  # Auth0's partial query dates
        ("2018-12-18T12:22", "2018-12-18T12:22:00.000Z"),
        ("2024-02-29T00:00:00.000Z", "2024-02-29T00:00:00.000Z"),
    ],
)
def test_the_forms_auth0_data_comes_in(text: str, instant: str) -> None:
    assert date_key(text) == instant
    assert normalize_date(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2023-W22-5",  # ISO week date: fromisoformat reads it, Auth0 does not write it
        "20230602T105805Z",
        "2023-06-02T10:58:05,996Z",
        "2023-06-02T10:58:05.9961234567Z",  # 10 digits
        "2023-06-02T10:58:05.996+24:00",
        "2023-02-29T00:00:00.000Z",
        "2023-06-02T24:00:00.000Z",
        "2023-06-02Z",
        "",
    ],
)
def test_what_is_not_a_date_is_refused_everywhere(text: str) -> None:
    assert date_key(text) is None
    with pytest.raises(DateError):
        read_date(text)
    with pytest.raises(QueryError, match="Invalid date"):
        compile_query(f'date:"{text}"') if text else normalize_date(text)


def test_since_and_until_use_the_same_reader() -> None:
    assert parse_time("2023-06-02T12:30:00+02:00") == datetime(2023, 6, 2, 10, 30, tzinfo=UTC)
    assert parse_time("2023-06-02T10:58:05.996123456Z").microsecond == 996123
    for bad in ("2023-W22-5", "2023", "2023-06", "2023-02-30"):
        with pytest.raises(InputError, match="not a time"):
            parse_time(bad)


def test_the_emulators_own_dates_take_the_fast_path() -> None:
    # Auth0's form is its own key; an impossible day in that form is still no date
    assert date_key("2023-06-02T10:58:05.996Z") == "2023-06-02T10:58:05.996Z"
    assert date_key("2023-02-29T10:58:05.996Z") is None
    assert date_key("2023-13-01T10:58:05.996Z") is None


def test_a_run_on_a_file_prints_what_it_could_not_date(export: Path, tmp_path: Path) -> None:
    playbook = tmp_path / "logins.yaml"
    playbook.write_text(
        "playbook: 1\nname: logins\nsteps:\n  - id: logins\n    uses: auth0.search_logs\n"
        "    with: {query: 'type:\"s\"', since: '2023-06-02', until: '2023-06-03'}\n"
        "outputs:\n  count: '{{ steps.logins.output.count }}'\n"
    )
    done = soar("run", str(playbook), "--logs", str(export), "--json", "--run-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["count"] == 11
    assert "warning: 3 matching event(s) have no readable date" in done.stderr
    assert undated()[0] in done.stderr


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        ),
    ),
    st.sampled_from(["milliseconds", "microseconds", "seconds"]),
    st.sampled_from(["T", "t", " "]),
)
@settings(max_examples=300, deadline=None)
def test_any_instant_written_any_accepted_way_is_the_same_instant(
    when: datetime, spec: str, sep: str
) -> None:
    text = when.isoformat(sep=sep, timespec=spec)
    kept = {"seconds": 0, "milliseconds": when.microsecond // 1000 * 1000}.get(
        spec, when.microsecond
    )
    written = when.replace(microsecond=kept)
    assert read_date(text) == written.astimezone(UTC)
    assert date_key(text) == iso_ms(written)
    assert date_key(text.replace("+00:00", "Z")) == iso_ms(written)


def test_user_logs_come_newest_first_by_instant(tmp_path: Path) -> None:
    # log_id order is ingest order; dates written with offsets need not follow it
    path = tmp_path / "user.jsonl"
    dates = ["2023-06-02T12:30:00.000+02:00", "2023-06-02T10:40:00Z", "2023-06-02T10:20:00.5Z"]
    path.write_text(
        "".join(
            json.dumps({"log_id": log_id(n), "type": "s", "date": d, "user_id": "auth0|1"}) + "\n"
            for n, d in enumerate(dates)
        )
    )
    with start_emulator(logs_file=path, rate_limit=(1000, 5000.0)) as emu:
        settings = Auth0Settings.create(
            emu.base_url, client_id=emu.client_id, client_secret=emu.client_secret
        )
        with Auth0Client(settings, guard=DryRunGuard(False)) as client:
            got = client.get("/users/auth0%7C1/logs", {"sort": "date:-1"})
    assert [e["log_id"] for e in got] == [log_id(1), log_id(0), log_id(2)]
