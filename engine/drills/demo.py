"""``soar demo``: the main job, fully offline, against the built-in emulator.

Starts the emulator with the credential-stuffing scenario, runs the attack
triage as a dry run with ``block=true`` (so the summary shows who would be
blocked), scores it against the scenario's truth, and writes the run log, the
Markdown report and the HTML one (with the ``soar[report]`` extra) under
``runs/``. What its outputs answer (``suspicious_ips``
answers the truth's ``attacker_ips``) is what the standard drills of the
playbook declare (``engine.drills.drill.standard_answers``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.actions import default_registry
from engine.audit.htmlreport import render_html
from engine.audit.outputs import counted
from engine.audit.report import render
from engine.audit.runlog import read_records
from engine.bundled import standard_playbook
from engine.drills.drill import client_from_emulator, standard_answers
from engine.drills.scoring import same_name_answers, score
from engine.emulator import start_emulator
from engine.errors import UsageError
from engine.playbook.loader import load_playbook
from engine.run.executor import run_playbook

PLAYBOOK = "auth0-attack-triage.yaml"  # a standard playbook (engine.bundled finds it)


def run_demo(
    run_dir: Path, say: Callable[[str], None], playbook: Path | None = None
) -> dict[str, Any]:
    start = time.monotonic()
    playbook = playbook or standard_playbook(PLAYBOOK)
    say("soar demo: starting the built-in Auth0 tenant emulator (credential-stuffing scenario)...")
    with start_emulator(scenario="credential-stuffing", seed=1) as emu:
        say(f"  tenant: {emu.base_url} with {emu.truth['events']} log events, rate limit 10/20")
        say(
            f"soar demo: dry run of {playbook.name} with block=true (reads run, writes are only planned)"
        )
        result = run_playbook(
            load_playbook(playbook, default_registry()),
            {"block": True},
            registry=default_registry(),
            dry_run=True,
            run_dir=run_dir,
            auth0_factory=client_from_emulator(emu),
            tenant=f"emulator:{emu.base_url}",
            operator="soar demo",
        )
        answers = {**same_name_answers(result.outputs), **standard_answers(playbook)}
        records = read_records(result.run_log)
        metrics = score(result.outputs, emu.truth, records, answers)
        requests, writes = emu.stats.requests, len(emu.tenant.writes())
    report = result.run_log.with_suffix(".md")
    report.write_text(render(result.run_log), encoding="utf-8")
    page, missing = None, None
    try:
        text = render_html(result.run_log)
    except UsageError as exc:  # the soar[report] extra is not installed: say so, go on
        missing = str(exc)
    else:
        page = result.run_log.with_suffix(".html")
        page.write_text(text, encoding="utf-8")
    return {
        "result": result,
        "metrics": metrics,
        "answers": answers,
        "counts": counted(records),
        "requests": requests,
        "writes_sent": writes,
        "report": report,
        "html_report": page,  # None when the extra is missing; ``html_missing`` says why
        "html_missing": missing,
        "seconds": time.monotonic() - start,
    }
