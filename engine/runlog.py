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

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.depth import bounded, dumps, walk
from engine.errors import RunLogError
from engine.redact import Redactor
from engine.timeutil import iso_ms

GENESIS = "0" * 64
MAX_SUMMARY = 4096  # characters of JSON kept for a read step's output
Redact = Callable[[str], str]


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes that are hashed: the record without ``hash``, sorted keys, compact, UTF-8."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def jsonable(value: Any) -> Any:
    """A plain JSON copy of ``value`` that UTF-8 can hold (non-JSON values as ``str``).

    JSON text may carry a lone surrogate (``"\\ud800"``) that UTF-8 cannot
    encode; data from a tenant is attacker-controlled, so such a character
    must not be able to stop the log. It is kept visible as its escape text.
    Nesting deeper than ``engine.depth.SINK_DEPTH`` is cut with a marker.
    """
    text = dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _no_surrogates(json.loads(text))
    return json.loads(text)


def _no_surrogates(value: Any) -> Any:
    return walk(value, _utf8, _utf8)


def _utf8(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def summarize(value: Any, limit: int = MAX_SUMMARY, redact: Redact | None = None) -> Any:
    """A bounded copy of ``value`` for the log (the run itself keeps the full value).

    Short values are kept whole. Long lists become ``{"truncated": true,
    "length": n, "first": [...]}``, long strings are cut with their length
    noted, and mappings share the budget among their values. A string is
    passed through ``redact`` before it is cut: a cut through a secret would
    leave a prefix that no longer matches the secret, so the writer's own
    redaction could not mask it. The value is first cut at
    ``engine.depth.SINK_DEPTH`` levels, so the recursion here stays shallow.
    """
    return _summarize(bounded(value), limit, redact)


def _summarize(value: Any, limit: int, redact: Redact | None) -> Any:
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= limit:
        return json.loads(text)
    if isinstance(value, dict):
        per = max(limit // max(len(value), 1), 64)
        return {str(k): _summarize(v, per, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kept: list[Any] = []
        used = 0
        for item in value:
            part = _summarize(item, max(limit // 4, 64), redact)
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


@dataclass(frozen=True)
class Parsed:
    """The records of a log; ``torn_at`` is the byte offset of a torn last line, if any."""

    records: list[dict[str, Any]]
    torn_at: int | None = None


def parse(path: str | Path) -> Parsed:
    """Parse every record; raises ``RunLogError`` when a line is not a JSON object.

    Only the very last line may be torn (no newline, not JSON): a crash while
    it was written. It is reported through ``torn_at``, not as an error.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RunLogError(f"{path}: cannot read the run log: {exc.strerror or exc}") from None
    records: list[dict[str, Any]] = []
    offset = 0
    lines = raw.split(b"\n")
    for n, line in enumerate(lines, 1):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        last = n == len(lines)  # only a line without its newline can be torn
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if last:
                return Parsed(records, start)
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise RunLogError(f"{path}:{n}: not a JSON record: {why}") from None
        except RecursionError:  # soar writes records cut at SINK_DEPTH: this one was not
            raise RunLogError(f"{path}:{n}: not a soar record: nested too deep to read") from None
        if not isinstance(rec, dict):
            raise RunLogError(f"{path}:{n}: a record must be a JSON object")
        records.append(rec)
    return Parsed(records)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The complete records of a log (a torn last line left out)."""
    return parse(path).records


@dataclass(frozen=True)
class VerifyResult:
    """``code``: 0 intact and complete, 1 tampered, 2 unreadable, 3 intact but incomplete."""

    code: int
    message: str
    records: int = 0
    final_hash: str | None = None
    bad_seq: int | None = None


def verify(path: str | Path, expect_hash: str | None = None) -> VerifyResult:
    """Recompute the chain of ``path``; with ``expect_hash`` also detect a cut-off tail."""
    try:
        parsed = parse(path)
    except RunLogError as exc:
        return VerifyResult(2, str(exc))
    records = parsed.records
    if not records:
        return VerifyResult(2, f"{path}: no records (not a run log, or cut before its first)")
    prev = GENESIS
    for i, rec in enumerate(records):
        problem = _check(rec, i, prev)
        if problem:
            return VerifyResult(1, f"tampered at seq {i}: {problem}", i, bad_seq=i)
        prev = rec["hash"]
    n = len(records)
    if expect_hash is not None and prev != expect_hash.strip().lower():
        known = {r["hash"] for r in records}
        why = (
            "records were added after the expected final record"
            if expect_hash.strip().lower() in known
            else "the log does not reach the expected hash (records cut off or replaced)"
        )
        return VerifyResult(
            1, f"tampered: final hash {prev} is not the expected {expect_hash}: {why}", n, prev
        )
    if parsed.torn_at is not None:
        return VerifyResult(
            3, f"intact but incomplete: {n} records, then a torn record (a crash)", n, prev
        )
    if records[-1].get("type") != "run.finished":
        return VerifyResult(
            3, f"intact but incomplete: {n} records and no final run.finished", n, prev
        )
    return VerifyResult(0, f"intact and complete: {n} records, final hash {prev}", n, prev)


def _check(rec: dict[str, Any], i: int, prev: str) -> str | None:
    if rec.get("seq") != i:
        return f"the record in position {i} has seq {rec.get('seq')!r} (removed or reordered)"
    if rec.get("prev_hash") != prev:
        return "prev_hash does not match the previous record's hash (removed or reordered)"
    if rec.get("hash") != record_hash(rec):
        return "the record's content does not match its hash (changed)"
    return None
