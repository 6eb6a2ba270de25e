"""``soar logs index`` and ``--no-cache``: the cache as an operator meets it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.logs.query import SEARCHABLE
from tests.soarcli import ROOT, soar

EXPORT = ROOT / "tests" / "data" / "auth0" / "triage-export.jsonl"
TRIAGE = ROOT / "playbooks" / "auth0-attack-triage.yaml"


def test_index_builds_the_cache_the_next_search_uses(tmp_path: Path) -> None:
    f = tmp_path / "export.jsonl"
    shutil.copy(EXPORT, f)
    first = soar("logs", "index", str(f), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    events = sum(1 for line in EXPORT.read_text().splitlines() if line.strip())
    assert f"{events} events" in first.stdout and "indexed in" in first.stdout
    entries = [p for p in (tmp_path / ".soar-cache").iterdir()]
    assert len(entries) == 1 and (entries[0] / "events.duckdb").is_file()
    meta = json.loads((entries[0] / "meta.json").read_text())
    assert meta["rows"] == events and meta["index"] is not None  # the first read-back is free
    again = soar("logs", "index", str(f), cwd=tmp_path)
    assert "already in the cache" in again.stdout
    rebuilt = soar("logs", "index", str(f), "--rebuild", cwd=tmp_path)
    assert "indexed in" in rebuilt.stdout
    counted = soar("logs", "search", str(f), 'type:"s"', "--count", cwd=tmp_path)
    uncached = soar("logs", "search", str(f), 'type:"s"', "--count", "--no-cache", cwd=tmp_path)
    assert counted.stdout == uncached.stdout and int(counted.stdout) > 0


def test_no_cache_writes_nothing_and_a_run_gives_the_same_answers(tmp_path: Path) -> None:
    args = ["run", str(TRIAGE), "--logs", str(EXPORT), "-i", "since=2026-11-01", "--json"]
    args += ["--run-dir", str(tmp_path / "runs")]
    plain = soar(*args, "--no-cache", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert not (tmp_path / ".soar-cache").exists()
    cached = [soar(*args, cwd=tmp_path) for _ in range(2)]
    assert (tmp_path / ".soar-cache").is_dir()
    outputs = [json.loads(p.stdout)["outputs"] for p in (plain, *cached)]
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0]["compromised_users"]  # the export holds an attack: a real answer
    assert not list((tmp_path / "runs").glob("*.events"))  # the run's work folder is gone


def test_the_cache_folder_comes_from_soar_cache_dir(tmp_path: Path) -> None:
    where = tmp_path / "elsewhere"
    done = soar("logs", "stats", str(EXPORT), env={"SOAR_CACHE_DIR": str(where)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert any(where.iterdir()) and not (tmp_path / ".soar-cache").exists()


def test_soar_help_and_validate_do_not_import_duckdb() -> None:
    code = (
        "import sys\n"
        "from engine.cli import main\n"
        "sys.argv = ['soar', 'validate', 'playbooks/auth0-attack-triage.yaml']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('duckdb' in sys.modules)\n"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_a_bad_memory_size_is_refused_with_what_to_write(tmp_path: Path) -> None:
    done = soar("logs", "stats", str(EXPORT), env={"SOAR_DUCKDB_MEMORY": "1GB; DROP"}, cwd=tmp_path)
    assert done.returncode == 2
    assert "SOAR_DUCKDB_MEMORY" in done.stderr and "400MB or 2GB" in done.stderr
    ok = soar("logs", "stats", str(EXPORT), env={"SOAR_DUCKDB_MEMORY": "200MB"}, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_too_little_memory_for_duckdb_is_said_as_the_setting_to_raise(tmp_path: Path) -> None:
    # DuckDB's JSON reader wants 32 MiB buffers: 16MB is too small for any file
    small = {"SOAR_DUCKDB_MEMORY": "16MB"}
    for args in (
        ("logs", "search", str(EXPORT), 'type:"s"', "--no-cache"),
        ("logs", "search", str(EXPORT), 'type:"s"', "--count"),
        ("logs", "stats", str(EXPORT)),
    ):
        done = soar(*args, env=small, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert "internal error" not in done.stderr and "SET threads" not in done.stderr
        assert "ran out of memory within SOAR_DUCKDB_MEMORY=16MB" in done.stderr
        assert "SOAR_DUCKDB_MEMORY=1GB" in done.stderr
    run = soar(
        "run", str(TRIAGE), "--logs", str(EXPORT), "-i", "since=3650d", env=small, cwd=tmp_path
    )
    assert run.returncode == 1 and "internal error" not in run.stderr
    assert "failed: DuckDB ran out of memory within SOAR_DUCKDB_MEMORY=16MB" in run.stderr


def _damage(database: Path, start: int, stop: int | None = None) -> None:
    """Flip a byte of every 4 KiB block of ``database`` from ``start`` (DuckDB checksums blocks)."""
    data = bytearray(database.read_bytes())
    for at in range(start, len(data) if stop is None else stop, 4096):
        data[at] ^= 0xFF
    database.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["catalog", "data", "garbage"])
def test_a_damaged_cache_is_said_removed_and_read_afresh(tmp_path: Path, how: str) -> None:
    f = tmp_path / "export.jsonl"
    shutil.copy(EXPORT, f)
    every = ",".join(sorted(SEARCHABLE))
    search = ("logs", "search", str(f), "type:*", "--fields", every, "--format", "jsonl")
    clean = soar(*search, cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    (entry,) = (tmp_path / ".soar-cache").iterdir()
    database = entry / "events.duckdb"
    if how == "garbage":
        database.write_bytes(b"not a database" * 1000)
    else:  # past the file's headers: its catalog and first blocks, or only its later ones
        size = database.stat().st_size
        _damage(database, *((12288, None) if how == "catalog" else (size // 2, None)))
    damaged = soar(*search, cwd=tmp_path)
    assert "internal error" not in damaged.stderr
    if damaged.returncode == 0:  # found on opening it: read afresh at once, and said
        assert "was damaged" in damaged.stderr and "read afresh" in damaged.stderr
        assert damaged.stdout == clean.stdout
    else:  # found by a query: the read stops, said, and the entry is gone
        assert damaged.returncode == 2 and "is damaged" in damaged.stderr, damaged.stderr
        assert "run again" in damaged.stderr
        assert not entry.exists()
    again = soar(*search, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == clean.stdout, again.stderr
    assert "damaged" not in again.stderr
