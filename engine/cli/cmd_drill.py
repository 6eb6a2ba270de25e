"""``soar drill``, ``soar report``, ``soar demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from engine.cli.output import json_requested
from engine.textsafe import json_text, safe


def _say(text: str) -> None:
    typer.echo(safe(text), err=True)


def _metric(m: dict[str, Any] | None) -> str:
    if not m:
        return "n/a"
    return f"recall {m['recall']:.2f}, precision {m['precision']:.2f} ({len(m['found'])} found, {len(m['expected'])} expected)"


def adhoc_expectations(outputs: set[str]) -> dict[str, Any]:
    """What ``soar drill PLAYBOOK --scenario S`` expects, from the outputs the playbook declares.

    Whatever it names as compromised must be compromised (precision 1.0) and no
    legitimate user may be blocked; a tenant-wide triage (one that outputs
    ``suspicious_ips``) must also find every attacker IP and compromised user
    (recall 1.0). A playbook scoped to one IP or user is not expected to find all.
    """
    expect: dict[str, Any] = {"no_legitimate_blocked": True}
    if "compromised_users" in outputs:
        expect["precision"] = {"compromised_users": 1.0}
    if "suspicious_ips" in outputs:
        expect["recall"] = {"attacker_ips": 1.0}
        if "compromised_users" in outputs:
            expect["recall"]["compromised_users"] = 1.0
    return expect


def drill_cmd(
    target: Annotated[
        Path,
        typer.Argument(
            help="A drill file, or a playbook with --scenario; a standard one by name "
            "(credential-stuffing, drills/credential-stuffing.yaml) from any folder."
        ),
    ],
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario when TARGET is a playbook.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Scenario seed (with --scenario).")] = 1,
    events: Annotated[
        int | None, typer.Option("--events", help="Tenant size (with --scenario).")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="With --scenario: apply writes to the emulated tenant.")
    ] = False,
    pairs: Annotated[
        list[str],
        typer.Option(
            "-i",
            "--input",
            help="With --scenario: KEY=VALUE playbook input; values may use {{ truth.KEY }}.",
        ),
    ] = [],
    run_dir: Annotated[Path, typer.Option("--run-dir")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Rehearse a playbook against an emulated attack and score it against the truth."""
    from engine.actions import default_registry
    from engine.bundled import resolve
    from engine.cli.cmd_run import make_redactor, read_inputs
    from engine.cli.oplog import live_line
    from engine.cli.progress import showing
    from engine.drills.drill import Drill, load_drill, run_drill
    from engine.playbook.loader import load_playbook

    json_requested(as_json)
    make_redactor()  # logging to stderr, secrets masked: stdout stays the --json object

    if scenario:
        target = resolve(target, "playbooks")  # a standard one when not a file here
        playbook = load_playbook(target, default_registry())
        inputs = read_inputs(playbook, pairs, None)
        if live and "block" in playbook.inputs:
            # a live drill exercises the containment too, unless told otherwise
            inputs.setdefault("block", True)
        drill = Drill(
            name=f"{target.stem}@{scenario}",
            scenario=scenario,
            playbook=target,
            seed=seed,
            events=events,
            mode="live" if live else "dry-run",
            inputs=inputs,
            expect=adhoc_expectations(set(playbook.outputs)),
        )
    else:
        drill = load_drill(resolve(target, "drills"))
    with showing(live_line(), f"drill {safe(drill.name)}"):  # its pages, on a terminal
        result = run_drill(drill, run_dir)
    if as_json:
        typer.echo(json_text(result.to_json()))
    else:
        m = result.metrics
        _say(
            f"drill {drill.name}: {drill.scenario} (seed {drill.seed}, {result.truth.get('events')} events), {drill.mode}"
        )
        _say(f"  run status        {result.run.status}")
        _say(f"  compromised users {_metric(m.get('compromised_users'))}")
        _say(f"  attacker IPs      {_metric(m.get('attacker_ips'))}")
        wrong = sorted(set(m["wrongly_blocked"] + m["wrongly_planned"]))
        _say(
            f"  writes            {m['writes_done']} done, {m['writes_planned']} planned"
            f"{': ' + ', '.join(m['write_targets']) if m['write_targets'] else ''}"
        )
        _say(f"  legit users hit   {len(wrong)}{': ' + ', '.join(wrong) if wrong else ''}")
        c = m.get("containment")
        if c is not None:
            _say(
                f"  containment       {'attack stopped' if c['attack_stopped'] else 'attack NOT stopped'}: "
                f"{c['attacker_logins_after_containment']} attacker login(s) after it; "
                f"{c['time_to_containment_s']} s from the first attack event to the first block"
            )
        _say(
            f"  requests          {result.requests} ({result.throttled} throttled), {result.duration_s:.2f}s"
        )
        for c in result.checks:
            _say(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['check']}: {c['detail']}")
        _say(f"  run log           {result.run.run_log} (UNSIGNED: a rehearsal)")
        _say(f"  {'PASSED' if result.passed else 'FAILED'}")
    raise typer.Exit(0 if result.passed else 1)


