"""``soar serve`` under a stream: sustained ingest + detection, detection-to-response latency, memory.

    .venv/bin/python bench/bench_serve.py [--events 200000] [--seconds 20] [--rate 5000]
    .venv/bin/python bench/bench_serve.py --duration 600 [--rate 5000]   # the memory run

A real ``soar serve`` process on port 0, fed JSON-lines batches over HTTP as an
Auth0 custom-webhook stream posts them:

1. **Sustained**: ``--events`` events (mostly legitimate logins, some failures)
   posted by 4 concurrent senders as fast as serve takes them (503 + Retry-After
   is honoured); events/s = events / time until the detector has consumed all.
2. **Latency at ``--rate`` events/s** for ``--seconds``: paced batches of
   background traffic; once a second one batch carries the 20th failure of a new
   attacker address (the threshold-crossing event). Latency = from sending that
   batch to its incident's response run starting (the response row's
   ``started_at``, written just before the playbook runs).
3. **Memory**: the serve process's RSS sampled throughout (peak; first and
   last quarter of the sustained phase, to show whether it is flat).

Each phase also reports the CPU serve used per 1,000 events (user + system,
from ``/proc``): unlike events/s it hardly moves when other processes share
the machine, so it is the figure to compare between changes on a busy machine.

``--duration SECONDS`` runs instead one steady stream at ``--rate`` events/s for
that long (10 minutes at 5,000/s: 3M events), an attack every 10 s, and reports
serve's RSS: peak, the first and last quarter, and one figure a minute, beside
the machine's load average. Its events are ``--event-ms`` apart in event time
(10 ms: the stream covers 8 hours, so every detection window fills and turns
over several times, which is what a day of traffic does to serve's memory).

Rules: the standard ``detections/``, plus the bench's own rule with a response
(a one-step ``data.set`` playbook: no tenant needed); the latency is that
rule's response's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-Stream-token-0123456789"  # noqa: S105 -- the bench server's own token
PLAYBOOK = """
playbook: 1
name: bench-response
description: the smallest response, to time its start
inputs:
  ip: {type: string, required: true}
steps:
  - id: note
    uses: data.set
    with: {value: "{{ inputs.ip }}"}
"""
RULE = """
detection: 1
id: bench-stuffing
title: Failures from one address (bench)
description: twenty failures from one address in ten minutes
severity: high
select: 'type:"fp" OR type:"fu"'
group_by: [ip]
window: 10m
lateness: 1m
threshold:
  count: {gte: 20}
response:
  playbook: ../playbooks/bench-response.yaml
  inputs: {ip: "{{ group.ip }}"}
