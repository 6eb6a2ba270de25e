"""The credential-stuffing drill at scale: time and requests against a 10/20 rate limit.

.venv/bin/python bench/bench_drill.py [--events 100000] [--mode live|dry-run]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from engine.drills.drill import load_drill, run_drill

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--mode", default="live", choices=["live", "dry-run"])
    args = ap.parse_args()
    drill = load_drill(ROOT / "drills" / "credential-stuffing.yaml")
    drill = replace(drill, events=args.events, mode=args.mode)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_drill(drill, Path(tmp))
    m = result.metrics
    print("| measure | value |\n|---|---|")
    print(f"| events in the tenant | {result.truth['events']:,} |")
    print(f"| mode | {args.mode} (rate limit {drill.rate_limit[0]}/{drill.rate_limit[1]:g}) |")
    print(f"| wall time | {result.duration_s:.1f} s |")
    print(f"| requests to the tenant | {result.requests} ({result.throttled} throttled) |")
    for key in ("compromised_users", "attacker_ips"):
        print(f"| {key} | recall {m[key]['recall']}, precision {m[key]['precision']} |")
    print(f"| legitimate users blocked | {len(m['wrongly_blocked'])} |")
    print(f"| passed | {result.passed} |")
    print(
        json.dumps(
            {k: v for k, v in result.to_json().items() if k in ("passed", "requests", "duration_s")}
        )
    )


if __name__ == "__main__":
    main()
