"""``soar drill``, ``soar report``, ``soar demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from engine.cli.output import json_requested
from engine.textsafe import json_text, safe


def _say(text: str) -> None:
    typer.echo(safe(text), err=True)


def _metric(m: dict[str, Any] | None) -> str:
    if not m:
        return "n/a"
    return f"recall {m['recall']:.2f}, precision {m['precision']:.2f} ({len(m['found'])} found, {len(m['expected'])} expected)"


def adhoc_expectations(answers: dict[str, str]) -> dict[str, Any]:
    """What ``soar drill PLAYBOOK --scenario S`` expects, from the truth keys its outputs answer.

    Whatever it names as compromised must be compromised (precision 1.0) and no
    legitimate user may be blocked; a tenant-wide triage (one that answers
    ``attacker_ips``) must also find every attacker IP and compromised user
    (recall 1.0). A playbook scoped to one IP or user is not expected to find all.
    """
    expect: dict[str, Any] = {"no_legitimate_blocked": True}
    if "compromised_users" in answers:
        expect["precision"] = {"compromised_users": 1.0}
    if "attacker_ips" in answers:
        expect["recall"] = {"attacker_ips": 1.0}
        if "compromised_users" in answers:
            expect["recall"]["compromised_users"] = 1.0
    return expect


def adhoc_answers(outputs: set[str], standard: dict[str, str], given: list[str]) -> dict[str, str]:
    """The truth keys a playbook's outputs answer: same-name outputs, the standard drills'
    answers for that playbook, then ``--answer TRUTH=OUTPUT`` (a bad one: ``ConfigError``)."""
    from engine.drills.scoring import METRICS, same_name_answers
    from engine.errors import ConfigError

    answers = {**same_name_answers(outputs), **standard}
    for pair in given:
        key, sep, spec = pair.partition("=")
        if not sep or key not in METRICS or spec.partition(".")[0] not in outputs:
            raise ConfigError(
                f"--answer {pair!r}: give TRUTH=OUTPUT with TRUTH one of {', '.join(METRICS)} "
                f"and OUTPUT one of the playbook's outputs ({', '.join(sorted(outputs))})"
            )
        answers[key] = spec
    return {k: v for k, v in answers.items() if v.partition(".")[0] in outputs}


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
    answer: Annotated[
        list[str],
        typer.Option(
            "--answer",
            metavar="TRUTH=OUTPUT",
            help="With --scenario: the output that answers a truth key (attacker_ips=suspicious_ips); "
            "outputs named after a truth key, and those the standard drills of the playbook name, "
            "answer without it.",
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
    from engine.drills.drill import Drill, load_drill, run_drill, standard_answers
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
        answers = adhoc_answers(set(playbook.outputs), standard_answers(target), answer)
        drill = Drill(
            name=f"{target.stem}@{scenario}",
            scenario=scenario,
            playbook=target,
            seed=seed,
            events=events,
            mode="live" if live else "dry-run",
            inputs=inputs,
            expect=adhoc_expectations(answers),
            answers=answers,
        )
    else:
        drill = load_drill(resolve(target, "drills"))
    if drill.trigger == "stream":
        _stream_drill(drill, run_dir, as_json)
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
        _checks(result.checks)
        _say(f"  run log           {result.run.run_log} (UNSIGNED: a rehearsal)")
        _say(f"  {'PASSED' if result.passed else 'FAILED'}")
    raise typer.Exit(0 if result.passed else 1)


def _checks(checks: list[dict[str, Any]]) -> None:
    """Each check of a drill, a line: ok or FAIL, what it compared (terminal-safe)."""
    for c in checks:
        _say(f"  [{'ok' if c['ok'] else 'FAIL'}] {safe(c['check'])}: {safe(c['detail'])}")


def _stream_drill(drill: Any, run_dir: Path, as_json: bool) -> NoReturn:
    """A stream drill (``trigger: stream``): its incidents, containment, times and checks."""
    from engine.cli.oplog import live_line
    from engine.cli.progress import showing
    from engine.drills.stream import run_stream_drill

    with showing(live_line(), f"stream drill {safe(drill.name)}"):
        result = run_stream_drill(drill, run_dir)
    if as_json:
        typer.echo(json_text(result.to_json()))
        raise typer.Exit(0 if result.passed else 1)
    m, st = result.metrics, result.stream
    _say(
        f"drill {safe(drill.name)}: {drill.scenario} (seed {drill.seed}, "
        f"{result.truth.get('events')} events) streamed into soar serve, {drill.mode}"
    )
    _say(
        f"  stream            {st.events} events in {st.batches} batches, {st.redelivered} "
        f"redelivered ({st.duplicates} duplicate events), {st.retries} retries, "
        f"{st.undelivered} undelivered"
    )
    _say(
        f"  incidents         {m['incidents']}: {', '.join(safe(i['rule']) + ' ' + safe(str(i['group'])) for i in result.incidents) or 'none'}"
    )
    contained = m["contained"] if drill.mode == "live" else m["planned"]
    verb = "blocked" if drill.mode == "live" else "planned"
    _say(f"  {verb:<17} {', '.join(map(safe, contained)) or 'none'}")
    _say(
        f"  times             {m['wall_s_to_detection']} s to the first incident, "
        f"{m['wall_s_to_containment']} s to the first block (wall clock from the stream's start); "
        f"{m['event_time_to_detection_s']} s of event time from the first attack event"
    )
    _checks(result.checks)
    _say(f"  responses         {', '.join(m['responses']) or 'none'}")
    _say(f"  {'PASSED' if result.passed else 'FAILED'}")
    raise typer.Exit(0 if result.passed else 1)


REPORT_FORMATS = ("md", "html")


def report_cmd(
    run_log: Annotated[
        Path | None, typer.Argument(help="The run log (or give --incident).")
    ] = None,
    incident: Annotated[
        int | None,
        typer.Option(
            "--incident", metavar="ID", help="Report an incident of soar serve instead (its id)."
        ),
    ] = None,
    state: Annotated[
        Path, typer.Option(help="With --incident: the state folder soar serve keeps.")
    ] = Path("soar-state"),
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the report here (else stdout).")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="md|html",
            help="md: Markdown for a ticket (the default); html: one self-contained page "
            "with the attack's timeline (needs the soar[report] extra).",
        ),
    ] = "md",
) -> None:
    """An incident report of a run (Markdown, or a self-contained HTML page with a
    timeline), or of an incident soar serve opened (--incident ID)."""
    from engine.errors import UsageError

    if fmt not in REPORT_FORMATS:
        raise UsageError(f"--format {safe(fmt)}: use one of {', '.join(REPORT_FORMATS)}")
    if incident is not None and run_log is None:
        text = _incident_report(incident, state, fmt)
    elif run_log is None or incident is not None:
        raise UsageError("give exactly one of RUNLOG or --incident ID")
    elif fmt == "html":
        from engine.audit.htmlreport import render_html

        text = render_html(run_log)
    else:
        from engine.audit.report import render

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


def _incident_report(incident: int, state: Path, fmt: str) -> str:
    from engine.cli.cmd_incidents import connect_state
    from engine.errors import UsageError
    from engine.serve.report import read_incident, render_incident_html, render_incident_md

    with connect_state(state) as conn:
        view = read_incident(conn, incident)
    if view is None:
        raise UsageError(f"no incident {incident} in --state {state} (see: soar incidents list)")
    return render_incident_html(view) if fmt == "html" else render_incident_md(view)


# what the demo shows first: the outputs answering these truth keys, under these titles
DEMO_TITLES = {"attacker_ips": "Suspicious IPs", "compromised_users": "Compromised accounts"}


def _row_text(head: list[str], row: list[Any]) -> str:
    """One table row as a line: the item, then each joined column as ``name: value``."""
    from engine.audit.outputs import joined
    from engine.depth import dumps

    def text(value: Any) -> str:
        value = joined(value)
        shown = (value or "-") if isinstance(value, str) else dumps(value)
        return shown if len(shown) <= 80 else shown[:80] + "..."

    return "  ".join(
        [str(row[0]), *(f"{h}: {text(v)}" for h, v in zip(head[1:], row[1:], strict=True))]
    )


def demo_cmd(run_dir: Annotated[Path, typer.Option("--run-dir")] = Path("runs")) -> None:
    """The main job, offline: emulated attack, dry-run triage, summary, score, report."""
    from engine.audit.outputs import tables
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
    shown = {t.name: t for t in tables(result.outputs, d["counts"])}
    _say("")
    for key, title in DEMO_TITLES.items():
        table = shown.pop(d["answers"].get(key, "").partition(".")[0], None)
        if table is None:
            continue
        _say(f"{title} ({table.total}):")
        for row in table.rows:
            _say(f"  {_row_text(table.head, row)}")
    others = ", ".join(f"{t.name} ({t.total})" for t in shown.values() if t.kind != "value")
    _say(f"Other outputs: {others or '-'} (see the report)")
    # "nothing written" only when the tenant's own journal shows no write
    written = "nothing written" if d["writes_sent"] == 0 else f"{d['writes_sent']} write(s) sent!"
    planned = ", ".join(m["write_targets"]) or "nobody"
    _say(f"Would be blocked (dry run, {written}): {planned}")
    _say("")
    _say("Drill score against the scenario's ground truth:")
    _say(f"  compromised users {_metric(m.get('compromised_users'))}")
    _say(f"  attacker IPs      {_metric(m.get('attacker_ips'))}")
    _say(f"  legit users that would be blocked: {len(m['wrongly_planned'])}")
    _say(f"  requests to the tenant: {d['requests']}; writes sent: {d['writes_sent']}")
    _say("")
    _say(f"run log:    {result.run_log} (UNSIGNED: a rehearsal; soar run signs with a key)")
    _say(f"report:     {d['report']}")
    if d["html_report"]:
        _say(f"html:       {d['html_report']} (open it in a browser: the attack's timeline)")
    else:
        _say(f"html:       not written: {d['html_missing']}")
    _say(f"final hash: {result.final_hash}")
    _say(f"verify it:  soar verify {result.run_log} --expect-hash {result.final_hash}")
    _say(f"done in {d['seconds']:.1f}s")
    ok = result.status == "succeeded" and d["writes_sent"] == 0
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.command("drill")(drill_cmd)
    app.command("report")(report_cmd)
    app.command("demo")(demo_cmd)
