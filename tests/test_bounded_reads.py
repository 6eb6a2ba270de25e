"""Bounded reads: a huge webhook response or log line costs a bounded amount of memory.

The attacks of issue 10, item 11: a 600 MB ``http.request`` response was read
whole (only 64 KiB are kept), and a 200 MB line in a log file took 730 MB.
Here a real local server streams 200 MB, and a log file holds a 48 MB line.
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from soarcli import soar

from engine.actions.http import MAX_BODY, request
from engine.actions.registry import ActionContext
from engine.errors import LogFileError
from engine.httpguard import DryRunGuard, guarded_client
from engine.logs.files import MAX_LINE, iter_events

HUGE = 200 << 20


class Flood:
    """A server whose every answer is a ``HUGE``-byte JSON body, counting what it managed to send."""

    def __init__(self) -> None:
        self.sent = 0
        flood = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(HUGE))
                self.end_headers()
                chunk = b'["' + b"x" * ((1 << 20) - 2)
                try:
                    while flood.sent < HUGE:
                        self.wfile.write(chunk)
                        flood.sent += len(chunk)
                except OSError:  # the client hung up: what it read is all it will ever read
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"


@pytest.fixture
def flood() -> Iterator[Flood]:
    server = Flood()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_a_huge_http_response_is_streamed_and_cut(flood: Flood) -> None:
    tracemalloc.start()
    try:
        with guarded_client(DryRunGuard(False)) as http:
            result = request(ActionContext(dry_run=False, http=http), {"url": flood.url})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["truncated"] is True and result["status"] == 200
    assert isinstance(result["body"], str) and len(result["body"]) == MAX_BODY
    assert peak < 8 << 20, peak  # never the whole body (200 MB) in memory
    assert flood.sent < 64 << 20  # the connection was dropped, not drained


def test_an_over_long_log_line_is_refused_without_reading_it(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    with logs.open("w") as f:
        f.write(json.dumps({"log_id": "1", "type": "s", "date": "2026-12-01T00:00:00.000Z"}) + "\n")
        f.write('{"type": "fu", "description": "' + "x" * (48 << 20) + '"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(LogFileError) as info:
            list(iter_events(logs))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith(f"{logs}:2: line longer than {MAX_LINE} characters")
    assert peak < 32 << 20, peak
    proc = soar(
        "run", "playbooks/auth0-attack-triage.yaml", "--logs", str(logs), "--run-dir", str(tmp_path)
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{logs}:2: line longer than" in proc.stderr
