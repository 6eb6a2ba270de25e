"""The DuckDB event store: the same answers as the file reader, from columns, cached."""

from __future__ import annotations

import json
import os
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engine.auth0.search import count_events, search_events, search_file
from engine.errors import LogFileError
from engine.logs.eventset import EventSet
from engine.logs.files import iter_events
from engine.logs.lines import LineIndex, line_number
from engine.logs.query import field_text
from engine.logs.store import EventStore

DATA = Path(__file__).parent.parent / "data" / "auth0"
BASE = list(iter_events(DATA / "triage-export.jsonl"))  # plain events: read back from a file
CORPUS = sorted(p for p in DATA.iterdir() if p.suffix in (".json", ".jsonl"))
QUERIES = [
    "",
    'type:"s"',
    'type:"fp" OR type:"fu" OR type:"f"',
    'type:s AND ip:"203.0.113.7"',
    "type:(s ssa seacft)",
    "user_id:auth0*",
    'NOT type:"s"',
    "date:[2020-01-01 TO *]",
    'description:"Wrong email or password."',
]
WINDOWS = [
    (None, None),
    (datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)),
    (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)),
    (datetime(2001, 1, 1, tzinfo=UTC), datetime(2001, 1, 2, tzinfo=UTC)),
]


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    s = EventStore(tmp_path / "work")
    yield s
    s.close()


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_the_store_answers_as_the_file_reader_on_every_real_shape(
    store: EventStore, path: Path
) -> None:
    for q in QUERIES:
        for since, until in WINDOWS:
            old = search_file(path, q, since, until)
            new = search_events(store, path, q, since, until)
            assert isinstance(new.events, EventSet)
            assert list(new.events) == old.events, (path.name, q, since)
            assert new.warnings == old.warnings, (path.name, q, since)
            assert new.stats == old.stats
    old = search_file(path, 'type:"s"', None, None, limit=2)
    assert list(search_events(store, path, 'type:"s"', None, None, limit=2).events) == old.events


def hostile_file(tmp_path: Path) -> Path:
    """Redeliveries, an id-less copy, undated and odd dates, CRLF and blank lines."""
    events: list[dict[str, Any]] = [
        {"log_id": "3", "date": "2026-11-02T10:00:00.000Z", "type": "s", "ip": "10.0.0.1"},
        {"log_id": "1", "date": "2026-11-01T10:00:00.000Z", "type": "fp", "ip": "10.0.0.1"},
        {"log_id": "1", "date": "2026-11-01T10:00:00.000Z", "type": "fp", "ip": "10.0.0.9"},
        {"date": "2026-11-01T11:00:00Z", "type": "f", "user_name": '"; DROP TABLE x; --'},
        {"date": "2026-11-01T11:00:00Z", "type": "f", "user_name": '"; DROP TABLE x; --'},
        {"log_id": "4", "date": "garbage", "type": "s", "ip": "10.0.0.1"},
        {"log_id": "5", "date": "2026-11-02T09:00:00+02:00", "type": "s", "ip": "10.0.0.1"},
        {"log_id": "6", "date": None, "type": "s"},
    ]
    lines = [json.dumps(e) for e in events]
    f = tmp_path / "hostile.jsonl"
    f.write_text("\r\n".join(lines[:3]) + "\n\n   \n" + "\n".join(lines[3:]), encoding="utf-8")
    return f


