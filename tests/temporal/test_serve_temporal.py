"""``soar serve --engine temporal``: one incident, one workflow; one account, one writer at a time.

A real dev server, two ``soar worker`` processes and the emulator (module
fixtures); ``soar serve`` processes as an operator starts them. What is
asserted is what an operator and the tenant see: the incidents in serve's
state, the run logs (``soar verify``), the workflows Temporal lists, and the
emulator's journal of requests.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.audit.records import read_records
from engine.emulator import RunningEmulator, start_emulator
from tests.serve.serving import TOKEN, Served, incidents, item, jsonl, serving
from tests.soarcli import soar, wait_until
from tests.temporal.conftest import Workers, readable, temporal_binary, write_spans

QUEUE = "serve"
RULE = """
detection: 1
id: RULE_ID
title: Failures for one account
description: three events of one type for one account
severity: critical
select: 'type:"TYPE"'
group_by: [user_id]
window: 10m
threshold:
  count: {gte: 3}
response:
  playbook: PLAYBOOK
  inputs: INPUTS
  respond: RESPOND
  max_targets: 1
"""


BLOCK_ALL = """
playbook: 1
name: serve-block-all
description: block every account given
inputs:
  users: {type: array, required: true}
steps:
  - id: block
    uses: auth0.block_user
    for_each: "{{ inputs.users }}"
    with: {user_id: "{{ item }}"}
"""
# an account, then it and another: the second step asks again, and is over max_targets
BLOCK_THEN_MORE = """
playbook: 1
name: serve-block-then-more
description: block the account, then it and another
inputs:
  user: {type: string, required: true}
  other: {type: string, required: true}
steps:
  - id: first
    uses: auth0.block_user
    with: {user_id: "{{ inputs.user }}"}
  - id: second
    uses: auth0.block_user
    for_each: "{{ [inputs.user, inputs.other] }}"
    with: {user_id: "{{ item }}"}
