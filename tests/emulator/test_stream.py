"""The emulator as an Auth0 custom-webhook log stream, against the recording HTTP server.

Items ``{"log_id", "data"}`` with ``data`` exactly the log object, the token
verbatim in ``Authorization``, each content format, retries after a 500 (so
the receiver sees a batch twice), health errors instead of silent drops, a
seeded bounded disorder, redeliveries, live events, and the command line.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from localserver import RecordingServer, Route, recording_server

from engine.emulator import RunningEmulator, start_emulator
from engine.emulator.logstore import LogStore
from engine.emulator.stream import StreamSettings, start_stream, stream_scenario, stream_tenant
from engine.errors import ConfigError
from engine.secrets import Secret

TOKEN = "Bearer s3cr3t-stream-token-0123456789"


def settings(url: str, **kw: Any) -> StreamSettings:
    base: dict[str, Any] = {
        "token": Secret("t", TOKEN),
        "batch": 50,
        "disorder": 0,
        "redeliver": 0.0,
        "retry_base": 0.001,
        "linger": 0.05,
    }
    return StreamSettings(url=url + "/auth0/logs", **{**base, **kw})


def header(seen: Any, name: str) -> str:
    return {k.lower(): v for k, v in seen.headers.items()}[name]


def items_of(body: Any) -> list[dict[str, Any]]:
    """A recorded body as its items, whatever the format."""
    if isinstance(body, str):  # JSON lines: the recorder could not parse it whole
        return [json.loads(line) for line in body.splitlines()]
    return body if isinstance(body, list) else [body]


def few(n: int = 7) -> LogStore:
    return LogStore(
        {
            "log_id": f"9002026112810000000000000000000000000000000000000000{i:04d}",
            "date": f"2026-11-28T10:{i // 60:02d}:{i % 60:02d}.000Z",
            "type": "fp",
            "ip": "203.0.113.7",
            "user_name": "{{ 7*7 }}\x1b[31m",  # hostile text travels as data, untouched
            "details": {"error": {"message": "Wrong email or password."}},
        }
        for i in range(n)
    )


def test_jsonl_items_are_the_log_objects_with_the_token_verbatim(
    emulator: RunningEmulator,
) -> None:
    logs = emulator.tenant.logs
    with recording_server() as srv:
        stats = stream_tenant(logs, settings(srv.url))
        seen = srv.writes()
    assert {header(r, "authorization") for r in seen} == {TOKEN}
    assert {header(r, "content-type") for r in seen} == {"application/x-ndjson"}
    items = [item for r in seen for item in items_of(r.body)]
    assert [len(items_of(r.body)) for r in seen][:-1] == [50] * (len(seen) - 1)
    assert len(items) == len(logs) == stats.events and stats.batches == len(seen)
    # date order without disorder (as events happen: the tenant's ids of two prefixes
    # are not), log_id within a date; data exactly the tenant's event
    order = sorted(range(len(logs)), key=lambda n: (logs.dates[n], logs.ids[n]))
    assert [i["log_id"] for i in items] == [logs.ids[n] for n in order]
    assert list(logs.ids) != [logs.ids[n] for n in order]  # the tenant's id order is not its dates'
    for at in (0, len(logs) // 2, len(logs) - 1):
        assert items[at] == {"log_id": logs.ids[order[at]], "data": logs.get(order[at])}
    assert (stats.retries, stats.duplicates, stats.undelivered, stats.health) == (0, 0, 0, [])


def test_real_shaped_stream_items_go_out_as_they_came_in() -> None:
    """A log stream's own items (tests/data/auth0/stream.jsonl, ELASTIC's shapes: absent
    fields omitted, a data without log_id, a redelivered line) served as a tenant and
    streamed again: one item per event, its data the event as the tenant holds it."""
    source = Path(__file__).parent.parent / "data" / "auth0" / "stream.jsonl"
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    with start_emulator(logs_file=source) as emu, recording_server() as srv:
        stats = stream_tenant(emu.tenant.logs, settings(srv.url, format="array", batch=5))
        items = [i for r in srv.writes() for i in items_of(r.body)]
    assert {i["log_id"] for i in items} == {line["log_id"] for line in lines} and stats.skipped == 0
    assert len(items) == len(lines) - 1 == stats.events  # the redelivered line is one event
    by_id = {i["log_id"]: i["data"] for i in items}
    for line in lines:
        assert {k: v for k, v in by_id[line["log_id"]].items() if k != "log_id"} == {
            k: v for k, v in line["data"].items() if k != "log_id"
        }


def test_a_drill_streams_a_scenario_and_gets_the_counts_and_the_truth() -> None:
    with recording_server() as srv:
        srv.routes["/auth0/logs"] = Route(fail_first=1, fail_status=500)
        stats, truth = stream_scenario(
            settings(srv.url, batch=100, redeliver=0.5, disorder=None),
            scenario="password-spray",
            events=400,
        )
        received = [i["data"] for r in srv.writes() for i in items_of(r.body)]
    assert truth["scenario"] == "password-spray" and truth["attacker_ips"]
    assert stats.events == len({e["log_id"] for e in received}) >= 400
    assert (stats.retries, stats.batches) == (1, -(-stats.events // 100))
    assert stats.redelivered > 0 and len(received) == stats.events + stats.duplicates
    assert {e["ip"] for e in received} >= set(truth["attacker_ips"])


@pytest.mark.parametrize("fmt", ["array", "object"])
def test_array_and_object_formats(fmt: str) -> None:
    logs = few()
    with recording_server() as srv:
        batch = 1 if fmt == "object" else 3
        stream_tenant(logs, settings(srv.url, format=fmt, batch=batch, content_type="text/x"))
        seen = srv.writes()
    bodies = [r.body for r in seen]
    if fmt == "array":
        assert [len(b) for b in bodies] == [3, 3, 1] and all(isinstance(b, list) for b in bodies)
    else:  # one item, the object itself, a request
        assert len(bodies) == 7 and all(isinstance(b, dict) and "data" in b for b in bodies)
    assert [i["data"] for b in bodies for i in items_of(b)] == [logs.get(p) for p in range(7)]
    assert {header(r, "content-type") for r in seen} == {"text/x"}


def test_an_object_carries_one_item_only() -> None:
    with pytest.raises(ConfigError, match="one log-stream item"):
        StreamSettings(url="http://127.0.0.1:1/x", token=None, format="object", batch=10)


def test_a_500_then_200_redelivers_the_batch_and_the_receiver_sees_it_twice() -> None:
    logs = few()
    with recording_server() as srv:
        srv.routes["/auth0/logs"] = Route(fail_first=1, fail_status=500)
        stats = stream_tenant(logs, settings(srv.url, batch=4))
        bodies = [r.body for r in srv.writes()]
    assert len(bodies) == 3 and bodies[0] == bodies[1]  # the failed batch, sent again
    assert (stats.batches, stats.events, stats.retries, stats.duplicates) == (2, 7, 1, 4)
    received = [i["log_id"] for b in bodies for i in items_of(b)]
    assert len(received) == 11 and set(received) == set(logs.ids)


def test_a_batch_that_keeps_failing_is_a_health_error_never_a_silent_drop() -> None:
    logs = few(3)
    with recording_server() as srv:
        srv.routes["/auth0/logs"] = Route(fail_first=100, fail_status=500)
        health: list[str] = []
        stats = stream_tenant(logs, settings(srv.url, batch=3, rounds=2), on_health=health.append)
        requests = len(srv.writes())
    assert requests == 6 and stats.requests == 6 and stats.retries == 5  # 3 attempts, 2 rounds
    assert (stats.events, stats.undelivered) == (0, 3)
    assert health == stats.health and len(health) == 2
    assert "will be tried again" in health[0] and "NOT delivered" in health[1]
    assert logs.ids[0] in health[1] and logs.ids[2] in health[1] and "HTTP 500" in health[1]
    assert all(TOKEN not in h and "s3cr3t" not in h for h in health)


def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else() -> None:
    with recording_server() as srv:
        srv.routes["/auth0/logs"] = Route(status=307, headers={"location": srv.url + "/elsewhere"})
        stats = stream_tenant(few(1), settings(srv.url, batch=1, attempts=1, rounds=1))
        paths = {r.path for r in srv.writes()}
    assert paths == {"/auth0/logs"} and srv.count("POST", "/elsewhere") == 0
    assert stats.undelivered == 1 and "HTTP 307" in stats.health[0]


def test_disorder_is_seeded_and_bounded() -> None:
    logs = few(600)

    with recording_server() as srv:

        def order(seed: int) -> list[str]:
            done = len(srv.writes())
            stream_tenant(logs, settings(srv.url, batch=100, disorder=None, seed=seed))
            return [i["log_id"] for r in srv.writes()[done:] for i in items_of(r.body)]

        first, again, other = order(3), order(3), order(4)
    assert first == again != other
    assert sorted(first) == list(logs.ids) and first != list(logs.ids)
    where = {log_id: n for n, log_id in enumerate(logs.ids)}
    moves = [abs(n - where[log_id]) for n, log_id in enumerate(first)]
    assert 0 < max(moves) <= 100  # within a batch and across the adjacent one, no further
    crossing = sum(1 for n, log_id in enumerate(first) if n // 100 != where[log_id] // 100)
    assert crossing > 0


def test_redeliveries_send_delivered_batches_again() -> None:
    logs = few(40)
    with recording_server() as srv:
        stats = stream_tenant(logs, settings(srv.url, batch=5, redeliver=1.0))
        received = [i["log_id"] for r in srv.writes() for i in items_of(r.body)]
    assert stats.events == 40 and stats.redelivered > 0
    assert len(received) == 40 + stats.duplicates and stats.duplicates == 5 * stats.redelivered
    assert set(received) == set(logs.ids)


def test_following_sends_what_the_tenant_writes_then_stops_cleanly() -> None:
    logs = few(2)
    with recording_server() as srv:
        thread, stop, stats = start_stream(logs, settings(srv.url, batch=10))
        deadline = time.monotonic() + 10
        while stats.events < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        late = dict(logs.get(1), log_id=logs.ids[1][:-4] + "9999", type="s")
        logs.append(late)
        while stats.events < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        thread.join(5)
        received = [i for r in srv.writes() for i in items_of(r.body)]
    assert not thread.is_alive()
    assert [i["log_id"] for i in received] == [*logs.ids]
    assert received[-1]["data"] == late


def test_refused_settings_say_which_and_never_show_the_token() -> None:
    with pytest.raises(ConfigError, match="plain http:// is refused"):
        StreamSettings(url="http://203.0.113.9/logs", token=Secret("t", TOKEN))
    with pytest.raises(ConfigError, match="--stream-token") as exc:
        StreamSettings(url="https://x.example/logs", token=Secret("t", "abc\r\nX-Evil: 1"))
    assert "Evil" not in str(exc.value)


def test_the_command_streams_and_reports_without_showing_the_token() -> None:
    srv = RecordingServer()
    srv.thread.start()
    env_token = "stream-token-from-the-environment-42"
    try:
        args = ["emulator", "--port", "0", "--events", "300", "--stream-to", srv.url + "/x"]
        args += ["--stream-format", "array", "--stream-batch", "100", "--stream-redeliver", "0"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "SOAR_STREAM_TOKEN": env_token},
        )
        deadline = time.monotonic() + 30
        got: list[Any] = []
        while time.monotonic() < deadline:
            got = [i for r in srv.writes() for i in items_of(r.body)]
            if len(got) >= 300:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        headers = {header(r, "authorization") for r in srv.writes()}
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
    assert proc.returncode == 0, err
    assert len({i["log_id"] for i in got}) >= 300 and headers == {env_token}
    assert "streamed 3" in err and "batches to http://127.0.0.1/***" in err
    assert env_token not in out + err


def test_stream_options_need_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    assert main(["emulator", "--port", "0", "--stream-token", "x" * 20]) == 2
    err = capsys.readouterr().err
    assert "go with --stream-to" in err and "x" * 20 not in err
    assert main(["emulator", "--port", "0", "--stream-to", "http://127.0.0.1:9/x"]) == 2
    assert "needs --stream-token (or SOAR_STREAM_TOKEN)" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_threads_left() -> Any:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.name == "soar-stream"]
    assert not any(t.is_alive() for t in left)
