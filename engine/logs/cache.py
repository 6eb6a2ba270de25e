"""The cache of read log files: a second run over the same export starts from its columns.

An entry is a folder of the cache (``.soar-cache/`` in the working
directory, ``SOAR_CACHE_DIR`` to move it, ``--no-cache`` to do without)
named by the file's size, modification time and a digest of its content,
holding:

- ``events.duckdb``: the source's columns (``engine.logs.sql``), a DuckDB
  database file whose table ``events`` holds one row per event in file
  order, written by the first read itself (``EventStore``): a row's
  ``rowid`` is the event's ``rid``; it is keyed also by the DuckDB version
  that wrote it, since an older DuckDB cannot read a newer one's files;
- ``events.jsonl``: the normalised events, when the file was not plain JSON
  lines (``engine.logs.store.normalize``); otherwise events are read back from
  the file itself, which the key vouches for;
- ``meta.json``, written last: the key, the profile and the line index;
- ``lines.bin``: where each line of the file starts (``LineIndex.offsets``,
  machine-order int64), when every line is an event.

The digest covers the first and last MiB and 32 blocks of 64 KiB spread over
the file: an edit that keeps the size and the modification time, and falls
outside all of them, would go unseen; ``soar logs index FILE --no-cache``
or deleting the folder starts afresh. Entries are written under temporary
names and renamed, so concurrent runs never read half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import LogFileError

if TYPE_CHECKING:
    from engine.logs.files import Profile
    from engine.logs.lines import LineIndex

# bump when the columns or their meaning change (2: rid a column; 3: rid the row's place in
# the Parquet file, written by the first read itself; 4: a DuckDB database file instead;
# 5: date and _id left out where date_key and log_id hold them, sql._STORED)
FORMAT = 5
DEFAULT_DIR = ".soar-cache"
_meta_lock = threading.Lock()  # a meta.json is written by its first read and by add_index
_EDGE = 1 << 20
_SAMPLES = 32
_SAMPLE = 64 << 10


def cache_dir(enabled: bool = True) -> Path | None:
    """The cache folder to use: ``SOAR_CACHE_DIR``, else ``.soar-cache`` here; None when off."""
    if not enabled:
        return None
    return Path(os.environ.get("SOAR_CACHE_DIR") or DEFAULT_DIR)


def content_digest(path: Path, size: int) -> str:
    """BLAKE2b of the size and sampled blocks of the file (see the module docstring)."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with path.open("rb") as handle:
        if size <= 2 * _EDGE + _SAMPLES * _SAMPLE:
            h.update(handle.read())
            return h.hexdigest()
        h.update(handle.read(_EDGE))
        step = (size - 2 * _EDGE) // _SAMPLES
        for i in range(_SAMPLES):
            handle.seek(_EDGE + i * step)
            h.update(handle.read(_SAMPLE))
        handle.seek(size - _EDGE)
        h.update(handle.read(_EDGE))
    return h.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One file's folder in the cache."""

    folder: Path
    key: dict[str, Any]

    @property
    def columns(self) -> Path:
        return self.folder / "events.duckdb"

    @property
    def normalized(self) -> Path:
        return self.folder / "events.jsonl"

    @property
    def meta_path(self) -> Path:
        return self.folder / "meta.json"

    @property
    def offsets_path(self) -> Path:
        return self.folder / "lines.bin"

    def meta(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.meta_path.read_text(encoding="utf-8"))
        return data

    def valid(self) -> bool:
        """Whether the entry is whole and made from this very file content."""
        try:
            meta = self.meta()
        except (OSError, ValueError):
            return False
        if meta.get("key") != self.key or not self.columns.is_file():
            return False
        if not {"raw", "rows", "profile", "unique", "index"} <= set(meta):
            return False  # a half-written or foreign meta.json: built again
        return meta.get("raw") == "source" or self.normalized.is_file()

    def temporary(self, stem: str, suffix: str) -> Path:
        """A name in the entry's folder for a file being written (renamed when whole)."""
        return self.folder / f".{stem}.{os.getpid()}.{threading.get_ident()}.{suffix}"

    def keep(
        self,
        columns: Path,
        raw: Path,
        rows: int,
        profile: Profile,
        unique: bool,
        said: list[str] | None = None,
    ) -> None:
        """Make the entry whole: the columns written at ``columns`` (a ``temporary`` name) take
        their place, then ``meta.json`` says what they hold; ``raw``: the file their rids number;
        ``said``: the warnings of the read, which every run from the entry says again.

        Raises ``OSError`` when the cache cannot be written.
        """
        os.replace(columns, self.columns)
        with _meta_lock:
            self._write_meta(
                {
                    "key": self.key,
                    "raw": "source" if raw != self.normalized else "normalized",
                    "rows": rows,
                    "profile": asdict(profile),
                    "unique": unique,
                    "index": None,  # added by the first read-back (``add_index``)
                    "said": said or [],
                }
            )

    def add_index(self, index: LineIndex) -> None:
        """Keep the line index of the entry's events (built on a first read-back); best effort."""
        with _meta_lock:
            try:
                meta = self.meta()
                meta["index"] = self._index_json(index)
                self._write_meta(meta)
            except (OSError, ValueError):
                pass  # not written yet (its writer adds it) or gone: never wrong, only slower

    def line_index(self, raw: Path, data: dict[str, Any]) -> LineIndex:
        """The line index kept in ``meta.json`` (``data``), with its offsets when kept too."""
        from engine.logs.lines import LineIndex

        index = LineIndex.from_json(raw, data)
        if data.get("offsets") == sys.byteorder:
            offsets = array("q")
            try:
                offsets.frombytes(self.offsets_path.read_bytes())
            except (OSError, ValueError):
                return index  # gone or torn: read by blocks, never wrong
            index.with_offsets(offsets)
        return index

    def _index_json(self, index: LineIndex) -> dict[str, Any]:
        """The index as ``meta.json`` keeps it; its offsets written beside it first."""
        data = index.to_json()
        if index.offsets is not None:
            tmp = self.folder / f".lines.{os.getpid()}.{threading.get_ident()}.bin"
            tmp.write_bytes(index.offsets.tobytes())
            os.replace(tmp, self.offsets_path)
            data["offsets"] = sys.byteorder
        return data

    def _write_meta(self, meta: dict[str, Any]) -> None:
        tmp_meta = self.folder / f".meta.{os.getpid()}.{id(meta)}.json"
        tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp_meta, self.meta_path)


def cache_entry(root: Path, path: Path, st: os.stat_result) -> CacheEntry:
    """The entry of ``path`` (as it is now: size, mtime, content) under ``root``."""
    try:
        digest = content_digest(path, st.st_size)
    except OSError as exc:
        raise LogFileError(f"{path}: cannot read: {exc.strerror}") from None
    key = {
        "format": FORMAT,
        "duckdb": _duckdb_version(),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "digest": digest,
    }
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return CacheEntry(root / name, key)


def _duckdb_version() -> str:
    import duckdb  # loaded already by whoever keeps an entry (the store)

    return str(duckdb.__version__)


def clear(entry: CacheEntry) -> None:
    """Remove an entry (``soar logs index --no-cache`` rebuilds it)."""
    shutil.rmtree(entry.folder, ignore_errors=True)


def sql_literal(path: Path | str) -> str:
    """A path inside a SQL string literal (DuckDB's table functions take no parameters here)."""
    return str(path).replace("'", "''")
