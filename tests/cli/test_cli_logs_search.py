"""``soar logs search`` and ``soar logs stats``: hunting without a playbook, run as an operator would.

Files come from tests/data/auth0/ (real Auth0 shapes, SOURCES.md); the numbers
checked were counted by hand from those files (``jq``). ``--tenant`` runs
against the module's emulator and must answer exactly as a file exported from it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from soarcli import ROOT, soar

from engine.cli.cmd_logs import SEARCH_HELP
from engine.emulator import RunningEmulator
from engine.timeutil import iso_ms, read_date

DATA = ROOT / "tests" / "data" / "auth0"
TRIAGE = str(DATA / "triage-export.jsonl")
STREAM = str(DATA / "stream.jsonl")
RAW = ("\x1b", "\x9b", "\x07", "\u202e", "\r")  # what must never reach a terminal raw


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three events whose attacker-controlled fields carry escapes, formulas and deep details."""
    deep = '{"a":' * 3000 + "1" + "}" * 3000
    lines = [
        json.dumps(
            {
                "date": "2026-11-18T10:00:00.000Z",
                "type": "fp",
                "log_id": "h1",
                "ip": "203.0.113.7",
                "user_name": "\x1b[31mred\x1b]0;title\x07",
                "user_agent": "\x9b2J\u202eevil",
                "description": '=HYPERLINK("http://x.example")',
                "client_name": "x" * 100,
            }
        )[:-1]
        + ', "details": '
        + deep
        + "}",
        json.dumps(
            {
                "date": "2026-11-18T10:00:01.000Z",
                "type": "fp",
                "log_id": "h2",
                "user_name": "+1-555",
                "description": "-2+3",
                "client_name": "@SUM(A1)",
            }
        ),
        json.dumps(
            {
                "date": "2026-11-18T10:00:02.000Z",
                "type": "s",
                "log_id": "h3",
                "user_name": "\tTAB",
                "description": "\rCR",
            }
        ),
    ]
    path = tmp_path_factory.mktemp("hostile") / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_table_is_the_default_with_fixed_columns_oldest_first() -> None:
    done = soar("logs", "search", TRIAGE, 'type:"s"')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["date", "type", "ip", "user_name", "client_name", "description"]
    assert len(lines) == 9  # 8 successful logins in the file, counted with jq
    dates = [line.split()[0] for line in lines[1:]]
    assert dates == sorted(dates) and dates[0] == "2026-11-18T11:00:00.000Z"
    assert "frank.li@example.com" in lines[1] and "Customer Portal" in lines[1]


def test_count_limit_fields_json_and_jsonl() -> None:
    count = soar("logs", "search", TRIAGE, "type:(fp fu)", "--count")
    assert (count.returncode, count.stdout) == (0, "87\n")  # 61 fp + 26 fu
    picked = soar(
        "logs", "search", TRIAGE, 'type:"s"', "--fields", "date, user_name,details.nope",
        "--format", "json", "--limit", "2",
    )  # fmt: skip
    assert json.loads(picked.stdout) == [  # the oldest two, only the fields asked for
        {
            "date": "2026-11-18T11:00:00.000Z",
            "user_name": "frank.li@example.com",
            "details.nope": None,
        },
        {
            "date": "2026-11-20T07:55:00.000Z",
            "user_name": "bob.nakamura@example.com",
            "details.nope": None,
        },
    ]
    # a field no event has reads as empty everywhere: said, so a misspelt name is not an answer
    assert picked.stderr.count("warning:") == 1
    assert "no event found has the field 'details.nope'" in picked.stderr
    typo = soar("logs", "search", TRIAGE, 'type:"s"', "--fields", "User_name,ip\x1b[2J")
    assert typo.returncode == 0 and "\x1b" not in typo.stderr
    assert [line.split("'")[1] for line in typo.stderr.splitlines()] == ["User_name", "ip\\x1b[2J"]
    sapi = soar("logs", "search", STREAM, "type:sapi", "--fields", "type,details.request.method")
    assert sapi.stdout.splitlines()[1].split() == ["sapi", "post"]


