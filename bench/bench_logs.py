"""Offline log work at scale: soar beside DuckDB SQL and jq, each a whole process, on one export.

    .venv/bin/python bench/bench_logs.py                  # 1,000,000 events, 3 runs of each
    .venv/bin/python bench/bench_logs.py --quick          # 100,000 events, a smoke run
    .venv/bin/python bench/bench_logs.py --events 10000000 --repeat 1 --no-jq

The export is a credential-stuffing tenant of the emulator's scenario generator
written as JSON lines (about 1.06 GB per million events), generated once and
kept in ``--data`` (default ``bench/.data/``), keyed by size and seed, beside
its ground truth. Above the generator's 1,000,000 events per tenant, the export
is several tenants (seeds S, S+1, ...), each a day older than the one after it,
so their log ids never meet and their truths add up.

Each work runs as a whole process, ``--repeat`` times (median wall time, peak
RSS the largest, from ``os.wait4``; soar's modules compiled to bytecode first,
as a wheel's install leaves them; the export read through once beforehand, so
that every tool finds it in the page cache where memory allows), side by side:
soar (``.venv/bin/soar`` of this tree, or ``--soar``), DuckDB SQL doing the same
work (``bench/logs_duckdb.py``) and jq (where installed):

- the attack triage (``soar run playbooks/auth0-attack-triage.yaml --logs``),
  first with no ``.soar-cache/`` (each run in a fresh working folder), then
  again in the same folder (the cache warm), and with ``--no-cache`` where
  ``soar run --help`` lists it;
- ``soar logs search FILE 'type:"s" AND ip:"X"' --count`` (X: the attacker
  address with the most password logins) and ``'type:"fp" OR type:"fu"' --count``,
  each run in a fresh working folder (nothing cached);
- ``soar --help``.

Targets (issue 12, for 1,000,000 events): triage first run <= 1.5 s and within
2x of DuckDB SQL, cached <= 0.3 s, peak RSS <= 600 MB; ``type:"s" AND ip:"X"``
<= 0.8 s; fp/fu ``--count`` <= 1.0 s; ``soar --help`` < 0.15 s; at 10,000,000
events the triage's peak RSS <= 1.5 GB. MB are 10^6 bytes.

Answers are checked beside the speed: soar's triage (suspicious IPs,
compromised users, the applications each reached) must equal DuckDB SQL's and
the generator's truth (and jq's), the cached run's the first run's, the
users' names, activity from other addresses and Management API calls DuckDB
SQL's, and each count DuckDB's, jq's and the generator's. A mismatch is printed
loudly and the exit code is 1; a missed target is reported, and is an error
only with ``--check``.

Beside it: ``logs_export.py`` (the export), ``timed.py`` (the process runner;
about 8 MB of a process's peak RSS is the small interpreter that starts it),
``logs_answers.py`` (the checks) and ``logs_duckdb.py`` (the reference).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from logs_answers import check_count, check_triage
from logs_export import FAILURE_TYPES, Export, export
from timed import MB, Measured, measure, run_process

from engine.emulator.scenarios import MAX_EVENTS
from engine.eventcodes import ATTACK_INDICATORS, USER_AUTH_SUCCESS

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "auth0-attack-triage.yaml"
DUCKDB = Path(__file__).resolve().parent / "logs_duckdb.py"
MIN_FAILURES = 20  # the triage playbook's default min_failures, for jq's triage


# -- the works -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A work's target: ``seconds`` (at most, or ``under``), ``rss`` bytes, ``ratio`` x DuckDB SQL."""

    seconds: float | None = None
    rss: int | None = None
    ratio: float | None = None
    under: bool = False

    def text(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"{'<' if self.under else '<='} {self.seconds:g} s")
        if self.rss is not None:
            parts.append(f"<= {self.rss / MB:,.0f} MB")
        if self.ratio is not None:
            parts.append(f"<= {self.ratio:g}x DuckDB")
        return ", ".join(parts) or "-"

    def met(self, soar: Measured, ratio: float | None) -> bool | None:
        if self.seconds is None and self.rss is None and self.ratio is None:
            return None
        return (
            (
                self.seconds is None
                or soar.seconds < self.seconds
                or (not self.under and soar.seconds == self.seconds)
            )
            and (self.rss is None or soar.rss <= self.rss)
            and (self.ratio is None or (ratio is not None and ratio <= self.ratio))
        )