"""
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Events:
    """Auth0-shaped events with unique log ids and increasing dates."""

    def __init__(self, step_ms: float = 2) -> None:
        self.n = 0
        self.step_ms = step_ms  # event time between two events
        self.rng = random.Random(7)

    def make(self, kind: str, ip: str, user: str) -> dict[str, object]:
        self.n += 1
        date = START + timedelta(milliseconds=self.n * self.step_ms)
        log_id = f"900{self.n:053d}"
        data = {
            "log_id": log_id,
            "date": date.strftime("%Y-%m-%dT%H:%M:%S.") + f"{date.microsecond // 1000:03d}Z",
            "type": kind,
            "ip": ip,
            "user_name": user,
            "user_id": f"auth0|{abs(hash(user)) % 10**12:012d}",
            "client_name": "Customer Portal",
            "connection": "Username-Password-Authentication",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
            "details": {"request": {"ip": ip}},
        }
        return {"log_id": log_id, "data": data}

    def background(self) -> dict[str, object]:
        r = self.rng.random()
        ip = f"198.51.{self.rng.randrange(256)}.{self.rng.randrange(256)}"
        user = f"user{self.rng.randrange(50_000)}@example.com"
        return self.make("s" if r < 0.9 else ("fp" if r < 0.97 else "slo"), ip, user)


def body(items: list[dict[str, object]]) -> bytes:
    return ("\n".join(json.dumps(i) for i in items) + "\n").encode()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.samples.append((time.monotonic(), rss_mb(self.pid)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(http: httpx.Client, url: str, data: bytes) -> None:
    while True:
        reply = http.post(url, content=data, headers={"Authorization": TOKEN})
        if reply.status_code == 200:
            return
        if reply.status_code != 503:
            raise SystemExit(f"serve answered {reply.status_code}: {reply.text}")
        time.sleep(min(float(reply.headers.get("Retry-After", "1")), 0.05))


def health(http: httpx.Client, url: str) -> dict[str, int]:
    return dict(http.get(f"{url}/healthz").json())


def drain(http: httpx.Client, url: str) -> None:
    while True:
        doc = health(http, url)
        if doc["consumed"] >= doc["stored"]:
            return
        time.sleep(0.01)


def sustained(url: str, events: Events, n: int, batch: int = 1000) -> tuple[float, float]:
    """Post ``n`` events as fast as serve takes them: (when sending began, seconds until detected)."""
    bodies = [body([events.background() for _ in range(batch)]) for _ in range(n // batch)]
    todo = list(bodies)
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    data = todo.pop(0)
                post(http, f"{url}/auth0/logs", data)

    start = time.monotonic()
    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with httpx.Client(timeout=60) as http:
        drain(http, url)
    return start, time.monotonic() - start


def paced(url: str, events: Events, seconds: float, rate: int, every: int = 1) -> dict[str, float]:
    """Send ``rate`` events/s in 10 batches a second; a crossing batch each ``every`` s. ip -> sent.

    Each attack is a new address against accounts of its own, so that it opens
    its own incidents and no other (reused victims would add brute-force
    incidents of the standard rules, whose responses queue before the measured one).
    """
    per_batch = rate // 10
    sent: dict[str, float] = {}
    attack = 0
    ip = ""
    with httpx.Client(timeout=60) as http:
        start = time.monotonic()
        for tick in range(int(seconds * 10)):
            items = [events.background() for _ in range(per_batch)]
            if tick % (10 * every) == 5:  # 19 failures of a new attacker now, the 20th next
                attack += 1
                ip = f"203.0.{attack // 256}.{attack % 256}"
                victims = [f"v{attack}-{i}@example.com" for i in range(20)]
                items[:19] = [events.make("fp", ip, victims[i]) for i in range(19)]
            elif tick % (10 * every) == 6:
                items[0] = events.make("fu", ip, victims[19])
                sent[ip] = time.time()  # this batch carries the threshold-crossing event
            post(http, f"{url}/auth0/logs", body(items))
            wait = start + (tick + 1) / 10 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        drain(http, url)
    return sent


def started_at(state: Path, sent: dict[str, float], timeout: float = 60) -> list[float]:
    """Seconds from each crossing batch to its response's start."""
    deadline = time.monotonic() + timeout
    db = sqlite3.connect(f"file:{state / 'soar-serve.sqlite3'}?mode=ro", uri=True)
    while True:
        rows = db.execute(
            "SELECT i.grp, r.started_at FROM incidents i JOIN responses r ON r.incident = i.id "
            "WHERE r.started_at IS NOT NULL AND i.rule = 'bench-stuffing'"
        ).fetchall()
        seen = {json.loads(g)["ip"]: s for g, s in rows if json.loads(g).get("ip") in sent}
        if len(seen) == len(sent) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    out = []
    for ip, stamp in seen.items():
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        out.append(when - sent[ip])
    missing = len(sent) - len(seen)
    if missing:
        print(f"warning: {missing} crossing batch(es) never got a response", file=sys.stderr)
    return out


