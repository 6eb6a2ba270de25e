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
    from engine.temporal.segments import WorkerSettings
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


def note_run(tmp_path: Path, suffix: str) -> tuple[Any, Any, Path]:
    """The effects of a worker whose run folder is ``tmp_path/runs``, a run of BOOK, its log."""
    from engine.temporal.effects import Effects
    from engine.temporal.segments import WorkerSettings
    from engine.temporal.spec import RunSpec

    book = tmp_path / "note.yaml"
    book.write_text(BOOK, encoding="utf-8")
    registry = default_registry()
    effects = Effects(WorkerSettings(tmp_path / "runs", registry, Redactor))
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


def test_an_append_cancelled_as_it_takes_the_lock_finishes_and_gives_the_lock_back(
    tmp_path: Path,
) -> None:
    """A worker evicting a run cancels its local activities: Temporal raises CancelledError
    in the activity's thread wherever it is. Raised as the lock has just been taken (before
    the ``with`` owns it), it was lost with the lock held for good; now the append is whole,
    the lock given back, and only then is the activity cancelled."""
    from temporalio.exceptions import CancelledError
    from temporalio.testing import ActivityEnvironment

    from engine.run.runlock import RunLock, lock_path
    from tests.interrupts import interrupted

    effects, spec, log = note_run(tmp_path, "cdefab")
    env = ActivityEnvironment()
    assert env.run(effects.start, spec, "2026-12-01T00:00:00+00:00").seq == 1
    asked = {"type": "approval.requested", "fields": {"step": "note"}}
    with (
        interrupted("runlock.py", "acquire", "return", env.cancel),
        pytest.raises(CancelledError),
    ):
        env.run(effects.append, spec, 1, [asked])
    assert [r["type"] for r in read_records(log)] == ["run.started", "approval.requested"]
    with RunLock.acquire(log, "the retry"):  # free at once: the retry is not refused
        pass
    assert not lock_path(log).exists()
    assert env.run(effects.append, spec, 1, [asked]) == 2  # the retry: nothing twice
    assert verify(log).code == 3