def targets(events: int) -> dict[str, Target]:
    """Issue 12's targets: time and memory at 1,000,000 events, memory alone at 10,000,000."""
    if events > MAX_EVENTS:
        return {"triage": Target(rss=1_500 * MB), "help": Target(seconds=0.15, under=True)}
    return {
        "triage": Target(seconds=1.5, rss=600 * MB, ratio=2.0),
        "no-cache": Target(seconds=1.5, rss=600 * MB, ratio=2.0),
        "cached": Target(seconds=0.3, rss=600 * MB),
        "logins": Target(seconds=0.8),
        "failures": Target(seconds=1.0),
        "help": Target(seconds=0.15, under=True),
    }


@dataclass
class Row:
    key: str
    work: str
    soar: Measured | None = None
    duckdb: Measured | None = None
    jq: Measured | None = None
    target: Target = field(default_factory=Target)

    @property
    def ratio(self) -> float | None:
        if self.soar is None or self.duckdb is None:
            return None
        return self.soar.seconds / self.duckdb.seconds

    @property
    def met(self) -> bool | None:
        return None if self.soar is None else self.target.met(self.soar, self.ratio)

    def cells(self) -> list[str]:
        ratio = self.ratio
        met = self.met
        return [
            self.work,
            self.soar.cell() if self.soar else "-",
            self.duckdb.cell() if self.duckdb else "-",
            self.jq.cell() if self.jq else "-",
            "-" if ratio is None else f"{ratio:.1f}x",
            self.target.text(),
            "-" if met is None else ("yes" if met else "**no**"),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "work": self.work,
            "soar": self.soar.to_json() if self.soar else None,
            "duckdb": self.duckdb.to_json() if self.duckdb else None,
            "jq": self.jq.to_json() if self.jq else None,
            "ratio": None if self.ratio is None else round(self.ratio, 2),
            "target": self.target.text(),
            "met": self.met,
        }


@dataclass(frozen=True)
class Tools:
    soar: Path
    python: str = sys.executable
    jq: str | None = shutil.which("jq")
    repeat: int = 3
    timeout: float = 3600


def soar_triage_argv(tools: Tools, ex: Export, *extra: str) -> list[str]:
    return [
        str(tools.soar),
        "run",
        str(PLAYBOOK),
        "--logs",
        str(ex.path),
        "-i",
        f"since={ex.since}",
        "-i",
        f"until={ex.until}",
        "--json",
        "--run-dir",
        "runs",
        *extra,
    ]


def soar_count_argv(tools: Tools, ex: Export, query: str) -> list[str]:
    return [str(tools.soar), "logs", "search", str(ex.path), query, "--count"]


def duckdb_argv(tools: Tools, ex: Export, *work: str) -> list[str]:
    return [tools.python, str(DUCKDB), str(ex.path), *work]


def jq_count_argv(tools: Tools, ex: Export, select: str, *args: str) -> list[str]:
    """One shell pipeline process: ``jq -c 'select(...)' FILE | wc -l``."""
    assert tools.jq is not None
    script = 'jq="$1"; file="$2"; filter="$3"; shift 3; "$jq" -c "$@" "$filter" "$file" | wc -l'
    return ["sh", "-c", script, "sh", tools.jq, str(ex.path), f"select({select})", *args]


# Two passes over the file: the addresses with enough indicator events, then the successful
# logins from them. Collected as arrays and grouped: jq 1.6 copies an object it updates in a
# reduce, which makes counting into one object quadratic.
JQ_TRIAGE = r"""
jq="$1"; file="$2"; since="$3"; until="$4"; min="$5"; indicators="$6"; success="$7"
suspicious=$("$jq" -n -c --arg since "$since" --arg until "$until" --argjson min "$min" \
  --argjson ind "$indicators" '
  [inputs | select(.date >= $since and .date < $until)
   | select($ind[.type // ""] or .description == "missing username parameter") | .ip | strings]
  | group_by(.) | map(select(length >= $min) | {(.[0]): true}) | add // {}' "$file") || exit 1
"$jq" -n --arg since "$since" --arg until "$until" --argjson sus "$suspicious" \
  --argjson ok "$success" '
  [inputs | select(.date >= $since and .date < $until)
   | select($ok[.type // ""] and $sus[.ip // ""] and ((.user_id // "") != ""))
   | {user: .user_id, app: (.client_id // .client_name // ""), name: .client_name}]
  | group_by(.user) | map({(.[0].user): [group_by(.app)[] | select(.[0].app != "") | .[0].name] | sort})
  | add // {}
  | {suspicious_ips: ($sus | keys), compromised_users: keys, accessed_clients: .}' "$file"
"""


