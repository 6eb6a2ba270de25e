"""One writer per run log: an exclusive lock held for the whole of a run or a resume.

Two processes appending to one log would each chain their records from the
same last hash (the log no longer verifies) and could each send the same
write. ``soar run`` and ``soar resume`` therefore hold ``RunLock`` on
``<log>.lock`` from before they read the log until they have closed it.

The lock is ``fcntl.flock`` on that sibling file, which also says who holds it
(pid, host, operator, since) so that a refused process can name the holder.
The kernel drops the lock when its process ends, however it ends (SIGKILL
included): a lock file left behind by a killed run is stale and is taken over,
with or without its holder recorded. Inside a process that goes on, the lock
lives as long as its descriptor: an exception raised while it is being taken
(an error writing the holder, a thread's cancellation) closes the descriptor
before it propagates, so a lock is never left held by nobody. The moment
between ``acquire`` returning and the ``with`` owning the lock is the
caller's: a thread that may be interrupted asynchronously must not be (the
Temporal effects are registered with ``no_thread_cancel_exception``).
A holder deletes the file when it releases; a process that locked a file just
deleted that way sees that the path no longer names what it locked and tries
again, so two processes can never both believe they hold the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import RunLogBusy, RunLogError
from engine.timeutil import iso_ms

LOCK_SUFFIX = ".lock"
_ATTEMPTS = 20  # a releasing holder deletes the file; a new attempt meets a fresh one
_HOLDER_MAX = 4096  # bytes of holder description read back (the file is ours, but bounded)


def lock_path(log: Path) -> Path:
    """``runs/<id>.jsonl`` -> ``runs/<id>.jsonl.lock``."""
    return log.with_name(log.name + LOCK_SUFFIX)


@dataclass
class RunLock:
    """The held lock of one run log; ``release()`` (or leaving ``with``) gives it up."""

    path: Path
    fd: int | None

    @classmethod
    def acquire(cls, log: Path, operator: str, wait: float = 0.0) -> RunLock:
        """Take the lock of ``log`` or raise ``RunLogError`` naming who holds it.

        ``wait``: seconds to keep trying while it is held (by an effect that holds
        it only to append); by default a holder is refused at once.
        """
        deadline = time.monotonic() + wait
        pause = 0.005
        while True:
            try:
                return cls._take(log, operator)
            except RunLogBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    @classmethod
    def _take(cls, log: Path, operator: str) -> RunLock:
        path = lock_path(Path(log))
        for _ in range(_ATTEMPTS):
            fd, writable = _open(path, log)
            taken: RunLock | None = None
            try:  # whatever is raised before the lock is handed over closes it, which unlocks
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read_holder(fd)
                    raise RunLogBusy(
                        f"{log}: the run log is being written by another soar process "
                        f"({holder}); one log is written by one process at a time: wait for "
                        "that run to end, then resume it if it stopped"
                    ) from None
                named = _still_named(path, fd)
                if named and writable:
                    _write_holder(fd, operator)
                    taken = cls(path, fd)
                    return taken
                if named:  # a stale lock file of another user (replaced by ours)
                    _unlink(path, log)
            finally:
                if taken is None:
                    os.close(fd)
        raise RunLogError(f"{log}: cannot lock the run log (it keeps changing); try again")

    def release(self) -> None:
        """Delete the lock file, then unlock (in that order: see the module docstring)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            if _still_named(self.path, fd):
                self.path.unlink()
        except OSError:
            pass  # the lock itself goes with the descriptor; a leftover file is only stale
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _open(path: Path, log: Path) -> tuple[int, bool]:
    """The lock file, read-write (created if need be), else read-only (another user's)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644), True
    except PermissionError:
        pass
    except OSError as exc:
        raise RunLogError(f"{log}: cannot lock the run log: {exc.strerror}") from None
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), False
    except OSError as exc:
        raise RunLogError(f"{log}: cannot lock the run log: {exc.strerror}") from None


def _unlink(path: Path, log: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RunLogError(f"{log}: cannot replace its stale lock file: {exc.strerror}") from None


def _still_named(path: Path, fd: int) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _write_holder(fd: int, operator: str) -> None:
    holder = {
        "pid": os.getpid(),
        "host": platform.node(),
        "operator": operator,
        "since": iso_ms(datetime.now(UTC)),
    }
    data = json.dumps(holder, ensure_ascii=False).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_holder(fd: int) -> str:
    """``pid 4242 on host ir-1, operator alice, since 2026-...``, or why it is unknown."""
    try:
        raw = os.pread(fd, _HOLDER_MAX, 0)
        doc: Any = json.loads(raw.decode("utf-8")) if raw else None
    except (OSError, UnicodeDecodeError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        return "its holder has not recorded itself yet"
    pid, host, operator, since = (
        str(doc.get(k, "?"))[:200] for k in ("pid", "host", "operator", "since")
    )
    return f"pid {pid} on host {host}, operator {operator}, since {since}"
