"""Emulator scale: a 1,000,000-event tenant, page latency of hot queries, file scan vs jq.

    .venv/bin/python bench/bench_emulator.py [--events 1000000]

Reports: generation + indexing time and peak RSS of the serving process, and its
resident memory once built and after the pages (issue 12's target for a store:
1,000,000 events served within 700 MB); median, p99 and worst latency over HTTP of
60 pages of ``type:"s" AND ip:"X"`` and of ``type:"fp" OR type:"fu"`` (target
< 50 ms); a checkpoint page (``from``/``take``) from the middle; a scan of the same events as a
JSON-lines file with a query through ``engine.logs.files.search_file``, in events
per second, beside ``jq`` on the same file and query.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from engine.emulator import start_emulator
from engine.logs.files import search_file


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """The process's resident memory now (VmRSS), not its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def p99(times: list[float]) -> float:
    return sorted(times)[max(0, round(len(times) * 0.99) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    n = ap.parse_args().events
    t0 = time.monotonic()
    emu = start_emulator(
        scenario="credential-stuffing", seed=1, events=n, rate_limit=(10**6, 10**6)
    )
    built = time.monotonic() - t0
    print(
        f"| tenant of {n:,} events generated, indexed, served | {built:.1f} s | peak RSS {rss_mib():,.0f} MiB (target < 2048) |"
    )
    print(f"| serving RSS once built (VmRSS) | {current_rss_mib():,.0f} MiB (target < 700) | |")
    http = httpx.Client(base_url=emu.base_url, timeout=60)
    tok = http.post(
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "audience": emu.audience,
        },
    ).json()
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    ip = emu.truth["attacker_ips"][0]
    checkpoint = emu.tenant.logs.ids[len(emu.tenant.logs) // 2]
    for label, q in (
        (f'type:"s" AND ip:"{ip}"', f'type:"s" AND ip:"{ip}"'),
        ('type:"fp" OR type:"fu"', 'type:"fp" OR type:"fu"'),
    ):
        times = []
        for page in range(60):
            s = time.perf_counter()
            r = http.get(
                "/api/v2/logs", params={"q": q, "per_page": 100, "page": page % 3}, headers=h
            )
            times.append((time.perf_counter() - s) * 1000)
            assert r.status_code == 200
        print(
            f"| page of `{label}` | median {statistics.median(times):.1f} ms "
            f"| p99 {p99(times):.1f} ms, worst {max(times):.1f} ms (target < 50) |"
        )
    # a field with no posting list: evaluated on the columns, nothing decoded
    times = []
    for _ in range(5):
        s = time.perf_counter()
        r = http.get(
            "/api/v2/logs",
            params={"q": 'description:"missing username parameter"', "per_page": 100},
            headers=h,
        )
        times.append((time.perf_counter() - s) * 1000)
        assert r.status_code == 200
    print(
        f'| page of `description:"missing username parameter"` (no index, whole tenant scanned) '
        f"| median {statistics.median(times):.1f} ms | worst {max(times):.1f} ms |"
    )
    # a date window sorted by date, as the connector's complete search asks
    times = []
    for _ in range(5):
        s = time.perf_counter()
        r = http.get(
            "/api/v2/logs",
            params={
                "q": '(type:"s" OR type:"ssa") AND date:[2000-01-01 TO 2100-01-01}',
                "per_page": 100,
                "page": 9,
                "sort": "date:1",
            },
            headers=h,
        )
        times.append((time.perf_counter() - s) * 1000)
    print(f"| page 9 of a date window, sort=date:1 | median {statistics.median(times):.1f} ms | |")
    times = []
    for _ in range(20):
        s = time.perf_counter()
        r = http.get("/api/v2/logs", params={"from": checkpoint, "take": 100}, headers=h)
        times.append((time.perf_counter() - s) * 1000)
        assert r.status_code == 200
    print(
        f"| checkpoint page (from, take=100) | median {statistics.median(times):.1f} ms | worst {max(times):.1f} ms |"
    )
    print(f"| serving RSS after the pages (VmRSS) | {current_rss_mib():,.0f} MiB | |")
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "logs.jsonl"
        store = emu.tenant.logs
        with f.open("wb") as out:
            for i in range(len(store)):
                out.write(store.raw(i) + b"\n")
        emu.stop()
        size = f.stat().st_size / 2**20
        jq = shutil.which("jq")
        scans = [
            # exact values: complete lines lacking them are skipped undecoded
            ('type:"s" AND ip:"' + ip + '"', f'select(.type == "s" and .ip == "{ip}")'),
            # a suffix wildcard: every line is decoded and evaluated
            (
                "user_name:*mail.example",
                'select((.user_name | type) == "string" and (.user_name | endswith("mail.example")))',
            ),
        ]
        for q, jq_filter in scans:
            s = time.perf_counter()
            ours = sum(1 for _ in search_file(f, q))
            ours_s = time.perf_counter() - s
            line = (
                f"| scan {n:,} events ({size:,.0f} MiB JSON lines), `{q}` "
                f"| soar {n / ours_s:,.0f} events/s ({ours_s:.1f} s, {ours} hits) "
            )
            if jq:
                s = time.perf_counter()
                out = subprocess.run([jq, "-c", jq_filter, str(f)], capture_output=True, check=True)
                jq_s = time.perf_counter() - s
                hits = len(out.stdout.splitlines())
                line += f"| jq {n / jq_s:,.0f} events/s ({jq_s:.1f} s, {hits} hits) |"
            else:
                line += "| jq not installed |"
            print(line)
        # the same file served as a tenant (soar emulator --logs), in a fresh process
        code = (
            "import resource, sys, time\n"
            "from pathlib import Path\n"
            "from engine.emulator import start_emulator\n"
            "t = time.monotonic()\n"
            "emu = start_emulator(logs_file=Path(sys.argv[1]))\n"
            "print(len(emu.tenant.logs), round(time.monotonic() - t, 1),"
            " round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))\n"
            "emu.stop()\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(f)], capture_output=True, text=True, check=True
        )
        count, secs, peak = out.stdout.split()
        print(
            f"| the file served as a tenant (`--logs`) | {int(count):,} events in {secs} s "
            f"| peak RSS {int(peak):,} MiB |"
        )
    print(json.dumps({"events": n, "peak_rss_mib": round(rss_mib())}))


if __name__ == "__main__":
    main()