def test_redeliveries_id_less_copies_and_odd_dates_come_out_as_before(
    store: EventStore, tmp_path: Path
) -> None:
    f = hostile_file(tmp_path)
    for q in ["", "type:s", "type:f", "ip:10.0.0.1", 'user_name:"\\"; DROP TABLE x; --"']:
        for since, until in WINDOWS[:3]:
            old = search_file(f, q, since, until)
            new = search_events(store, f, q, since, until)
            assert list(new.events) == old.events, (q, since)
            assert new.warnings == old.warnings
    # the redelivered log id 1 is one event, the id-less copies one event
    assert [e.get("log_id") for e in search_events(store, f, "", None, None).events] == [
        "1",
        None,
        "5",
        "3",
        "4",
        "6",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "["
        + ",".join(
            json.dumps({"log_id": str(i), "date": "2026-11-01", "type": "s"}) for i in range(3)
        )
        + "]",
        "\n".join(
            json.dumps({"log_id": str(i), "data": {"date": "2026-11-01", "type": "s"}})
            for i in range(3)
        ),
        json.dumps({"logs": [{"log_id": "0", "date": "2026-11-01", "type": "s"}]}, indent=2),
    ],
    ids=["array", "stream-items", "page"],
)
def test_other_shapes_are_normalised_and_read_back_whole(
    store: EventStore, tmp_path: Path, text: str
) -> None:
    f = tmp_path / "other.json"
    f.write_text(text, encoding="utf-8")
    found = store.select(f, "type:s")
    assert list(found) == search_file(f, "type:s", None, None).events
    assert found.source.raw != f  # the normal form, one plain event a line


def test_a_bad_line_is_named_as_the_file_reader_names_it(store: EventStore, tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"log_id": "1", "date": "2026-11-01", "type": "s"}) + "\n\n{not json\n")
    with pytest.raises(LogFileError, match=r"bad.jsonl:3: not a JSON line"):
        store.select(f, "")
    f.write_text(json.dumps({"log_id": "1", "date": "2026-11-01", "type": "s"}) + '\n{"x": 1}\n')
    with pytest.raises(LogFileError, match=r"bad.jsonl:2: not an Auth0 log event"):
        store.select(f, "")


def test_an_event_set_is_a_sequence_read_back_as_needed(store: EventStore) -> None:
    path = DATA / "triage-export.jsonl"
    found = store.select(path, "")
    events = search_file(path, "", None, None).events
    assert len(found) == len(events) and bool(found)
    assert found[0] == events[0] and found[-1] == events[-1]
    assert found[3:7] == events[3:7] and found[::25] == events[::25]
    assert found == events and list(found) == events
    with pytest.raises(IndexError):
        found[len(events)]
    assert found.span == (events[0]["date"], events[-1]["date"])
    summary = found.log_summary()["event_set"]
    assert summary["count"] == len(events)
    fields = ("log_id", "date", "type", "ip", "user_id", "user_name", "client_name")
    assert summary["first"] == [
        {k: e[k] for k in fields if e.get(k) is not None} for e in events[:5]
    ]
    # the digest is of the log ids in order: another order or set gives another digest
    assert summary["digest"] == store.select(path, "").digest
    assert summary["digest"] != store.select(path, "NOT type:sapi").digest
    assert not store.select(path, 'type:"no-such-type"')


def test_the_cache_serves_a_second_store_and_notices_a_change(tmp_path: Path) -> None:
    f = tmp_path / "export.jsonl"
    f.write_bytes((DATA / "triage-export.jsonl").read_bytes())
    cache = tmp_path / "cache"
    first = EventStore(tmp_path / "w1", cache)
    answer = list(first.select(f, "type:s"))
    assert not first.source(f).cached
    first.close()
    second = EventStore(tmp_path / "w2", cache)
    again = second.select(f, "type:s")
    assert second.source(f).cached and list(again) == answer
    second.close()
    with f.open("a", encoding="utf-8") as handle:  # one more login: a new file, a new entry
        handle.write(json.dumps({"log_id": "zz", "date": "2026-11-20T00:00:00.000Z", "type": "s"}))
    third = EventStore(tmp_path / "w3", cache)
    assert not third.source(f).cached
    assert "zz" in [e["log_id"] for e in third.select(f, "type:s")]
    third.close()
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2


def test_a_cache_that_cannot_be_written_is_said_and_the_search_goes_on(tmp_path: Path) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would be")
    store = EventStore(tmp_path / "w", blocked)
    found = search_events(store, DATA / "export.jsonl", "", None, None)
    assert len(found.events) > 0
    assert any("cache" in w and "not written" in w for w in found.warnings)
    store.close()


