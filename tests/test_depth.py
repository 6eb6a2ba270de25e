"""Hostile nesting cannot stop a run: events 950 and 100,000 levels deep through the triage.

The attack (issue 10, item 10): a Management API call whose request body is
nested deeper than Python's recursion limit. Auth0 logs the caller's body in
``details.request.body`` of a ``sapi`` event (shape seen in
elastic/integrations packages/auth0/data_stream/logs/_dev/test/pipeline/
test-mgmt-api-success.json: ``details.request.{method, path, query, body,
channel, auth.user}`` with an empty ``client_name``), so the attacker
controls that nesting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from localserver import Route, recording_server
from soarcli import soar

from engine.actions.http import request
from engine.actions.registry import ActionContext
from engine.audit.redact import Redactor
from engine.audit.runlog import summarize
from engine.depth import (
    MAX_DEPTH,
    bounded,
    cut_text,
    depth_of,
    dumps,
    loads,
    loads_each,
    marker,
    too_deep,
    walk,
)
from engine.httpguard import DryRunGuard, guarded_client

TRIAGE = "playbooks/auth0-attack-triage.yaml"


def sapi(n: int, user_id: str) -> dict[str, Any]:
    return {
        "log_id": f"9002026120100000000000000000000000000000000000000{n}",
        "date": "2026-12-01T09:00:00.000Z",
        "type": "sapi",
        "description": "Update a user",
        "ip": "203.0.113.9",
        "user_id": user_id,
        "user_name": "admin@example.com",
        "client_id": "mgmt-client-id",
        "client_name": "",
        "details": {
            "request": {
                "method": "patch",
                "path": "/api/v2/users/auth0|victim",
                "query": {},
                "channel": "https://manage.auth0.com/",
                "auth": {"user": {"user_id": user_id, "email": "admin@example.com"}},
            }
        },
    }


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_line(event: dict[str, Any], levels: int) -> str:
    """``event`` with a body ``levels`` arrays deep, built as text (no encoder can write it)."""
    head = json.dumps(event)[:-1]
    body = "[" * levels + "]" * levels
    return head.replace('"method": "patch"', f'"body": {body}, "method": "patch"', 1) + "}"


def test_the_walks_are_iterative_and_cut_with_a_marker() -> None:
    value = nested(5000)
    cut = bounded(value, 10)
    assert depth_of(cut) == 10 and dumps(cut).count("cut: deeper than 10 levels") == 1
    assert Redactor(["s3cr3t-value-42"]).value({"k": value})  # no RecursionError
    assert walk(nested(3), key=str.upper) == {"A": {"A": {"A": "bottom"}}}
    text = "[" * 100_000 + "]" * 100_000
    assert depth_of(loads(text)) == MAX_DEPTH
    # brackets inside strings are not nesting; valid shallow text is left as it is
    tricky = '{"s": "[[[{{{\\"]]]", "n": [[1]]}'
    assert (
        cut_text(tricky, 2)
        == '{"s": "[[[{{{\\"]]]", "n": [' + json.dumps(marker(2), ensure_ascii=False) + "]}"
    )
    assert loads('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    assert len(json.dumps(summarize(nested(3000)))) < 5000


def test_deep_sapi_events_do_not_stop_the_triage(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    first = sapi(1, "auth0|admin-950")
    first["details"]["request"]["body"] = "BODY"
    # written as text: an encoder at 950 levels needs the stack a test worker may not have
    body = '{"a": ' * 950 + '"bottom"' + "}" * 950
    line = json.dumps(first).replace('"BODY"', body, 1)
    logs.write_text(line + "\n" + deep_line(sapi(2, "auth0|admin-100k"), 100_000) + "\n")
    runs = tmp_path / "runs"
    proc = soar("run", TRIAGE, "--logs", str(logs), "--run-dir", str(runs), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    doc = json.loads(proc.stdout)
    calls = doc["outputs"]["management_api_calls"]
    assert doc["status"] == "succeeded"
    assert [c["user_id"] for c in calls] == ["auth0|admin-950", "auth0|admin-100k"]
    assert all("cut: deeper than" in json.dumps(c) for c in calls)
    log = doc["run_log"]
    shown = {command: soar(command, log) for command in ("report", "show", "verify")}
    for command, done in shown.items():
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)
    report = shown["report"].stdout
    assert "auth0\\|admin-950" in report and "auth0\\|admin-100k" in report


def test_a_deep_item_in_a_json_array_file_is_cut(tmp_path: Path) -> None:
    logs = tmp_path / "logs.json"
    logs.write_text("[" + deep_line(sapi(3, "auth0|admin-array"), 100_000) + "]")
    proc = soar("run", TRIAGE, "--logs", str(logs), "--run-dir", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    calls = json.loads(proc.stdout)["outputs"]["management_api_calls"]
    assert [c["user_id"] for c in calls] == ["auth0|admin-array"]


def test_a_deep_http_response_is_cut() -> None:
    with recording_server() as server:
        server.routes["/deep"] = Route(body=nested(900))
        with guarded_client(DryRunGuard(False)) as http:
            result = request(ActionContext(dry_run=False, http=http), {"url": f"{server.url}/deep"})
    assert depth_of(result["body"]) == MAX_DEPTH
    assert dumps(result["body"]).endswith(f'{{"a": "{marker(MAX_DEPTH)}"}}' + "}" * 63)


def test_a_tampered_run_log_too_deep_to_read_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    log.write_text('{"seq": 0, "v": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    proc = soar("verify", str(log))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{log}:1: " in proc.stdout and "nested too deep" in proc.stdout


def test_a_walk_is_skipped_only_for_plain_json_within_the_bound() -> None:
    """``walk_keeps`` lets masking and outputs use a large plain value as it is, nothing else."""
    from collections import UserDict

    from engine.depth import SINK_DEPTH, walk_keeps
    from engine.run.plan import plain
    from engine.secrets import MASK, Secret, masked

    events = [{"i": i, "tags": ["a", None, 1.5, True]} for i in range(1000)]
    assert walk_keeps(events) and masked(events) is events and plain(events) is events
    assert walk_keeps(nested(SINK_DEPTH - 1)) and not walk_keeps(nested(SINK_DEPTH + 1))
    hidden = [*events, {"deep": [{"token": Secret("token", "canary-hidden-0042")}]}]
    assert not walk_keeps(hidden)
    assert masked(hidden)[-1] == {"deep": [{"token": MASK}]}
    assert not walk_keeps({"a": UserDict({"b": 1})}) and plain({"a": UserDict({"b": 1})}) == {
        "a": {"b": 1}
    }
    assert plain(nested(SINK_DEPTH + 5)) != nested(SINK_DEPTH + 5)  # cut, with its marker


_STRINGS_WITH_BRACKETS = st.text(alphabet='[]{}"\\/nu0 aé\x00\ud800', max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _STRINGS_WITH_BRACKETS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_STRINGS_WITH_BRACKETS, inner, max_size=3)
    ),
    max_leaves=40,
)


@given(_JSON, st.integers(0, 12), st.booleans())
def test_too_deep_says_what_the_depth_is(value: Any, limit: int, ascii_only: bool) -> None:
    """Brackets, quotes and backslashes inside strings (and keys) never count, escaped or not,
    in either encoding: the answer is the value's own depth against the limit."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert too_deep(text, limit) == (depth_of(value) > limit)


