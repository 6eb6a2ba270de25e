"""``soar demo``: the main job, offline, in one process, with its summary, score and files."""

from __future__ import annotations

import time
from pathlib import Path

from soarcli import soar

from engine.audit.runlog import verify


def test_demo_runs_offline_and_prints_the_summary(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = soar("demo", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 30
    err = proc.stderr
    for text in (
        "Suspicious IPs (4)",
        "indicator events",
        "Compromised accounts (3)",
        "Would be blocked",
        "recall 1.00",
        "writes sent: 0",
        "final hash:",
        "UNSIGNED: a rehearsal",
    ):
        assert text in err
    # who the dry run would block: its planned blocks, never "nobody" for this attack
    assert "Would be blocked (dry run, nothing written): auth0|" in err
    logs = list((tmp_path / "runs").glob("*.jsonl"))
    assert len(logs) == 1 and verify(logs[0]).code == 0
    assert (tmp_path / "runs" / (logs[0].stem + ".md")).read_text().startswith("# Incident report")
    # and the HTML report, its path printed, with the attack's timeline in it
    page = tmp_path / "runs" / (logs[0].stem + ".html")
    assert f"html:       runs/{page.name} (open it in a browser" in err
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert 'id="soar-mark-failures-' in page.read_text(encoding="utf-8")
