"""Offline log files: JSON lines, JSON arrays, log-stream items, errors with line numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.errors import LogFileError
from engine.logs.files import iter_events, search_file
from engine.logs.query import compile_query

EVENTS: list[dict[str, Any]] = [
    {"log_id": "1", "date": "2026-11-01T10:00:00.000Z", "type": "fp", "ip": "203.0.113.7"},
    {"log_id": "2", "date": "2026-11-02T10:00:00.000Z", "type": "s", "ip": "203.0.113.7"},
    {"log_id": "3", "date": "2026-11-03T10:00:00.000Z", "type": "s", "ip": "198.51.100.2"},
    {"log_id": "4", "date": None, "type": "s", "ip": "203.0.113.7"},
]
E0 = json.dumps(EVENTS[0])


def write(tmp_path: Path, text: str, name: str = "logs.jsonl") -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


@pytest.mark.parametrize(
    "text",
    [
        "\n".join(json.dumps(e) for e in EVENTS) + "\n\n",
        json.dumps(EVENTS, indent=2),
        "\n".join(json.dumps({"log_id": e["log_id"], "data": e}) for e in EVENTS),
        json.dumps([{"log_id": e["log_id"], "data": e} for e in EVENTS]),
        "\ufeff  " + "\n".join(json.dumps(e) for e in EVENTS),
    ],
    ids=["jsonl", "array", "stream-jsonl", "stream-array", "bom"],
)
def test_every_export_format_yields_the_events(tmp_path: Path, text: str) -> None:
    assert list(iter_events(write(tmp_path, text))) == EVENTS


def test_an_event_with_a_data_field_is_not_unwrapped(tmp_path: Path) -> None:
    event = {"log_id": "9", "type": "s", "date": "2026-11-01", "data": {"x": 1}, "ip": None}
    assert list(iter_events(write(tmp_path, json.dumps(event)))) == [event]


def test_empty_file_has_no_events(tmp_path: Path) -> None:
    assert list(iter_events(write(tmp_path, "  \n\n"))) == []


def test_bad_line_is_named_with_its_number(tmp_path: Path) -> None:
    f = write(tmp_path, json.dumps(EVENTS[0]) + "\n\n{not json\n")
    with pytest.raises(LogFileError, match=r"logs.jsonl:3: not a JSON line"):
        list(iter_events(f))
    f = write(tmp_path, f"[{E0},\n 2]", "arr.json")
    with pytest.raises(LogFileError, match=r"arr.json:2: item 1: not an Auth0 log event: a number"):
        list(iter_events(f))
    f = write(tmp_path, f'[{E0},\n {{"b": ]', "broken.json")
    with pytest.raises(LogFileError, match=r"broken.json:2: not valid JSON"):
        list(iter_events(f))
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"user_name": "\xe9"}\n')
    with pytest.raises(LogFileError, match="not UTF-8"):
        list(iter_events(bad))
    with pytest.raises(LogFileError, match="cannot open"):
        list(iter_events(tmp_path / "missing.jsonl"))


def test_json_lines_are_streamed(tmp_path: Path) -> None:
    f = write(tmp_path, json.dumps(EVENTS[0]) + "\n{broken\n")
    it = iter_events(f)
    assert next(it) == EVENTS[0]  # read before the bad line is reached
    with pytest.raises(LogFileError):
        next(it)


def test_search_file_uses_the_query_engine_and_the_window(tmp_path: Path) -> None:
    f = write(tmp_path, "\n".join(json.dumps(e) for e in EVENTS))
    ids = [e["log_id"] for e in search_file(f, 'type:"s" AND ip:"203.0.113.7"')]
    assert ids == ["2", "4"]
    since, until = datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 3, 10, tzinfo=UTC)
    assert [e["log_id"] for e in search_file(f, 'type:"s"', since, until)] == ["2"]
    assert [e["log_id"] for e in search_file(f, "", since=since)] == ["2", "3"]


@pytest.fixture(scope="module")
def tenant_events() -> list[dict[str, Any]]:
    from engine.emulator.scenarios import generate

    now = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    return list(generate("credential-stuffing", seed=3, events=3000, now=now).events)


def test_a_large_array_is_streamed_across_buffer_boundaries(
    tmp_path: Path, tenant_events: list[dict[str, Any]]
) -> None:
    f = write(tmp_path, json.dumps(tenant_events, indent=1), "big.json")
    assert f.stat().st_size > 2 * 2**20  # several read buffers
    assert list(iter_events(f)) == tenant_events


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[E0", r"x.json:1: not valid JSON: the array is not closed"),
        ("[E0]\n[]", r"x.json:1: not valid JSON: extra data after the array"),
        ("[E0\n E0]", r"x.json:2: not valid JSON: expected ',' or ']'"),
    ],
)
def test_broken_arrays_are_named_with_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LogFileError, match=message):
        list(iter_events(write(tmp_path, text.replace("E0", E0), "x.json")))


@pytest.mark.parametrize(
    "q",
    [
        'type:"s" AND ip:"{ip}"',
        'type:"fp" OR type:"fu"',
        'user_id:"{uid}" AND NOT type:"s"',
        'ip:"{ip}" AND user_name:*mail.example',
        "NOT ip:{ip}",
    ],
)
def test_the_line_prefilter_never_drops_a_match(
    tmp_path: Path, tenant_events: list[dict[str, Any]], q: str
) -> None:
    # an attacker IP with both failures on made-up names and a successful login
    stuffing = {e["ip"] for e in tenant_events if str(e["user_name"]).endswith("mail.example")}
    ip = next(e["ip"] for e in tenant_events if e["type"] == "s" and e["ip"] in stuffing)
    uid = next(e["user_id"] for e in tenant_events if e["type"] == "s")
    query = q.format(ip=ip, uid=uid)
    f = write(tmp_path, "\n".join(json.dumps(e) for e in tenant_events))
    got = [e["log_id"] for e in search_file(f, query)]
    expected = [e["log_id"] for e in tenant_events if compile_query(query)(e)]
    assert got == expected and got


def test_a_cut_line_is_reported_even_when_it_cannot_match(tmp_path: Path) -> None:
    f = write(tmp_path, json.dumps(EVENTS[0]) + '\n{"type": "fu", "ip": "9.9.9.9", "da\n')
    with pytest.raises(LogFileError, match=r"logs.jsonl:2"):
        list(search_file(f, 'type:"s" AND ip:"203.0.113.7"'))


STREAM = {"log_id": "900" + "1" * 53, "data": {**EVENTS[1], "log_id": "900" + "1" * 53}}
EVENTBRIDGE = {
    "version": "0",
    "id": "6b4bc671-0217-46ca-8ee0-e663c94abd91",
    "detail-type": "Auth0 log",
    "source": "aws.partner/auth0.com/acme-2308531e/auth0.logs",
    "account": "696982352112",
    "time": "2026-11-02T10:00:05Z",
    "region": "eu-west-1",
    "resources": [],
    "detail": {
        "log_id": "800" + "2" * 53,
        "data": {k: v for k, v in EVENTS[1].items() if k != "log_id"},
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a Management API page with totals, pretty-printed (not one value a line)
        (
            json.dumps(
                {"start": 0, "limit": 50, "length": 2, "total": 2, "logs": EVENTS[:2]}, indent=2
            ),
            EVENTS[:2],
        ),
        # a webhook body, and two of them one after another
        (
            json.dumps({"logs": [STREAM]}) + "\n" + json.dumps({"logs": [EVENTS[2]]}),
            [STREAM["data"], EVENTS[2]],
        ),
        # EventBridge events: the data lacks log_id, so the wrapper's is kept
        (json.dumps(EVENTBRIDGE), [{**EVENTBRIDGE["detail"]["data"], "log_id": "800" + "2" * 53}]),
        (
            json.dumps(EVENTBRIDGE, indent=4) + "\n" + json.dumps(EVENTBRIDGE, indent=4),
            [{**EVENTBRIDGE["detail"]["data"], "log_id": "800" + "2" * 53}] * 2,
        ),
        # a SIEM row: a stream item with the SIEM's own keys beside it
        (json.dumps({**STREAM, "p_log_type": "Auth0.Events", "p_row_id": "1"}), [STREAM["data"]]),
        # a stream item whose data has no log_id keeps the wrapper's
        (
            json.dumps({"log_id": "abc", "data": EVENTS[3] | {"log_id": None}}),
            [EVENTS[3] | {"log_id": None}],
        ),
        (
            json.dumps(
                {"log_id": "abc", "data": {k: v for k, v in EVENTS[0].items() if k != "log_id"}}
            ),
            [EVENTS[0] | {"log_id": "abc"}],
        ),
    ],
    ids=[
        "page-pretty",
        "webhook-bodies",
        "eventbridge",
        "eventbridge-pretty",
        "siem-row",
        "data-id-null",
        "data-no-id",
    ],
)
def test_every_wrapper_gives_its_events(tmp_path: Path, text: str, expected: list[Any]) -> None:
    assert list(iter_events(write(tmp_path, text, "x.json"))) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a users export is not a log file
        (
            f'{E0}\n{{"user_id": "auth0|1", "email": "a@example.com"}}\n',
            r"x.json:2: not an Auth0 log event: an object with keys \"user_id\", \"email\"",
        ),
        # an Event Streams CloudEvent has a type but no date
        (
            '{"id": "evt_1", "source": "urn:auth0:acme:users", "specversion": "1.0", "type": "user.created", "time": "2026-11-01T00:00:00Z", "data": {"object": {"user_id": "auth0|1"}}}',
            r"x.json:1: not an Auth0 log event",
        ),
        # an Elasticsearch document of the Auth0 integration
        (
            '{"@timestamp": "2026-11-01T00:00:00Z", "auth0": {"logs": {"data": {"type": "s"}}}}',
            r"x.json:1: not an Auth0 log event",
        ),
        ('{"type": "", "date": "2026-11-01"}', r"x.json:1: not an Auth0 log event"),
        ('{"type": "s", "when": "2026-11-01"}', r"x.json:1: not an Auth0 log event"),
        # a page with keys Auth0 does not send, or a page that lost events
        (f'{{"logs": [{E0}], "next": "x"}}', r"x.json:1: not an Auth0 log event"),
        (
            f'{{"start": 0, "limit": 50, "length": 2, "total": 2, "logs": [{E0}]}}',
            r"x.json:1: the page says length 2 but holds 1 events",
        ),
        (f'{{"logs": [{E0}, {{"logs": [{E0}]}}]}}', r"x.json:1: logs\[1\]: not an Auth0 log event"),
        (f'[{E0},\n "s"]', r"x.json:2: item 1: not an Auth0 log event: a string"),
        (
            '{\n  "detail": {"data": {"type": "s"}}\n}\n{\n"a": 1}',
            r"x.json:1: not an Auth0 log event",
        ),
        (f'{E0}\n{{\n  "type": "s",\n  "date": "2026-11-01"\n}}\n', r"x.json:2: not a JSON line"),
    ],
)
def test_anything_else_is_refused_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LogFileError, match=message):
        list(iter_events(write(tmp_path, text, "x.json")))


def test_a_line_the_prefilter_skips_is_still_checked(tmp_path: Path) -> None:
    f = write(tmp_path, E0 + '\n{"user_id": "auth0|1", "ip": "9.9.9.9"}\n')
    with pytest.raises(LogFileError, match=r"logs.jsonl:2: not an Auth0 log event"):
        list(search_file(f, 'type:"fp" AND ip:"203.0.113.7"'))


def test_an_attacker_key_cannot_flood_the_error(tmp_path: Path) -> None:
    key = "\x1b[31m" + "k" * 5000
    with pytest.raises(LogFileError) as info:
        list(iter_events(write(tmp_path, json.dumps({key: 1, **{str(i): i for i in range(50)}}))))
    assert len(str(info.value)) < 600 and "\x1b" not in str(info.value)


@pytest.mark.parametrize("layout", ["line", "array"])
def test_a_value_nested_past_the_parser_is_refused_not_a_crash(tmp_path: Path, layout: str) -> None:
    # cut at engine.depth.MAX_DEPTH as it is read (no RecursionError), then refused: an
    # array is no log event, and the error names its line
    deep = "[" * 200_000 + "]" * 200_000
    text = f"{E0}\n{deep}\n" if layout == "line" else f"[{E0},\n{deep}]"
    with pytest.raises(LogFileError, match=r"x.json:2: .*not an Auth0 log event: an array"):
        list(iter_events(write(tmp_path, text, "x.json")))


def test_an_unreadable_date_is_read_for_the_searches_to_report(tmp_path: Path) -> None:
    odd = [{"type": "s", "date": 1762000000}, {"type": "fp", "date": "02/06/2023 10:30"}]
    assert list(iter_events(write(tmp_path, "\n".join(map(json.dumps, odd))))) == odd
