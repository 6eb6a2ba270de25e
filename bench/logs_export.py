"""The export bench_logs.py measures: a generated credential-stuffing tenant as JSON lines.

Generated once into a folder, keyed by size and seed, beside a meta file (the
ground truth, the triage window, an attacker address with password logins and
the generator's own counts of the bench's two searches). Above the generator's
1,000,000 events per tenant the export is several tenants (seeds S, S+1, ...),
each a day older than the one after it, so their log ids never meet and their
truths add up.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from engine.emulator.scenarios import MAX_EVENTS, OFFICE_NAT, generate
from engine.timeutil import iso_ms

SCENARIO = "credential-stuffing"
# a fixed "now": the same size and seed give the same bytes, so the cache key is honest
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BATCH = 10_000  # events encoded per write
# 2: each older tenant's office NAT an address of its own (OFFICE_NAT is the newest's): one
# shared address summed every tenant's few typos past the triage's threshold, a finding no
# tenant's truth holds
LAYOUT = 2
FAILURE_TYPES = ("fp", "fu")


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
        if known.get("bytes") == path.stat().st_size and known.get("layout") == LAYOUT:
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
    Tenant k's office NAT is ``office_nat(k)``: the tenants share no address but by
    chance, so their truths add up.
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
            office = office_nat(age)
            for batch in _batches(tenant.events):
                for e in batch:
                    if e.get("ip") == OFFICE_NAT:
                        e["ip"] = office
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
        "layout": LAYOUT,
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


def office_nat(age: int) -> str:
    """The office NAT of the tenant ``age`` days old: the generator's own for the newest,
    the next addresses of its TEST-NET-2 block (which the generator never draws) for the rest."""
    base = ipaddress.ip_address(OFFICE_NAT)
    last = ipaddress.ip_network("198.51.100.0/24").broadcast_address
    if base + age >= last:
        raise ValueError(f"{age + 1} tenants: more than the office addresses of TEST-NET-2")
    return str(base + age)


def _batches(events: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while batch := list(islice(events, BATCH)):
        yield batch
