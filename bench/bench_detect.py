"""Events per second through ``Detector.feed`` with every standard detection loaded.

Run: .venv/bin/python bench/bench_detect.py [--events N] [--batch N] [--scenario S | --serve-stream]

Generates an emulator scenario (``engine.emulator.scenarios``), puts its events in
date order (as a log stream delivers them), and feeds them in batches of ``--batch``
to a Detector of ``detections/``. Event generation is outside the timing. The
issue 13 target for ingest and detection together is >= 20,000 events/s, so the
detector alone should do well over 50,000/s. Prints events/s (best of three),
the detections' keys and the detector's counts; CPU time as well as wall time,
since a shared machine's neighbours slow the wall clock.

``--serve-stream`` feeds instead the stream ``bench/bench_serve.py`` posts (a tenant
of 50,000 users and 65,536 addresses: 90% logins, 7% wrong passwords), the part of
``soar serve``'s CPU the detector takes, and also prints the events the groups hold.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from engine.emulator.scenarios import SCENARIOS, generate
from engine.serve.detect import Detector
from engine.serve.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--scenario", choices=SCENARIOS, default="credential-stuffing")
    parser.add_argument(
        "--serve-stream", action="store_true", help="the stream of bench_serve.py instead"
    )
    args = parser.parse_args()
    rules = load_rules([ROOT / "detections"])
    if args.serve_stream:
        from bench_serve import Events

        stream = Events()
        events = [stream.background()["data"] for _ in range(args.events)]
        args.scenario = "bench_serve stream"
    else:
        events = sorted(
            generate(args.scenario, seed=1, events=args.events).events, key=lambda e: e["date"]
        )
    best = cpu = float("inf")
    for _ in range(3):
        detector = Detector(rules)
        keys: set[str] = set()
        start, start_cpu = time.perf_counter(), time.process_time()
        for at in range(0, len(events), args.batch):
            keys |= {d.key for d in detector.feed(events[at : at + args.batch])}
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    # CPU time too: on a shared machine the wall time says more about the neighbours
    print(
        f"{args.scenario}: {len(events):,} events, {len(rules)} rules, batches of {args.batch}: "
        f"{len(events) / best:,.0f} events/s wall ({best:.2f} s), "
        f"{len(events) / cpu:,.0f} events/s of CPU ({cpu:.2f} s)"
    )
    print("detections:", ", ".join(sorted(keys)) or "none")
    print("counts:", dict(detector.stats))


if __name__ == "__main__":
    main()
