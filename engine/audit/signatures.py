"""The signatures in a run log: the records they cover and whether they hold.

A signed log declares its key in ``run.started`` (``signing_key_id``); each
segment of the run (to ``run.finished``, whether the run ended or stopped for
approval, and each resume) is closed by a ``run.signed`` record that signs the
hash of the record just before it, and with it, through the chain, every record
before that. ``check`` walks the records once: it finds every inconsistency
without a key, and with one it also checks each signature. The records after the
last signature are the unsigned tail: the end of a run cut off by a crash, or
records anyone may have appended.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.audit.records import SIGNED
from engine.audit.signing import ALG, Signer, Verifier

KEY_ID = re.compile(r"^ed25519:[0-9a-f]{32}$")


def signature_fields(signer: Signer, run_id: str, head_seq: int, head: str) -> dict[str, Any]:
    """The fields of the ``run.signed`` record that follows record ``head_seq`` (hash ``head``)."""
    return {
        "alg": ALG,
        "key_id": signer.key_id,
        "signed_seq": head_seq,
        "signed_hash": head,
        "signature": signer.sign(run_id, head_seq, head),
    }


@dataclass(frozen=True)
class Signatures:
    """What the signatures of a log say; ``problem`` set means tampered (at ``bad_seq``)."""

    key_id: str | None  # the key run.started declares; None: an unsigned log
    count: int = 0
    last_signed: int | None = None  # position of the last run.signed record
    checked: bool = False  # there are signatures, and each was verified with a public key
    problem: str | None = None
    bad_seq: int | None = None

    def tail(self, total: int) -> int:
        """How many of ``total`` records follow the last signature (all of them if none)."""
        return total - (self.last_signed + 1 if self.last_signed is not None else 0)


def declared_key(records: Sequence[dict[str, Any]]) -> str | None:
    """The ``signing_key_id`` of the log's ``run.started`` (None: the log is not signed)."""
    first = records[0] if records else {}
    if first.get("type") != "run.started":
        return None
    value = first.get("signing_key_id")
    return None if value is None else str(value)


def check(records: Sequence[dict[str, Any]], verifier: Verifier | None = None) -> Signatures:
    """Every signature of a chain-intact log: consistent, and with ``verifier``, genuine."""
    key = declared_key(records)

    def bad(i: int, why: str) -> Signatures:
        return Signatures(key, count, last, False, why, i)

    count, last = 0, None
    if key is not None and not KEY_ID.match(key):
        return bad(0, f"run.started has a signing_key_id that is not a key id: {key[:80]!r}")
    if verifier is not None and key is not None and verifier.key_id != key:
        return bad(
            0,
            f"the log is signed by key {key}, not by the given public key {verifier.key_id} "
            "(it was re-signed with another key, or this is not its public key)",
        )
    for i, rec in enumerate(records):
        kind = rec.get("type")
        if (
            kind == "run.finished"
            and key is not None
            and i + 1 < len(records)
            and records[i + 1].get("type") != SIGNED
        ):
            return bad(
                i,
                "run.finished is not followed by its signature (the signature was removed, "
                "or records were inserted after it)",
            )
        if kind != SIGNED:
            continue
        if key is None:
            return bad(i, "a signature in a log whose run.started declares no signing key")
        problem = _inconsistent(rec, records[i - 1] if i else None, key)
        if problem:
            return bad(i, problem)
        if verifier is not None and not verifier.check(
            str(rec["run_id"]), i - 1, str(rec["signed_hash"]), str(rec["signature"])
        ):
            return bad(
                i,
                f"the signature does not verify with key {verifier.key_id}: records 0-{i - 1} "
                "were changed after they were signed, or the signature was forged",
            )
        count, last = count + 1, i
    return Signatures(key, count, last, verifier is not None and count > 0)


def _inconsistent(rec: dict[str, Any], before: dict[str, Any] | None, key: str) -> str | None:
    if before is None:
        return "a signature cannot be the first record"
    if rec.get("key_id") != key:
        return f"signed by key {str(rec.get('key_id'))[:80]!r}, but run.started declares {key}"
    if rec.get("alg") != ALG:
        return f"unknown signature algorithm {str(rec.get('alg'))[:40]!r} (expected {ALG})"
    if rec.get("signed_seq") != before.get("seq") or rec.get("signed_hash") != before.get("hash"):
        return "the signature does not cover the record just before it"
    if not isinstance(rec.get("signature"), str):
        return "the signature is missing or not a string"
    return None
