"""A run's log events in DuckDB: each file read once, every search a query on it.

``EventStore`` holds one DuckDB connection per run (in memory, spilling to
its work folder past ``memory_limit``). A log file becomes a *source*: the
searchable fields of every event as the columns of a table ``events`` in a
DuckDB database file of its own (``engine.logs.sql``), each row's place
there (``rid``, its ``rowid``) being the event's place in a JSON-lines file
from which the event itself is read back when needed
(``engine.logs.lines``). Two ways in:

- the fast path, for a JSON-lines file of plain Auth0 events: one pass of
  DuckDB's reader (parallel, streaming) writes the columns straight into the
  database file, and a check over a few of them sends any file it cannot
  take as it is (a wrapper, a page, an odd ``type``, a missing ``date`` or
  id) down the other;
- every other shape, and anything the fast path refuses, goes through the
  exact reader (``engine.logs.files``), which names a bad line as it always
  did, into a normalised JSON-lines file (one plain event a line, id-less
  byte-identical copies dropped), which DuckDB then reads as on the fast path.

The database file is written in the cache's folder (``engine.logs.cache``)
when there is one, and is the cache: later runs over the same file open it
read-only and start from it; with ``--no-cache`` (or a cache that cannot be
written) the columns go to a database in memory instead, which writes
nothing and reads them in two thirds of the time. DuckDB keeps in memory only the
blocks in use (within ``memory_limit``: past it, a database in memory
moves blocks to the work folder), so memory does not grow with the file.
DuckDB writes its own table in file order about as fast as a Parquet file
in that order (3.4-4.5 s against 3.9-4.5 s for a million events on two
cores), and queries it faster: no file format to decode each time. A count
(``EventStore.count``) reads only what it needs.

A search is ``EventStore.select``: an ``EventSet`` of the matching events,
oldest first and each identity once, as ``engine.auth0.search.search_file``
answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import duckdb

from engine.errors import ConfigError, DamagedCache, LogFileError
from engine.logs.cache import CacheEntry, cache_entry, clear, sql_literal
from engine.logs.eventset import IDENTITY_TEXT, EventSet, Source, identity
from engine.logs.files import Profile, Undated, iter_events, window_message
from engine.logs.lines import line_number
from engine.logs.sql import (
    events_sql,
    first_line,
    ident,
    load_ndjson,
    table_select,
    where_sql,
)
from engine.timeutil import iso_ms

Window = tuple[datetime, datetime]

TABLE = "events"  # the table of a source's database file
_DAMAGE = "Corrupt database file"  # DuckDB's words for a block whose checksum fails
MEMORY_LIMIT = "400MB"  # SOAR_DUCKDB_MEMORY: a million events' columns spill a little past it
# DuckDB's refusal of an object with a key twice: the value's number (1-based) and the key
_REPEATED = re.compile(r'in line (\d+): .* has duplicate key "(.{0,100}?)"', re.DOTALL)
# an Auth0 event type is a short lower-case code (s, fp, sapi, limit_wc, gd_auth_succeed)
_TYPE_CODE = r"[a-z][a-z0-9_]{0,63}"


@dataclass(frozen=True)
class Loaded:
    """What a first read of a file wrote (``EventStore._columns``)."""

    rows: int
    profile: Profile
    plain: bool  # every row a plain event the exact reader would take as it is
    unique: bool  # no two events share a log id: a search need not drop redeliveries


@dataclass(frozen=True)
class Counted:
    """A count read straight from a file (``EventStore.count``): the events found, what
    the file holds, and whether any event falls in the window asked about."""

    found: int
    events: int  # in the whole file
    profile: Profile | None  # read only for a window (or a query on dates)
    inside: bool


class Connection:
    """The store's DuckDB connection, with two of DuckDB's errors said as soar's: running out
    of memory is ``SOAR_DUCKDB_MEMORY`` too small (DuckDB's own advice, ``SET threads`` or
    ``SET memory_limit``, is not the operator's to follow, and the error is no bug in soar),
    and a block failing its checksum is a damaged cache (``damaged``)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        limit: str,
        damaged: Callable[[duckdb.Error], NoReturn],
    ) -> None:
        """``damaged``: what a read of a damaged database file (a cache's) raises instead."""
        self._con = con
        self.limit = limit
        self.damaged = damaged

    def execute(self, query: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(query, parameters)
        except duckdb.OutOfMemoryException as exc:
            raise ConfigError(
                f"DuckDB ran out of memory within SOAR_DUCKDB_MEMORY={self.limit} "
                f"({first_line(exc)}): give it more, such as SOAR_DUCKDB_MEMORY=1GB "
                f"(the default, {MEMORY_LIMIT}, reads a million events)"
            ) from None
        except duckdb.Error as exc:
            if _DAMAGE in str(exc):
                self.damaged(exc)
            raise

    def close(self) -> None:
        self._con.close()


class EventStore:
    """A run's DuckDB connection and the sources read into it. Not shared between runs."""

    def __init__(self, workdir: Path | None = None, cache_dir: Path | None = None) -> None:
        """``workdir``: where DuckDB spills and normalised files go (a temporary folder if
        None), removed at ``close``; ``cache_dir``: the cache, None for none."""
        self.workdir = Path(tempfile.mkdtemp(prefix="soar-events-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        # removed also when the store is dropped without close (a context in a test)
        weakref.finalize(self, shutil.rmtree, self.workdir, True)
        self.cache_dir = cache_dir
        limit = _size(os.environ.get("SOAR_DUCKDB_MEMORY") or MEMORY_LIMIT)
        self.con = Connection(
            duckdb.connect(config={"preserve_insertion_order": True}), limit, self._damaged
        )
        # no progress bar: DuckDB would draw it on the terminal of a command's output
        self.con.execute("SET enable_progress_bar = false")
        self.con.execute(f"SET memory_limit = '{limit}'")
        self.con.execute("SET temp_directory = ?", [str(self.workdir / "spill")])
        self.lock = threading.RLock()  # one connection: steps may run calls in threads
        # held by a load: rids in file order need preserve_insertion_order, the database's
        self.loading = threading.Lock()
        self._sources: dict[str, Source] = {}
        self._entries: list[CacheEntry] = []  # the cache entries read or written
        self.warnings: list[str] = []  # said once by whoever reports the run's searches
        self._names = 0

    def new_name(self, prefix: str) -> str:
        with self.lock:
            self._names += 1
            return f"{prefix}_{self._names}"

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish writing the cache, then let the connection and the work folder go."""
        self.flush()
        with self.lock:
            self.con.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def source(self, path: Path) -> Source:
        """The source of ``path``, read (or taken from the cache) on first use."""
        key = str(path.resolve())
        with self.lock:
            known = self._sources.get(key)
            if known is None:
                known = self._sources[key] = self._open(path)
            return known

    def _open(self, path: Path) -> Source:
        try:
            st = path.stat()
        except OSError as exc:
            raise LogFileError(f"{path}: cannot open: {exc.strerror}") from None
        entry = cache_entry(self.cache_dir, path, st) if self.cache_dir else None
        if entry is not None and entry.valid():
            try:
                return self._from_cache(path, entry)
            except (duckdb.Error, DamagedCache) as exc:  # the file is read afresh instead
                said = exc.reason if isinstance(exc, DamagedCache) else first_line(exc)
                self.warnings.append(f"the cache of {path} was damaged ({said}): read afresh")
                clear(entry)
        if entry is not None:
            try:
                entry.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # the run goes on without a cache, and says so
                self.warnings.append(f"the cache of {path} was not written ({exc})")
                entry = None
        name = self.new_name("file")
        before = len(self.warnings)
        try:
            raw, out, read = self._load(path, name, entry)
        except OSError as exc:  # the cache's folder cannot take it: memory does
            if entry is None:
                raise LogFileError(f"{path}: not read ({exc})") from None
            self.warnings.append(f"the cache of {path} was not written ({exc})")
            entry = None
            raw, out, read = self._load(path, name, entry)
        if entry is not None and isinstance(out, Path):  # the entry is made whole
            try:
                of_file = self.warnings[before:]  # of the file itself: said again from the cache
                entry.keep(out, raw, read.rows, read.profile, read.unique, of_file)
                out = entry.columns
            except OSError as exc:  # the run goes on from the file written, and says so
                self.warnings.append(f"the cache of {path} was not written ({exc})")
        view = self._table_view(out) if isinstance(out, Path) else self.view(out)
        source = Source(str(path), view, raw, read.rows, read.profile, unique=read.unique)
        if entry is not None:
            source.on_index = entry.add_index
            self._entries.append(entry)
        return source

    def flush(self) -> list[str]:
        """The warnings not said yet (said once): the cache is written by the first read."""
        return self.take_warnings()

    def take_warnings(self) -> list[str]:
        """The warnings not said yet, which whoever takes them says (each is said once)."""
        said, self.warnings = self.warnings, []
        return said

    def _from_cache(self, path: Path, entry: CacheEntry) -> Source:
        meta = entry.meta()
        raw = path if meta["raw"] == "source" else entry.normalized
        self._entries.append(entry)  # before its first read: a damaged one is removed
        self.warnings += [str(w) for w in meta.get("said", [])]
        view = self._table_view(entry.columns)
        source = Source(
            str(path),
            view,
            raw,
            int(meta["rows"]),
            Profile(**meta["profile"]),
            unique=bool(meta["unique"]),
            cached=True,
        )
        if meta.get("index"):
            source.known_index = entry.line_index(raw, meta["index"])
        else:
            source.on_index = entry.add_index
        return source

    def _damaged(self, exc: duckdb.Error) -> NoReturn:
        """A query met a damaged block of a cache's database file (DuckDB checks each block's
        checksum as it reads it): the entries this store used are removed, so that the next
        run reads its file afresh, and the read stops here, saying so."""
        for entry in self._entries:
            clear(entry)
        raise DamagedCache(first_line(exc))

    def _table_view(self, database: Path) -> str:
        """A source's view of its columns in the database file ``database`` (attached
        read-only), each row's ``rid`` its place there."""
        alias = self.new_name("columns")
        self.con.execute(f"ATTACH '{sql_literal(database)}' AS {ident(alias)} (READ_ONLY)")
        return self.view(table_select(f"{ident(alias)}.{TABLE}"))

    def view(self, select: str) -> str:
        """A temporary view of ``select`` under a new name: how a source is queried."""
        name = self.new_name("src")
        self.con.execute(f"CREATE TEMP VIEW {name} AS {select}")
        return name

    def _load(
        self, path: Path, name: str, entry: CacheEntry | None
    ) -> tuple[Path, Path | str, Loaded]:
        """Read ``path`` into a database: the JSON-lines file its rids number (it or a normal
        form), the database file written in the cache's folder (with no cache entry: the
        SELECT of a table in memory, ``_columns``), and what it holds.

        One pass of DuckDB's reader writes the columns straight into the file (in
        parallel, in file order), which is the cache when there is one: nothing is
        written twice. The fast path is kept only when each row is a plain event.
        DuckDB's reader takes one value per non-blank line or refuses the file, so
        a rid is the number of the event's line among the non-blank ones.
        """
        out = entry.temporary("events", "duckdb") if entry is not None else None
        if _looks_like_lines(path):
            try:
                alias, read = self._columns(path, out)
            except LogFileError as exc:
                read = None  # not JSON lines DuckDB can read: the exact reader names what is wrong
                self.warnings += _repeated_key(path, exc)
            if read is not None and read.plain:
                return path, out or _in_memory(alias), read
            if out is not None:
                _remove_database(out)
            elif read is not None:
                self.con.execute(f"DETACH {ident(alias)}")
        normalized = entry.normalized if entry is not None else self.workdir / f"{name}.jsonl"
        normalize(path, normalized)
        alias, read = self._columns(normalized, out)
        return normalized, out or _in_memory(alias), read

    def _columns(self, jsonl: Path, out: Path | None) -> tuple[str, Loaded]:
        """Write the columns of the JSON-lines file ``jsonl`` as the table ``events`` of a
        new database file ``out``, whole (checkpointed and detached) when this returns;
        with no ``out``, of a database in memory, left attached. The name the database
        was attached under, and what the table holds.

        A run with no cache keeps its columns in memory: writing them to a file costs
        as much as reading them (two seconds a million events), for nothing kept, and
        DuckDB moves blocks of a database in memory to its temporary folder past its
        ``memory_limit``, so memory stays bounded as with a file.

        A date only Python keys (``sql.load_ndjson``) is keyed in the table itself.
        Raises ``LogFileError`` for a file DuckDB's reader refuses, and ``OSError``
        when ``out`` cannot be written (a full disk, a folder not writable).
        """
        name = self.new_name("load")
        alias = ident(name)
        at = ":memory:" if out is None else sql_literal(out)
        with self.loading:
            try:
                self.con.execute(f"ATTACH '{at}' AS {alias}")
            except duckdb.Error as exc:
                if out is None:
                    raise
                _remove_database(out)
                raise OSError(f"cannot write {out}: {first_line(exc)}") from None
            try:
                load_ndjson(self.con, jsonl, TABLE, database=name)
                read = self._read(f"{alias}.{TABLE}")
            except LogFileError as exc:
                self.con.execute(f"DETACH {alias}")
                if out is None:
                    raise
                _remove_database(out)
                if str(out) in str(exc):  # where it goes, not the file read
                    raise OSError(f"cannot write {out}: {exc}") from None
                raise
            if out is None:
                return name, read
            try:
                self.con.execute(f"DETACH {alias}")  # its last write
            except duckdb.Error as exc:
                _remove_database(out)
                raise OSError(f"cannot write {out}: {first_line(exc)}") from None
        return name, read

    def _read(self, table: str) -> Loaded:
        """What a table of columns holds: one pass over the few columns that say it."""
        row = self.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE date_key IS NULL), min(date_key), "
            f"max(date_key), count(*) FILTER (WHERE type IS NULL OR coalesce(date, date_key) "
            f"IS NULL OR {IDENTITY_TEXT} IS NULL), list(DISTINCT type), "
            f"count({IDENTITY_TEXT}) = count(DISTINCT {IDENTITY_TEXT}) FROM {table}"
        ).fetchone()
        assert row is not None
        rows, undated, first, last, odd, kinds, unique = row
        return Loaded(
            int(rows),
            Profile(int(rows), int(undated), first, last),
            plain=not odd and _plain_types(kinds),
            unique=bool(unique),
        )

    def source_of(self, label: str, table: str, raw: Path, rows: int, unique: bool) -> Source:
        """A source over ``table`` (loaded from ``raw``, ``rows`` events): its view and profile."""
        view = self.view(table_select(table))
        return Source(label, view, raw, rows, self.profile_of(table), unique=unique)

    def profile_of(self, name: str) -> Profile:
        """What table ``name`` holds: events, undated ones, the first and last date key."""
        row = self.con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE date_key IS NULL), min(date_key), "
            f"max(date_key) FROM {name}"
        ).fetchone()
        assert row is not None
        return Profile(int(row[0]), int(row[1]), row[2], row[3])

    def select(
        self,
        path: Path,
        q: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        limit: int | None = None,
        undated: Undated | None = None,
    ) -> EventSet:
        """The events of ``path`` matching ``q`` in ``[since, until)``, as ``search_file`` orders them."""
        where, params = where_sql(q)  # a bad query is refused before the file is read
        source = self.source(path)
        window = where
        wparams = list(params)
        if since is not None:
            window += " AND date_key >= ?"
            wparams.append(iso_ms(since))
        if until is not None:
            window += " AND date_key < ?"
            wparams.append(iso_ms(until))
        with self.lock:
            if undated is not None and (since is not None or until is not None):
                self._undated(source, where, params, undated)
            return EventSet.create(self, source, f"({window})", wparams, limit)

    def count(
        self, path: Path, q: str, since: datetime | None, until: datetime | None, span: Window
    ) -> Counted | None:
        """How many events ``select`` would find, read straight from a file not read yet.

        One pass of DuckDB's reader over only the columns the query needs (and
        those that check the file): no table, no cache written, since writing
        one costs more than the count. None when that pass cannot answer as
        ``select`` would: the file is read already or cached (``select`` is
        faster), is not plain JSON lines of Auth0 events (the exact reader
        names what is wrong), or holds a date that only Python reads. ``span``:
        the window whose events ``Counted.inside`` says whether any exist.
        """
        where, params = where_sql(q)  # a bad query is refused before the file is read
        with self.lock:
            if str(path.resolve()) in self._sources or not _looks_like_lines(path):
                return None
        try:
            st = path.stat()
        except OSError as exc:
            raise LogFileError(f"{path}: cannot open: {exc.strerror}") from None
        if self.cache_dir is not None and cache_entry(self.cache_dir, path, st).valid():
            return None
        reader, rparams = events_sql(path)
        window, wparams = "TRUE", []
        if since is not None:
            window, wparams = "date_key >= ?", [iso_ms(since)]
        if until is not None:
            window, wparams = f"{window} AND date_key < ?", [*wparams, iso_ms(until)]
        # the dates are keyed only when a window or the query reads them (a tenth of the
        # work); an event without its own log_id (only "_id", or none) is select's to read
        dated = window != "TRUE" or "date_key" in where
        span_sql = (
            "count(*) FILTER (WHERE date_key IS NULL), min(date_key), max(date_key), "
            "count(*) FILTER (WHERE date_key >= ? AND date_key < ?)"
            if dated
            else "0, NULL, NULL, NULL"
        )
        sql = (
            "SELECT count(*), count(*) FILTER (WHERE type IS NULL OR date IS NULL "
            f"OR log_id IS NULL OR log_id = ''), list(DISTINCT type), {span_sql}, "
            f"count(DISTINCT log_id) FILTER (WHERE ({where}) AND {window}) FROM ({reader})"
        )
        spans = [iso_ms(span[0]), iso_ms(span[1])] if dated else []
        try:
            with self.lock:
                row = self.con.execute(sql, [*spans, *params, *wparams, *rparams]).fetchone()
        except (duckdb.InvalidInputException, duckdb.IOException):
            return None  # not JSON lines DuckDB reads: the exact reader names what is wrong
        assert row is not None
        rows, odd, kinds, undated, first, last, inside, found = row
        if odd or undated or not _plain_types(kinds):
            return None  # a wrapper, an odd type, a date Python keys: ``select`` reads it exactly
        held = Profile(int(rows), 0, first, last) if dated else None
        return Counted(int(found), int(rows), held, bool(inside))

    def _undated(self, source: Source, where: str, params: list[Any], undated: Undated) -> None:
        row = self.con.execute(
            f"SELECT count(*), arg_min(log_id, rid), arg_min(date, rid) FROM {source.name} "
            f"WHERE ({where}) AND date_key IS NULL",
            params,
        ).fetchone()
        if row is None or not row[0]:
            return
        if undated.first is None:
            undated.add({"log_id": row[1], "date": row[2]})
            undated.count += int(row[0]) - 1
        else:
            undated.count += int(row[0])

    def pages(self, prepare: Callable[[list[dict[str, Any]]], list[str]] | None = None) -> PageSink:
        """Where a tenant search's pages go (``engine.auth0.search.search(kept=...)``)."""
        return PageSink(self, prepare)

    def window_warnings(self, path: Path, since: datetime, until: datetime) -> list[str]:
        """Why a window over ``path`` can find nothing (``files.window_message``), if it cannot."""
        source = self.source(path)
        lo, hi = iso_ms(since), iso_ms(until)
        with self.lock:
            row = self.con.execute(
                f"SELECT count(*) FROM {source.name} WHERE date_key >= ? AND date_key < ?", [lo, hi]
            ).fetchone()
        return window_message(path, source.profile, lo, hi, bool(row and row[0]))


