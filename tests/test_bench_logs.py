"""bench/bench_logs.py on a tiny export: its export, its process runner and its answer checks.

The bench itself is not run here (it measures a million events); its pieces are,
on 3,000 events, so that what it reports can be trusted: the export's counts are
the file's, a process's peak RSS is its own, soar's triage agrees with DuckDB
SQL's, jq's and the truth, and a wrong expectation is reported as a mismatch.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.ipforms import address_key

ROOT = Path(__file__).resolve().parent.parent
SOAR = Path(sys.executable).parent / "soar"


sys.path.insert(0, str(ROOT / "bench"))  # the bench scripts import each other by name
bench = importlib.import_module("bench_logs")
answers = importlib.import_module("logs_answers")
exports = importlib.import_module("logs_export")
reference = importlib.import_module("logs_duckdb")
timed = importlib.import_module("timed")


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return exports.export(tmp_path_factory.mktemp("data"), 3000, seed=4)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_export_is_made_once_and_its_counts_and_truth_are_the_files(ex: Any) -> None:
    events = lines(ex.path)
    assert len(events) == ex.events == 3000
    assert ex.counts["failures"] == sum(e["type"] in ("fp", "fu") for e in events)
    assert ex.counts["logins_from"] == sum(
        e["type"] == "s" and e["ip"] == ex.login_ip for e in events
    )
    assert ex.counts["logins_from"] > 0 and ex.login_ip in ex.truth["attacker_ips"]
    assert all(ex.since <= e["date"] < ex.until for e in events)
    before = ex.path.stat().st_mtime_ns
    again = exports.export(ex.path.parent, 3000, seed=4)  # from the cache: not written again
    assert again == ex and ex.path.stat().st_mtime_ns == before


def test_an_export_of_several_tenants_keeps_log_ids_apart_and_adds_up_truths(
    tmp_path: Path,
) -> None:
    meta = exports.write_export(tmp_path / "two.jsonl", 2000, seed=5, per_tenant=1000)
    events = lines(tmp_path / "two.jsonl")
    ids = [e["log_id"] for e in events]
    assert len(events) == 2000 and len(set(ids)) == 2000
    older, newer = events[:1000], events[1000:]  # the older tenant first, a day apart
    assert max(e["date"] for e in older) < min(e["date"] for e in newer)
    one = exports.generate("credential-stuffing", seed=5, events=1000, now=exports.NOW)
    two = exports.generate(
        "credential-stuffing", seed=6, events=1000, now=exports.NOW - exports.timedelta(days=1)
    )
    users = set(one.truth["compromised_users"]) | set(two.truth["compromised_users"])
    assert meta["truth"]["compromised_users"] == sorted(users) and len(users) > 3
    assert meta["since"] <= events[0]["date"] and events[-1]["date"] < meta["until"]
    # each tenant's office NAT its own: shared, their few typos would add up past the triage's
    # threshold, and its staff would be found compromised in no tenant's truth
    office = {e["ip"] for e in newer if str(e.get("ip")).startswith("198.51.100.")}
    assert office == {exports.OFFICE_NAT} == set(one.truth["office_ips"])
    assert {e["ip"] for e in older if str(e.get("ip")).startswith("198.51.100.")} == {
        "198.51.100.78"
    }
    assert exports.OFFICE_NAT not in json.dumps(older) and meta["layout"] == exports.LAYOUT


def test_a_process_peak_rss_is_its_own_not_the_bench_s(tmp_path: Path) -> None:
    big = timed.run_process([sys.executable, "-c", "x = bytearray(150_000_000)"], tmp_path)
    small = timed.run_process(["true"], tmp_path)
    assert big.returncode == small.returncode == 0
    assert big.rss >= 150 * timed.MB
    assert small.rss < 20 * timed.MB  # this pytest process holds far more
    assert timed.run_process(["sh", "-c", "exit 3"], tmp_path).returncode == 3


def test_the_answers_agree_and_a_wrong_expectation_is_a_mismatch(ex: Any, tmp_path: Path) -> None:
    tools = bench.Tools(SOAR, repeat=1)
    soar = timed.run_process(bench.soar_triage_argv(tools, ex), tmp_path)
    duck = timed.run_process(
        bench.duckdb_argv(tools, ex, "triage", "--since", ex.since, "--until", ex.until), tmp_path
    )
    jq = timed.run_process(bench.jq_triage_argv(tools, ex), tmp_path) if tools.jq else None
    assert answers.check_triage(soar, soar, duck, jq, ex.truth) == []

    victim = ex.truth["compromised_users"][0]
    wrong = {
        **ex.truth,
        "compromised_users": ex.truth["compromised_users"][1:],
        "accessed_clients": {**ex.truth["accessed_clients"], victim: ["Nothing"]},
    }
    problems = answers.check_triage(soar, None, duck, None, wrong)
    assert any("compromised_users" in p and victim in p for p in problems)
    assert any("accessed_clients" in p and "Nothing" in p for p in problems)
    failed = timed.Sample(0.1, 0, 2, "", "error: no such file")
    assert answers.check_triage(failed, None, duck, None, ex.truth) == [
        "soar run exited 2: error: no such file"
    ]
    said = json.dumps({"status": "failed", "error": "step 'logins' failed"})
    failed = timed.Sample(0.1, 0, 1, said, "progress lines")
    assert answers.check_triage(soar, failed, duck, None, ex.truth) == [
        "soar run (cache warm) exited 1: failed: step 'logins' failed"
    ]


def test_counts_are_checked_against_duckdb_jq_and_the_generator(ex: Any, tmp_path: Path) -> None:
    tools = bench.Tools(SOAR, repeat=1)
    query = f'type:"s" AND ip:"{ex.login_ip}"'
    counts = {
        "soar": timed.run_process(bench.soar_count_argv(tools, ex, query), tmp_path),
        "DuckDB SQL": timed.run_process(
            bench.duckdb_argv(tools, ex, "logins-from", ex.login_ip), tmp_path
        ),
    }
    if tools.jq:
        counts["jq"] = timed.run_process(
            bench.jq_count_argv(
                tools, ex, '.type == "s" and .ip == $ip', "--arg", "ip", ex.login_ip
            ),
            tmp_path,
        )
    expected = ex.counts["logins_from"]
    assert answers.check_count(query, expected, counts) == []
    wrong = answers.check_count(query, expected + 1, counts)
    assert wrong == [
        f"{query}: count: the generator {expected + 1} but {who} {expected}" for who in counts
    ]


def test_a_missed_target_is_shown_and_a_met_one_is_not() -> None:
    fast = timed.Measured([timed.Sample(0.2, 100 * timed.MB, 0, "", "")])
    slow = timed.Measured([timed.Sample(2.0, 100 * timed.MB, 0, "", "")])
    goal = bench.targets(1_000_000)["triage"]
    assert bench.Row("triage", "t", fast, fast, target=goal).met is True
    assert bench.Row("triage", "t", slow, fast, target=goal).cells()[4:] == [
        "10.0x",
        "<= 1.5 s, <= 600 MB, <= 2x DuckDB",
        "**no**",
    ]
    assert bench.targets(10_000_000)["triage"].text() == "<= 1,500 MB"
    at = timed.Measured([timed.Sample(0.15, 0, 0, "", "")])
    assert bench.targets(1_000_000)["help"].text() == "< 0.15 s"  # "stays under 0.15 s"
    assert bench.Row("help", "h", at, target=bench.targets(1_000_000)["help"]).met is False


def test_a_mismatch_fails_the_bench_and_a_missed_target_only_with_check() -> None:
    assert bench.verdict([], ["triage"], check=False) == (0, [])
    assert bench.verdict([], ["triage"], check=True) == (1, ["targets missed (--check): triage"])
    code, said = bench.verdict(["triage: x"], [], check=False)
    assert code == 1 and said[0] == "MISMATCH: triage: x" and "ANSWERS DIFFER" in said[-1]


def test_the_duckdb_reference_asks_what_the_playbook_asks() -> None:
    playbook = yaml.safe_load((ROOT / "playbooks" / "auth0-attack-triage.yaml").read_text())
    query = playbook["steps"][0]["with"]["query"]
    for code in reference.INDICATOR_TYPES:
        assert f'type:"{code}"' in query
    assert query.count("type:") == len(reference.INDICATOR_TYPES)
    assert f'description:"{reference.INDICATOR_DESCRIPTION}"' in query
    for text in (
        "::ffff:203.0.113.9",
        "2A05:D014:5B:A6:0000:C3:F3:E970",
        "[2001:db8::1]",
        "x",
        "::",
    ):
        assert reference.address_key(text) == address_key(text)
