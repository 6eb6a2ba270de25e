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

Signing: a writer given a ``Signer`` closes what it wrote (a run to its end
or its stop for approval, each resume) with a ``run.signed`` record over the
chain head (``engine.audit.signatures``). Reading (strict JSON) is ``engine.audit.records``,
checking chain and signatures ``engine.audit.verify``; both are re-exported here.
The writer never writes non-standard JSON (``allow_nan=False``, ``jsonable``).
"""

from __future__ import annotations

import functools
import json
import math
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.audit import signatures as logsigs
from engine.audit.records import (
    GENESIS,
    SIGNED,
    Parsed,
    canonical,
    last_event,
    parse,
    read_records,
    record_hash,
)
from engine.audit.redact import Redactor
from engine.audit.signing import Signer
from engine.audit.verify import VerifyResult, verify
from engine.depth import SINK_DEPTH, marker, too_deep, walk
from engine.errors import RunLogError
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
    "last_event",
    "parse",
    "read_records",
    "record_hash",
    "summarize",
    "verify",
]


def jsonable(value: Any) -> Any:
    """A plain, standard JSON copy of ``value`` that UTF-8 can hold (non-JSON values as ``str``).

    Data from a tenant or a webhook is attacker-controlled and may carry what
    standard JSON cannot: a lone surrogate (``"\\ud800"``, which UTF-8 cannot
    encode) or ``NaN``/``Infinity`` (which Python's JSON parser accepts). Neither
    may stop the log or reach it: they are kept visible as text. Nesting deeper
    than ``engine.depth.SINK_DEPTH`` is cut with a marker.
    """
    text = standard_text(value)
    if text is not None:
        return json.loads(text)
    value = walk(value, summary_leaf)
    try:
        text = json.dumps(value, default=str, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return _standard(json.loads(json.dumps(value, default=str, ensure_ascii=False)))
    return json.loads(text)


def standard_text(value: Any) -> str | None:
    """The JSON text of ``value`` (``ensure_ascii=False``) when ``jsonable`` would take it as it
    is: no nesting to cut, no ``NaN`` or ``Infinity``, nothing UTF-8 cannot hold; else None."""
    text = shallow_text(value, allow_nan=False)
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a tenant's data: walked, kept visible
        return None
    return text


def shallow_text(value: Any, **kwargs: Any) -> str | None:
    """The JSON text of ``value`` at C speed, when nothing in it is nested deeper than
    ``SINK_DEPTH`` (the cut would change it); None when it is, or cannot be encoded.

    The same text the walk and then ``json.dumps`` give (event sets by their
    summary, other mappings as dicts, other values as ``str``), for the values
    that need no cut: most, and the largest.
    """
    try:
        text = json.dumps(value, default=_log_default, ensure_ascii=False, **kwargs)
    except (RecursionError, ValueError):
        return None
    return None if too_deep(text, SINK_DEPTH) else text


def _log_default(value: Any) -> Any:
    summary = getattr(value, "log_summary", None)
    if callable(summary):
        return summary()
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _standard(value: Any) -> Any:
    return walk(value, _standard_leaf, _standard_leaf)


def _standard_leaf(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    return value


def summarize(value: Any, limit: int = MAX_SUMMARY, redact: Redact | None = None) -> Any:
    """A bounded copy of ``value`` for the log (the run itself keeps the full value).

    Short values are kept whole. Long lists become ``{"truncated": true,
    "length": n, "first": [...]}``, long strings are cut with their length
    noted, and mappings share the budget among their values. A string is
    passed through ``redact`` before it is cut: a cut through a secret would
    leave a prefix that no longer matches the secret, so the writer's own
    redaction could not mask it. Nothing is kept deeper than
    ``engine.depth.SINK_DEPTH`` levels (a deeper container is its marker).

    The work is bounded by ``limit``, not by the value: a value surely longer
    than its share (``_surely_longer``, which stops counting there) is cut
    without being encoded whole, so an output of 100,000 events costs what its
    first few do.
    """
    return _summarize(value, limit, redact, SINK_DEPTH)


def summary_leaf(value: Any) -> Any:
    """A value the log keeps by its summary (an event set's ``log_summary``), else itself."""
    summary = getattr(value, "log_summary", None)
    return summary() if callable(summary) else value


def _summarize(value: Any, limit: int, redact: Redact | None, room: int) -> Any:
    """``summarize`` of a value with ``room`` levels left for it."""
    value = summary_leaf(value)
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = dict(value)
    if not _surely_longer(value, limit):
        kept = walk(value, summary_leaf, limit=room)
        text = json.dumps(kept, default=_log_default, ensure_ascii=False)
        if len(text) <= limit:
            return json.loads(text)
    if not isinstance(value, dict | list | tuple | str):
        return jsonable(value)
    if room <= 0:
        return marker(SINK_DEPTH)
    if isinstance(value, dict):
        per = max(limit // max(len(value), 1), 64)
        return {str(k): _summarize(v, per, redact, room - 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kept_items: list[Any] = []
        used = 0
        for item in value:
            part = _summarize(item, max(limit // 4, 64), redact, room - 1)
            size = len(json.dumps(part, ensure_ascii=False))
            if used + size > limit:
                break
            kept_items.append(part)
            used += size
        return {"truncated": True, "length": len(value), "first": kept_items}
    whole = redact(value) if redact else value
    return whole[:limit] + f"... ({len(value)} chars)"


def _surely_longer(value: Any, limit: int) -> bool:
    """Whether the JSON text of ``value`` is longer than ``limit``, by a lower bound.

    Each string counts its length and quotes, each other scalar one character,
    each container its brackets and commas, each key its quotes and colon (the
    values are counted as items); counting stops as soon as the
    total passes ``limit``, so the cost is bounded by ``limit``, not by the value.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += max(len(item) + 1, 2)
            if total > limit:
                return True
            for k, v in item.items():
                total += len(k) + 3 if isinstance(k, str) else 4
                if total > limit:
                    return True
                stack.append(v)
        elif isinstance(item, list | tuple):
            total += max(len(item) + 1, 2)
            if total > limit:
                return True
            stack.extend(item)
        else:
            total += 1
        if total > limit:
            return True
    return False


class RunLogWriter:
    """Appends chained, redacted records to one run log. Thread-safe.

    With a ``signer``, ``sign()`` (and ``close()``, which calls it) appends a
    ``run.signed`` record over the chain head; every text form of the key is
    added to ``redactor`` first, so that it is masked wherever that redactor is.
    """

    def __init__(
        self,
        path: Path,
        run_id: str,
        redactor: Redactor,
        *,
        seq: int = 0,
        prev: str = GENESIS,
        signer: Signer | None = None,
        unsigned: int = 0,
    ) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.redactor = redactor
        self.seq = seq
        self.prev = prev
        self.signer = signer
        self._unsigned = unsigned  # records written since the last signature
        for form in signer.secret_forms() if signer else ():
            redactor.add(form)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    @classmethod
    def reopen(cls, path: Path, redactor: Redactor, signer: Signer | None = None) -> RunLogWriter:
        """Continue an existing log (``soar resume``), after dropping a torn last record.

        A signed log is continued only with its own key, after its signatures
        are checked with it; an unsigned one stays unsigned (``signer`` is
        dropped: a signature would vouch for records nobody signed). A log whose
        last record is an unsigned ``run.finished`` (the writer died while
        signing) is signed first.
        """
        parsed = parse(path)
        if not parsed.records:
            raise RunLogError(f"{path}: the run log has no records to continue")
        signer = _resume_signer(path, parsed.records, signer)
        if parsed.torn_at is not None:
            with Path(path).open("r+b") as f:
                f.truncate(parsed.torn_at)
                f.flush()
                os.fsync(f.fileno())
        last = parsed.records[-1]
        unsigned = logsigs.check(parsed.records).tail(len(parsed.records))
        writer = cls(
            path,
            str(last["run_id"]),
            redactor,
            seq=int(last["seq"]) + 1,
            prev=last["hash"],
            signer=signer,
            unsigned=unsigned,
        )
        if last.get("type") == "run.finished":
            writer.sign()
        return writer

    def write(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Redact, chain and append one record; returns it as written.

        With a key, a ``run.finished`` goes out in one write with its
        ``run.signed``: no crash can leave a finished segment without its
        signature (at most a torn last line, which ``reopen`` repairs).
        """
        body = self.redactor.value(jsonable(fields))
        with self._lock:
            self._open_or_raise()
            record = self._chain(type_, body, self.seq, self.prev)
            records = [record]
            if type_ == "run.finished" and self.signer is not None:
                records.append(self._signature(self.signer, record["seq"], record["hash"]))
            self._emit(records)
            return record

    def sign(self) -> dict[str, Any] | None:
        """Append a ``run.signed`` record covering every record so far (None: no key, or nothing new)."""
        with self._lock:
            if self.signer is None or self._unsigned == 0 or self._file.closed:
                return None
            record = self._signature(self.signer, self.seq - 1, self.prev)
            self._emit([record])
            return record

    def _signature(self, signer: Signer, head_seq: int, head: str) -> dict[str, Any]:
        """The ``run.signed`` record after record ``head_seq``, not redacted: a signature is not
        secret, and masking a part of it that happens to match a short secret would break it."""
        fields = logsigs.signature_fields(signer, self.run_id, head_seq, head)
        return self._chain(SIGNED, fields, head_seq + 1, head)

    def _chain(self, type_: str, body: dict[str, Any], seq: int, prev: str) -> dict[str, Any]:
        record: dict[str, Any] = {
            **body,
            "seq": seq,
            "ts": iso_ms(datetime.now(UTC)),
            "run_id": self.run_id,
            "type": type_,
            "prev_hash": prev,
        }
        record["hash"] = record_hash(record)
        return record

    def _emit(self, records: list[dict[str, Any]]) -> None:
        """Write chained records in one ``write`` and flush; the caller holds the lock."""
        self._open_or_raise()
        dump = functools.partial(json.dumps, ensure_ascii=False, sort_keys=True, allow_nan=False)
        self._file.write("".join(dump(r) + "\n" for r in records))
        self._file.flush()
        self.seq = records[-1]["seq"] + 1
        self.prev = records[-1]["hash"]
        signed = records[-1]["type"] == SIGNED
        self._unsigned = 0 if signed else self._unsigned + len(records)

    def _open_or_raise(self) -> None:
        if self._file.closed:
            raise RunLogError(f"{self.path}: the run log is closed (the run has finished)")

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
        """Sign what this writer wrote (with a key), then flush, fsync and close."""
        self.sign()
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


def _resume_signer(
    path: Path, records: list[dict[str, Any]], signer: Signer | None
) -> Signer | None:
    key = logsigs.declared_key(records)
    if key is None:
        return None
    key = key[:80]  # from the file: bounded in messages (the check below rejects a bad one)
    if signer is None:
        raise RunLogError(
            f"{path}: the run log is signed (key {key}); resume it with its private key "
            "(--signing-key FILE, SOAR_SIGNING_KEY_FILE or SOAR_SIGNING_KEY), or the records "
            "it adds would be unsigned"
        )
    if signer.key_id != key:
        raise RunLogError(
            f"{path}: the run log is signed by key {key}, not by the given key {signer.key_id}; "
            "resume it with the key it was started with"
        )
    sigs = logsigs.check(records, signer.public)
    if sigs.problem:
        raise RunLogError(f"cannot resume {path}: tampered at seq {sigs.bad_seq}: {sigs.problem}")
    return signer
