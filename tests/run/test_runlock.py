"""``RunLock``: one writer per run log, and no lock left held by nobody.

The 2-worker Temporal bench left runs whose every append was refused with
"its holder has not recorded itself yet": a worker thread interrupted while it
took the lock (Temporal raises ``CancelledError`` asynchronously in a cancelled
activity's thread) had flocked the file and never closed its descriptor, so
the live process held the lock for good. An exception at that moment is
reproduced here with a trace function, which raises where the interruption
would land; the lock must then be free.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import RunLogBusy
from engine.run.runlock import RunLock, lock_path
from tests.interrupts import interrupted


class Interrupted(Exception):
    """What a cancelled activity's thread receives (``temporalio.exceptions.CancelledError``)."""


def interrupt() -> None:
    raise Interrupted


@pytest.mark.parametrize("where", ["_write_holder", "_still_named"])
def test_an_exception_while_the_lock_is_taken_leaves_it_free(tmp_path: Path, where: str) -> None:
    log = tmp_path / "run.jsonl"
    log.write_text("")
    with interrupted("runlock.py", where, "call", interrupt), pytest.raises(Interrupted):
        RunLock.acquire(log, "worker-1")
    # the retry (on this worker or another) takes it at once, without any wait
    with RunLock.acquire(log, "worker-2") as lock:
        assert lock.fd is not None
        with pytest.raises(RunLogBusy, match="operator worker-2"):
            RunLock.acquire(log, "someone else")  # and it is still one writer at a time
    assert not lock_path(log).exists()


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)  # created and locked; its holder never recorded
time.sleep(60)
"""


def test_a_lock_file_without_its_holder_is_taken_over_only_once_its_process_is_gone(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.jsonl"
    log.write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock_path(log))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        with pytest.raises(RunLogBusy, match="has not recorded itself yet"):
            RunLock.acquire(log, "alice", wait=0.2)  # alive: never taken from it
    finally:
        proc.kill()
        proc.wait(5)
    with RunLock.acquire(log, "alice"):  # killed between create and record: the kernel let go
        assert '"operator": "alice"' in lock_path(log).read_text()