def test_hostile_values_never_reach_the_terminal_raw(hostile: Path) -> None:
    fields = "user_name,user_agent,client_name,details"
    table = soar("logs", "search", str(hostile), "", "--fields", fields)
    assert table.returncode == 0, table.stderr
    assert not any(c in table.stdout for c in RAW)
    assert "\\x1b[31mred" in table.stdout and "\\x9b2J\\u202eevil" in table.stdout
    assert "x" * 39 + "…" in table.stdout and "x" * 41 not in table.stdout  # cut to its width
    assert '{"a":{"a":' in table.stdout  # 3,000 levels of details: shown cut, no crash
    out = {
        f: soar("logs", "search", str(hostile), "", "--format", f).stdout for f in ("json", "jsonl")
    }
    assert all(text.isascii() and "\x1b" not in text for text in out.values())
    doc = json.loads(out["json"])
    assert doc == [json.loads(line) for line in out["jsonl"].splitlines()]
    assert doc[0]["user_name"] == "\x1b[31mred\x1b]0;title\x07"  # the data itself, intact
    assert "cut: deeper than" in json.dumps(doc[0]["details"])


def test_csv_defends_against_formula_injection(hostile: Path) -> None:
    done = soar("logs", "search", str(hostile), "", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert not any(c in done.stdout for c in RAW)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == ["date", "type", "ip", "user_name", "client_name", "description"]
    assert rows[0]["description"] == '\'=HYPERLINK("http://x.example")'
    assert rows[0]["user_name"] == "\\x1b[31mred\\x1b]0;title\\x07"
    assert (rows[1]["user_name"], rows[1]["description"]) == ("'+1-555", "'-2+3")
    assert rows[1]["client_name"] == "'@SUM(A1)"
    assert (rows[2]["user_name"], rows[2]["description"]) == ("'\tTAB", "'\\x0dCR")
    assert rows[0]["client_name"] == "x" * 100  # CSV cells are not cut
    assert "formula" in SEARCH_HELP  # what soar logs search --help prints


def test_nothing_matched_says_so_with_the_window() -> None:
    none = soar("logs", "search", TRIAGE, 'type:"s" AND ip:"198.51.100.1"', "--format", "json")
    assert (none.returncode, none.stdout) == (1, "[]\n")
    assert "no event matched" in none.stderr and "in the whole file" in none.stderr
    outside = soar(
        "logs", "search", TRIAGE, 'type:"s"', "--since", "2020-01-01", "--until", "2020-02-01",
        "--count",
    )  # fmt: skip
    assert (outside.returncode, outside.stdout) == (1, "0\n")
    assert "from 2020-01-01T00:00:00.000Z to 2020-02-01T00:00:00.000Z" in outside.stderr
    assert "events run from 2026-11-18T10:00:00.000Z to 2026-11-22T09:30:00.000Z" in outside.stderr


def test_unreadable_dates_are_counted_out_of_a_window(tmp_path: Path) -> None:
    path = tmp_path / "dates.jsonl"
    events = [
        {"date": "yesterday", "type": "s", "log_id": "u1"},
        {"date": "2026-11-18T10:00:00.000Z", "type": "s", "log_id": "d1"},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    windowed = soar("logs", "search", str(path), "type:s", "--since", "2026-11-01", "--count")
    assert windowed.stdout == "1\n"
    assert "1 matching event(s) have no readable date" in windowed.stderr
    whole = soar("logs", "search", str(path), "type:s", "--format", "jsonl")
    assert [json.loads(x)["log_id"] for x in whole.stdout.splitlines()] == ["d1", "u1"]


def test_bad_query_file_line_and_usage_exit_2(tmp_path: Path) -> None:
    query = soar("logs", "search", TRIAGE, "foo:bar")
    assert query.returncode == 2 and query.stdout == ""
    assert "error: Invalid query: field 'foo' is not searchable" in query.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"date": "2026-11-18T10:00:00.000Z", "type": "s"}\nnot json\n')
    line = soar("logs", "search", str(bad), "type:s")
    assert line.returncode == 2 and f"error: {bad}:2: not a JSON line" in line.stderr
    assert "Traceback" not in query.stderr + line.stderr
    both = soar("logs", "search", "--tenant", TRIAGE, "type:s")
    assert both.returncode == 2 and "not both" in both.stderr
    window = soar("logs", "search", "--tenant", "type:s", "--since", "1h", "--until", "2h")
    assert window.returncode == 2 and "--since 1h is not before --until 2h" in window.stderr
    fmt = soar("logs", "search", TRIAGE, "type:s", "--format", "xml")
    assert fmt.returncode == 2 and "table, json, jsonl, csv" in fmt.stderr


def test_stats_counted_by_hand(tmp_path: Path) -> None:
    done = soar("logs", "stats", STREAM, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    # 14 lines, the last a redelivery of the first: 13 events
    assert (doc["events"], doc["undated"]) == (13, 0)
    assert (doc["first"], doc["last"]) == ("2026-11-03T08:15:10.706Z", "2026-11-03T14:01:44.643Z")
    assert doc["types"][0] == {"type": "f", "count": 2, "meaning": "Failed Login"}
    assert len(doc["types"]) == 12 and sum(t["count"] for t in doc["types"]) == 13
    assert doc["ips"][:3] == [
        {"ip": "81.2.69.143", "count": 6},
        {"ip": "45.148.10.81", "count": 2},
        {"ip": "81.2.69.144", "count": 2},
    ]
    assert doc["users"] == [
        {
            "user_id": "auth0|6182002f34f4dd006b05b5c7",
            "user_name": "ana.silva@example.com",
            "count": 4,
        },
        {"user_id": "auth0|6181ce2b0f293a006d158194", "user_name": None, "count": 3},
        {
            "user_id": "auth0|618223a4e3f49e006948565c",
            "user_name": "ben.okafor@example.com",
            "count": 1,
        },
    ]
    # every logged form of an address is one: ::ffff:185.220.101.45 (13) + 185.220.101.45 (10),
    # 2A05:D014:0B9:57::E970 (21) + 2a05:d014:b9:57::e970 (2)
    triage = json.loads(soar("logs", "stats", TRIAGE, "--json", "--top", "3").stdout)
    assert triage["ips"] == [
        {"ip": "2601:140:9702:ee80:9049:1f55:0:e970", "count": 53},
        {"ip": "185.220.101.45", "count": 23},
        {"ip": "2a05:d014:b9:57::e970", "count": 23},
    ]
    text = soar("logs", "stats", TRIAGE, "--since", "2026-11-22").stdout
    assert text.splitlines()[1] == "events:  25"  # jq: select(.date >= "2026-11-22")
    assert "span:    2026-11-22T02:00:00.000Z to 2026-11-22T09:30:00.000Z" in text
    assert "Success Login" in text and "(carol.diaz@example.com)" in text
    empty = soar("logs", "stats", TRIAGE, "--since", "2020-01-01", "--until", "2020-01-02")
    assert empty.returncode == 1 and "no event matched" in empty.stderr


def test_tenant_search_equals_the_file_of_its_export(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    now = read_date(emulator.truth["now"])
    window = ["--since", iso_ms(now - timedelta(days=2)), "--until", iso_ms(now)]
    export = tmp_path / "tenant.jsonl"
    done = soar("logs", "export", *window, "-o", str(export), env=emulator.env())
    assert done.returncode == 0, done.stderr
    before = len(emulator.journal)
    bad = soar("logs", "search", "--tenant", "foo:bar", *window, env=emulator.env())
    assert bad.returncode == 2 and len(emulator.journal) == before  # refused before any request
    query = 'type:"s" OR type:"fp"'
    args = [query, *window, "--format", "jsonl"]
    online = soar("logs", "search", "--tenant", *args, env=emulator.env())
    offline = soar("logs", "search", str(export), *args)
    assert online.returncode == offline.returncode == 0, online.stderr + offline.stderr
    assert online.stdout == offline.stdout and len(online.stdout.splitlines()) > 100
    assert emulator.client_secret not in online.stdout + online.stderr
    assert {json.loads(x)["type"] for x in online.stdout.splitlines()} == {"s", "fp"}


def test_a_folder_or_a_missing_file_is_named_as_what_it_is(tmp_path: Path) -> None:
    playbook = str(ROOT / "playbooks" / "auth0-attack-triage.yaml")
    os.mkfifo(tmp_path / "pipe")  # never opened: a reader of a pipe with no writer would hang
    (tmp_path / "gone").symlink_to(tmp_path / "nope")
    for given, what in (
        (tmp_path, "a folder, not a file"),
        (tmp_path / "nope", "no such file"),
        (tmp_path / "pipe", "not a regular file (a pipe, socket or device)"),
        (tmp_path / "gone", "a link to no file"),
    ):
        search = soar("logs", "search", str(given), 'type:"s"')
        assert search.returncode == 2 and f"{given}: {what}" in search.stderr
        run = soar("run", playbook, "--logs", str(given), "--run-dir", str(tmp_path / "runs"))
        assert run.returncode == 2 and f"--logs {given}: {what}" in run.stderr
