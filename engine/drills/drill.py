"""Drills: run a playbook against an emulated tenant and score it against the truth.

A drill file (``drills/*.yaml``, schema ``schemas/drill.schema.json``) names a
scenario, a playbook, its inputs, the mode (``dry-run``, or ``live`` with the
run's writes approved) and the expectations. Inputs may use ``{{ truth.x }}``
(the drill file is the operator's, not data); nothing from the tenant's data is
ever rendered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from engine.actions import default_registry
from engine.audit.runlog import read_records
from engine.auth0 import Auth0Client, Auth0Settings
from engine.bundled import bundled_dir
from engine.drills.scoring import journal_blocks, same_name_answers, score
from engine.emulator import RunningEmulator, start_emulator
from engine.emulator.reactions import containment, continue_attack
from engine.errors import DrillError, SoarError
from engine.expr.templates import render_value
from engine.httpguard import DryRunGuard
from engine.ipforms import address_key
from engine.issues import Code, Issue, Location
from engine.playbook.loader import load_playbook
from engine.playbook.source import load_yaml
from engine.run.executor import run_playbook
from engine.run.state import RunResult


@dataclass(frozen=True)
class Drill:
    """One drill: the emulated tenant (scenario, seed, size, faults), the run, the expectations.

    ``playbook`` is resolved against the drill file's folder; ``mode`` is
    ``dry-run`` (writes planned) or ``live`` (writes approved and sent to the
    emulated tenant). ``answers`` maps a truth key to the output that answers
    it (``suspicious_ips`` answers ``attacker_ips``), beside the outputs named
    after a truth key (``engine.drills.scoring.same_name_answers``).
    """

    name: str
    scenario: str
    playbook: Path
    seed: int = 1
    events: int | None = None
    mode: str = "dry-run"
    inputs: dict[str, Any] = field(default_factory=dict)
    rate_limit: tuple[int, float] = (10, 20.0)
    fail_rate: float = 0.0
    expect: dict[str, Any] = field(default_factory=dict)
    protected_ips: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    trigger: str = "run"  # run: the playbook is run; stream: the attack is streamed to soar serve
    stream: dict[str, Any] = field(default_factory=dict)  # a stream drill's settings


def drill_schema() -> dict[str, Any]:
    """The drill file schema (shipped in the package; ``schemas/`` holds the same file)."""
    text = resources.files("engine").joinpath("data/drill.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_drill(path: Path) -> Drill:
    """The drill at ``path``, checked against the schema.

    Raises ``DrillError`` carrying every problem as an ``Issue`` at its
    ``file:line:col`` (YAML problems as for playbooks, SOAR601-602).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        where = Location(str(path), 1, 1)
        hint = "check the path; a standard drill can be named: credential-stuffing"
        message = f"cannot read the drill file: {exc.strerror}"
        _refuse([Issue("error", message, where, hint, code=Code.DRILL_UNREADABLE)])
    src, issues = load_yaml(raw, str(path))
    if issues:
        _refuse(issues)
    errors = jsonschema.Draft202012Validator(drill_schema()).iter_errors(src.data)
    found = [
        Issue("error", e.message, src.at(tuple(e.absolute_path)), code=Code.DRILL_SCHEMA)
        for e in errors
    ]
    _refuse(sorted(found, key=lambda i: i.location))
    d = src.data
    faults = d.get("faults") or {}
    burst, _, rate = str(faults.get("rate_limit", "10/20")).partition("/")
    stream = dict(d.get("stream") or {})
    if "detections" in stream:  # folders named relative to the drill file
        stream["detections"] = [str((path.parent / p).resolve()) for p in stream["detections"]]
    return Drill(
        name=d["name"],
        scenario=d["scenario"],
        playbook=(path.parent / d.get("playbook", "")).resolve(),
        seed=d.get("seed", 1),
        events=d.get("events"),
        mode=d.get("mode", "dry-run"),
        inputs=d.get("inputs") or {},
        rate_limit=(int(burst), float(rate)),
        fail_rate=float(faults.get("fail_rate", 0.0)),
        expect=d.get("expect") or {},
        protected_ips=d.get("protected_ips") or [],
        answers=d.get("answers") or {},
        trigger=d.get("trigger", "run"),
        stream=stream,
    )


