"""Whole processes, timed: wall time and peak RSS (``os.wait4``) of each run, repeated."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 10**6


@dataclass(frozen=True)
class Sample:
    """One run of a process: wall seconds, peak RSS in bytes, exit code and output."""

    seconds: float
    rss: int
    returncode: int
    stdout: str
    stderr: str


# Started by run_process: runs the command and reports its wall time, peak RSS and exit code.
# A process's peak RSS counts the memory of the process that started it (exec keeps the
# high-water mark of the memory it replaces), so the command is started from this small
# interpreter (about 8 MB) and not from the bench, which holds a generated tenant.
SPAWN = """
import os, sys, time
start = time.monotonic()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.monotonic() - start
with open(sys.argv[1], "w") as f:
    f.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_process(argv: Sequence[str], cwd: Path, timeout: float = 3600) -> Sample:
    """Run ``argv`` as a whole process in ``cwd``: its wall time and peak RSS (``os.wait4``).

    The peak is the largest of the process and of the children it waited for
    (a shell pipeline's jq); about 8 MB is the floor (see ``SPAWN``). Output
    goes to files, so a large one cannot block it. After ``timeout`` seconds
    its process group is killed and its exit code is -9.
    """
    with (
        tempfile.TemporaryDirectory(prefix="bench-run-") as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(tmp) / "usage"
        spawner = [sys.executable, "-I", "-S", "-c", SPAWN, str(report), *argv]
        proc = subprocess.Popen(spawner, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        if not report.exists():  # killed, or the command could not be started
            if proc.returncode != -signal.SIGKILL:
                raise RuntimeError(f"could not run {argv[0]}: {tail(stderr)}")
            return Sample(timeout, 0, -signal.SIGKILL, stdout, stderr)
        seconds, rss, code = report.read_text(encoding="utf-8").split()
        return Sample(float(seconds), int(rss) * 1024, int(code), stdout, stderr)  # KiB on Linux


@dataclass
class Measured:
    """Repeated runs of one work by one tool: median seconds, largest peak RSS, last output."""

    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def rss(self) -> int:
        return max(s.rss for s in self.samples)

    @property
    def last(self) -> Sample:
        return self.samples[-1]

    def cell(self) -> str:
        return f"{self.seconds:.2f} s, {self.rss / MB:,.0f} MB"

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 4),
            "rss_mb": round(self.rss / MB, 1),
            "runs": len(self.samples),
        }


def measure(
    argv: Sequence[str],
    repeat: int,
    timeout: float,
    cwd: Callable[[], Path],
) -> Measured:
    """``repeat`` runs of ``argv``, each in the folder ``cwd()`` gives at that moment."""
    return Measured([run_process(argv, cwd(), timeout) for _ in range(repeat)])


def tail(text: str, n: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]