def report_cmd(
    run_log: Annotated[Path, typer.Argument(help="The run log.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the Markdown here.")
    ] = None,
) -> None:
    """A Markdown incident summary of a run."""
    from engine.audit.report import render
    from engine.errors import UsageError

    text = render(run_log)
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write the report to {output}: {exc.strerror} "
                "(choose a directory that exists and is writable)"
            ) from None
        _say(f"report written to {output}")
    else:
        typer.echo(text)


def ip_counts(result: Any) -> dict[str, Any]:
    """IP -> indicator events, from the ``ip.extract`` step of the attack triage."""
    step = result.steps.get("ips")
    rows = (step.output or {}).get("ips") if step is not None else None
    return {r["ip"]: r["count"] for r in rows or [] if isinstance(r, dict) and "ip" in r}


def demo_cmd(run_dir: Annotated[Path, typer.Option("--run-dir")] = Path("runs")) -> None:
    """The main job, offline: emulated attack, dry-run triage, summary, score, report."""
    from engine.cli.cmd_run import make_redactor
    from engine.cli.oplog import live_line
    from engine.cli.progress import showing
    from engine.drills.demo import run_demo
    from engine.errors import UsageError

    make_redactor()
    try:  # on a terminal the triage's pages show on the live line, its lines above it
        with showing(live_line(), "demo") as line:
            d = run_demo(run_dir, lambda text: line.write(safe(text)))
    except OSError as exc:
        raise UsageError(
            f"the demo cannot write {exc.filename or run_dir}: {exc.strerror or exc} "
            "(give --run-dir a directory you can write)"
        ) from None
    result, m = d["result"], d["metrics"]
    out = result.outputs
    names = out.get("user_names") or {}
    apps = out.get("accessed_clients") or {}
    _say("")
    _say(f"Suspicious IPs ({len(out.get('suspicious_ips') or [])}):")
    counts = ip_counts(result)
    for ip in out.get("suspicious_ips") or []:
        _say(f"  {ip:<40} {counts.get(ip, '?')} indicator events")
    _say(f"Compromised accounts ({len(out.get('compromised_users') or [])}):")
    for uid in out.get("compromised_users") or []:
        _say(f"  {uid}  {names.get(uid, '')!r}")
        _say(f"      reached: {', '.join(apps.get(uid, [])) or '-'}")
    _say(f"Management API calls in the window: {len(out.get('management_api_calls') or [])}")
    # "nothing written" only when the tenant's own journal shows no write
    written = "nothing written" if d["writes_sent"] == 0 else f"{d['writes_sent']} write(s) sent!"
    _say(
        f"Would be blocked (dry run, {written}): {', '.join(out.get('planned_user_blocks') or []) or 'nobody'}"
    )
    _say("")
    _say("Drill score against the scenario's ground truth:")
    _say(f"  compromised users {_metric(m.get('compromised_users'))}")
    _say(f"  attacker IPs      {_metric(m.get('attacker_ips'))}")
    _say(f"  legit users that would be blocked: {len(m['wrongly_planned'])}")
    _say(f"  requests to the tenant: {d['requests']}; writes sent: {d['writes_sent']}")
    _say("")
    _say(f"run log:    {result.run_log} (UNSIGNED: a rehearsal; soar run signs with a key)")
    _say(f"report:     {d['report']}")
    _say(f"final hash: {result.final_hash}")
    _say(f"verify it:  soar verify {result.run_log} --expect-hash {result.final_hash}")
    _say(f"done in {d['seconds']:.1f}s")
    ok = result.status == "succeeded" and d["writes_sent"] == 0
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.command("drill")(drill_cmd)
    app.command("report")(report_cmd)
    app.command("demo")(demo_cmd)
