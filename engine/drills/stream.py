"""Stream drills: the scenario's attack streamed into ``soar serve``, scored by its incidents.

A drill with ``trigger: stream`` rehearses what a team runs in production: the
emulated tenant's log events go to ``soar serve`` (in this process, on a free
loopback port, with a state of its own) the way Auth0's custom-webhook log
stream sends them, redeliveries and disorder included
(``engine.emulator.stream``); the detections open incidents and the rules'
response playbooks run against the emulated tenant. The drill then scores:

- one incident per attack (``expect.incidents``: the rule meant for it, one
  incident for each value of the truth key its group names), and none on
  legitimate traffic;
- the accounts contained (``mode: live``: every rule responds ``auto`` and
  the tenant's journal shows the blocks) or planned (``mode: dry-run``: the
  responses' run logs plan them), and no legitimate account touched;
- the times: from the stream's start to the first incident and to the first
  containment write (wall clock), and the event time from the first attack
  event to the evidence that opened each incident.

``stream.response_inputs`` are given to every response playbook that declares
them (``block: true`` rehearses containment); what the drill file says is the
operator's, never the tenant's data.
"""

from __future__ import annotations

import dataclasses
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.actions import default_registry
from engine.audit.runlog import read_records
from engine.bundled import bundled_dir
from engine.drills.drill import Drill, client_from_emulator
from engine.drills.scoring import journal_blocks, write_targets
from engine.emulator import start_emulator
from engine.emulator.logstore import LogStore
from engine.emulator.stream import StreamSettings, StreamStats, stream_tenant
from engine.errors import DrillError
from engine.ipforms import address_key
from engine.playbook.loader import load_playbook
from engine.secrets import Secret
from engine.serve.detect import Detector
from engine.serve.incidents import Incident, list_incidents
from engine.serve.rules import Rule, load_rules
from engine.serve.server import Options, Service, running
from engine.timeutil import read_date

# places an event may move: a scenario's few thousand events span a day, so 5 places are
# minutes of event time, within the standard rules' lateness (a batch's 100 would be an hour)
DISORDER = 5
SETTLE_S = 120.0  # at most this long for the detector and the responses to finish
_FINISHED = {"succeeded", "failed", "error", "interrupted", "awaiting_approval", "denied"}


@dataclass(frozen=True)
class StreamDrillResult:
    """A stream drill: its incidents, the stream's counts, the truth, the metrics and the checks."""

    drill: Drill
    incidents: list[dict[str, Any]]
    stream: StreamStats
    truth: dict[str, Any]
    metrics: dict[str, Any]
    checks: list[dict[str, Any]]
    duration_s: float

    @property
    def passed(self) -> bool:
        return all(c["ok"] for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "drill": self.drill.name,
            "scenario": self.drill.scenario,
            "seed": self.drill.seed,
            "trigger": "stream",
            "mode": self.drill.mode,
            "passed": self.passed,
            "metrics": self.metrics,
            "checks": self.checks,
            "incidents": self.incidents,
            "stream": dataclasses.asdict(self.stream),
            "duration_s": round(self.duration_s, 3),
            "events": self.truth.get("events"),
        }


def rehearsed(rules: Sequence[Rule], drill: Drill) -> list[Rule]:
    """The rules as the drill rehearses them: ``live`` responds ``auto``; its response inputs added."""
    out: list[Rule] = []
    for rule in rules:
        response = rule.response
        if response is None:
            out.append(rule)
            continue
        declared = load_playbook(response.playbook, default_registry()).inputs
        extra = {k: v for k, v in drill.stream.get("response_inputs", {}).items() if k in declared}
        response = dataclasses.replace(
            response,
            inputs={**response.inputs, **extra},
            respond="auto" if drill.mode == "live" else "dry-run",
        )
        out.append(dataclasses.replace(rule, response=response))
    return out