def _refuse(issues: list[Issue]) -> None:
    """Raise ``DrillError`` carrying ``issues``, if there are any."""
    if issues:
        lines = "\n".join(i.format() for i in issues)
        raise DrillError(f"invalid drill: {len(issues)} problem(s):\n{lines}", issues)


def standard_answers(playbook: Path) -> dict[str, str]:
    """The answers the standard drills of ``playbook`` (same file name) declare.

    What ``soar drill PLAYBOOK --scenario S`` and ``soar demo`` score a
    standard playbook by, without a drill file of their own.
    """
    found: dict[str, str] = {}
    try:
        folder = bundled_dir("drills")
    except SoarError:  # not installed with its drills: only same-name outputs are scored
        return found
    for path in sorted(folder.glob("*.yaml")):
        drill = load_drill(path)
        if drill.playbook.name == playbook.name:
            found.update(drill.answers)
    return found


@dataclass(frozen=True)
class DrillResult:
    """A drill's run, the truth it was scored against, the metrics and each check's outcome."""

    drill: Drill
    run: RunResult
    truth: dict[str, Any]
    metrics: dict[str, Any]
    checks: list[dict[str, Any]]
    requests: int
    throttled: int
    duration_s: float

    @property
    def passed(self) -> bool:
        """The run succeeded and every expectation held."""
        return self.run.status == "succeeded" and all(c["ok"] for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "drill": self.drill.name,
            "scenario": self.drill.scenario,
            "seed": self.drill.seed,
            "playbook": str(self.drill.playbook),
            "mode": self.drill.mode,
            "status": self.run.status,
            "passed": self.passed,
            "metrics": self.metrics,
            "checks": self.checks,
            "requests": self.requests,
            "throttled": self.throttled,
            "duration_s": round(self.duration_s, 3),
            "run_log": str(self.run.run_log),
            "final_hash": self.run.final_hash,
            "events": self.truth.get("events"),
        }


def client_from_emulator(emu: RunningEmulator) -> Any:
    """An Auth0 client for ``emu`` built from explicit settings (never the process environment)."""
    settings = Auth0Settings.create(
        emu.base_url, client_id=emu.client_id, client_secret=emu.client_secret
    )

    def make(guard: DryRunGuard, on_secret: Any) -> Auth0Client:
        on_secret(emu.client_secret)
        return Auth0Client(settings, guard=guard, on_secret=on_secret)

    return make


def run_drill(drill: Drill, run_dir: Path = Path("runs")) -> DrillResult:
    """Start the emulator in-process (a free port), run the playbook against it, score it.

    Legitimate users wrongly hit are counted three ways: blocks done or planned
    in the run log, blocks and deletions in the tenant's request journal, and
    users left blocked in the tenant's state.
    """
    playbook = load_playbook(drill.playbook, default_registry())
    start = time.monotonic()
    with start_emulator(
        scenario=drill.scenario,
        seed=drill.seed,
        events=drill.events,
        rate_limit=drill.rate_limit,
        fail_rate=drill.fail_rate,
    ) as emu:
        inputs = render_value(drill.inputs, {"truth": emu.truth})
        protected_ips = _flat(render_value(drill.protected_ips, {"truth": emu.truth}))
        result = run_playbook(
            playbook,
            inputs,
            registry=default_registry(),
            dry_run=drill.mode == "dry-run",
            approve=drill.mode == "live",
            run_dir=run_dir,
            auth0_factory=client_from_emulator(emu),
            tenant=f"emulator:{drill.scenario}:{drill.seed}",
            operator="soar drill",
            protected_ips=protected_ips,
        )
        duration = time.monotonic() - start
        if drill.mode == "live":
            # the scenario goes on as Auth0 would: the attacker tries again, against the
            # tenant as the run left it (blocked accounts and addresses are refused)
            continue_attack(emu.tenant, emu.truth, attempts=2)
        records = read_records(result.run_log)
        answers = {**same_name_answers(result.outputs), **drill.answers}
        metrics = score(result.outputs, emu.truth, records, answers)
        legit = set(emu.truth.get("legitimate_users", []))
        blocked_now = {u for u in legit if (emu.tenant.users.get(u) or {}).get("blocked")}
        journaled = legit & set(journal_blocks(emu.tenant.writes()))
        metrics["legitimate_blocked_in_tenant"] = sorted(blocked_now | journaled)
        if drill.mode == "live":
            metrics["containment"] = containment(emu.tenant, emu.truth)
        checks = check(drill.expect, result.outputs, metrics, emu.truth)
        return DrillResult(
            drill,
            result,
            emu.truth,
            metrics,
            checks,
            emu.stats.requests,
            emu.stats.throttled,
            duration,
        )