def test_the_columns_give_every_date_and_id_back_though_the_table_leaves_repeats_out(
    tmp_path: Path,
) -> None:
    # the table stores date only where it differs from date_key, _id only where from log_id
    dates: list[Any] = [
        "2026-11-18T10:00:00.000Z",  # Auth0's own form: left out, put back by the view
        "2026-11-18T10:00:00Z",  # RFC 3339, keyed in SQL to another text: kept
        "2026-11-18 10:00:00.5+00:00",
        "Wed, 18 Nov 2026 10:00:00 GMT",  # keyed in Python: kept
        2023,  # a number is no date: kept, no key
        "2023",
        {"$date": "2026-11-18T10:00:00.000Z"},
        "",
    ]
    events: list[dict[str, Any]] = []
    for n, date in enumerate(dates):
        ids = {"log_id": f"L{n}", "_id": f"L{n}"} if n % 3 == 0 else {"_id": f"I{n}"}
        if n % 3 == 2:
            ids = {"log_id": f"L{n}", "_id": f"other{n}"}
        events.append({"type": "s", **ids, "date": date})
    f = tmp_path / "dates.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in events))
    for n, cache in enumerate((None, tmp_path / "cache", tmp_path / "cache")):
        with EventStore(tmp_path / "w", cache) as store:  # in memory, written, read back
            found = store.select(f, "")
            assert len(found) == len(events) and store.source(f).cached == (n == 2)
            by_id = {e["log_id"] if "log_id" in e else e["_id"]: e for e in events}
            for (date, ident), event in zip(
                found.query(
                    "SELECT date, coalesce(nullif(log_id, ''), nullif(_id, '')) FROM {events} "
                    "ORDER BY pos"
                ),
                found,
                strict=True,
            ):
                assert by_id[ident] == event
                assert date == field_text(event.get("date"))
    assert cache is not None
    (database,) = cache.glob("*/events.duckdb")
    with duckdb.connect(str(database), read_only=True) as con:
        left_out = con.execute(
            "SELECT count(*) FILTER (WHERE date IS NULL), count(*) FILTER (WHERE _id IS NULL) "
            "FROM events"
        ).fetchone()
    assert left_out == (1, 3)  # the date in Auth0's form; the three _id equal to their log_id


def test_an_event_with_a_key_twice_keeps_the_last_value_and_says_where_every_time(
    tmp_path: Path,
) -> None:
    # DuckDB refuses such an object; the exact reader keeps the last value, as jq and
    # JavaScript do. The warning names the line itself (DuckDB counts only non-blank ones)
    f = tmp_path / "repeated.jsonl"
    f.write_text(
        '{"type": "s", "date": "2026-11-18T10:00:00.000Z", "log_id": "a"}\n\n  \n'
        '{"type": "s", "type": "fp", "date": "2026-11-18T10:00:01.000Z", "log_id": "b"}\n'
    )
    cache = tmp_path / "cache"
    for n in range(2):  # the read that writes the cache, then one from it
        with EventStore(tmp_path / f"w{n}", cache) as store:
            found = search_events(store, f, 'type:"fp"', None, None)
            assert (
                [e["log_id"] for e in found.events]
                == ["b"]
                == [e["log_id"] for e in search_file(f, 'type:"fp"', None, None).events]
            )
            assert store.source(f).cached == (n == 1)
            (said,) = [w for w in found.warnings if "twice" in w]
            assert said.startswith(f"{f}:4: an event has the key 'type' twice: the last value")
        with EventStore(tmp_path / f"c{n}", cache) as store:
            counted, warnings = count_events(store, f, 'type:"s"', None, None)
            assert counted == 1 and any(f"{f}:4:" in w for w in warnings)


