"""A run whose reads answered with event sets stops for approval and resumes: the log keeps
each set's summary, the reads run again, and the writes go to the same accounts."""

from __future__ import annotations

import json
from pathlib import Path

from engine.emulator import start_emulator
from tests.soarcli import ROOT, soar

TRIAGE = ROOT / "playbooks" / "auth0-attack-triage.yaml"


def records(log: str) -> list[dict]:
    return [json.loads(line) for line in Path(log).read_text().splitlines()]


def test_a_triage_held_in_event_sets_resumes_and_blocks_the_compromised(tmp_path: Path) -> None:
    with start_emulator(scenario="credential-stuffing", seed=5, rate_limit=(1000, 5000.0)) as emu:
        args = ["run", str(TRIAGE), "-i", "block=true", "-i", "since=3d", "--json"]
        args += ["--run-dir", str(tmp_path / "runs")]
        first = soar(*args, env=emu.env(), cwd=tmp_path)
        assert first.returncode == 3, first.stderr
        log = json.loads(first.stdout)["run_log"]
        done = {r["step"]: r for r in records(log) if r["type"] == "step.finished"}
        summary = done["logins"]["output"]["events"]["event_set"]
        assert summary["count"] >= len(emu.truth["compromised_users"]) > 0
        assert len(summary["digest"]) == 64 and summary["first_date"] <= summary["last_date"]
        assert summary["first"] and summary["first"][0]["date"] == summary["first_date"]
        inputs = [r for r in records(log) if r["type"] == "step.inputs" and r["step"] == "block"]
        assert inputs and "logins" not in (inputs[-1]["outputs"] or {})  # a set is not replayed
        again = soar("resume", log, "--yes", "--json", env=emu.env(), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        blocked = json.loads(again.stdout)["outputs"]["blocked_users"]
        assert sorted(blocked) == sorted(emu.truth["compromised_users"])
        rerun = [
            r
            for r in records(log)
            if r["type"] == "step.finished" and r["step"] == "logins" and not r.get("replayed")
        ]
        assert len(rerun) == 2  # the read ran again on resume, and found the same events
        assert rerun[1]["output"]["events"]["event_set"]["digest"] == summary["digest"]
