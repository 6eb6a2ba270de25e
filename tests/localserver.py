"""A small local HTTP server for tests: records every request, answers per path.

Started on 127.0.0.1 port 0 in a daemon thread. ``routes`` maps a path to a
``Route`` (status, JSON body, delay before answering, failures before success).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    delay: float = 0.0
    fail_first: int = 0  # answer fail_status this many times first (for retries)
    fail_status: int = 503
    hold: threading.Event | None = None  # answer only once this is set (at most 30 s)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every answer


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class RecordingServer:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.routes: dict[str, Route] = {}
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                path = self.path.split("?", 1)[0]
                route = server.routes.get(path, Route())
                with server.lock:
                    n = server.hits.get(path, 0)
                    server.hits[path] = n + 1
                if route.delay:
                    time.sleep(route.delay)
                if route.hold is not None:
                    route.hold.wait(30)
                with server.lock:
                    server.requests.append(Seen(self.command, self.path, dict(self.headers), body))
                status = route.fail_status if n < route.fail_first else route.status
                payload = json.dumps(route.body if status < 500 else {"error": "busy"}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def writes(self) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.method != "GET"]

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and r.path == path)

    def kill_when_hit(self, proc: subprocess.Popen[bytes], path: str, timeout: float = 30) -> None:
        """SIGKILL ``proc`` once a request to ``path`` has arrived: a crash in mid-request."""
        try:
            deadline = time.monotonic() + timeout
            while self.hits.get(path, 0) == 0:
                assert proc.poll() is None, f"the process ended before it reached {path}"
                assert time.monotonic() < deadline, f"the process never reached {path}"
                time.sleep(0.02)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
