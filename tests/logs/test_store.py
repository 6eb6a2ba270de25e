"""The DuckDB event store: the same answers as the file reader, from columns, cached."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.auth0.search import search_events, search_file
from engine.errors import LogFileError
from engine.logs.eventset import EventSet
from engine.logs.files import iter_events
from engine.logs.lines import LineIndex
from engine.logs.store import EventStore

DATA = Path(__file__).parent.parent / "data" / "auth0"
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
            wanted = rng.sample(range(len(values)), 20)
            texts = index.read(wanted)
            assert {k: json.loads(t)["n"] for k, t in texts.items()} == {k: k for k in wanted}


def test_a_file_changed_behind_its_cache_is_refused_not_mixed(tmp_path: Path) -> None:
    from engine.logs.cache import _EDGE, _SAMPLE, _SAMPLES

    base = list(iter_events(DATA / "triage-export.jsonl"))  # plain events: read back from f
    lines: list[str] = []
    total = 0
    while total < 24 << 20:  # large enough for the digest to sample it
        n = len(lines)
        lines.append(json.dumps({**base[n % len(base)], "log_id": f"{n:056d}"}) + "\n")
        total += len(lines[-1])
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