def jq_triage_argv(tools: Tools, ex: Export) -> list[str]:
    """The triage as one shell process of two jq passes (IP texts as logged, not as addresses)."""
    assert tools.jq is not None
    as_set = lambda codes: json.dumps(dict.fromkeys(sorted(codes), True))  # noqa: E731
    return [
        "sh",
        "-c",
        JQ_TRIAGE,
        "sh",
        tools.jq,
        str(ex.path),
        ex.since,
        ex.until,
        str(MIN_FAILURES),
        as_set(ATTACK_INDICATORS),
        as_set(USER_AUTH_SUCCESS),
    ]


def run_triage(tools: Tools, ex: Export, scratch: Path) -> dict[str, Measured]:
    """soar's triage with no cache, then cached (and --no-cache where offered), repeated."""
    runs: dict[str, Measured] = {"triage": Measured(), "cached": Measured()}
    no_cache = "--no-cache" in run_process([str(tools.soar), "run", "--help"], scratch).stdout
    if no_cache:
        runs["no-cache"] = Measured()
    for n in range(tools.repeat):
        cwd = scratch / f"triage-{n}"  # a fresh folder: no .soar-cache/ in it
        cwd.mkdir()
        try:
            runs["triage"].samples.append(
                run_process(soar_triage_argv(tools, ex), cwd, tools.timeout)
            )
            runs["cached"].samples.append(
                run_process(soar_triage_argv(tools, ex), cwd, tools.timeout)
            )
            if no_cache:
                argv = soar_triage_argv(tools, ex, "--no-cache")
                runs["no-cache"].samples.append(run_process(argv, cwd, tools.timeout))
        finally:
            shutil.rmtree(cwd, ignore_errors=True)
    return runs


def run_all(tools: Tools, ex: Export, scratch: Path) -> list[Row]:
    """Every work by every tool, as the table's rows."""
    goal = targets(ex.events)

    def fresh() -> Path:  # a new empty folder for each run: nothing cached in its cwd
        return Path(tempfile.mkdtemp(dir=scratch))

    rows: list[Row] = []
    triage = run_triage(tools, ex, scratch)
    duck_triage = measure(
        duckdb_argv(tools, ex, "triage", "--since", ex.since, "--until", ex.until),
        tools.repeat,
        tools.timeout,
        fresh,
    )
    jq_triage = (
        measure(jq_triage_argv(tools, ex), tools.repeat, tools.timeout, fresh) if tools.jq else None
    )
    rows.append(Row("triage", "attack triage, first run", triage["triage"], duck_triage, jq_triage))
    if "no-cache" in triage:
        rows.append(Row("no-cache", "attack triage, --no-cache", triage["no-cache"], duck_triage))
    rows.append(Row("cached", "attack triage, cache warm", triage["cached"], duck_triage))
    ip = ex.login_ip
    for key, query, duck, jq in (
        (
            "logins",
            f'type:"s" AND ip:"{ip}"',
            ("logins-from", ip),
            ('.type == "s" and .ip == $ip', "--arg", "ip", ip),
        ),
        (
            "failures",
            " OR ".join(f'type:"{t}"' for t in FAILURE_TYPES),
            ("types", *FAILURE_TYPES),
            (" or ".join(f'.type == "{t}"' for t in FAILURE_TYPES),),
        ),
    ):
        rows.append(
            Row(
                key,
                f"`{query}` --count",
                measure(soar_count_argv(tools, ex, query), tools.repeat, tools.timeout, fresh),
                measure(duckdb_argv(tools, ex, *duck), tools.repeat, tools.timeout, fresh),
                measure(jq_count_argv(tools, ex, *jq), tools.repeat, tools.timeout, fresh)
                if tools.jq
                else None,
            )
        )
    rows.append(
        Row("help", "`soar --help`", measure([str(tools.soar), "--help"], tools.repeat, 60, fresh))
    )
    for row in rows:
        row.target = goal.get(row.key, Target())
    return rows


# -- answers ---------------------------------------------------------------------


def check(rows: Iterable[Row], ex: Export) -> list[str]:
    """Every mismatch of the run's answers (see the module docstring)."""
    by = {row.key: row for row in rows}
    problems = []
    triage = by["triage"]
    assert triage.soar and triage.duckdb
    cached = by["cached"].soar
    problems += check_triage(
        triage.soar.last,
        cached.last if cached else None,
        triage.duckdb.last,
        triage.jq.last if triage.jq else None,
        ex.truth,
    )
    for key, expected in (("logins", "logins_from"), ("failures", "failures")):
        row = by[key]
        samples = {
            name: m.last
            for name, m in (("soar", row.soar), ("DuckDB SQL", row.duckdb), ("jq", row.jq))
            if m is not None
        }
        problems += check_count(row.work, ex.counts[expected], samples)
    return problems