def _flat(values: Any) -> list[str]:
    """A list of strings from a rendered list whose items may be lists (``{{ truth.x }}``)."""
    out: list[str] = []
    for v in values if isinstance(values, list) else [values]:
        out += [str(x) for x in v] if isinstance(v, list) else [str(v)]
    return out


def check(
    expect: dict[str, Any], outputs: dict[str, Any], metrics: dict[str, Any], truth: dict[str, Any]
) -> list[dict[str, Any]]:
    """Evaluate a drill's expectations; each check says what it compared."""
    out: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        out.append({"check": name, "ok": bool(ok), "detail": detail})

    for kind in ("recall", "precision"):
        for metric, minimum in (expect.get(kind) or {}).items():
            m = metrics.get(metric) or {}
            got = m.get(kind)
            wrong = m.get("missed" if kind == "recall" else "extra") or []
            detail = f"got {got}" + (
                f"; {'missed' if kind == 'recall' else 'extra'} {wrong[:5]}" if wrong else ""
            )
            add(f"{kind} of {metric} >= {minimum}", got is not None and got >= minimum, detail)
    if expect.get("no_legitimate_blocked", True):
        hit = (
            metrics["wrongly_blocked"]
            + metrics["wrongly_planned"]
            + metrics["legitimate_blocked_in_tenant"]
        )
        add("no legitimate user blocked", not hit, f"hit: {sorted(set(hit))}" if hit else "none")
    for output, truth_key in (expect.get("outputs_contain_truth") or {}).items():
        want = set(map(str, truth.get(truth_key) or []))
        got = outputs.get(output) or []
        have = set(
            map(str, got if isinstance(got, list) else got.keys() if isinstance(got, dict) else [])
        )
        add(f"{output} contains truth.{truth_key}", want <= have, f"missing {sorted(want - have)}")
    for output, spec in (expect.get("outputs_mention_truth") or {}).items():
        want = set(truth.get(spec["truth"]) or [])
        seen = {
            str(item.get(spec["field"]))
            for item in outputs.get(output) or []
            if isinstance(item, dict)
        }
        add(
            f"{output} names every truth.{spec['truth']} in {spec['field']}",
            want <= seen,
            f"missing {sorted(want - seen)}",
        )
    for output, value in (expect.get("outputs_equal") or {}).items():
        add(f"{output} == {value!r}", outputs.get(output) == value, f"got {outputs.get(output)!r}")
    for output, n in (expect.get("min_items") or {}).items():
        got = outputs.get(output)
        size = len(got) if isinstance(got, list | dict) else (got if isinstance(got, int) else 0)
        add(f"{output} has at least {n}", size >= n, f"got {size}")
    writes = expect.get("writes")
    if writes is not None:
        total = metrics["writes_done"] + metrics["writes_planned"]
        if "min" in writes:
            add(f"at least {writes['min']} write(s)", total >= writes["min"], f"got {total}")
        if "max" in writes:
            add(f"at most {writes['max']} write(s)", total <= writes["max"], f"got {total}")
        hit = {address_key(t) or t for t in metrics.get("write_targets") or []}
        if "must_target" in writes:
            want = {address_key(str(t)) or str(t) for t in truth.get(writes["must_target"]) or []}
            add(
                f"every truth.{writes['must_target']} is blocked (or planned)",
                want <= hit,
                f"missing {sorted(want - hit)}",
            )
        if "must_not_target" in writes:
            avoid = {
                address_key(str(t)) or str(t) for t in truth.get(writes["must_not_target"]) or []
            }
            add(
                f"no truth.{writes['must_not_target']} is blocked (or planned)",
                not avoid & hit,
                f"hit {sorted(avoid & hit)}",
            )
    if "attack_stopped" in expect:
        c = metrics.get("containment") or {}
        add(
            "the attack stopped at containment"
            if expect["attack_stopped"]
            else "the attack went on (no containment)",
            bool(c.get("attack_stopped")) == bool(expect["attack_stopped"]),
            f"{c.get('attacker_logins_after_containment', '?')} attacker login(s) after "
            f"containment at {c.get('contained_at')}; "
            f"{c.get('time_to_containment_s')} s after the first attack event",
        )
    return out
