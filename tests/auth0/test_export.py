"""Checkpoint export keeps every event of the window, whatever its log_id prefix.

Auth0's log ids are a 3-digit prefix, the ingest time and 39 digits; an EU
tenant's ``800`` ids are in public test data (auth0-facts.md section 1), and
ids sort by prefix first. The tenant here holds four prefixes, each with
events before, inside and after the window.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.auth0.export import export
from engine.emulator import start_emulator
from engine.timeutil import parse_time


def event(prefix: str, date: str, n: int, type_: str = "s") -> dict[str, Any]:
    stamp = date[:19].replace("-", "").replace(":", "").replace("T", "")
    log_id = prefix + stamp + f"{n:039d}"
    return {"_id": log_id, "log_id": log_id, "date": date, "type": type_, "ip": "198.51.100.7"}


EVENTS = [
    event("800", "2026-11-01T09:00:00.000Z", 1),  # before the window
    event("800", "2026-11-02T10:00:00.000Z", 2),  # in
    event("800", "2026-11-03T10:00:00.000Z", 3),  # after
    event("900", "2026-11-01T08:00:00.000Z", 4),  # before
    event("900", "2026-11-02T11:00:00.000Z", 5),  # in
    event("900", "2026-11-02T12:00:00.000Z", 6, "fp"),  # in
    event("900", "2026-11-05T12:00:00.000Z", 7),  # after
    event("901", "2026-11-02T09:00:00.000Z", 8),  # in
    event("905", "2026-11-04T00:00:00.000Z", 9),  # after
    event("905", "2026-11-02T23:59:59.999Z", 10),  # in: the last millisecond
]
IN_WINDOW = [EVENTS[i] for i in (1, 4, 5, 7, 9)]  # in log_id order: 800, 900, 900, 901, 905


def test_every_prefix_is_exported(tmp_path: Path, auth0_client: Any) -> None:
    f = tmp_path / "tenant.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in EVENTS), encoding="utf-8")
    since, until = parse_time("2026-11-02"), parse_time("2026-11-03")
    with start_emulator(logs_file=f, rate_limit=(1000, 5000.0)) as emu:
        out = io.StringIO()
        stats = export(auth0_client(emu), out, since, until)
        asked = [e["query"].get("from") for e in emu.journal if e["path"] == "/api/v2/logs"]
    assert [json.loads(line) for line in out.getvalue().splitlines()] == IN_WINDOW
    assert stats["events"] == 5 and stats["mode"] == "checkpoint"
    # one walk, jumping inside each prefix: to `since`, and past `until` to the next prefix
    assert asked[0] == "000" + "20261102000000" + "0" * 39
    assert "900" + "20261102000000" + "0" * 39 in asked and "800" + "9" * 53 in asked
    assert len(asked) <= 10


def test_a_scenario_tenant_of_two_prefixes_exports_whole(auth0_client: Any) -> None:
    with start_emulator(scenario="quiet", events=800, rate_limit=(1000, 5000.0)) as emu:
        now = parse_time(emu.truth["now"])
        out = io.StringIO()
        stats = export(auth0_client(emu), out, now - timedelta(days=2), now + timedelta(days=1))
        ids = [json.loads(line)["log_id"] for line in out.getvalue().splitlines()]
    assert stats["events"] == emu.truth["events"] == len(set(ids)) == 800
    assert {i[:3] for i in ids} == {"800", "900"}
