"""The run log: one hash-chained JSON-lines file per run (format: docs/run-log.md).

Each record carries ``seq``, ``ts``, ``run_id``, ``type``, ``prev_hash`` and
``hash`` = SHA-256 of the record's canonical JSON without ``hash``
(``sort_keys``, compact separators, ``ensure_ascii=False``), chained from 64
zeros. Writing is a pipeline: redact, then chain, then write. Every record is
written with one ``write`` call and flushed; ``sync()`` fsyncs (the executor
calls it around each write action) and ``close()`` fsyncs at the end, so a
crash loses at most the record being written.

A record cut off by a crash (a last line without its newline that does not
parse) makes the log "incomplete", not "unreadable": ``verify`` says so and
``RunLogWriter.reopen`` drops that fragment before appending.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import RunLogError
from engine.logread import GENESIS, Parsed, canonical, parse, read_records, record_hash
from engine.logverify import VerifyResult, verify
from engine.redact import Redactor
from engine.timeutil import iso_ms

MAX_SUMMARY = 4096  # characters of JSON kept for a read step's output
Redact = Callable[[str], str]

# the format and the check live beside this module; callers import them from here
__all__ = [
    "GENESIS",
    "MAX_SUMMARY",
    "Parsed",
    "RunLogWriter",
    "VerifyResult",
    "canonical",
    "jsonable",
    "parse",
    "read_records",
    "record_hash",
    "summarize",
    "verify",
]


def jsonable(value: Any) -> Any:
    """A plain JSON copy of ``value`` that UTF-8 can hold (non-JSON values as ``str``).

    JSON text may carry a lone surrogate (``"\\ud800"``) that UTF-8 cannot
    encode; data from a tenant is attacker-controlled, so such a character
    must not be able to stop the log. It is kept visible as its escape text.
    """
    text = json.dumps(value, default=str, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _no_surrogates(json.loads(text))
    return json.loads(text)


def _no_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_surrogates(v) for v in value]
    return value


def summarize(value: Any, limit: int = MAX_SUMMARY, redact: Redact | None = None) -> Any:
    """A bounded copy of ``value`` for the log (the run itself keeps the full value).

    Short values are kept whole. Long lists become ``{"truncated": true,
    "length": n, "first": [...]}``, long strings are cut with their length
    noted, and mappings share the budget among their values. A string is
    passed through ``redact`` before it is cut: a cut through a secret would
    leave a prefix that no longer matches the secret, so the writer's own
    redaction could not mask it.
    """
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= limit:
        return json.loads(text)
    if isinstance(value, dict):
        per = max(limit // max(len(value), 1), 64)
        return {str(k): summarize(v, per, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kept: list[Any] = []
        used = 0
        for item in value:
            part = summarize(item, max(limit // 4, 64), redact)
            size = len(json.dumps(part, ensure_ascii=False))
            if used + size > limit:
                break
            kept.append(part)
            used += size
        return {"truncated": True, "length": len(value), "first": kept}
    if isinstance(value, str):
        whole = redact(value) if redact else value
        return whole[:limit] + f"... ({len(value)} chars)"
    return jsonable(value)


class RunLogWriter:
    """Appends chained, redacted records to one run log. Thread-safe."""

    def __init__(
        self, path: Path, run_id: str, redactor: Redactor, *, seq: int = 0, prev: str = GENESIS
    ) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.redactor = redactor
        self.seq = seq
        self.prev = prev
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    @classmethod
    def reopen(cls, path: Path, redactor: Redactor) -> RunLogWriter:
        """Continue an existing log (``soar resume``), after dropping a torn last record."""
        parsed = parse(path)
        if not parsed.records:
            raise RunLogError(f"{path}: the run log has no records to continue")
        if parsed.torn_at is not None:
            with Path(path).open("r+b") as f:
                f.truncate(parsed.torn_at)
                f.flush()
                os.fsync(f.fileno())
        last = parsed.records[-1]
        return cls(path, str(last["run_id"]), redactor, seq=int(last["seq"]) + 1, prev=last["hash"])

    def write(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Redact, chain and append one record; returns it as written."""
        body = self.redactor.value(jsonable(fields))
        with self._lock:
            if self._file.closed:
                raise RunLogError(f"{self.path}: the run log is closed (the run has finished)")
            record: dict[str, Any] = {
                **body,
                "seq": self.seq,
                "ts": iso_ms(datetime.now(UTC)),
                "run_id": self.run_id,
                "type": type_,
                "prev_hash": self.prev,
            }
            record["hash"] = record_hash(record)
            self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            self._file.flush()
            self.seq += 1
            self.prev = record["hash"]
            return record

    def sync(self) -> None:
        """Flush and fsync: what was written survives a crash of the machine.

        The fsync runs outside the lock, so that parallel writes of a
        ``for_each`` keep appending while one waits for the disk (one fsync
        covers every record written before it).
        """
        with self._lock:
            if self._file.closed:
                return
            self._file.flush()
            fd = os.dup(self._file.fileno())  # our own descriptor: close() cannot pull it away
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
