"""The run log: one hash-chained JSON-lines file per run.

Each record carries ``seq``, ``ts``, ``run_id``, ``type``, ``prev_hash`` and
``hash`` = SHA-256 of the record's canonical JSON without ``hash``
(``sort_keys``, compact separators, ``ensure_ascii=False``), chained from 64
zeros. Writing is a pipeline: redact, then chain, then write; every record is
flushed, and ``sync()`` fsyncs (around writes and at the end).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import RunLogError
from engine.redact import Redactor
from engine.timeutil import iso_ms

GENESIS = "0" * 64
MAX_SUMMARY = 4096


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def summarize(value: Any, limit: int = MAX_SUMMARY) -> Any:
    """A bounded version of ``value`` for the log: lists are cut with their length noted."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= limit:
        return _jsonable(value)
    if isinstance(value, dict):
        per = max(limit // max(len(value), 1), 64)
        return {k: summarize(v, per) for k, v in value.items()}
    if isinstance(value, list):
        kept: list[Any] = []
        used = 0
        for item in value:
            part = summarize(item, max(limit // 4, 64))
            size = len(json.dumps(part, default=str, ensure_ascii=False))
            if used + size > limit:
                break
            kept.append(part)
            used += size
        return {"truncated": True, "length": len(value), "first": kept}
    if isinstance(value, str):
        return value[:limit] + f"... ({len(value)} chars)"
    return _jsonable(value)


class RunLogWriter:
    """Appends chained records to a run log. Thread-safe."""

    def __init__(
        self, path: Path, run_id: str, redactor: Redactor, *, seq: int = 0, prev: str = GENESIS
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.redactor = redactor
        self.seq = seq
        self.prev = prev
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    @classmethod
    def resume(cls, path: Path, redactor: Redactor) -> RunLogWriter:
        records = read_records(path)
        if not records:
            raise RunLogError(f"{path}: the run log is empty")
        last = records[-1]
        return cls(path, last["run_id"], redactor, seq=last["seq"] + 1, prev=last["hash"])

    def write(self, type_: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            record: dict[str, Any] = {
                "seq": self.seq,
                "ts": iso_ms(datetime.now(UTC)),
                "run_id": self.run_id,
                "type": type_,
                **self.redactor.value(_jsonable(fields)),
                "prev_hash": self.prev,
            }
            record["hash"] = record_hash(record)
            self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            self._file.flush()
            self.seq += 1
            self.prev = record["hash"]
            return record

    def sync(self) -> None:
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Parse every record; raises ``RunLogError`` when the file cannot be read as JSON lines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunLogError(f"{path}: cannot read the run log: {exc}") from None
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunLogError(f"{path}:{n}: not a JSON record: {exc.msg}") from None
        if not isinstance(rec, dict):
            raise RunLogError(f"{path}:{n}: not a JSON object")
        records.append(rec)
    return records


@dataclass(frozen=True)
class VerifyResult:
    """``code``: 0 intact and complete, 1 tampered, 2 unreadable, 3 intact but incomplete."""

    code: int
    message: str
    records: int = 0
    final_hash: str | None = None
    bad_seq: int | None = None


def verify(path: str | Path, expect_hash: str | None = None) -> VerifyResult:
    try:
        records = read_records(Path(path))
    except RunLogError as exc:
        return VerifyResult(2, str(exc))
    if not records:
        return VerifyResult(2, f"{path}: the run log is empty")
    prev = GENESIS
    for i, rec in enumerate(records):
        seq = rec.get("seq")
        if seq != i:
            return VerifyResult(
                1, f"tampered: record {i} has seq {seq!r} (expected {i})", i, bad_seq=i
            )
        if rec.get("prev_hash") != prev:
            return VerifyResult(
                1,
                f"tampered at seq {i}: prev_hash does not match the previous record",
                i,
                bad_seq=i,
            )
        if rec.get("hash") != record_hash(rec):
            return VerifyResult(
                1, f"tampered at seq {i}: the record's hash does not match", i, bad_seq=i
            )
        prev = rec["hash"]
    final = prev
    n = len(records)
    if expect_hash is not None and final != expect_hash:
        known = [r["hash"] for r in records]
        why = (
            "records after the expected hash were added"
            if expect_hash in known
            else "the log does not reach the expected hash (cut off or replaced)"
        )
        return VerifyResult(
            1, f"tampered: final hash {final} is not {expect_hash}: {why}", n, final
        )
    finished = [r for r in records if r.get("type") == "run.finished"]
    if not finished or records[-1].get("type") not in ("run.finished",):
        return VerifyResult(
            3, f"intact but incomplete: {n} records, no final run.finished", n, final
        )
    return VerifyResult(0, f"intact and complete: {n} records, final hash {final}", n, final)
