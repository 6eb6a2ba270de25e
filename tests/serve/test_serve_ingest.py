"""A log-stream batch in each of Auth0's content formats, and every way a batch is refused.

The real-shaped bodies are tests/data/auth0/stream.jsonl (JSONLINES),
stream-array.json (JSONARRAY) and webhook-body.json (JSONOBJECT with "logs"):
shapes seen in elastic/integrations' Auth0 log-stream test data, Panther's
Auth0 rules and Auth0's log catalog (tests/data/auth0/SOURCES.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.errors import BatchError
from engine.serve.ingest import MAX_LOG_ID, parse_batch

DATA = Path(__file__).resolve().parent.parent / "data" / "auth0"


def _ids(raw: bytes) -> list[str]:
    return [i.log_id for i in parse_batch(raw)]


def test_each_real_content_format_is_read_whole_and_in_order() -> None:
    lines = (DATA / "stream.jsonl").read_bytes()
    expected = [json.loads(line)["log_id"] for line in lines.splitlines() if line.strip()]
    assert _ids(lines) == expected and len(expected) == 14
    array = (DATA / "stream-array.json").read_bytes()
    assert _ids(array) == [i["log_id"] for i in json.loads(array)]
    body = (DATA / "webhook-body.json").read_bytes()
    assert _ids(body) == [i["log_id"] for i in json.loads(body)["logs"]]
    one = json.loads(array)[0]
    (item,) = parse_batch(json.dumps(one).encode())  # JSONOBJECT: one item per request
    assert item.log_id == one["log_id"] and item.data["type"] == "limit_mu"
    assert item.date == one["data"]["date"]


def test_a_stream_item_without_an_inner_log_id_gets_the_outer_one() -> None:
    (item,) = parse_batch(b'{"log_id": "900123", "data": {"type": "s"}}')
    assert item.data == {"type": "s", "log_id": "900123"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the body is empty"),
        (b"\xff\xfe{", "not UTF-8"),
        (b"[1, 2", "the body is not JSON"),
        (b'{"log_id": "1", "data": {}}\n{"log_id": "2", "data": {}\n', "line 2 is not JSON"),
        (b"[]", "no log-stream items"),
        (b'{"logs": {"log_id": "1"}}', '"logs" is not a list'),
        (b'[{"log_id": "1", "data": {}}, 7]', "item 2: expected a log-stream item"),
        (b'[{"data": {"type": "s"}}]', 'item 1: "log_id" is missing'),
        (b'[{"log_id": "1", "data": "s"}]', 'item 1: "data" is missing or not an object'),
        (b'[{"log_id": "1", "data": {"log_id": "2"}}]', 'differs from "data.log_id"'),
        (b'"just a string"', "not a JSON object, array or JSON lines"),
        (json.dumps([{"log_id": "9" * (MAX_LOG_ID + 1), "data": {}}]).encode(), "longer than"),
    ],
)
def test_a_batch_soar_cannot_read_is_refused_with_its_place(body: bytes, reason: str) -> None:
    with pytest.raises(BatchError, match=None) as caught:
        parse_batch(body)
    assert reason in str(caught.value)


def test_a_refusal_quotes_no_value_of_the_body() -> None:
    secret = "Bearer-stream-token-0123456789"
    for body in (
        f'{{"log_id": "1", "data": {{"x": "{secret}"}}}}\n{{"log_id": {secret}}}',
        f'[{{"log_id": ["{secret}"], "data": {{}}}}]',
        f"{secret}",
    ):
        with pytest.raises(BatchError) as caught:
            parse_batch(body.encode())
        assert secret not in str(caught.value) and "stream-token" not in str(caught.value)


def test_nesting_far_past_any_bound_is_cut_not_a_crash() -> None:
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    (item,) = parse_batch(f'{{"log_id": "1", "data": {{"details": {deep}}}}}'.encode())
    assert item.log_id == "1" and isinstance(item.data["details"], dict)


# what orjson (the fast reader) refuses or reads differently from the standard library:
# an integer past 64 bits (orjson: a float), NaN and a number past a double's range
# (orjson: refused), a lone surrogate escape (orjson: refused)
ODD = (
    b'{"log_id": "o1", "data": {"n": 123456789012345678901234567890, "m": [1, -18446744073709551616]}}\n'
    b'{"log_id": "o2", "data": {"x": NaN, "y": 1e400, "s": "\\ud800", "t": "caf\\u00e9 \\u2603"}}\n'
)


def test_values_the_fast_reader_would_change_are_read_and_stored_exactly(tmp_path: Path) -> None:
    from engine.serve import store

    first, second = parse_batch(ODD)
    assert first.data["n"] == 123456789012345678901234567890  # an int, every digit
    assert first.data["m"] == [1, -18446744073709551616]
    assert second.data["s"] == "\ud800" and second.data["t"] == "café ☃"
    assert second.data["x"] != second.data["x"] and second.data["y"] == float("inf")
    events = store.EventStore(store.connect(tmp_path))
    events.append([first, second])
    (_, _, back_first), (_, _, back_second) = events.after(0, 10)
    assert back_first == first.data and back_second["s"] == "\ud800"
    assert back_second["t"] == "café ☃" and back_second["y"] == float("inf")


def test_the_real_shapes_read_by_orjson_are_exactly_what_json_reads() -> None:
    """The recorded stream bodies (tests/data/auth0/SOURCES.md) through the fast reader."""

    def events(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**i["data"], "log_id": i["log_id"]} for i in items]  # the outer id, as parsed

    lines = (DATA / "stream.jsonl").read_bytes()
    expected = events([json.loads(line) for line in lines.splitlines() if line.strip()])
    assert [i.data for i in parse_batch(lines)] == expected
    array = (DATA / "stream-array.json").read_bytes()
    assert [i.data for i in parse_batch(array)] == events(json.loads(array))
    body = (DATA / "webhook-body.json").read_bytes()
    assert [i.data for i in parse_batch(body)] == events(json.loads(body)["logs"])
