"""Wall time of `soar --help` and `soar validate` on 20 playbooks (target: < 0.5 s each).

Run: .venv/bin/python bench/bench_cli_startup.py [--runs N]
Each command runs in a fresh process, as an operator starts it; prints min and median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOAR = [sys.executable, "-m", "engine"]


def wall(args: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, cwd=ROOT, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr!r}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(20):
            src = examples[n % len(examples)]
            # distinct expression texts, so no template is parsed from a cache
            text = src.read_text(encoding="utf-8").replace("{{ ", "{{ " + " " * n)
            (Path(tmp) / f"{n:02d}-{src.name}").write_text(text, encoding="utf-8")
        for label, args in (
            ("soar --help", [*SOAR, "--help"]),
            ("soar validate (20 playbooks)", [*SOAR, "validate", tmp]),
        ):
            times = wall(args, runs)
            print(
                f"{label:<30} min {min(times):.3f} s  median {statistics.median(times):.3f} s"
                f"  ({runs} runs)"
            )


if __name__ == "__main__":
    main()