def test_a_value_s_line_is_found_whatever_the_blocks_and_blank_lines(tmp_path: Path) -> None:
    rng = random.Random(11)
    for trial in range(40):
        lines = [
            rng.choice(["", "  ", "\r", "{}", '{"a": "' + "x" * rng.randint(0, 90) + '"}'])
            for _ in range(rng.randint(0, 25))
        ]
        text = ("\ufeff" if trial % 5 == 0 else "") + "\n".join(lines)
        text += "\n" if trial % 2 else ""
        f = tmp_path / f"v{trial}.jsonl"
        f.write_text(text, encoding="utf-8")
        valued = [n for n, line in enumerate(lines, 1) if line.strip()]  # the lines DuckDB counts
        for block in (1, 7, 64, 1 << 20):
            found = [line_number(f, v, block=block) for v in range(1, len(valued) + 2)]
            assert found == [*valued, None], (trial, block)


def test_the_line_index_finds_every_line_whatever_the_blocks(tmp_path: Path) -> None:
    rng = random.Random(7)
    for trial in range(30):
        values = [json.dumps({"n": i, "pad": "x" * rng.randint(0, 300)}) for i in range(60)]
        text = ""
        for v in values:
            text += rng.choice(["", "", "", "\n", "  \n", "\r\n"]) if trial % 2 else ""
            text += v + rng.choice(["\n", "\r\n"] if trial % 3 == 0 else ["\n"])
        if trial % 4 == 0:
            text = text.rstrip("\r\n")  # no newline at the end
        if trial % 5 == 0:
            text = "\ufeff" + text
        f = tmp_path / f"t{trial}.jsonl"
        f.write_text(text, encoding="utf-8")
        for block in (64, 500, 1 << 20):
            index = LineIndex.build(f, len(values), block=block)
            assert index.values == len(values)
            data = f.read_bytes()
            if index.offsets is not None:  # each line's start, found another way
                starts = [0, *(m.end() for m in re.finditer(b"\n", data))]
                assert list(index.offsets) == starts + ([] if data.endswith(b"\n") else [len(data)])
            for at, before in zip(index.starts[:-1], index.before[:-1], strict=True):
                assert at == 0 or data[at - 1 : at] == b"\n"  # each entry a line's start
                head = data[:at].removeprefix("\ufeff".encode()).split(b"\n")
                assert len([line for line in head if line.strip()]) == before
            assert (index.offsets is not None) == (trial % 2 == 0)  # every line a value: offsets
            wanted = [*rng.sample(range(len(values)), 20), 0, len(values) - 1]
            index.prefetch([*wanted, -1, len(values) + 5])  # a hint: never fails, reads nothing
            texts = index.read(wanted)
            assert {k: json.loads(t)["n"] for k, t in texts.items()} == {k: k for k in wanted}
            assert index.with_offsets(None).read(wanted) == texts  # by blocks: the same lines
            index.prefetch(wanted)  # by blocks too
        f.unlink()
        index.prefetch([0, 1])  # a file gone: read() is what says so
        with pytest.raises(LogFileError, match="cannot open"):
            index.read([0])


def test_the_cache_keeps_where_each_line_starts_and_a_torn_copy_is_not_used(
    tmp_path: Path,
) -> None:
    f = tmp_path / "export.jsonl"
    events = [
        {**e, "n": i, "_id": f"{i:056d}", "log_id": f"{i:056d}"} for i, e in enumerate(BASE * 50)
    ]
    f.write_text("".join(json.dumps(e) + "\n" for e in events))
    cache = tmp_path / "cache"
    with EventStore(tmp_path / "w1", cache) as first:
        assert first.select(f, "")[-1]["n"] == len(BASE) * 50 - 1  # read back: index built
    (kept,) = cache.glob("*/lines.bin")
    assert kept.stat().st_size == 8 * (len(BASE) * 50 + 1)
    with EventStore(tmp_path / "w2", cache) as second:
        found = second.select(f, "")
        assert second.source(f).index.offsets is not None
        assert [events[e["n"]] for e in found[100:103]] == found[100:103]
    kept.write_bytes(kept.read_bytes()[:-8])  # torn: one offset short
    with EventStore(tmp_path / "w3", cache) as third:
        found = third.select(f, "")
        assert third.source(f).index.offsets is None  # by blocks instead, never wrong
        assert [events[e["n"]] for e in found[100:103]] == found[100:103]