def normalize(path: Path, out: Path) -> None:
    """Write the events of ``path`` (any shape ``files`` reads) as one plain event a line.

    Written to a temporary name and renamed, so a reader never sees half a file;
    an id-less event identical to one before it is a redelivery and written once.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    seen: set[str] = set()  # the contents of id-less events (events with an id: in SQL)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for event in iter_events(path):
                key = identity(event)
                if key.startswith("content:"):
                    if key in seen:
                        continue
                    seen.add(key)
                handle.write(json.dumps(event, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


class PageSink:
    """A tenant search's pages, written to the run's store as they arrive (``search.Kept``).

    Each page's events are checked against a key of the identities kept so
    far (``INSERT OR IGNORE ... RETURNING`` on a primary key: a redelivered or
    re-read event is dropped), appended to a JSON-lines file of the run, and
    read into a source by ``events``: an ``EventSet`` in the order they came.
    """

    def __init__(
        self, store: EventStore, prepare: Callable[[list[dict[str, Any]]], list[str]] | None = None
    ) -> None:
        """``prepare``: called on each page before it is kept (it may cut values), its warnings kept."""
        self.store = store
        self.prepare = prepare
        self.warnings: list[str] = []
        self.name = store.new_name("pages")
        self.path = store.workdir / f"{self.name}.jsonl"
        self.kept = 0
        with store.lock:
            store.con.execute(f"CREATE TEMP TABLE {self.name}_keys (ident VARCHAR PRIMARY KEY)")
        self._file = self.path.open("w", encoding="utf-8")

    def add(self, batch: list[dict[str, Any]], room: int | None) -> int:
        if self.prepare is not None:
            self.warnings += [w for w in self.prepare(batch) if w not in self.warnings]
        keys = [identity(e) for e in batch]
        with self.store.lock:
            new = {
                r[0]
                for r in self.store.con.execute(
                    f"INSERT OR IGNORE INTO {self.name}_keys SELECT unnest(?) RETURNING ident",
                    [keys],
                ).fetchall()
            }
        for key, event in zip(keys, batch, strict=True):
            if key in new and (room is None or room > 0):
                new.discard(key)  # a page may hold one event twice
                self._file.write(json.dumps(event, ensure_ascii=False) + "\n")
                self.kept += 1
                room = None if room is None else room - 1
        return self.kept

    def events(self, order: str = "rid") -> EventSet:
        """The events kept, as a set: in the order they came, or in ``order`` (SQL)."""
        self._file.close()
        table = self.name
        with self.store.lock:
            with self.store.loading:
                rows = load_ndjson(self.store.con, self.path, table)
            source = self.store.source_of("tenant", table, self.path, rows, unique=True)
            return EventSet.create(self.store, source, "TRUE", [], None, order=order)


def _plain_types(kinds: list[str | None] | None) -> bool:
    """Whether every ``type`` is an Auth0 event code, as the exact reader takes them as they are."""
    return all(kind is not None and re.fullmatch(_TYPE_CODE, kind) for kind in kinds or [])


def _repeated_key(path: Path, exc: LogFileError) -> list[str]:
    """The warning for an event with a key twice, which DuckDB refuses and the exact reader
    reads as JavaScript and jq do (the last value kept): where, and what is kept."""
    found = _REPEATED.search(str(exc))
    if found is None:
        return []
    line = line_number(path, int(found[1]))
    where = f"{path}:{line}" if line is not None else str(path)
    return [
        f"{where}: an event has the key {found[2]!r} twice: the last value is kept, as "
        "JavaScript and jq keep it (and so in any other event with a key twice)"
    ]


def _looks_like_lines(path: Path) -> bool:
    """Whether the file starts with an object, as JSON lines do (DuckDB tries; the rest is checked)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise LogFileError(f"{path}: cannot open: {exc.strerror}") from None
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _in_memory(alias: str) -> str:
    """The SELECT of a source's view of the table written in the database attached as ``alias``."""
    return table_select(f"{ident(alias)}.{TABLE}")


def _remove_database(path: Path) -> None:
    """A database file left unfinished, and its write-ahead log."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def _size(text: str) -> str:
    """A DuckDB memory size from the environment, checked (it is put into a SET statement)."""
    if not re.fullmatch(r"\d{1,6}\s?(KB|MB|GB|KiB|MiB|GiB)", text.strip(), flags=re.IGNORECASE):
        raise ConfigError(f"SOAR_DUCKDB_MEMORY={text!r}: expected a size such as 400MB or 2GB")
    return text.strip()