"""
# the standard containment playbook; blocking only, unless a test revokes sessions too
BLOCK_ONLY = '{user_id: "{{ group.user_id }}", revoke_sessions: "{{ false }}"}'
CONTAIN = '{user_id: "{{ group.user_id }}"}'


def rule(rule_id: str, respond: str, inputs: str = BLOCK_ONLY, type_: str = "fp") -> str:
    return (
        RULE.replace("RULE_ID", rule_id)
        .replace("TYPE", type_)
        .replace("PLAYBOOK", "auth0-contain-user")
        .replace("INPUTS", inputs)
        .replace("RESPOND", respond)
    )


@pytest.fixture(scope="module")
def tenant(
    workers: Workers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningEmulator, Path]]:
    """A tenant, and the run folder its two workers (queue ``serve``) share with serve."""
    run_dir = tmp_path_factory.mktemp("runs")
    # each request takes 100 ms, as a real tenant's do: two runs writing at once would overlap
    with start_emulator(
        scenario="quiet", seed=7, events=200, rate_limit=(1000, 5000.0), latency_ms=100
    ) as emu:
        workers(emu, run_dir, QUEUE, 2)
        yield emu, run_dir


def users(emu: RunningEmulator, n: int, skip: int = 0) -> list[str]:
    found = sorted(u["user_id"] for u in emu.tenant.users.values() if u.get("email"))
    return found[skip : skip + n]


def detections(folder: Path, **rules: str) -> Path:
    folder.mkdir(parents=True)
    for name, text in rules.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def failures(user: str, prefix: str, type_: str = "fp", count: int = 3) -> list[dict[str, Any]]:
    return [
        item(f"{prefix}-{i}", type=type_, user_id=user, date=f"2026-11-20T10:0{i}:00.000Z")
        for i in range(count)
    ]


def serve_args(server: str, rules: Path, run_dir: Path, respond: str) -> list[str]:
    return ["--detections", str(rules), "--respond", respond, "--run-dir", str(run_dir),
            "--engine", "temporal", "--temporal", server, "--task-queue", QUEUE]  # fmt: skip


def answered(served: Served, count: int) -> list[dict[str, Any]]:
    """Once ``count`` incidents have a response that ended: the incidents."""

    def done() -> bool:
        found = incidents(served.state)
        ended = [
            i
            for i in found
            if (i["response"] or {}).get("status") not in (None, "pending", "started")
        ]
        return len(ended) >= count

    try:
        wait_until(served.proc, done, timeout=60)
    except AssertionError:
        _, err = served.stop()
        raise AssertionError(f"{incidents(served.state)}\n{err[-3000:]}") from None
    return incidents(served.state)


def writes(emu: RunningEmulator, user: str) -> list[tuple[str, str]]:
    path = f"/api/v2/users/{user.replace('|', '%7C')}"
    return [(e["method"], e["path"]) for e in emu.journal
            if e["method"] != "GET" and e["path"].startswith(path)]  # fmt: skip


def temporal_json(server: str, *args: str) -> Any:
    out = subprocess.run(
        [str(temporal_binary()), "workflow", *args, "--address", server, "--output", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    values, at, decoder = [], 0, json.JSONDecoder()
    while out[at:].strip():  # one JSON document per workflow, or one of the whole history
        at += len(out[at:]) - len(out[at:].lstrip())
        value, at = decoder.raw_decode(out, at)
        values.extend(value if isinstance(value, list) else [value])
    return values


def incident_workflows(server: str, rule_id: str) -> list[dict[str, Any]]:
    query = f"WorkflowType='soar.incident' AND WorkflowId STARTS_WITH 'soar-incident:{rule_id}:'"
    found: list[dict[str, Any]] = temporal_json(server, "list", "--query", query)
    return found


def test_incidents_are_workflows_whose_responses_block_plan_or_say_why_not(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    emu, run_dir = tenant
    victim, planned, broken = users(emu, 3)
    (boss,) = users(emu, 1, skip=6)
    many = users(emu, 2, skip=7)
    first, other = users(emu, 2, skip=9)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "block.yaml").write_text(BLOCK_ALL)
    (tmp_path / "playbooks" / "more.yaml").write_text(BLOCK_THEN_MORE)
    more = '{user: "{{ group.user_id }}", other: "' + other + '"}'
    two = "{users: \"{{ [group.user_id, '" + many[1] + "'] }}\"}"
    rules = detections(
        tmp_path / "rules",
        auto=rule("auto-block", "auto"),
        many=rule("too-many", "auto", two, "fcoa").replace("auth0-contain-user", "../playbooks/block.yaml"),
        more=rule("then-more", "auto", more, "limit_wc").replace("auth0-contain-user", "../playbooks/more.yaml"),
        plan=rule("dry-plan", "dry-run", type_="fu"),
        # YAML's false in a template mapping is the text "false": the playbook refuses it
        broken=rule("bad-inputs", "auto", '{user_id: "{{ group.user_id }}", revoke_sessions: "false"}', "pwd_leak"),
    )  # fmt: skip
    args = serve_args(temporal_server, rules, run_dir, "auto")
    events = [
        *failures(victim, "a"),
        *failures(planned, "p", "fu"),
        *failures(broken, "b", "pwd_leak"),
        *failures(boss, "x"),
        *failures(many[0], "m", "fcoa"),
        *failures(first, "t", "limit_wc"),
    ]
    # serve's protected users travel with the run: the workers refuse to write to them
    env = {**emu.env(), "SOAR_PROTECTED_USERS": emu.tenant.users[boss]["email"]}
    with serving(tmp_path / "state", args, env) as served:
        assert served.post(jsonl(events)).status_code == 200
        every = {(i["rule"], i["group"]["user_id"]): i for i in answered(served, 6)}
        served.stop()
    assert every[("auto-block", boss)]["response"]["status"] == "failed"  # refused, not written
    assert writes(emu, boss) == [] and not emu.tenant.users[boss].get("blocked")
    found = {rule_id: i for (rule_id, user), i in every.items() if user != boss}
    # a step over the rule's max_targets is a person's to approve: nothing written meanwhile
    waiting = found["too-many"]["response"]
    assert waiting["status"] == "awaiting_approval"
    assert "approves at most 1 target(s)" in waiting["error"] and "soar approve" in waiting["error"]
    assert writes(emu, many[0]) == [] and writes(emu, many[1]) == []
    # each write step is the rule's to approve only within max_targets: the first step (one
    # account) is written, the second (two) waits for a person, nothing of it sent
    later = found["then-more"]["response"]
    assert later["status"] == "awaiting_approval", later
    assert "step 'second' has 2" in later["error"]
    assert emu.tenant.users[first]["blocked"] is True and writes(emu, other) == []
    steps = [
        r["step"] for r in read_records(Path(later["run_log"])) if r["type"] == "approval.granted"
    ]
    assert steps == ["first"]
    incident = found["auto-block"]
    response = incident["response"]
    assert response["status"] == "succeeded", response
    assert response["mode"] == "auto"
    assert emu.tenant.users[victim]["blocked"] is True
    assert writes(emu, victim) == [("PATCH", f"/api/v2/users/{victim.replace('|', '%7C')}")]
    log = Path(response["run_log"])
    assert log.parent == run_dir  # written by a worker, in the shared folder
    records = read_records(log)
    (granted,) = [r for r in records if r["type"] == "approval.granted"]
    assert granted["by"] == "rule auto-block (auto)"  # the rule approved it, no person
    assert granted["targets"] == [victim]
    assert soar("verify", str(log)).returncode == 0
    shown = soar(
        "incidents", "show", str(incident["id"]), "--state", str(tmp_path / "state"), "--json"
    )
    assert json.loads(shown.stdout)["response"]["run_log"] == str(log)
    # a dry run plans and writes nothing; a run that cannot start says why
    dry = found["dry-plan"]["response"]
    assert dry["status"] == "succeeded" and dry["mode"] == "dry-run"
    records = read_records(Path(dry["run_log"]))
    assert records[0]["dry_run"] is True
    assert "planned" in [r.get("status") for r in records if r["type"] == "step.finished"]
    assert writes(emu, planned) == [] and writes(emu, broken) == []
    assert found["bad-inputs"]["response"]["status"] == "error"
    assert "revoke_sessions" in found["bad-inputs"]["response"]["error"]  # with the cause
    ids = [w["execution"]["workflowId"] for w in incident_workflows(temporal_server, "auto-block")]
    assert len(ids) == 2  # the victim's incident and the protected account's
    (workflow,) = [w for w in ids if victim in query(temporal_server, w)["key"]]
    # what Temporal stored of the incident: small values, no token of the stream or the tenant
    history = readable(temporal_json(temporal_server, "show", "-w", workflow))
    assert victim in history  # its payloads are read (decoded), not only their base64
    assert TOKEN not in history and emu.client_secret not in history and "Bearer" not in history


def test_the_same_incident_seen_by_two_serves_is_one_workflow_and_one_write(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    emu, run_dir = tenant
    (victim,) = users(emu, 1, skip=3)
    rules = detections(tmp_path / "rules", twice=rule("seen-twice", "auto"))
    args = serve_args(temporal_server, rules, run_dir, "auto")
    body = jsonl(failures(victim, "t"))
    with (
        serving(tmp_path / "a", args, emu.env()) as first,
        serving(tmp_path / "b", args, emu.env()) as second,
    ):
        assert first.post(body).status_code == 200
        assert second.post(body).status_code == 200  # the same stream, at the same time
        (one,) = answered(first, 1)
        (other,) = answered(second, 1)
        first.stop()
        second.stop()
    assert one["response"]["run_log"] == other["response"]["run_log"]  # one response, both see it
    assert one["response"]["status"] == other["response"]["status"] == "succeeded"
    assert writes(emu, victim) == [("PATCH", f"/api/v2/users/{victim.replace('|', '%7C')}")]
    (workflow,) = incident_workflows(temporal_server, "seen-twice")
    history = temporal_json(temporal_server, "show", "-w", workflow["execution"]["workflowId"])
    events = (
        history[0]["events"] if isinstance(history[0], dict) and "events" in history[0] else history
    )
    signals = [e for e in events if "workflowExecutionSignaledEventAttributes" in e]
    assert len(signals) >= 2  # the first serve's start, the second serve's evidence
    started = [e for e in events if "startChildWorkflowExecutionInitiatedEventAttributes" in e]
    assert len(started) == 1  # one response run
    incident = query(temporal_server, workflow["execution"]["workflowId"])
    assert incident["signals"] == 2 and len(incident["sources"]) == 2  # both serves' detections
    assert incident["evidence"] == 3  # the same log ids, counted once


def test_two_incidents_on_one_account_contain_it_one_after_the_other(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    emu, run_dir = tenant
    (victim,) = users(emu, 1, skip=4)
    rules = detections(
        tmp_path / "rules",
        fails=rule("fails-then-contain", "auto", CONTAIN),
        leaks=rule("leaks-then-contain", "auto", CONTAIN, "pwd_leak"),
    )
    args = serve_args(temporal_server, rules, run_dir, "auto")
    events = [*failures(victim, "f"), *failures(victim, "l", "pwd_leak")]
    with serving(tmp_path / "state", args, emu.env()) as served:
        assert served.post(jsonl(events)).status_code == 200  # both incidents open at once
        found = answered(served, 2)
        served.stop()
    assert [i["response"]["status"] for i in found] == ["succeeded", "succeeded"]
    logs = [read_records(Path(i["response"]["run_log"])) for i in found]

    # both approved at once by their rules; each write took the account's lock (as every
    # run's write does): never two writes to it at once, each after the other's result
    spans = sorted(span for records in logs for span in write_spans(records))
    assert len(spans) == 4  # a block and a revocation each
    assert all(before[1] <= after[0] for before, after in itertools.pairwise(spans))
    # the second block found the account blocked: one PATCH, never two blocks racing
    quoted = victim.replace("|", "%7C")
    assert writes(emu, victim) == [
        ("PATCH", f"/api/v2/users/{quoted}"),
        ("DELETE", f"/api/v2/users/{quoted}/sessions"),
        ("DELETE", f"/api/v2/users/{quoted}/refresh-tokens"),
        ("DELETE", f"/api/v2/users/{quoted}/sessions"),
        ("DELETE", f"/api/v2/users/{quoted}/refresh-tokens"),
    ]
    blocks = [span[2] for span in spans if span[2]["step"] == "block"]
    assert [b["result"].get("changed") for b in blocks] == [True, False]


def test_a_restarted_serve_follows_its_response_and_signals_new_evidence(
    tenant: tuple[RunningEmulator, Path], temporal_server: str, tmp_path: Path
) -> None:
    emu, run_dir = tenant
    (victim,) = users(emu, 1, skip=5)
    rules = detections(tmp_path / "rules", again=rule("restarted", "auto"))
    args = serve_args(temporal_server, rules, run_dir, "auto")
    state = tmp_path / "state"
    body = jsonl(failures(victim, "r"))
    with serving(state, args, emu.env()) as served:
        assert served.post(body).status_code == 200
        wait_until(served.proc, lambda: (incidents(state) or [{}])[0].get("response") is not None
                   and incidents(state)[0]["response"]["status"] == "started")  # fmt: skip
        served.kill()  # mid-response: the run goes on in Temporal
    with serving(state, args, emu.env()) as served:
        assert served.post(body).status_code == 200  # the stream re-sends: nothing new
        later = [item(f"r-{i}", type="fp", user_id=victim, date=f"2026-11-20T10:0{i}:00.000Z")
                 for i in (3, 4)]  # fmt: skip
        assert served.post(jsonl(later)).status_code == 200  # new evidence, same incident
        answered(served, 1)
        workflow = incident_workflows(temporal_server, "restarted")[0]["execution"]["workflowId"]
        wait_until(served.proc, lambda: query(temporal_server, workflow)["evidence"] == 5)
        served.stop()
    (incident,) = incidents(state)
    assert incident["response"]["status"] == "succeeded"  # followed again, not "interrupted"
    assert incident["evidence"] == 5
    assert writes(emu, victim) == [("PATCH", f"/api/v2/users/{victim.replace('|', '%7C')}")]
    assert len(incident_workflows(temporal_server, "restarted")) == 1


def query(server: str, workflow: str) -> dict[str, Any]:
    (state,) = temporal_json(server, "query", "-w", workflow, "--type", "incident")
    found: dict[str, Any] = state["queryResult"][0]
    return found


def test_serve_on_temporal_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    base = ["serve", "--insecure-no-token", "--port", "0", "--state", str(tmp_path / "s")]
    alone = soar(*base, "--engine", "temporal")
    assert alone.returncode == 2 and "needs --temporal HOST:PORT" in alone.stderr
    signed = soar(*base, "--engine", "temporal", "--temporal", "x:1", "--signing-key", "k.pem")
    assert signed.returncode == 2 and "the workers run and sign" in signed.stderr
    gone = soar(*base, "--engine", "temporal", "--temporal", "127.0.0.1:1")  # nothing listens
    assert gone.returncode == 2 and "cannot reach the Temporal server at 127.0.0.1:1" in gone.stderr
    assert "listening on" not in gone.stdout  # refused before it takes any batch