def test_a_file_changed_behind_its_cache_is_refused_not_mixed(tmp_path: Path) -> None:
    from engine.logs.cache import _EDGE, _SAMPLE, _SAMPLES

    base = list(iter_events(DATA / "triage-export.jsonl"))  # plain events: read back from f
    lines: list[str] = []
    size = 0
    while size < 24 << 20:  # large enough for the digest to sample it
        n = len(lines)
        lines.append(json.dumps({**base[n % len(base)], "log_id": f"{n:056d}"}) + "\n")
        size += len(lines[-1])
    f = tmp_path / "export.jsonl"
    f.write_text("".join(lines))
    cache = tmp_path / "cache"
    with EventStore(tmp_path / "w1", cache) as first:
        assert first.select(f, "")[0]["log_id"]  # read back once: the index is cached too
    # swap two lines inside a gap between the sampled blocks: same size, same samples
    size = f.stat().st_size
    step = (size - 2 * _EDGE) // _SAMPLES
    offset, i = 0, 0
    while offset < _EDGE + _SAMPLE:
        offset += len(lines[i])
        i += 1
    assert offset + len(lines[i]) + len(lines[i + 1]) < _EDGE + step
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    st = f.stat()
    f.write_text("".join(lines))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same modification time
    with EventStore(tmp_path / "w2", cache) as second:
        found = second.select(f, "")
        assert second.source(f).cached  # the key cannot see this edit: the read-back does
        with pytest.raises(LogFileError, match="changed since it was read or cached"):
            list(found)
    with EventStore(tmp_path / "w3", None) as fresh:  # --no-cache reads the file as it is
        assert len(fresh.select(f, "")) == len(lines)


def test_a_cache_folder_with_glob_characters_is_read_as_written(tmp_path: Path) -> None:
    import shutil

    cache = tmp_path / "cache*"  # DuckDB globs the paths it reads: this one must stay literal
    with EventStore(tmp_path / "w1", cache) as first:
        answer = list(first.select(DATA / "export.jsonl", ""))
    assert answer
    shutil.copytree(cache, tmp_path / "cache-old")  # an older cache beside it, matching cache*
    with EventStore(tmp_path / "w2", cache) as second:
        assert second.source(DATA / "export.jsonl").cached
        assert list(second.select(DATA / "export.jsonl", "")) == answer


def plain_file(tmp_path: Path) -> Path:
    """Plain Auth0 events one a line, each with a log id, two of them redelivered."""
    events = [{**e, "log_id": f"{i:056d}"} for i, e in enumerate(BASE)]
    f = tmp_path / "plain.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in [*events, events[3], events[60]]))
    return f