@given(_JSON, st.integers(0, 12), st.text(alphabet='[]{}"\\, :x', min_size=1, max_size=6))
def test_too_deep_never_calls_shallow_what_the_decoder_reads_deep(
    value: Any, limit: int, garbage: str
) -> None:
    """Malformed text (valid JSON with garbage spliced in) may be called deep; when it is called
    shallow, the decoder either refuses it or reads something within the limit."""
    text = json.dumps(value)
    for at in range(0, len(text) + 1, max(1, len(text) // 4)):
        spliced = text[:at] + garbage + text[at:]
        if too_deep(spliced, limit):
            continue
        try:
            read = json.loads(spliced)
        except (ValueError, RecursionError):
            continue
        assert depth_of(read) <= limit


@given(st.lists(_JSON, max_size=6), st.integers(0, 12), st.booleans())
def test_loads_each_reads_what_loads_reads_of_each_text(
    values: list[Any], limit: int, ascii_only: bool
) -> None:
    """One pass over them all tells the depth of each: the same values, cut the same way."""
    texts = [json.dumps(v, ensure_ascii=ascii_only) for v in values]
    assert loads_each(texts, limit) == [loads(t, limit) for t in texts]


def test_loads_each_refuses_a_broken_text_before_it_reads_a_deep_one() -> None:
    deep = "[" * 5000 + "]" * 5000
    # an open quote would swallow the deep text's brackets in the joined array: the broken
    # text comes first and is refused, as loads refuses it; the deep one is never decoded
    with pytest.raises(ValueError):
        loads_each(['{"a": "b', deep], limit=10)
    assert loads_each(['{"a": "b"}', deep], limit=10)[1] == loads(deep, 10)
