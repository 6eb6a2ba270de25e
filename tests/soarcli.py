"""Run the ``soar`` command line as an operator would: a separate process, no stdin
(``soar``), or on a pseudo-terminal answering its prompts (``run_on_a_terminal``).

The child gets this process's environment without any ``SOAR_*`` or ``AUTH0_*``
variable, so a developer's shell settings can never point a test at a real
tenant; tests pass what they need in ``env``.
"""

from __future__ import annotations

import ast
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


def run_on_a_terminal(
    args: list[str],
    answer: bytes | list[bytes],
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run ``soar`` on a pseudo-terminal, answer its prompts in turn, return (exit code, screen)."""
    import pty
    import select
    import time

    answers = [answer] if isinstance(answer, bytes) else list(answer)
    pid, fd = pty.fork()
    if pid == 0:  # the child: soar on the terminal
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "engine", *args], {**clean, **(env or {})})  # noqa: S606 -- our own interpreter, fixed args
    screen = b""
    answered = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        if answers and screen.count(b"Apply these writes?") > answered:
            os.write(fd, answers.pop(0))
            answered += 1
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), screen.decode("utf-8", "replace")


def spawn(
    *args: str, env: dict[str, str] | None = None, entry: tuple[str, ...] = ("-m", "engine")
) -> subprocess.Popen[str]:
    """Start ``soar`` in the background (output piped), for tests that kill it or race it.

    ``entry``: how the interpreter starts soar (``-c CODE ...`` to prepare it first).
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    return subprocess.Popen(
        [sys.executable, *entry, *args],
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


def parse_py(source: str) -> ast.Module:
    """``ast.parse``, tried again on CPython 3.11's spurious ``SystemError`` ("AST constructor
    recursion depth mismatch", python/cpython#106905: the converter's depth counter is shared
    by the threads of a process; fixed in 3.12) that a busy test worker can meet."""
    for _ in range(3):
        try:
            return ast.parse(source)
        except SystemError:
            continue
    return ast.parse(source)
