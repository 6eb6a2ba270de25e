"""The activities' effects on a run log, without a server: appends idempotent by sequence number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.actions import default_registry
from engine.audit.records import read_records
from engine.audit.redact import Redactor
from engine.audit.runlog import verify
from engine.errors import RunLogError
from engine.playbook.loader import load_playbook

pytest.importorskip("temporalio", reason="the temporal extra (temporalio) is not installed")

BOOK = """
playbook: 1
name: note
steps:
  - id: note
    uses: data.set
    with: {value: "{{ inputs.text }}"}
inputs:
  text: {type: string, default: hello}
outputs:
  text: "{{ steps.note.output.value }}"
"""


def test_a_retried_append_adds_only_the_records_not_there_yet(tmp_path: Path) -> None:
    from engine.temporal.effects import Effects
    from engine.temporal.settings import WorkerSettings
    from engine.temporal.spec import RunSpec

    book = tmp_path / "note.yaml"
    book.write_text(BOOK, encoding="utf-8")
    registry = default_registry()
    sha = load_playbook(book, registry).sha256
    effects = Effects(WorkerSettings(tmp_path / "runs", registry, Redactor))
    spec = RunSpec("20261201T000000Z-abcdef", str(book), sha, {}, "alice")
    log = tmp_path / "runs" / f"{spec.run_id}.jsonl"

    def types() -> list[Any]:
        return [(r["type"], r.get("step")) for r in read_records(log)]

    clock = "2026-12-01T00:00:00+00:00"
    assert effects.start(spec, clock).seq == 1
    assert effects.start(spec, clock).seq == 1  # a start tried again: one run.started
    asked = {"type": "approval.requested", "fields": {"step": "note"}}
    granted = {"type": "approval.granted", "fields": {"step": "note", "by": "--yes"}}
    assert effects.append(spec, 1, [asked, granted]) == 3
    assert effects.append(spec, 1, [asked, granted]) == 3  # its answer was lost: tried again
    assert effects.append(spec, 3, [asked]) == 4  # an attempt that got half-way ...
    assert effects.append(spec, 3, [asked, granted]) == 5  # ... and the retry adds the rest
    assert types() == [
        ("run.started", None),
        *[("approval.requested", "note"), ("approval.granted", "note")] * 2,
    ]
    with pytest.raises(RunLogError, match="expects 9"):  # ahead of the log: not this run's
        effects.append(spec, 9, [asked])
    assert len(read_records(log)) == 5
    assert read_records(log)[0]["clock"].startswith("2026-12-01T00:00:00")  # the workflow's
    checked = verify(log)  # the chain holds: nothing duplicated, nothing torn
    assert (checked.code, checked.bad_seq) == (3, None) and "intact" in checked.message


def note_run(tmp_path: Path, suffix: str, signer: Any = None) -> tuple[Any, Any, Path]:
    """The effects of a worker whose run folder is ``tmp_path/runs``, a run of BOOK, its log."""
    from engine.temporal.effects import Effects
    from engine.temporal.settings import WorkerSettings
    from engine.temporal.spec import RunSpec

    book = tmp_path / "note.yaml"
    book.write_text(BOOK, encoding="utf-8")
    registry = default_registry()
    effects = Effects(WorkerSettings(tmp_path / "runs", registry, Redactor, signer=signer))
    sha = load_playbook(book, registry).sha256
    spec = RunSpec(f"20261201T000000Z-{suffix}", str(book), sha, {}, "alice")
    return effects, spec, tmp_path / "runs" / f"{spec.run_id}.jsonl"


def test_an_append_waits_while_another_effect_of_the_run_holds_the_log(tmp_path: Path) -> None:
    """Effects of one run ask for its log's lock at the same moment (200 runs on one worker
    failed a run with RunLogBusy): an append waits for it, and the log still has one writer."""
    import threading
    import time

    from engine.run.runlock import RunLock

    effects, spec, log = note_run(tmp_path, "bcdefa")
    assert effects.start(spec, "2026-12-01T00:00:00+00:00").seq == 1
    asked = {"type": "approval.requested", "fields": {"step": "note"}}
    held = RunLock.acquire(log, "someone")
    got: list[int] = []
    appending = threading.Thread(target=lambda: got.append(effects.append(spec, 1, [asked])))
    appending.start()
    time.sleep(0.3)
    assert got == [] and len(read_records(log)) == 1  # waiting, nothing written meanwhile
    held.release()
    appending.join(timeout=10)
    assert got == [2] and [r["type"] for r in read_records(log)] == ["run.started", asked["type"]]


def test_a_cancelled_effect_runs_to_its_end_never_interrupted_halfway(tmp_path: Path) -> None:
    """A worker evicting a run cancels its local activities, and Temporal would raise
    CancelledError in each one's thread wherever it is: as an append had just taken the run
    log's lock (lost before the ``with`` owned it: the lock held for good, every later append
    refused), or inside a step's preparation (caught at the step boundary: the step logged
    as failed). Raised at those very points here; each effect runs to its end instead."""
    from temporalio.testing import ActivityEnvironment

    from engine.run.runlock import RunLock, lock_path
    from tests.interrupts import interrupted

    effects, spec, log = note_run(tmp_path, "cdefab")
    env = ActivityEnvironment()
    assert env.run(effects.start, spec, "2026-12-01T00:00:00+00:00").seq == 1
    asked = {"type": "approval.requested", "fields": {"step": "note"}}
    with interrupted("runlock.py", "acquire", "return", env.cancel):
        assert env.run(effects.append, spec, 1, [asked]) == 2
    with RunLock.acquire(log, "the next append"):  # free at once: the next one is not refused
        pass
    assert not lock_path(log).exists()
    env = ActivityEnvironment()
    with interrupted("step.py", "prepare", "call", env.cancel):
        plan = env.run(effects.prepare, spec, "note", 2)
    assert (plan.status, plan.seq) == ("ready", 3)
    assert [r["type"] for r in read_records(log)] == [
        "run.started",
        "approval.requested",
        "step.started",
    ]
    assert verify(log).code == 3


def test_every_soar_error_a_retry_cannot_change_is_not_retried() -> None:
    """Temporal matches non-retryable errors by exact class name: an error class added to
    engine.errors without its name here would be retried (5 times) instead of failing."""
    from engine import errors
    from engine.temporal.workflow import NON_RETRYABLE, RETRY

    passing = {"RunLogBusy", "UpstreamError", "RateLimitError"}  # may pass: tried again
    found, todo = set(), [errors.SoarError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    assert found - passing <= set(NON_RETRYABLE)
    assert not passing & set(NON_RETRYABLE)
    assert RETRY.maximum_attempts == 5  # never for ever (0 would be)


def test_effects_run_again_after_later_ones_answer_their_own_sequence_numbers(
    tmp_path: Path,
) -> None:
    """A worker whose workflow task fails (under load: "didn't yield within 2 seconds") loses
    its record of the local activities run in it; the workflow replays and runs them again
    on a log that the later ones made longer. Each must answer the number after its own
    records: they answered the log's length, the workflow skipped ahead, and a start run
    again began the run anew after its end (98 of 202 logs of the bench held two runs)."""
    from engine.audit.signing import generate

    signer = generate(tmp_path / "k.key", tmp_path / "k.pub")
    effects, spec, log = note_run(tmp_path, "defabc", signer)
    clock = "2026-12-01T00:00:00+00:00"

    def once() -> list[int]:
        started = effects.start(spec, clock).seq
        prepared = effects.prepare(spec, "note", started).seq
        stopped = effects.finish(spec, prepared, "awaiting_approval", "asks").records
        return [started, prepared, stopped]

    assert once() == [1, 2, 4]  # the stop's run.finished goes with its run.signed
    asked = {"type": "approval.requested", "fields": {"step": "note"}}
    assert effects.append(spec, 4, [asked]) == 5
    assert once() == [1, 2, 4]  # run again, in order, as a replay does: the same answers
    assert [r["type"] for r in read_records(log)] == [
        "run.started",
        "step.started",
        "run.finished",
        "run.signed",
        "approval.requested",
    ]
    assert verify(log).code == 3
