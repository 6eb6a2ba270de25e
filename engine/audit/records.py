"""Reading a run log: the canonical form that is hashed, and strict parsing (format: docs/run-log.md).

Reading is strict JSON (``loads``): a duplicate key, a non-standard number
(NaN, Infinity, or one that overflows to infinity) or a lone surrogate would
let two readers see different records under one hash (most keep the last of
two duplicate keys, some the first; many refuse NaN), so such a line is
refused, naming it. The writer never produces one (``engine.audit.runlog.jsonable``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RunLogError

GENESIS = "0" * 64
SIGNED = "run.signed"  # the record type that carries a signature (engine.audit.signatures)


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes that are hashed: the record without ``hash``, sorted keys, compact, UTF-8."""
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


@dataclass(frozen=True)
class Parsed:
    """The records of a log and their line numbers; ``torn_at``: the offset of a torn last line."""

    records: list[dict[str, Any]]
    torn_at: int | None = None
    lines: list[int] = field(default_factory=list)

    def line(self, i: int) -> int:
        return self.lines[i] if i < len(self.lines) else i + 1


class _Refused(ValueError):
    """JSON that parses but that readers would not all read the same way."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Refused(f"duplicate key {key[:60]!r} (readers disagree on which value counts)")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range (it reads as infinity)")
    return value


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def loads(line: bytes) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity, valid Unicode; raises ``ValueError``."""
    value = json.loads(
        line.decode("utf-8"),
        object_pairs_hook=_unique_keys,
        parse_constant=_no_constant,
        parse_float=_finite,
    )
    if _ESCAPED_SURROGATE.search(line):  # a pair is fine; a lone half is not Unicode
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused("a string holds a lone surrogate escape (not valid Unicode)") from None
    return value


def parse(path: str | Path) -> Parsed:
    """Parse every record; raises ``RunLogError`` naming the line that is not a JSON record.

    Only the very last line may be torn (no newline, not JSON): a crash while
    it was written. It is reported through ``torn_at``, not as an error.
    Strict JSON (``loads``) is refused on every line, the last included.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RunLogError(f"{path}: cannot read the run log: {exc.strerror or exc}") from None
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    offset = 0
    lines = raw.split(b"\n")
    for n, line in enumerate(lines, 1):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        last = n == len(lines)  # only a line without its newline can be torn
        try:
            rec = loads(line)
        except _Refused as exc:
            raise RunLogError(f"{path}:{n}: refused: {exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if last:
                return Parsed(records, start, numbers)
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise RunLogError(f"{path}:{n}: not a JSON record: {why}") from None
        except RecursionError:
            raise RunLogError(f"{path}:{n}: not a run-log record: nested too deeply") from None
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise RunLogError(f"{path}:{n}: not a JSON record: {str(exc)[:120]}") from None
        if not isinstance(rec, dict):
            raise RunLogError(f"{path}:{n}: a record must be a JSON object")
        records.append(rec)
        numbers.append(n)
    return Parsed(records, None, numbers)


def last_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The last record that is not a signature: what the run last did (``{}`` when none)."""
    return next((r for r in reversed(records) if r.get("type") != SIGNED), {})


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The complete records of a log (a torn last line left out)."""
    return parse(path).records


def awaited(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The step, action, targets and reason of the last approval a run stopped for
    (``approval.required`` or ``approval.denied``); None when it stopped for none."""
    for rec in reversed(records):
        if rec.get("type") in ("approval.required", "approval.denied"):
            keys = ("step", "action", "targets", "reason")
            return {k: rec[k] for k in keys if k in rec}
    return None


def writes_recorded(records: Iterable[Mapping[str, Any]]) -> int:
    """How many writes a run log shows were sent (or attempted): ``action.call`` records,
    or the HTTP writes the guard counted, whichever is more."""
    calls = guarded = 0
    for rec in records:
        if rec.get("type") == "action.call":
            calls += 1
        elif rec.get("type") == "run.finished" and isinstance(rec.get("writes_sent"), int):
            guarded += rec["writes_sent"]
    return max(calls, guarded)
