"""The run log: hash chain, verify's four verdicts, summaries, torn records, the schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audit.redact import Redactor
from engine.audit.runlog import (
    GENESIS,
    RunLogWriter,
    parse,
    read_records,
    record_hash,
    summarize,
    verify,
)
from engine.errors import RunLogError

ROOT = Path(__file__).resolve().parents[2]


def write_log(path: Path, *, finished: bool = True, redactor: Redactor | None = None) -> str:
    w = RunLogWriter(path, "run-1", redactor or Redactor())
    w.write(
        "run.started",
        playbook={"path": "p.yaml", "sha256": "0" * 64, "name": "p"},
        inputs={"ip": "203.0.113.7"},
        operator="alice",
        host="h",
        engine_version="0.1.0",
        tenant="acme.eu.auth0.com",
        dry_run=False,
    )
    w.write("step.started", step="a", action="data.set", items=None)
    w.write("step.finished", step="a", status="succeeded", duration_ms=1.5, output={"x": "é"})
    w.write("step.started", step="b", action="data.set", items=None)
    w.write("step.finished", step="b", status="succeeded", duration_ms=0.5, output=None)
    if finished:
        w.write("run.finished", status="succeeded", outputs={}, error=None, records=6)
    w.close()
    return w.prev


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_chain_follows_the_documented_formula(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    final = write_log(path)
    records = read_records(path)
    assert [r["seq"] for r in records] == list(range(6))
    prev = GENESIS
    for rec in records:
        body = {k: v for k, v in rec.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert rec["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
        assert rec["prev_hash"] == prev
        assert rec["run_id"] == "run-1"
        assert len(rec["ts"]) == 24 and rec["ts"].endswith("Z")  # 2026-11-28T08:00:00.000Z
        prev = rec["hash"]
    assert final == prev
    result = verify(path)
    assert (result.code, result.records, result.final_hash) == (0, 6, final)
    assert verify(path, expect_hash=final).code == 0


def test_verify_detects_a_changed_character(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    text = lines(path)
    assert '"a"' in text[2]
    text[2] = text[2].replace('"a"', '"A"', 1)
    path.write_text("".join(text), encoding="utf-8")
    result = verify(path)
    assert result.code == 1 and result.bad_seq == 2
    assert "seq 2" in result.message


def test_verify_detects_a_change_even_when_the_hash_is_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    records = read_records(path)
    records[1]["action"] = "auth0.delete_user"
    records[1]["hash"] = record_hash(records[1])  # forger fixes this record's own hash
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = verify(path)
    assert result.code == 1 and result.bad_seq == 2  # the next record's prev_hash no longer fits


def test_verify_detects_a_removed_record(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    text = lines(path)
    del text[3]
    path.write_text("".join(text), encoding="utf-8")
    result = verify(path)
    assert result.code == 1 and result.bad_seq == 3


def test_verify_detects_a_reordered_pair(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    text = lines(path)
    text[3], text[4] = text[4], text[3]
    path.write_text("".join(text), encoding="utf-8")
    result = verify(path)
    assert result.code == 1 and result.bad_seq == 3


def test_a_cut_tail_is_incomplete_and_with_expect_hash_tampered(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    final = write_log(path)
    text = lines(path)
    path.write_text("".join(text[:-2]), encoding="utf-8")
    assert verify(path).code == 3
    cut = verify(path, expect_hash=final)
    assert cut.code == 1
    assert "does not reach the expected hash" in cut.message


def test_expect_hash_detects_appended_records(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    first_five = read_records(path)[4]["hash"]
    assert verify(path, expect_hash=first_five).code == 1


def test_unreadable_logs_are_2(tmp_path: Path) -> None:
    assert verify(tmp_path / "missing.jsonl").code == 2
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert verify(empty).code == 2
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n{}\n")
    assert verify(garbage).code == 2
    array = tmp_path / "array.jsonl"
    array.write_text("[1, 2]\n")
    assert verify(array).code == 2


def test_a_torn_last_record_is_incomplete_and_dropped_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path, finished=False)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"seq": 5, "type": "step.sta')  # the crash hit mid-write
    parsed = parse(path)
    assert len(parsed.records) == 5 and parsed.torn_at == len(whole)
    result = verify(path)
    assert result.code == 3 and "torn" in result.message
    w = RunLogWriter.reopen(path, Redactor())
    assert w.seq == 5
    w.write("run.finished", status="succeeded", outputs={}, error=None, records=6)
    w.close()
    assert verify(path).code == 0


def test_a_bad_line_in_the_middle_is_unreadable_not_torn(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    text = lines(path)
    text[2] = '{"broken\n'
    path.write_text("".join(text), encoding="utf-8")
    assert verify(path).code == 2
    with pytest.raises(RunLogError, match=r":3: not a JSON record"):
        read_records(path)


def test_writer_redacts_before_hashing(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    w = RunLogWriter(path, "run-1", Redactor(["hunter2-canary"]))
    rec = w.write("step.finished", step="a", error="auth failed for hunter2-canary")
    w.close()
    assert rec["error"] == "auth failed for ***"
    assert "hunter2" not in path.read_text()
    assert verify(path).code == 3


def test_a_closed_writer_refuses_records(tmp_path: Path) -> None:
    w = RunLogWriter(tmp_path / "r.jsonl", "run-1", Redactor())
    w.close()
    with pytest.raises(RunLogError, match="closed"):
        w.write("step.started", step="late")


def test_summarize_bounds_large_values() -> None:
    small = {"a": [1, 2, 3]}
    assert summarize(small) == small
    big = {"events": [{"i": i, "text": "x" * 50} for i in range(5000)], "count": 5000}
    out = summarize(big)
    assert len(json.dumps(out)) < 8192
    assert out["count"] == 5000
    assert out["events"]["truncated"] is True and out["events"]["length"] == 5000
    assert out["events"]["first"][0] == {"i": 0, "text": "x" * 50}
    assert summarize("y" * 10000).endswith("... (10000 chars)")


@settings(max_examples=500, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=30,
    ),
    st.integers(0, 300),
)
def test_a_value_that_fits_its_summary_is_kept_whole(value: Any, limit: int) -> None:
    """The summary cuts only what is longer than its limit: its shortcut never misjudges."""
    if len(json.dumps(value, ensure_ascii=False)) <= limit:
        assert summarize(value, limit) == value


class Untouchable:
    """An item a summary must never reach: it stops at its limit, not at the value's end."""

    @property
    def log_summary(self) -> Any:
        raise AssertionError("the summary read past its limit")


