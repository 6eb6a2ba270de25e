"""The answers bench_logs.py checks: what each process printed, and where they differ."""

from __future__ import annotations

import json
from typing import Any

from timed import Sample, tail


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