def run_stream_drill(drill: Drill, run_dir: Path = Path("runs")) -> StreamDrillResult:
    """Stream the drill's scenario into an in-process ``soar serve``, then score its incidents."""
    folders = [Path(p) for p in drill.stream.get("detections") or [bundled_dir("detections")]]
    rules = rehearsed(load_rules(folders), drill)
    token = secrets.token_urlsafe(24)
    start = time.monotonic()
    with (
        start_emulator(scenario=drill.scenario, seed=drill.seed, events=drill.events) as emu,
        tempfile.TemporaryDirectory(prefix="soar-stream-drill-") as state,
    ):
        options = Options(
            port=0,
            tokens=(Secret("stream token", token),),
            state=Path(state),
            run_dir=run_dir,
            respond="auto" if drill.mode == "live" else "dry-run",
            auth0_factory=client_from_emulator(emu),
        )
        with running(options, rules, Detector(rules)) as (service, url):
            fmt = drill.stream.get("format", "jsonl")
            settings = StreamSettings(
                url=f"{url}/auth0/logs",
                token=Secret("stream token", token),
                format=fmt,
                batch=int(drill.stream.get("batch", 1 if fmt == "object" else 100)),
                seed=drill.seed,
                redeliver=float(drill.stream.get("redeliver", 0.1)),
                disorder=int(drill.stream.get("disorder", DISORDER)),
            )
            streamed = datetime.now(UTC)
            stats = stream_tenant(emu.tenant.logs, settings)
            found = _settled(service, Path(state))
            detected = dict(service.worker.detector.stats)
        duration = time.monotonic() - start
        journal = journal_blocks(emu.tenant.writes())
        first = _first_attack(emu.tenant.logs, emu.truth)
        responses = _responses(found)
        metrics = _score(drill, found, emu.truth, journal, first, responses)
        opened = [read_date(i.opened_at) for i in found]
        metrics["wall_s_to_detection"] = _seconds_to_first(streamed, opened)
        metrics["wall_s_to_containment"] = _seconds_to_first(streamed, _blocks_sent(responses))
        metrics["detector"] = detected
    checks = _checks(drill, metrics, stats, emu.truth)
    shown = [i.as_json() for i in found]
    return StreamDrillResult(drill, shown, stats, emu.truth, metrics, checks, duration)


def _settled(service: Service, state: Path) -> list[Incident]:
    """The incidents once every stored event is detected and every response has finished."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        backlog = service.backlog
        with sqlite3.connect(f"file:{state / 'soar-serve.sqlite3'}?mode=ro", uri=True) as db:
            found = list_incidents(db)
        waiting = [i.id for i in found if i.response and i.response["status"] not in _FINISHED]
        if backlog.consumed >= backlog.tail and not waiting:
            return found
        if time.monotonic() > deadline:
            raise DrillError(
                f"the stream drill did not settle in {SETTLE_S:.0f} s: {backlog.tail} events "
                f"stored, {backlog.consumed} detected, responses still running: {waiting}"
            )
        time.sleep(0.05)


def _score(
    drill: Drill,
    found: list[Incident],
    truth: Mapping[str, Any],
    journal: list[str],
    first_attack: datetime | None,
    responses: Mapping[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """Incidents against the truth; what the responses blocked or planned; the event time."""
    attack = _attack(truth)
    expected = drill.expect.get("incidents") or {}
    meant = [i for i in found if i.rule == expected.get("rule")]
    by = expected.get("by", "ip")
    want = sorted(_key(v, by) for v in truth.get(expected.get("truth", ""), []))
    got = sorted(_key(str(i.group.get(by, "")), by) for i in meant)
    blocked: list[str] = []
    planned: list[str] = []
    for records in responses.values():
        targets = write_targets(records)
        blocked += targets["done"]
        planned += targets["planned"]
    legit = set(truth.get("legitimate_users", []))
    return {
        "incidents": len(found),
        "incidents_meant": got,
        "incidents_expected": want,
        "incidents_on_legitimate_traffic": sorted(
            i.key for i in found if not {_key(str(v), k) for k, v in i.group.items()} <= attack
        ),
        "contained": sorted(set(journal)),
        "planned": sorted(set(planned)),
        "blocked_by_responses": sorted(set(blocked)),
        "legitimate_touched": sorted(legit & (set(journal) | set(blocked) | set(planned))),
        "responses": list(responses),
        "event_time_to_detection_s": _event_delay(found, first_attack),
    }


def _attack(truth: Mapping[str, Any]) -> set[str]:
    """What the attack is, as incident groups name it: addresses (by key) and accounts."""
    ips = {_key(ip, "ip") for ip in truth.get("attacker_ips", [])}
    return ips | set(truth.get("compromised_users", [])) | set(truth.get("hijacked_admins", []))


def _key(value: str, field: str) -> str:
    return (address_key(value) or value) if field == "ip" else value


def _first_attack(logs: LogStore, truth: Mapping[str, Any]) -> datetime | None:
    """The date of the attack's first event: from an attacker address or on a hijacked account."""
    attack = _attack(truth)
    hijacked = set(truth.get("hijacked_admins", []))
    dates = [
        read_date(logs.dates[pos])
        for pos in range(len(logs))
        if logs.dates[pos]
        and (
            _key(str(logs.value("ip", pos) or ""), "ip") in attack
            or logs.value("user_id", pos) in hijacked
        )
    ]
    return min(dates, default=None)


