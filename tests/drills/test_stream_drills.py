"""Stream drills: each scenario's attack streamed into ``soar serve``, scored by its incidents.

The stream carries what Auth0's does (redeliveries, bounded disorder); every
shipped stream drill must end with exactly one incident per attacker by the rule
meant for it, none on legitimate traffic, the attacked accounts blocked (live,
the rules responding ``auto``) or planned (dry-run) and nobody else touched.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from soarcli import soar

from engine.drills.drill import load_drill
from engine.drills.stream import run_stream_drill

ROOT = Path(__file__).parents[2]
STREAM = [d for d in sorted((ROOT / "drills").glob("*.yaml")) if load_drill(d).trigger == "stream"]


def test_one_stream_drill_per_scenario() -> None:
    assert {load_drill(d).scenario for d in STREAM} == {
        "credential-stuffing",
        "password-spray",
        "breached-password",
        "compromised-admin",
        "quiet",
    }


@pytest.mark.parametrize("path", STREAM, ids=lambda p: p.stem)
def test_every_stream_drill_passes(path: Path, tmp_path: Path) -> None:
    drill = load_drill(path)
    result = run_stream_drill(drill, tmp_path)
    failed = [c for c in result.checks if not c["ok"]]
    assert result.passed, failed
    m = result.metrics
    assert m["detector"]["seen"] == result.stream.events  # every event once: duplicates dropped
    assert m["incidents_meant"] == m["incidents_expected"]
    assert m["legitimate_touched"] == [] and m["incidents_on_legitimate_traffic"] == []
    if drill.scenario == "quiet":
        assert result.incidents == [] and m["contained"] == []
    else:
        assert set(result.truth["compromised_users"]) <= set(m["contained"])
        assert m["wall_s_to_detection"] is not None and m["wall_s_to_containment"] is not None
        assert m["wall_s_to_detection"] <= m["wall_s_to_containment"]


def test_a_dry_run_stream_drill_plans_the_blocks_and_sends_none(tmp_path: Path) -> None:
    drill = dataclasses.replace(
        load_drill(ROOT / "drills" / "credential-stuffing-stream.yaml"), mode="dry-run"
    )
    result = run_stream_drill(drill, tmp_path)
    assert result.passed, [c for c in result.checks if not c["ok"]]
    assert result.stream.duplicates > 0  # redelivered batches reached serve and added nothing
    assert set(result.metrics["planned"]) == set(result.truth["compromised_users"])
    assert result.metrics["contained"] == [] and result.metrics["blocked_by_responses"] == []
    assert {i["response"]["mode"] for i in result.incidents} == {"dry-run"}


def test_soar_drill_runs_a_stream_drill_by_name(tmp_path: Path) -> None:
    r = soar("drill", "quiet-stream", "--run-dir", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["trigger"] == "stream" and doc["passed"] is True and doc["incidents"] == []


def test_a_stream_drill_in_the_json_array_format(tmp_path: Path) -> None:
    base = load_drill(ROOT / "drills" / "breached-password-stream.yaml")
    drill = dataclasses.replace(base, stream={**base.stream, "format": "array", "batch": 250})
    result = run_stream_drill(drill, tmp_path)
    assert result.passed, [c for c in result.checks if not c["ok"]]
    assert result.stream.batches == -(-result.stream.events // 250)
