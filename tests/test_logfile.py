"""Offline log files: JSON lines, JSON arrays, log-stream items, errors with line numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.logfile import LogFileError, iter_events, search_file
from engine.query import compile_query

EVENTS: list[dict[str, Any]] = [
    {"log_id": "1", "date": "2026-11-01T10:00:00.000Z", "type": "fp", "ip": "203.0.113.7"},
    {"log_id": "2", "date": "2026-11-02T10:00:00.000Z", "type": "s", "ip": "203.0.113.7"},
    {"log_id": "3", "date": "2026-11-03T10:00:00.000Z", "type": "s", "ip": "198.51.100.2"},
    {"log_id": "4", "date": None, "type": "s", "ip": "203.0.113.7"},
]


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
    f = write(tmp_path, '[{"a": 1},\n 2]', "arr.json")
    with pytest.raises(LogFileError, match=r"arr.json: item 1: expected a JSON object"):
        list(iter_events(f))
    f = write(tmp_path, '[{"a": 1},\n {"b": ]', "broken.json")
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
        ('[{"a": 1}', r"x.json:1: not valid JSON: the array is not closed"),
        ('[{"a": 1}]\n[]', r"x.json:1: not valid JSON: extra data after the array"),
        ('[{"a": 1}\n {"b": 2}]', r"x.json:2: not valid JSON: expected ',' or ']'"),
    ],
)
def test_broken_arrays_are_named_with_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LogFileError, match=message):
        list(iter_events(write(tmp_path, text, "x.json")))


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
    ip = next(e["ip"] for e in tenant_events if str(e["user_name"]).endswith("mail.example"))
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
