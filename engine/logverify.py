"""``soar verify``: recompute a run log's chain and give one of four verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import RunLogError
from engine.logread import GENESIS, parse, record_hash


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