@pytest.mark.parametrize("name", ["plain", *[p.name for p in CORPUS]])
def test_a_count_equals_the_searchs_length_and_its_warnings(tmp_path: Path, name: str) -> None:
    path = plain_file(tmp_path) if name == "plain" else DATA / name
    cache = tmp_path / "cache"
    whole = (datetime(2001, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    with EventStore(tmp_path / "w1", cache) as counter, EventStore(tmp_path / "w2") as searcher:
        itself = counter.count(path, "", None, None, whole) is not None
        for q in [*QUERIES, 'type:"no-such-type"', "date:2026-11-18"]:
            for since, until in WINDOWS:
                found = search_events(searcher, path, q, since, until)
                counted = count_events(counter, path, q, since, until)
                assert counted == (len(found.events), found.warnings), (name, q, since)
        assert count_events(counter, path, "type:s", None, None, limit=1)[0] == min(
            1, len(search_events(searcher, path, "type:s", None, None).events)
        )
    assert itself == (name == "plain")  # every file of the corpus mixes shapes or lacks ids
    assert cache.exists() != itself  # a count read straight from the file writes no cache


def test_a_count_reads_plain_lines_itself_and_leaves_every_other_file_to_the_search(
    tmp_path: Path,
) -> None:
    plain = plain_file(tmp_path)
    whole = (datetime(2001, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    with EventStore(tmp_path / "w") as store:
        counted = store.count(plain, "", None, None, whole)
        assert counted is not None and (counted.found, counted.events) == (110, 112)
        assert counted.profile is None  # no window: the dates were not keyed
        windowed = store.count(plain, "type:s", whole[0], whole[1], whole)
        assert windowed is not None and windowed.found == 8  # counted with jq
        assert windowed.profile is not None and windowed.profile.first == BASE[0]["date"]
        assert store.count(hostile_file(tmp_path), "", None, None, whole) is None  # odd dates
        store.select(plain, "")
        assert store.count(plain, "type:s", None, None, whole) is None  # read: from its table
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"log_id": "1", "date": "2026-11-01", "type": "s"}) + "\n{not json\n")
    with (
        EventStore(tmp_path / "w2") as store,
        pytest.raises(LogFileError, match=r"bad\.jsonl:2: not a JSON line"),
    ):
        count_events(store, f, "", None, None)  # the exact reader names the line


def test_the_first_read_writes_the_cache_itself_and_no_cache_keeps_the_columns_in_memory(
    tmp_path: Path,
) -> None:
    f = plain_file(tmp_path)
    cache = tmp_path / "cache"
    with EventStore(tmp_path / "w1", cache) as first:
        found = first.select(f, "type:s")
        (entry,) = cache.iterdir()  # whole as soon as the file is read: no writer to wait for
        meta = json.loads((entry / "meta.json").read_text())
        assert (meta["rows"], meta["unique"], meta["raw"]) == (112, False, "source")
        tables = first.con.execute(
            "SELECT database_name, table_name, path FROM duckdb_tables() "
            "JOIN duckdb_databases() USING (database_name)"
        ).fetchall()
        # the set's rids in memory; the columns in the entry's database file, read-only
        assert sorted((name, path) for _, name, path in tables) == [
            ("events", str(entry / "events.duckdb")),
            (found.table, None),
        ]

        assert list(found) == search_file(f, "type:s", None, None).events
    with EventStore(tmp_path / "w2", None) as fresh:  # --no-cache: the columns in memory
        again = fresh.select(f, "type:s")
        assert list(again) == search_file(f, "type:s", None, None).events
        tables = fresh.con.execute(
            "SELECT table_name, path FROM duckdb_tables() JOIN duckdb_databases() "
            "USING (database_name) WHERE NOT temporary"
        ).fetchall()
        assert tables == [("events", None)]
        assert not list((tmp_path / "w2").rglob("*.duckdb"))  # no file written anywhere
    assert not (tmp_path / "w2").exists()  # and the work folder goes


def test_dates_only_python_keys_are_keyed_in_the_columns_written(tmp_path: Path) -> None:
    events = [
        {"log_id": "1", "date": "2026-11-01T12:00:00+02:00", "type": "s"},  # 10:00 UTC
        {"log_id": "2", "date": 2023, "type": "s"},  # a number: not a date
        {"log_id": "3", "date": "2023", "type": "s"},  # a year: a date
        {"log_id": "4", "date": "2026-11-01T09:00:00.000Z", "type": "s"},
    ]
    f = tmp_path / "dates.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in events))
    with EventStore(tmp_path / "w", tmp_path / "cache") as store:
        for since, until in WINDOWS[:2]:
            old = search_file(f, "type:s", since, until)
            new = search_events(store, f, "type:s", since, until)
            assert list(new.events) == old.events
            # the same warnings but for the undated date's text: the column holds 2023 as '2023'
            assert [w.replace("'2023'", "2023") for w in new.warnings] == old.warnings
        assert [e["log_id"] for e in store.select(f, "")] == ["3", "4", "1", "2"]
    with EventStore(tmp_path / "w2", tmp_path / "cache") as again:  # the keys are in the cache
        assert again.source(f).cached
        assert [e["log_id"] for e in again.select(f, "")] == ["3", "4", "1", "2"]
