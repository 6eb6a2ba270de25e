"""Reading a run log: the canonical form that is hashed, and parsing records (format: docs/run-log.md)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import RunLogError

GENESIS = "0" * 64


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes that are hashed: the record without ``hash``, sorted keys, compact, UTF-8."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


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
        if not isinstance(rec, dict):
            raise RunLogError(f"{path}:{n}: a record must be a JSON object")
        records.append(rec)
    return Parsed(records)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The complete records of a log (a torn last line left out)."""
    return parse(path).records
