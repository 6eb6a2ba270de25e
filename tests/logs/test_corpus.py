"""The real-shaped Auth0 corpus (tests/data/auth0/, sources in its SOURCES.md).

Every file shape is read right (count, every field kept, wrapper ids kept);
every event type is found by ``type:`` offline and through the emulator
serving the file; checkpoint export from that emulator gives the events
back unchanged, whatever their log_id prefix. Expected answers are written
out by hand from the files, not computed from them.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.auth0 import Auth0Client, Auth0Settings
from engine.auth0.export import export
from engine.auth0.search import search_file
from engine.emulator import RunningEmulator, start_emulator
from engine.errors import UpstreamError
from engine.httpguard import DryRunGuard
from engine.logs.files import iter_events
from engine.logs.files import search_file as scan
from tests.emulator.test_emulator_scenarios import FIELDS

DATA = Path(__file__).parents[1] / "data" / "auth0"

# file -> event types and how many of each, counted by hand from the files
TYPES: dict[str, dict[str, int]] = {
    "api-logs-page.json": dict.fromkeys(["seccft", "sapi", "ss", "fn", "s", "fp", "limit_wc"], 1),
    "api-logs-totals.json": dict.fromkeys(["ssa", "scoa", "sertft"], 1),
    "stream.jsonl": {
        "s": 2,  # the first line is delivered twice (at-least-once)
        "seacft": 1,
        "f": 2,
        "fu": 1,
        "fp": 1,
        "slo": 1,
        "sv": 1,
        "fs": 1,
        "fn": 1,
        "gd_tenant_update": 1,
        "mgmt_api_read": 1,
        "sapi": 1,
    },
    "stream-array.json": dict.fromkeys(
        [
            "limit_mu",
            "limit_sul",
            "pwd_leak",
            "signup_pwd_leak",
            "fcoa",
            "ferrt",
            "gd_send_pn",
            "gd_enrollment_complete",
        ],
        1,
    ),
    "webhook-body.json": dict.fromkeys(
        ["mfar", "gd_start_auth", "gd_send_sms", "gd_auth_succeed", "sepft", "fepft", "seotpft"], 1
    ),
    "eventbridge.jsonl": dict.fromkeys(["s", "fs", "limit_wc", "sapi"], 1),
    "eventbridge-pretty.json": dict.fromkeys(["scpr", "scp"], 1),
    "siem-rows.jsonl": dict.fromkeys(["sapi", "gd_send_pn", "pwd_leak"], 1),
    "export.jsonl": {
        **dict.fromkeys(
            [
                "depnote",
                "api_limit",
                "w",
                "srrt",
                "cls",
                "cs",
                "ublkdu",
                "sce",
                "sd",
                "sens",
                "feccft",
                "fsa",
                "sdu",
                "fcpr",
                "svr",
            ],
            1,
        ),
        "fu": 2,  # two failed logins kept without log ids
    },
}
FILES = sorted(TYPES)


def raw_lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def test_the_corpus_covers_fifty_event_types() -> None:
    types = {t for counts in TYPES.values() for t in counts}
    assert len(types) == 50
    assert sum(sum(c.values()) for c in TYPES.values()) == 65


@pytest.mark.parametrize("name", FILES)
def test_every_file_shape_is_read_with_its_types(name: str) -> None:
    events = list(iter_events(DATA / name))
    assert Counter(e["type"] for e in events) == TYPES[name]


def test_api_pages_are_read_field_for_field() -> None:
    page = json.loads((DATA / "api-logs-page.json").read_text())
    assert list(iter_events(DATA / "api-logs-page.json")) == page
    assert list(page[0]) == FIELDS  # Auth0's field order, nulls kept (auth0-facts.md section 4)
    totals = json.loads((DATA / "api-logs-totals.json").read_text())
    assert list(iter_events(DATA / "api-logs-totals.json")) == totals["logs"]
    assert totals["logs"][2]["scope"] == ["openid", "profile", "offline_access"]


def test_stream_items_keep_the_wrappers_log_id() -> None:
    items = raw_lines("stream.jsonl")
    events = list(iter_events(DATA / "stream.jsonl"))
    assert [e["log_id"] for e in events] == [i["log_id"] for i in items]
    bare = items[9]  # the fn item: its data has no log_id
    assert "log_id" not in bare["data"] and events[9] == {**bare["data"], "log_id": bare["log_id"]}
    assert events[11]["$event_schema"] == {"version": "1.0.0"}  # catalog-only keys kept
    webhook = json.loads((DATA / "webhook-body.json").read_text())
    assert list(iter_events(DATA / "webhook-body.json")) == [i["data"] for i in webhook["logs"]]
    array = json.loads((DATA / "stream-array.json").read_text())
    assert list(iter_events(DATA / "stream-array.json")) == [i["data"] for i in array]


def test_eventbridge_events_are_unwrapped() -> None:
    lines = raw_lines("eventbridge.jsonl")
    events = list(iter_events(DATA / "eventbridge.jsonl"))
    assert events[0] == lines[0]["detail"]["data"]
    assert events[0]["log_id"].startswith("80020261105121233")  # an EU tenant's prefix
    assert "log_id" not in lines[2]["detail"]["data"]
    assert events[2]["log_id"] == lines[2]["detail"]["log_id"]
    assert events[3]["log_id"] == ""  # the console's preview event has no id at all
    pretty = list(iter_events(DATA / "eventbridge-pretty.json"))
    assert [e["type"] for e in pretty] == ["scpr", "scp"]
    assert pretty[1]["_id"] == pretty[1]["log_id"] and pretty[1]["user_name"] == (
        "ben.okafor@example.com"
    )


# hand-worked queries: (file, query, the types of the events found, in date order)
QUERIES = [
    ("api-logs-page.json", 'ip:"::ffff:203.0.113.9"', ["s"]),
    ("api-logs-page.json", 'ip:"192.0.2.77"', ["fp", "limit_wc"]),
    ("api-logs-page.json", 'type:"sapi" AND ip:"2a02:8084:601e:7700:6045:e399:fb8:c4ff"', ["sapi"]),
    ("api-logs-totals.json", 'user_id:"auth0|618223a4e3f49e006948565c"', ["ssa", "scoa", "sertft"]),
    ("stream.jsonl", 'description:"Wrong email or password."', ["fu", "fp"]),
    ("stream.jsonl", 'type:"s" AND user_name:"ana.silva@example.com"', ["s"]),  # one, not two
    ("stream.jsonl", 'type:"f" AND connection:"NewDB"', ["f"]),
    (
        "stream-array.json",
        'ip:"2601:140:9702:ee80:9049:1f55:0000:e970"',
        ["pwd_leak", "signup_pwd_leak"],
    ),
    ("stream-array.json", 'ip:"45.148.10.81"', ["limit_mu", "limit_sul", "ferrt", "gd_send_pn"]),
    ("webhook-body.json", 'ip:"198.51.100.61"', ["sepft", "fepft", "seotpft"]),
    ("eventbridge.jsonl", "log_id:80020*", ["s", "fs", "limit_wc"]),
    ("eventbridge.jsonl", "date:[2026-11-05T12:00 TO 2026-11-05T13:00}", ["s", "fs"]),
    ("eventbridge-pretty.json", 'user_id:"auth0|618223a4e3f49e006948565c"', ["scpr", "scp"]),
    ("export.jsonl", 'ip:"45.148.10.81"', ["feccft", "fcpr", "fu", "fu"]),
    ("export.jsonl", 'type:"fu" AND user_name:guess1*', ["fu", "fu"]),
    ("export.jsonl", 'ip:"2001:db8:85a3::8a2e:370:7334"', ["sens", "fsa"]),
]
SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 7, tzinfo=UTC)


@pytest.mark.parametrize(("name", "query", "types"), QUERIES)
def test_hand_worked_queries_offline(name: str, query: str, types: list[str]) -> None:
    result = search_file(DATA / name, query, SINCE, UNTIL)
    assert [e["type"] for e in result.events] == types
    assert result.warnings == []


def test_siem_rows_are_unwrapped_and_keep_the_siems_dates() -> None:
    rows = raw_lines("siem-rows.jsonl")
    events = list(iter_events(DATA / "siem-rows.jsonl"))
    assert events == [r["data"] for r in rows] and all("p_row_id" not in e for e in events)
    assert events[0]["date"] == "2026-11-06 08:09:32.149000000"  # Panther's form, kept verbatim
    leak = scan(DATA / "siem-rows.jsonl", 'ip:"2601:140:9702:ee80:9049:1f55:0000:e970"')
    assert [e["type"] for e in leak] == ["pwd_leak"]


@pytest.mark.parametrize("name", FILES)
def test_every_type_is_searchable_offline(name: str) -> None:
    for type_, count in TYPES[name].items():
        query = f"type:{json.dumps(type_)}"
        if name == "siem-rows.jsonl":  # SIEM-normalised dates: searched without a window
            found = list(scan(DATA / name, query))
        else:
            found = search_file(DATA / name, query, SINCE, UNTIL).events
        redelivered = 1 if (name, type_) == ("stream.jsonl", "s") else 0
        assert [e["type"] for e in found] == [type_] * (count - redelivered), type_


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, tuple[RunningEmulator, Auth0Client]]]:
    """One emulator per corpus file (``soar emulator --logs FILE``), with a client for it."""
    out: dict[str, tuple[RunningEmulator, Auth0Client]] = {}
    try:
        for name in FILES:
            emu = start_emulator(logs_file=DATA / name, rate_limit=(1000, 5000.0))
            settings = Auth0Settings.create(
                emu.base_url, client_id=emu.client_id, client_secret=emu.client_secret
            )
            out[name] = (emu, Auth0Client(settings, guard=DryRunGuard(False)))
        yield out
    finally:
        for emu, client in out.values():
            client.close()
            emu.stop()


@pytest.mark.parametrize("name", FILES)
def test_every_type_is_searchable_through_the_emulator(
    served: dict[str, tuple[RunningEmulator, Auth0Client]], name: str
) -> None:
    _, client = served[name]
    for type_, count in TYPES[name].items():
        found = client.get("/logs", {"q": f"type:{json.dumps(type_)}", "per_page": 100})
        redelivered = 1 if (name, type_) == ("stream.jsonl", "s") else 0  # one tenant event
        assert [e["type"] for e in found] == [type_] * (count - redelivered), type_


@pytest.mark.parametrize(("name", "query", "types"), QUERIES)
def test_hand_worked_queries_through_the_emulator(
    served: dict[str, tuple[RunningEmulator, Auth0Client]],
    name: str,
    query: str,
    types: list[str],
) -> None:
    _, client = served[name]
    found = client.get("/logs", {"q": query, "sort": "date:1"})
    assert [e["type"] for e in found] == types


@pytest.mark.parametrize("name", FILES)
def test_checkpoint_export_round_trips_every_prefix(
    served: dict[str, tuple[RunningEmulator, Auth0Client]], name: str
) -> None:
    _, client = served[name]
    out = io.StringIO()
    stats = export(client, out, SINCE, UNTIL)
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    # every event with an id, once each (checkpoint paging walks ids: an event without one
    # cannot be paged to, and a tenant never holds one)
    wanted: dict[str, dict[str, Any]] = {}
    for e in iter_events(DATA / name):
        if e.get("log_id"):
            wanted.setdefault(e["log_id"], e)
    assert sorted(exported, key=lambda e: e["log_id"]) == sorted(
        wanted.values(), key=lambda e: e["log_id"]
    )
    assert stats["events"] == len(wanted)


def test_events_without_a_log_id_stay_without_one(
    served: dict[str, tuple[RunningEmulator, Auth0Client]],
) -> None:
    from engine.auth0.search import search

    _, client = served["export.jsonl"]  # its two fu events have neither _id nor log_id
    served_fu = client.get("/logs", {"q": 'type:"fu"'})
    assert sorted(e["user_name"] for e in served_fu) == [
        "guess15@mail.example",
        "guess16@mail.example",
    ]
    assert all("log_id" not in e for e in served_fu)  # not the string "None"
    assert client.get("/logs", {"q": "log_id:None"}) == []
    with pytest.raises(UpstreamError) as missing:
        client.get("/logs/None")
    assert missing.value.status == 404
    # the complete search keeps both: an absent id is no id to merge them on
    found = search(client, 'type:"fu"', SINCE, UNTIL).events
    assert [e["user_name"] for e in found] == ["guess15@mail.example", "guess16@mail.example"]
    offline = search_file(DATA / "export.jsonl", 'type:"fu"', SINCE, UNTIL).events
    assert offline == found
    # the console's preview event: its log_id is "", matched by nothing but its fields
    _, bridge = served["eventbridge.jsonl"]
    assert [e["log_id"] for e in bridge.get("/logs", {"q": "type:sapi"})] == [""]
