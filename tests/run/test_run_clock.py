"""A run given its own clock (a Temporal workflow's start): searches count from it, resumes keep it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.actions import default_registry
from engine.audit.runlog import read_records
from engine.drills.drill import client_from_emulator
from engine.emulator import start_emulator
from engine.playbook.loader import load_playbook
from engine.run.executor import run_playbook
from engine.run.resume import resume_run
from engine.timeutil import iso_ms

TRIAGE = Path(__file__).resolve().parents[2] / "playbooks" / "auth0-attack-triage.yaml"
WINDOW = re.compile(r"date:\[(\S+) TO (\S+)\}")


def test_searches_count_from_the_runs_clock_and_a_resume_keeps_it(tmp_path: Path) -> None:
    registry = default_registry()
    triage = load_playbook(TRIAGE, registry)
    clock = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    with start_emulator(scenario="credential-stuffing", seed=5, rate_limit=(1000, 5000.0)) as emu:
        first = run_playbook(
            triage,
            {"block": True},
            registry=registry,
            run_dir=tmp_path,
            auth0_factory=client_from_emulator(emu),
            clock=clock,
        )
        assert first.status == "awaiting_approval"
        assert read_records(first.run_log)[0]["clock"] == iso_ms(clock)
        searched = len(emu.journal)
        later = resume_run(
            first.run_log, registry=registry, approve=True, auth0_factory=client_from_emulator(emu)
        )
        assert later.status == "succeeded"
        windows = [
            WINDOW.search(str(e["query"].get("q", "")))
            for e in emu.journal
            if e["path"] == "/api/v2/logs"
        ]
        ends = {m.group(2) for m in windows if m}
        # every search, before and after the resume, ends at the run's clock, not at its time
        assert ends == {iso_ms(clock)}
        assert len(emu.journal) > searched  # the resume did search again
