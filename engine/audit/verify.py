"""``soar verify``: recompute a run log's chain, check its signatures, give one of four verdicts.

What each verdict proves, with and without a key and with ``--expect-hash``,
is in docs/run-log.md ("What verify proves"). In short: the chain alone shows
that the records agree with each other; ``expect_hash`` that the log is the
one whose final hash was kept elsewhere; a signature checked with the
operator's public key that the key's holder wrote every record it covers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.audit import signatures as logsigs
from engine.audit.records import GENESIS, last_event, parse, record_hash
from engine.audit.signing import Verifier
from engine.errors import RunLogError


@dataclass(frozen=True)
class VerifyResult:
    """``code``: 0 intact and complete, 1 tampered, 2 unreadable, 3 intact but incomplete.

    ``signing``: ``unsigned``, ``unchecked`` (signed, no public key given) or
    ``verified``; ``unsigned_tail``: records after the last signature of a signed log.
    """

    code: int
    message: str
    records: int = 0
    final_hash: str | None = None
    bad_seq: int | None = None
    signing: str = "unsigned"
    key_id: str | None = None
    unsigned_tail: int = 0


def verify(
    path: str | Path, expect_hash: str | None = None, public_key: Verifier | None = None
) -> VerifyResult:
    """Check the chain of ``path``, its signatures, and with ``expect_hash`` its final hash.

    With ``public_key`` a signature is required: a log that is unsigned, signed
    by another key, or whose signature does not verify is tampered (1).
    """
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
            where = f"seq {i} (line {parsed.line(i)})"
            return VerifyResult(1, f"tampered at {where}: {problem}", i, bad_seq=i)
        prev = rec["hash"]
    n = len(records)
    expected = expect_hash.strip().lower() if expect_hash is not None else None
    if expected is not None and prev != expected:
        why = (
            "records were added after the expected final record"
            if expected in {r["hash"] for r in records}
            else "the log does not reach the expected hash (records cut off or replaced)"
        )
        return VerifyResult(
            1, f"tampered: final hash {prev} is not the expected {expect_hash}: {why}", n, prev
        )
    sigs = logsigs.check(records, public_key)
    signing = "unsigned" if sigs.key_id is None else "verified" if sigs.checked else "unchecked"
    tail = 0 if sigs.key_id is None else sigs.tail(n)
    done = VerifyResult(0, "", n, prev, None, signing, sigs.key_id, tail)
    if sigs.problem:
        where = f"seq {sigs.bad_seq} (line {parsed.line(sigs.bad_seq or 0)})"
        return _with(done, 1, f"tampered at {where}: {sigs.problem}", bad_seq=sigs.bad_seq)
    if public_key is not None and sigs.key_id is None:
        return _with(
            done,
            1,
            f"not signed: {n} records and no signature, so nothing proves who wrote them "
            "(the log was written without a signing key, or its signatures were removed "
            "and the chain rebuilt)",
        )
    note = _signing_note(sigs, n, tail, expected is not None)
    last = last_event(records)
    if tail and last is records[-1] and last.get("type") == "run.finished":
        # the writer puts a run.finished and its signature in one write: only a crash
        # that tore the signature's line, or an edit, separates them
        if parsed.torn_at is None:
            return _with(
                done,
                1,
                f"tampered at seq {n - 1} (line {parsed.line(n - 1)}): run.finished is not "
                "followed by its signature (records were appended after the last signature, "
                f"or the signature was removed); {note}",
                bad_seq=n - 1,
            )
        return _with(
            done,
            3,
            f"intact but incomplete: the signature after seq {n - 1} is torn (a crash); {note}",
        )
    if parsed.torn_at is not None:
        return _with(
            done, 3, f"intact but incomplete: {n} records, then a torn record (a crash); {note}"
        )
    if last.get("type") != "run.finished":
        return _with(
            done, 3, f"intact but incomplete: {n} records and no final run.finished; {note}"
        )
    return _with(done, 0, f"intact and complete: {n} records, final hash {prev}; {note}")


def _with(result: VerifyResult, code: int, message: str, **changes: Any) -> VerifyResult:
    return replace(result, code=code, message=message, **changes)


def _signing_note(sigs: logsigs.Signatures, n: int, tail: int, expected: bool) -> str:
    """What the signatures prove, in one clause."""
    if sigs.key_id is None:
        if expected:
            return (
                "UNSIGNED, and its final hash is the expected one (it is the log whose "
                "hash was kept; the kept hash is the only proof)"
            )
        return (
            "UNSIGNED: this shows the records agree with each other, not who wrote them "
            "(anyone who can edit the file can rebuild the chain); check the final hash kept "
            "when the run ended (--expect-hash), or sign runs (soar keys generate)"
        )
    if sigs.count == 0:
        return f"signed log (key {sigs.key_id}) with no signature yet: all {n} records are unsigned"
    if tail:
        last = sigs.last_signed or 0  # set: there is a signature
        covered = (
            f"records 0-{last - 1} are covered; the {tail} record(s) from seq {last + 1} "
            "follow the last signature and are NOT signed"
        )
    else:
        covered = "covering every record"
    if sigs.checked:
        return f"signed: {sigs.count} signature(s) by key {sigs.key_id} verify, {covered}"
    return (
        f"signed by key {sigs.key_id}, NOT checked: without the public key this shows only "
        "that the records agree with each other, not who wrote them (give --public-key FILE "
        f"or SOAR_VERIFY_KEY); {covered}"
    )


def _check(rec: dict[str, Any], i: int, prev: str) -> str | None:
    seq = rec.get("seq")
    if type(seq) is not int or seq != i:  # 1.0 and true equal 1 in Python, not in the text
        return f"the record in position {i} has seq {str(seq)[:40]!r} (removed or reordered)"
    if rec.get("prev_hash") != prev:
        return "prev_hash does not match the previous record's hash (removed or reordered)"
    if rec.get("hash") != record_hash(rec):
        return "the record's content does not match its hash (changed)"
    return None
