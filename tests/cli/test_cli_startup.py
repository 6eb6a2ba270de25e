"""What a command loads before it can answer: each costs every run of it (issue 12, ``soar --help``
under 0.15 s and a count of a file within DuckDB's reach), so a heavy library is loaded only where
it is used. Timings are the bench's (bench/bench_cli_startup.py); this says which modules load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parents[1] / "data" / "auth0"

# run a command as `soar` does, then say which of the heavy libraries it loaded
_PROBE = """
import atexit, json, sys
heavy = ("httpx", "pydantic", "duckdb", "jinja2", "matplotlib", "temporalio")
atexit.register(lambda: print(json.dumps(sorted(
    m for m in sys.modules if m.split(".")[0] in heavy and "." not in m)), file=sys.stderr))
sys.argv = ["soar", *sys.argv[1:]]
from engine.cli import main
main()
"""


def loaded(*argv: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    modules: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return done, modules


def test_help_loads_no_heavy_library() -> None:
    done, modules = loaded("--help")
    assert done.returncode == 0 and "logs" in done.stdout
    assert modules == []


def test_an_offline_count_loads_duckdb_but_no_http_client_and_no_pydantic() -> None:
    """A search of a file needs DuckDB, not httpx (whose import pulls in its own CLI's
    rich and pygments) nor pydantic (which typer 0.29 builds every option's parser with)."""
    done, modules = loaded("logs", "search", str(DATA / "export.jsonl"), 'type:"fu"', "--count")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 2  # the two failed logins of the export
    assert modules == ["duckdb"]
