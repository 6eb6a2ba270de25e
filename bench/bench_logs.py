"""Offline log work at scale: soar beside DuckDB SQL and jq, each a whole process, on one export.

    .venv/bin/python bench/bench_logs.py                  # 1,000,000 events, 3 runs of each
    .venv/bin/python bench/bench_logs.py --quick          # 100,000 events, a smoke run
    .venv/bin/python bench/bench_logs.py --events 10000000 --repeat 1 --json

The export is a credential-stuffing tenant of the emulator's scenario generator
written as JSON lines (about 1.06 GB per million events), generated once and
kept in ``--data`` (default ``bench/.data/``), keyed by size and seed, beside
its ground truth. Above the generator's 1,000,000 events per tenant, the export
is several tenants (seeds S, S+1, ...), each a day older than the one after it,
so their log ids never meet and their truths add up.

Each work runs as a whole process, ``--repeat`` times (median wall time, peak
RSS the largest, from ``os.wait4``), side by side: soar (``.venv/bin/soar`` of
this tree, or ``--soar``), DuckDB SQL doing the same work
(``bench/logs_duckdb.py``) and jq (where installed):

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
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from engine.emulator.scenarios import MAX_EVENTS, generate
from engine.eventcodes import ATTACK_INDICATORS, USER_AUTH_SUCCESS
from engine.timeutil import iso_ms

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "auth0-attack-triage.yaml"
DUCKDB = Path(__file__).resolve().parent / "logs_duckdb.py"
SCENARIO = "credential-stuffing"
# a fixed "now": the same size and seed give the same bytes, so the cache key is honest
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BATCH = 10_000  # events encoded per write
FAILURE_TYPES = ("fp", "fu")
MIN_FAILURES = 20  # the triage playbook's default min_failures, for jq's triage
MB = 10**6


# -- the export ----------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """A generated export, its ground truth and what the bench asks of it."""

    path: Path
    events: int
    truth: dict[str, Any]  # attacker_ips, compromised_users, accessed_clients (sorted)
    since: str  # the triage window, as Auth0 writes dates
    until: str
    login_ip: str  # an attacker address with password logins (type "s")
    counts: dict[str, int]  # the generator's own counts of the two searches


def export(data: Path, events: int, seed: int = 1) -> Export:
    """The export of ``events`` events for ``seed`` in ``data``, generated if not there yet."""
    name = f"{SCENARIO}-{events}-seed{seed}"
    path, meta = data / f"{name}.jsonl", data / f"{name}.meta.json"
    if meta.exists() and path.exists():
        known = json.loads(meta.read_text(encoding="utf-8"))
        if known.get("bytes") == path.stat().st_size:
            return _from_meta(path, known)
    data.mkdir(parents=True, exist_ok=True)
    known = write_export(path, events, seed)
    partial = meta.with_suffix(".tmp")
    partial.write_text(json.dumps(known, indent=1), encoding="utf-8")
    os.replace(partial, meta)  # written last: a meta file means a complete export
    return _from_meta(path, known)


def _from_meta(path: Path, meta: dict[str, Any]) -> Export:
    return Export(
        path,
        meta["events"],
        meta["truth"],
        meta["since"],
        meta["until"],
        meta["login_ip"],
        meta["counts"],
    )


def write_export(
    path: Path, events: int, seed: int, per_tenant: int = MAX_EVENTS
) -> dict[str, Any]:
    """Write the export to ``path`` (atomically) and return its meta data (truth, window, counts).

    One tenant per ``per_tenant`` events (at most the generator's ``MAX_EVENTS``),
    tenant k of seed ``seed + k`` and ``k`` days older than tenant 0, the oldest first.
    """
    copies = math.ceil(events / per_tenant)
    sizes = [events // copies + (1 if k < events % copies else 0) for k in range(copies)]
    truth: dict[str, Any] = {"attacker_ips": [], "compromised_users": [], "accessed_clients": {}}
    logins: dict[str, int] = {}
    failures = 0
    partial = path.with_suffix(".tmp")
    with partial.open("w", encoding="utf-8") as out:
        for age in reversed(range(copies)):  # oldest first: the file stays in date order
            tenant = generate(
                SCENARIO, seed=seed + age, events=sizes[age], now=NOW - timedelta(days=age)
            )
            attackers = set(tenant.truth["attacker_ips"])
            for batch in _batches(tenant.events):
                for e in batch:
                    if e["type"] == "s" and e["ip"] in attackers:
                        logins[e["ip"]] = logins.get(e["ip"], 0) + 1
                    elif e["type"] in FAILURE_TYPES:
                        failures += 1
                out.write("".join(json.dumps(e) + "\n" for e in batch))
            truth["attacker_ips"] += tenant.truth["attacker_ips"]
            truth["compromised_users"] += tenant.truth["compromised_users"]
            truth["accessed_clients"].update(tenant.truth["accessed_clients"])
    os.replace(partial, path)
    login_ip = min(logins, key=lambda ip: (-logins[ip], ip))
    return {
        "scenario": SCENARIO,
        "seeds": list(range(seed, seed + copies)),
        "events": events,
        "bytes": path.stat().st_size,
        "truth": {
            "attacker_ips": sorted(truth["attacker_ips"]),
            "compromised_users": sorted(truth["compromised_users"]),
            "accessed_clients": {
                u: sorted(apps) for u, apps in sorted(truth["accessed_clients"].items())
            },
        },
        # every generated event lies within 24 hours before its tenant's now
        "since": iso_ms(NOW - timedelta(days=copies)),
        "until": iso_ms(NOW + timedelta(minutes=1)),
        "login_ip": login_ip,
        "counts": {"logins_from": logins[login_ip], "failures": failures},
    }


def _batches(events: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while batch := list(islice(events, BATCH)):
        yield batch


# -- running a process -----------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One run of a process: wall seconds, peak RSS in bytes, exit code and output."""

    seconds: float
    rss: int
    returncode: int
    stdout: str
    stderr: str


# Started by run_process: runs the command and reports its wall time, peak RSS and exit code.
# A process's peak RSS counts the memory of the process that started it (exec keeps the
# high-water mark of the memory it replaces), so the command is started from this small
# interpreter (about 8 MB) and not from the bench, which holds a generated tenant.
SPAWN = """
import os, sys, time
start = time.monotonic()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.monotonic() - start
with open(sys.argv[1], "w") as f:
    f.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_process(argv: Sequence[str], cwd: Path, timeout: float = 3600) -> Sample:
    """Run ``argv`` as a whole process in ``cwd``: its wall time and peak RSS (``os.wait4``).

    The peak is the largest of the process and of the children it waited for
    (a shell pipeline's jq); about 8 MB is the floor (see ``SPAWN``). Output
    goes to files, so a large one cannot block it. After ``timeout`` seconds
    its process group is killed and its exit code is -9.
    """
    with (
        tempfile.TemporaryDirectory(prefix="bench-run-") as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(tmp) / "usage"
        spawner = [sys.executable, "-I", "-S", "-c", SPAWN, str(report), *argv]
        proc = subprocess.Popen(spawner, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        if not report.exists():  # killed, or the command could not be started
            if proc.returncode != -signal.SIGKILL:
                raise RuntimeError(f"could not run {argv[0]}: {tail(stderr)}")
            return Sample(timeout, 0, -signal.SIGKILL, stdout, stderr)
        seconds, rss, code = report.read_text(encoding="utf-8").split()
        return Sample(float(seconds), int(rss) * 1024, int(code), stdout, stderr)  # KiB on Linux


@dataclass
class Measured:
    """Repeated runs of one work by one tool: median seconds, largest peak RSS, last output."""

    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def rss(self) -> int:
        return max(s.rss for s in self.samples)

    @property
    def last(self) -> Sample:
        return self.samples[-1]

    def cell(self) -> str:
        return f"{self.seconds:.2f} s, {self.rss / MB:,.0f} MB"

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 4),
            "rss_mb": round(self.rss / MB, 1),
            "runs": len(self.samples),
        }


# -- the works -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A work's target: at most ``seconds``, at most ``rss`` bytes, within ``ratio`` x DuckDB SQL."""

    seconds: float | None = None
    rss: int | None = None
    ratio: float | None = None

    def text(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"<= {self.seconds:g} s")
        if self.rss is not None:
            parts.append(f"<= {self.rss / MB:,.0f} MB")
        if self.ratio is not None:
            parts.append(f"<= {self.ratio:g}x DuckDB")
        return ", ".join(parts) or "-"

    def met(self, soar: Measured, ratio: float | None) -> bool | None:
        if self.seconds is None and self.rss is None and self.ratio is None:
            return None
        return (
            (self.seconds is None or soar.seconds <= self.seconds)
            and (self.rss is None or soar.rss <= self.rss)
            and (self.ratio is None or (ratio is not None and ratio <= self.ratio))
        )


def targets(events: int) -> dict[str, Target]:
    """Issue 12's targets: time and memory at 1,000,000 events, memory alone at 10,000,000."""
    if events > MAX_EVENTS:
        return {"triage": Target(rss=1_500 * MB), "help": Target(seconds=0.15)}
    return {
        "triage": Target(seconds=1.5, rss=600 * MB, ratio=2.0),
        "no-cache": Target(seconds=1.5, rss=600 * MB, ratio=2.0),
        "cached": Target(seconds=0.3, rss=600 * MB),
        "logins": Target(seconds=0.8),
        "failures": Target(seconds=1.0),
        "help": Target(seconds=0.15),
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


def measure(
    argv: Sequence[str],
    repeat: int,
    timeout: float,
    cwd: Callable[[], Path],
) -> Measured:
    """``repeat`` runs of ``argv``, each in the folder ``cwd()`` gives at that moment."""
    return Measured([run_process(argv, cwd(), timeout) for _ in range(repeat)])


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


def outputs(sample: Sample, who: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON answers a process printed, or why there are none."""
    if sample.returncode != 0:
        return None, f"{who} exited {sample.returncode}: {_said(sample)}"
    try:
        out = json.loads(sample.stdout)
    except ValueError:
        return None, f"{who} printed no JSON object: {tail(sample.stdout)}"
    if not isinstance(out, dict):
        return None, f"{who} printed {type(out).__name__}, not a JSON object"
    return out, None


def count_of(sample: Sample, who: str) -> tuple[int | None, str | None]:
    """The number a counting process printed (``soar logs search`` exits 1 on no match)."""
    if sample.returncode not in (0, 1):
        return None, f"{who} exited {sample.returncode}: {_said(sample)}"
    text = sample.stdout.strip()
    if text.startswith("{"):
        value = json.loads(text).get("count")
        text = str(value)
    if not text.isdigit():
        return None, f"{who} printed no count: {tail(sample.stdout or sample.stderr)}"
    return int(text), None


def _said(sample: Sample) -> str:
    """Why a process failed: the error of its ``--json`` object, else the end of its stderr."""
    try:
        said = json.loads(sample.stdout)
    except ValueError:
        said = None
    if isinstance(said, dict) and (said.get("error") or said.get("problems")):
        return tail(f"{said.get('status', '')}: {said.get('error') or said.get('problems')}")
    return tail(sample.stderr or sample.stdout)


def tail(text: str, n: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]


def triage_answers(out: dict[str, Any]) -> dict[str, Any]:
    """The compared answers of a triage, order-free: sorted IPs and users, sorted app names."""
    clients = out.get("accessed_clients") or {}
    return {
        "suspicious_ips": sorted(out.get("suspicious_ips") or []),
        "compromised_users": sorted(out.get("compromised_users") or []),
        "accessed_clients": {u: sorted(clients[u]) for u in sorted(clients)},
    }


def soar_details(out: dict[str, Any]) -> dict[str, Any]:
    """soar's further triage answers, in the form logs_duckdb.py prints them."""
    activity = out.get("activity_elsewhere") or {}
    return {
        "user_names": out.get("user_names"),
        "activity_elsewhere": {u: sorted(activity[u]["ips"]) for u in sorted(activity)},
        "management_api_calls": len(out.get("management_api_calls") or []),
    }


def duckdb_details(out: dict[str, Any]) -> dict[str, Any]:
    activity = out.get("activity_elsewhere") or {}
    return {
        "user_names": out.get("user_names"),
        "activity_elsewhere": {u: sorted(activity[u]) for u in sorted(activity)},
        "management_api_calls": out.get("management_api_calls"),
    }


def differences(what: str, answers: dict[str, Any]) -> list[str]:
    """One line per answer on which the sources (name -> value) do not all agree."""
    first, *others = answers
    problems = []
    for other in others:
        for key in answers[first]:
            mine, theirs = answers[first][key], answers[other].get(key)
            if mine != theirs:
                problems.append(
                    f"{what}: {key}: {first} {_short(mine)} but {other} {_short(theirs)}"
                )
    return problems


def _short(value: Any, n: int = 400) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= n else text[:n] + "..."


def check_triage(
    soar: Sample, cached: Sample | None, duckdb: Sample, jq: Sample | None, truth: dict[str, Any]
) -> list[str]:
    """Mismatches between soar's triage answers and DuckDB SQL's, jq's and the truth."""
    problems = []
    got, problem = outputs(soar, "soar run")
    duck, duck_problem = outputs(duckdb, "DuckDB SQL")
    problems += [p for p in (problem, duck_problem) if p]
    if got is None:
        return problems
    expected = {**truth, "suspicious_ips": truth["attacker_ips"]}
    runs = {"soar": triage_answers(got.get("outputs") or {}), "truth": triage_answers(expected)}
    if duck is not None:
        runs["DuckDB SQL"] = triage_answers(duck)
        problems += differences(
            "triage",
            {"soar": soar_details(got.get("outputs") or {}), "DuckDB SQL": duckdb_details(duck)},
        )
    if cached is not None:
        again, problem = outputs(cached, "soar run (cache warm)")
        if again is None:
            problems.append(str(problem))
        else:
            runs["soar (cache warm)"] = triage_answers(again.get("outputs") or {})
    if jq is not None:
        theirs, problem = outputs(jq, "jq")
        if theirs is None:
            problems.append(str(problem))
        else:
            runs["jq"] = triage_answers(theirs)
    return problems + differences("triage", runs)


def check_count(what: str, expected: int, counts: dict[str, Sample]) -> list[str]:
    """Mismatches between the counts the processes printed and the generator's."""
    problems = []
    found = {"the generator": {"count": expected}}
    for who, sample in counts.items():
        n, problem = count_of(sample, who)
        if problem:
            problems.append(f"{what}: {problem}")
        else:
            found[who] = {"count": n}
    return problems + differences(what, found)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the export")
    ap.add_argument("--quick", action="store_true", help="a 100,000-event smoke run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each work (the median counts)")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / ".data", help="the export cache")
    ap.add_argument("--soar", type=Path, default=ROOT / ".venv" / "bin" / "soar")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one process may take")
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
            f"median of {args.repeat} run(s), peak RSS the largest"
        )
        if not tools.jq:
            print("jq is not installed: its column is empty")
        print(table(rows))
        if not problems:
            print("answers agree: soar's, DuckDB SQL's, jq's and the generator's truth")
    for problem in problems:
        print(f"MISMATCH: {problem}", file=sys.stderr)
    if problems:
        print(f"ANSWERS DIFFER ({len(problems)} mismatches): see above", file=sys.stderr)
        return 1
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
