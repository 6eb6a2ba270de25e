"""DuckDB SQL doing bench_logs.py's work on a JSON-lines export: the reference soar is measured by.

    .venv/bin/python bench/logs_duckdb.py FILE triage --since ISO --until ISO [--min-failures 20]
    .venv/bin/python bench/logs_duckdb.py FILE logins-from IP     # type:"s" AND ip:"IP", counted
    .venv/bin/python bench/logs_duckdb.py FILE types fp fu        # type:"fp" OR type:"fu", counted

Prints one JSON object: ``{"count": N}``, or the triage's answers under the names
of the attack-triage playbook's outputs (suspicious_ips, compromised_users,
user_names, accessed_clients, activity_elsewhere as user -> IPs, and
management_api_calls as a count).

The triage is the playbook's, in SQL over the columns it needs (read once with
``read_json``): indicator events (the playbook's types, or the description
"missing username parameter") counted per address; the addresses with at least
``--min-failures`` of them; successful user authentications (every type of
``engine.eventcodes.USER_AUTH_SUCCESS``) from those addresses; the users, the
applications each reached, the Management API calls, and each user's events
from other addresses at or after their first compromise. An address is one
address whatever text it was logged in (``::ffff:a.b.c.d`` is ``a.b.c.d``,
IPv6 compared by value), as soar's ``engine.ipforms`` decides: the few distinct
``ip`` texts are keyed in Python with the standard library, everything else is
SQL. Dates are compared as Auth0 writes them (ISO 8601, UTC, ``Z``), so the
window bounds are given in that form. Of soar it imports only the lists of
event codes (``engine.eventcodes``), so that it checks soar's answers rather
than repeating them.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from typing import Any

import duckdb

from engine.eventcodes import ATTACK_INDICATORS, USER_AUTH_SUCCESS

# the attack-triage playbook's indicator search (playbooks/auth0-attack-triage.yaml)
INDICATOR_TYPES = ATTACK_INDICATORS
INDICATOR_DESCRIPTION = "missing username parameter"
# the columns each work reads; the file is a parameter, never spliced into the SQL
LOAD_EVENTS = """CREATE TEMP TABLE ev AS
    SELECT date, log_id, type, ip, user_id, user_name, client_id, client_name,
           type IN $indicators OR description = $description AS indicator
    FROM read_json($file, format='newline_delimited', columns={
        'date': 'VARCHAR', 'log_id': 'VARCHAR', 'type': 'VARCHAR', 'description': 'VARCHAR',
        'ip': 'VARCHAR', 'user_id': 'VARCHAR', 'user_name': 'VARCHAR', 'client_id': 'VARCHAR',
        'client_name': 'VARCHAR'})
    WHERE date >= $since AND date < $until"""
COUNT_LOGINS = """SELECT count(*) FROM read_json(?, format='newline_delimited',
    columns={'type': 'VARCHAR', 'ip': 'VARCHAR'}) WHERE type = 's' AND ip = ?"""
COUNT_TYPES = """SELECT count(*) FROM read_json(?, format='newline_delimited',
    columns={'type': 'VARCHAR'}) WHERE type = ANY(?)"""


def address_key(text: str) -> str | None:
    """One text per address (IPv4-mapped IPv6 as IPv4, IPv6 compressed), or None for no address."""
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    try:
        addr = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return None if addr.is_unspecified else str(addr)


def count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def triage(
    con: duckdb.DuckDBPyConnection, path: str, since: str, until: str, min_failures: int
) -> dict[str, Any]:
    """The attack triage's answers (see the module docstring)."""
    con.execute(
        LOAD_EVENTS,
        {
            "file": path,
            "since": since,
            "until": until,
            "indicators": list(INDICATOR_TYPES),
            "description": INDICATOR_DESCRIPTION,
        },
    )
    texts = [
        r[0] for r in con.execute("SELECT DISTINCT ip FROM ev WHERE ip IS NOT NULL").fetchall()
    ]
    keyed = [(t, k) for t in texts if (k := address_key(t)) is not None]
    con.execute(
        "CREATE TEMP TABLE addr AS SELECT unnest(?) AS ip, unnest(?) AS key",
        [[t for t, _ in keyed], [k for _, k in keyed]],
    )
    con.execute(
        """CREATE TEMP TABLE suspicious AS
        WITH forms AS (
            SELECT ip, count(*) AS n, min(date || log_id) AS seen FROM ev
            WHERE indicator GROUP BY ip
        )
        SELECT key, sum(n) AS n, first(ip ORDER BY n DESC, seen) AS ip
        FROM forms JOIN addr USING (ip) GROUP BY key HAVING sum(n) >= ?""",
        [min_failures],
    )
    con.execute(
        """CREATE TEMP TABLE logins AS SELECT ev.*, addr.key FROM ev JOIN addr USING (ip)
        WHERE ev.type IN ? AND addr.key IN (SELECT key FROM suspicious)""",
        [sorted(USER_AUTH_SUCCESS)],
    )
    con.execute(
        """CREATE TEMP TABLE users AS
        SELECT user_id, min(date) AS first, min((date, log_id)) AS ord,
               coalesce(first(user_name ORDER BY date, log_id)
                        FILTER (WHERE coalesce(user_name, '') <> ''), '') AS name
        FROM logins WHERE coalesce(user_id, '') <> '' GROUP BY user_id"""
    )
    users = con.execute("SELECT user_id, name FROM users ORDER BY ord").fetchall()
    clients = con.execute(
        """SELECT user_id, list(name ORDER BY name) FROM (
            SELECT user_id, coalesce(nullif(client_id, ''), client_name) AS app,
                   first(client_name ORDER BY date, log_id) AS name
            FROM logins
            WHERE coalesce(user_id, '') <> '' AND coalesce(client_id, client_name, '') <> ''
            GROUP BY user_id, app
        ) GROUP BY user_id"""
    ).fetchall()
    elsewhere = con.execute(
        """SELECT user_id, list(ip ORDER BY seen, key) FROM (
            SELECT ev.user_id, addr.key, first(ev.ip ORDER BY ev.date, ev.log_id) AS ip,
                   min(ev.date) AS seen
            FROM ev JOIN users USING (user_id) JOIN addr USING (ip)
            WHERE ev.date >= users.first
              AND addr.key NOT IN (SELECT key FROM suspicious UNION SELECT key FROM logins)
            GROUP BY ev.user_id, addr.key
        ) GROUP BY user_id"""
    ).fetchall()
    suspicious = con.execute("SELECT ip FROM suspicious ORDER BY n DESC, key").fetchall()
    sapi = con.execute("SELECT count(*) FROM ev WHERE type = 'sapi'").fetchone()
    found = dict(elsewhere)
    return {
        "suspicious_ips": [r[0] for r in suspicious],
        "compromised_users": [u for u, _ in users],
        "user_names": dict(users),
        "accessed_clients": {u: apps for u, apps in clients},
        "activity_elsewhere": {u: found.get(u, []) for u, _ in users},
        "management_api_calls": int(sapi[0]) if sapi else 0,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("file")
    work = ap.add_subparsers(dest="work", required=True)
    t = work.add_parser("triage")
    t.add_argument("--since", required=True)
    t.add_argument("--until", required=True)
    t.add_argument("--min-failures", type=int, default=20)
    work.add_parser("logins-from").add_argument("ip")
    work.add_parser("types").add_argument("types", nargs="+")
    args = ap.parse_args(argv)
    con = duckdb.connect()
    if args.work == "triage":
        out: dict[str, Any] = triage(con, args.file, args.since, args.until, args.min_failures)
    elif args.work == "logins-from":
        out = {"count": count(con, COUNT_LOGINS, [args.file, args.ip])}
    else:
        out = {"count": count(con, COUNT_TYPES, [args.file, args.types])}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