def test_a_summary_reads_only_its_first_items_and_stays_depth_bounded() -> None:
    events: list[Any] = [{"i": i, "details": {"body": "x" * 200}} for i in range(10_000)]
    out = summarize({"events": [*events, Untouchable()], "count": len(events)})
    assert out["events"]["length"] == 10_001 and out["events"]["first"][0] == events[0]
    deep: Any = "leaf"
    for _ in range(500):
        deep = [deep]
    cut = summarize({"a": deep})
    assert "cut: deeper than" in json.dumps(cut) and len(json.dumps(cut)) < 5000


def test_records_match_the_published_schema(tmp_path: Path) -> None:
    schema = json.loads((ROOT / "schemas" / "runlog.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    path = tmp_path / "r.jsonl"
    write_log(path)
    validator = jsonschema.Draft202012Validator(schema)
    for rec in read_records(path):
        assert list(validator.iter_errors(rec)) == [], rec
    bad: dict[str, Any] = {**read_records(path)[0], "hash": "xyz"}
    assert list(validator.iter_errors(bad))


def test_summarize_redacts_before_it_cuts_through_a_secret() -> None:
    secret = "canary-S3cr3tValue-0042"
    text = "x" * 4090 + secret + "y" * 100  # the 4096-char cut falls inside the secret
    assert summarize(text)[:4096].endswith(secret[:6])  # what a cut alone would leave
    out = summarize(text, redact=Redactor([secret]).text)
    assert secret[:6] not in out and out.startswith("x" * 4090 + "***")


def test_a_duplicate_key_that_hides_a_change_is_refused_naming_the_line(tmp_path: Path) -> None:
    """Python keeps the last of two keys, other readers the first: one hash, two records."""
    path = tmp_path / "r.jsonl"
    write_log(path)
    records = read_records(path)
    records[0]["operator"] = "mallory"  # what Python reads and hashes...
    records[0]["hash"] = record_hash(records[0])
    prev = records[0]["hash"]
    for rec in records[1:]:
        rec["prev_hash"] = prev
        rec["hash"] = prev = record_hash(rec)
    text = [json.dumps(r, ensure_ascii=False) + "\n" for r in records]
    text[0] = text[0].replace("{", '{"operator": "alice", ', 1)  # ...and what others show
    path.write_text("".join(text), encoding="utf-8")
    result = verify(path)
    assert result.code == 2, result.message
    assert f"{path}:1: refused: duplicate key 'operator'" in result.message


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ('"n": NaN', "NaN is not a JSON number"),
        ('"n": Infinity', "Infinity is not a JSON number"),
        ('"n": -Infinity', "-Infinity is not a JSON number"),
        ('"n": 1e999', "out of range"),
        ('"s": "\\ud800"', "lone surrogate"),
    ],
)
def test_non_standard_json_is_refused_naming_the_line(tmp_path: Path, bad: str, why: str) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    text = lines(path)
    text[2] = text[2].replace("{", "{" + bad + ", ", 1)
    path.write_text("".join(text), encoding="utf-8")
    result = verify(path)
    assert result.code == 2 and f"{path}:3: refused: " in result.message and why in result.message
    with pytest.raises(RunLogError, match=":3: refused"):
        read_records(path)
    path.write_text("".join(text[:2]) + text[2].rstrip("\n"), encoding="utf-8")
    assert verify(path).code == 2  # a last line that parses is not "torn", even without newline


def test_a_record_nested_too_deeply_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_log(path)
    text = lines(path)
    text[1] = '{"a": ' + "[" * 200_000 + "]" * 200_000 + "}\n"
    path.write_text("".join(text), encoding="utf-8")
    result = verify(path)
    assert result.code == 2 and ":2: not a run-log record: nested too deeply" in result.message


def test_the_writer_never_writes_nan_or_infinity(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    w = RunLogWriter(path, "run-1", Redactor())
    nums = {"nan": float("nan"), "inf": float("inf"), "neg": float("-inf"), "ok": 1.5}
    rec = w.write("step.finished", step="a", status="succeeded", duration_ms=1, output=nums)
    w.close()
    assert rec["output"] == {"nan": "NaN", "inf": "Infinity", "neg": "-Infinity", "ok": 1.5}
    assert read_records(path)[0]["output"] == rec["output"]  # the strict reader accepts it
    assert verify(path).code == 3
