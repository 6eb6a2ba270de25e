"""Run the ``soar`` command line as an operator would: a separate process, no stdin.

The child gets this process's environment without any ``SOAR_*`` or ``AUTH0_*``
variable, so a developer's shell settings can never point a test at a real
tenant; tests pass what they need in ``env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
