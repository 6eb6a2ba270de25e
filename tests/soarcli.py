"""Run the ``soar`` command line as an operator would: a separate process, no stdin.

The child gets this process's environment without any ``SOAR_*`` or ``AUTH0_*``
variable, so a developer's shell settings can never point a test at a real
tenant; tests pass what they need in ``env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def soar(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**clean, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``soar`` in the background (output piped), for tests that kill it or race it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until(proc: subprocess.Popen[str], done: Callable[[], bool], timeout: float = 30) -> None:
    """Poll ``done`` until it holds; fail if ``proc`` ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not done():
        assert proc.poll() is None, f"soar ended early: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