def _responses(found: list[Incident]) -> dict[str, list[dict[str, Any]]]:
    """Each response's run log (those written), read once: path -> records."""
    logs: dict[str, list[dict[str, Any]]] = {}
    for incident in found:
        run_log = (incident.response or {}).get("run_log")
        if run_log and Path(run_log).is_file():
            logs[run_log] = read_records(Path(run_log))
    return logs


def _blocks_sent(responses: Mapping[str, list[dict[str, Any]]]) -> list[datetime]:
    """When each containment write was sent: its ``action.call`` (logged just before the send)."""
    registry = default_registry()
    sent = []
    for records in responses.values():
        for rec in records:
            action = registry.get(str(rec.get("action")))
            if rec.get("type") == "action.call" and action is not None and action.blocks:
                sent.append(read_date(str(rec["ts"])))
    return sent


def _seconds_to_first(start: datetime, moments: list[datetime]) -> float | None:
    """Seconds of wall clock from ``start`` to the first of ``moments`` (None: there is none)."""
    return round((min(moments) - start).total_seconds(), 3) if moments else None


def _event_delay(found: list[Incident], first_attack: datetime | None) -> float | None:
    """Event time from the first attack event to the evidence that opened the first incident."""
    if first_attack is None or not found:
        return None
    opened = min(read_date(i.last) for i in found)
    return round((opened - first_attack).total_seconds(), 3)


def _checks(
    drill: Drill, metrics: Mapping[str, Any], stats: StreamStats, truth: Mapping[str, Any]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        out.append({"check": name, "ok": bool(ok), "detail": detail})

    add("every event delivered", stats.undelivered == 0, f"{stats.undelivered} undelivered")
    late = metrics["detector"].get("too_late", 0)
    add("no event too late for the rules", late == 0, f"{late} past the rules' lateness")
    if drill.expect.get("incidents"):
        want, got = metrics["incidents_expected"], metrics["incidents_meant"]
        add("one incident per attack", got == want, f"expected {want}, got {got}")
    extra = metrics["incidents_on_legitimate_traffic"]
    add("no incident on legitimate traffic", not extra, f"{extra}" if extra else "none")
    contained = drill.expect.get("contained")
    if contained:
        truth_key = "contained" if drill.mode == "live" else "planned"
        want = set(truth.get(contained, []))
        got = set(metrics[truth_key])
        add(
            f"{'blocked' if drill.mode == 'live' else 'planned'}: every truth.{contained}",
            want <= got,
            f"missing {sorted(want - got)}",
        )
    if drill.expect.get("no_legitimate_blocked", True):
        hit = metrics["legitimate_touched"]
        add("no legitimate user blocked", not hit, f"hit: {hit}" if hit else "none")
    return out
