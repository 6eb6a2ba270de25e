"""``soar show`` and ``soar report`` read a run log the same way: one reader, two renderers."""

from __future__ import annotations

from pathlib import Path

import pytest
from soarcli import soar

from engine.audit.redact import Redactor
from engine.audit.runlog import RunLogWriter
from engine.audit.show import render_lines
from engine.errors import RunLogError


def test_show_refuses_what_the_report_refuses(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    foreign = tmp_path / "foreign.jsonl"
    log = RunLogWriter(foreign, "r1", Redactor())
    log.write("step.started", step="x")  # chained, but not a soar run log
    log.close()
    for path, why in ((empty, "no records"), (foreign, "no run.started record")):
        with pytest.raises(RunLogError, match=why):
            render_lines(path)
        for command in ("show", "report"):
            proc = soar(command, str(path), timeout=60)
            assert proc.returncode == 2 and why in proc.stderr, (command, proc.stderr)
            assert proc.stdout == ""