def start_serve(work: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``soar serve`` on port 0 over the bench's rule and the standard detections: (process, url, rule folders)."""
    (work / "rules").mkdir()
    (work / "playbooks").mkdir()
    (work / "rules" / "bench-stuffing.yaml").write_text(RULE)
    (work / "playbooks" / "bench-response.yaml").write_text(PLAYBOOK)
    folders = [str(work / "rules"), str(ROOT / "detections")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", "0", "--token", TOKEN,
         "--state", str(work / "state"), "--run-dir", str(work / "runs"),
         *[arg for folder in folders for arg in ("--detections", folder)]],
        cwd=work, env={**env, "SOAR_LOG_LEVEL": "warning"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(f"serve did not start: {proc.communicate()[1][-2000:]}")
    return proc, line.split("listening on ", 1)[1].strip(), folders


def latency_row(lat: list[float], rate: int) -> str:
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return (
        f"| crossing batch -> response started, at {rate:,} events/s, {len(lat)} attacks "
        f"| p50 {statistics.median(lat) * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms, "
        f"max {lat[-1] * 1000:,.0f} ms | p99 <= 1 s |"
    )


def targets(args: argparse.Namespace, work: Path) -> None:
    """The sustained phase, then the paced one: the issue's first two targets and memory."""
    proc, url, folders = start_serve(work)
    sampler = Sampler(proc.pid)
    sampler.start()
    events = Events()
    try:
        t0, took = sustained(url, events, args.events)  # t0: after the bodies are built
        t1 = time.monotonic()
        cpu = cpu_seconds(proc.pid)  # nearly all of it the sustained phase's (start-up aside)
        sent = paced(url, events, args.seconds, args.rate)
        paced_took = time.monotonic() - t1
        cpu_paced = cpu_seconds(proc.pid) - cpu
        lat = sorted(started_at(work / "state", sent))
    finally:
        sampler.stop.set()
        proc.terminate()
        proc.communicate(timeout=120)
    quarter = (t1 - t0) / 4
    first = [m for t, m in sampler.samples if t0 <= t < t0 + quarter]
    last = [m for t, m in sampler.samples if t1 - quarter <= t < t1]
    print(f"rules: {' '.join(folders)}; load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(
        f"| sustained ingest + detection, {args.events:,} events, 4 senders, batches of 1,000 "
        f"| {args.events / took:,.0f} events/s ({took:.1f} s; serve CPU "
        f"{cpu / args.events * 1e6:,.0f} ms per 1,000 events) | >= 20,000 events/s |"
    )
    if lat:
        print(latency_row(lat, args.rate))
    paced_events = int(args.seconds * 10) * (args.rate // 10)
    print(
        f"| paced phase as sent | {paced_events / paced_took:,.0f} events/s; serve CPU "
        f"{cpu_paced / paced_events * 1e6:,.0f} ms per 1,000 events | |"
    )
    peak = max((m for _, m in sampler.samples), default=0.0)
    print(
        f"| serve RSS over the run | peak {peak:,.0f} MB; sustained phase first quarter "
        f"{max(first, default=0):,.0f} MB, last quarter {max(last, default=0):,.0f} MB | flat |"
    )


def steady(args: argparse.Namespace, work: Path) -> None:
    """``--duration``: one steady stream at ``--rate``, an attack every 10 s; serve's RSS over time."""
    proc, url, _ = start_serve(work)
    sampler = Sampler(proc.pid)
    sampler.start()
    loads = []
    try:
        t0 = time.monotonic()
        sent = paced(url, Events(args.event_ms), args.duration, args.rate, every=10)
        t1 = time.monotonic()
        loads.append(os.getloadavg())
        cpu = cpu_seconds(proc.pid)
        lat = sorted(started_at(work / "state", sent))
    finally:
        sampler.stop.set()
        proc.terminate()
        proc.communicate(timeout=120)
    samples = [(t - t0, m) for t, m in sampler.samples if t0 <= t <= t1]
    quarter = (t1 - t0) / 4
    first = [m for t, m in samples if t < quarter]
    last = [m for t, m in samples if t >= 3 * quarter]
    total = int(args.duration * 10) * (args.rate // 10)
    minutes = [
        max((m for t, m in samples if 60 * k <= t < 60 * (k + 1)), default=0.0)
        for k in range(int((t1 - t0) // 60) + 1)
    ]
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in loads[0])} (1, 5, 15 min)")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(
        f"| steady stream, {total:,} events in {t1 - t0:,.0f} s ({total / (t1 - t0):,.0f} "
        f"events/s), serve CPU {cpu / total * 1e6:,.0f} ms per 1,000 events | | |"
    )
    if lat:
        print(latency_row(lat, args.rate))
    print(
        f"| serve RSS over the stream | peak {max(m for _, m in samples):,.0f} MB; first "
        f"quarter {statistics.mean(first):,.0f} MB (max {max(first):,.0f}), last quarter "
        f"{statistics.mean(last):,.0f} MB (max {max(last):,.0f}) | flat |"
    )
    print("RSS each minute (max, MB): " + " ".join(f"{m:,.0f}" for m in minutes))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000, help="events of the sustained phase")
    ap.add_argument("--seconds", type=float, default=20, help="length of the paced phase")
    ap.add_argument("--rate", type=int, default=5000, help="events/s of the paced phase")
    ap.add_argument(
        "--duration", type=float, help="instead: one steady stream this many seconds, for memory"
    )
    ap.add_argument(
        "--event-ms",
        type=float,
        default=10,
        help="with --duration: event time between two events (10: 10 minutes at 5,000/s span "
        "8 h of event time, four times the longest detection window, so windows turn over)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the state folder (else removed)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        if args.duration:
            steady(args, work)
        else:
            targets(args, work)
    finally:
        if args.keep:
            print(f"state kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
