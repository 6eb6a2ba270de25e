"""A real ``soar serve`` in a subprocess on port 0, and the requests a log stream makes to it.

``start_serve`` runs ``soar serve`` (the engine's CLI ``main``) with
``--port 0``, reads the first stdout line (``listening on http://HOST:PORT``)
and returns the process with its URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from soarcli import spawn

TOKEN = "stream-Token-0123456789"


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    state: Path

    def post(self, body: bytes | str, token: str | None = TOKEN, **headers: str) -> httpx.Response:
        if token is not None:
            headers.setdefault("Authorization", token)
        return httpx.post(f"{self.url}/auth0/logs", content=body, headers=headers, timeout=30)

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/healthz", timeout=10).json())

    def wait_consumed(self, timeout: float = 20) -> dict[str, Any]:
        """Until the detector has consumed every stored event; the last /healthz."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.health()
            if doc["consumed"] >= doc["stored"]:
                return doc
            assert time.monotonic() < deadline, f"the detector did not catch up: {doc}"
            time.sleep(0.02)

    def stop(self) -> tuple[str, str]:
        """SIGTERM and wait (graceful); returns the rest of stdout and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        return out, err

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=30)


def launch(state: Path, args: Sequence[str] = (), env: dict[str, str] | None = None) -> Served:
    """``soar serve --port 0 --state STATE ARGS`` started; fails with its stderr if it does not listen."""
    proc = spawn("serve", "--port", "0", "--state", str(state), *args, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on http://"):
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"soar serve did not start: {line!r} {err[-3000:]}")
    return Served(proc, line.split("listening on ", 1)[1].strip(), state)


@contextmanager
def serving(
    state: Path, args: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[Served]:
    served = launch(state, ["--token", TOKEN, *args], env)
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.kill()


def item(log_id: str, **data: Any) -> dict[str, Any]:
    """One log-stream item as Auth0 sends it: the event's log_id inside and out."""
    return {"log_id": log_id, "data": {"log_id": log_id, **data}}


def jsonl(items: Sequence[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(i) for i in items) + "\n"


def incidents(state: Path) -> list[dict[str, Any]]:
    """The incidents in ``state`` as ``soar incidents list --json`` gives them (read in-process)."""
    import sqlite3

    from engine.serve.incidents import list_incidents

    with sqlite3.connect(f"file:{state / 'soar-serve.sqlite3'}?mode=ro", uri=True) as db:
        return [i.as_json() for i in list_incidents(db)]