# -- output ----------------------------------------------------------------------

HEADER = ["work", "soar", "DuckDB SQL", "jq", "soar/DuckDB ratio", "target", "met?"]


def table(rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def compiled(soar: Path) -> None:
    """The measured soar's modules compiled to bytecode first, as a wheel's install leaves
    them: an editable tree run with PYTHONDONTWRITEBYTECODE (as here) would otherwise
    compile every module it changed, on every run, and be timed doing it."""
    python = soar.parent / "python"
    code = "import compileall, engine, os; compileall.compile_dir(os.path.dirname(engine.__file__), quiet=1)"
    subprocess.run([str(python), "-c", code], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the export")
    ap.add_argument("--quick", action="store_true", help="a 100,000-event smoke run")
    ap.add_argument("--seed", type=int, default=1, help="the scenario's seed (the first tenant's)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each work (the median counts)")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / ".data", help="the export cache")
    ap.add_argument(
        "--soar",
        type=Path,
        default=ROOT / ".venv" / "bin" / "soar",
        help="the soar to measure (default: this tree's .venv/bin/soar)",
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one process may take")
    ap.add_argument(
        "--no-jq",
        action="store_true",
        help="leave jq out (at 10M events each of its runs is minutes)",
    )
    ap.add_argument("--json", action="store_true", help="print the rows as one JSON object")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed too")
    args = ap.parse_args(argv)
    events = 100_000 if args.quick else args.events
    if events < 1 or args.repeat < 1:
        ap.error("--events and --repeat must be at least 1")
    if not args.soar.exists():
        ap.error(f"no soar at {args.soar} (make the venv, or give --soar PATH)")
    start = time.monotonic()
    ex = export(args.data, events, args.seed)
    made = time.monotonic() - start
    tools = Tools(args.soar, repeat=args.repeat, timeout=args.timeout)
    if args.no_jq:
        tools = replace(tools, jq=None)
    compiled(args.soar)
    warm = read_through(ex.path)
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        rows = run_all(tools, ex, Path(tmp))
    problems = check(rows, ex)
    missed = [row.work for row in rows if row.met is False]
    if args.json:
        print(
            json.dumps(
                {
                    "events": ex.events,
                    "file": str(ex.path),
                    "bytes": ex.path.stat().st_size,
                    "repeat": args.repeat,
                    "read_through_s": round(warm, 2),
                    "jq": tools.jq,
                    "rows": [row.to_json() for row in rows],
                    "answers_agree": not problems,
                    "mismatches": problems,
                    "targets_missed": missed,
                }
            )
        )
    else:
        size = ex.path.stat().st_size
        print(
            f"{ex.events:,} events, {size / 10**9:.2f} GB: {ex.path} (ready in {made:.1f} s); "
            f"median of {args.repeat} run(s), peak RSS the largest; "
            f"read once beforehand in {warm:.1f} s, into the page cache"
        )
        if not tools.jq:
            print(f"jq {'left out' if args.no_jq else 'is not installed'}: its column is empty")
        print(table(rows))
        if not problems:
            print("answers agree: soar's, DuckDB SQL's, jq's and the generator's truth")
    code, said = verdict(problems, missed, args.check)
    for line in said:
        print(line, file=sys.stderr)
    return code


def read_through(path: Path, block: int = 8 << 20) -> float:
    """Read ``path`` once, discarding it, and the seconds that took: the export in the page
    cache (where memory allows) before any work is measured, so the first tool run does not
    pay alone for reading a file from disk that every later one then finds in memory."""
    start = time.monotonic()
    with path.open("rb", buffering=0) as handle:
        while handle.read(block):
            pass
    return time.monotonic() - start


def verdict(problems: list[str], missed: list[str], check: bool) -> tuple[int, list[str]]:
    """The exit code and what stderr says: 1 on a mismatch, or on a missed target with --check."""
    if problems:
        lines = [f"MISMATCH: {p}" for p in problems]
        return 1, [*lines, f"ANSWERS DIFFER ({len(problems)} mismatches): see above"]
    if check and missed:
        return 1, [f"targets missed (--check): {'; '.join(missed)}"]
    return 0, []


if __name__ == "__main__":
    sys.exit(main())
