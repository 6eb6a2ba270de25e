"""No traceback, ever: each failure the issue reproduced is one ``error:`` line and its exit code.

Every case runs ``soar`` as a process (design.md "CLI contract": 2 for bad
usage, inputs, settings or an unreadable file).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from soarcli import soar

PLAYBOOK = """\
playbook: 1
name: tiny
inputs:
  ids: {type: array, default: []}
  since: {type: string, default: 24h, format: duration}
steps:
  - id: keep
    uses: data.set
    with: {value: "{{ inputs.ids }}"}
outputs:
  ids: "{{ steps.keep.output.value }}"
"""


@pytest.fixture
def playbook(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(PLAYBOOK)
    return path


def one_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The process failed with ``code`` and said so in one ``error:`` line, no traceback."""
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def test_report_to_a_missing_directory(playbook: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    ran = soar("run", str(playbook), "--run-dir", str(runs))
    assert ran.returncode == 0, ran.stderr
    log = next(runs.iterdir())
    proc = soar("report", str(log), "-o", "/nonexistent/x.md")
    one_error(proc, 2, "/nonexistent/x.md", "No such file or directory", "(choose a directory")


def test_report_of_an_empty_or_foreign_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_error(soar("report", str(empty)), 2, "no records")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"hello": "world"}\n')
    one_error(soar("report", str(foreign)), 2, "not a soar run log")


def test_demo_with_an_unwritable_run_dir() -> None:
    proc = soar("demo", "--run-dir", "/proc/nope")
    one_error(proc, 2, "/proc/nope", "--run-dir")


def test_emulator_port_out_of_range() -> None:
    proc = soar("emulator", "--port", "99999")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--port" in proc.stderr and "65535" in proc.stderr


@pytest.mark.parametrize("domain", ["xn--zz.example.com", "a..b"])
def test_an_invalid_host_in_auth0_domain(domain: str, tmp_path: Path) -> None:
    env = {
        "AUTH0_DOMAIN": domain,
        "AUTH0_CLIENT_ID": "cid",
        "AUTH0_CLIENT_SECRET": "Client-Secret-0123",
    }
    proc = soar("logs", "export", "-o", str(tmp_path / "x.jsonl"), env=env)
    one_error(proc, 2, "AUTH0_DOMAIN: the host is not a valid domain name")


def test_a_duration_too_long(playbook: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = soar("run", str(playbook), "-i", "since=99999999999d", "--run-dir", str(runs))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "input 'since'" in proc.stderr and "not a duration" in proc.stderr
    assert not runs.exists()
    export = soar("logs", "export", "-o", str(tmp_path / "x"), "--since", "99999999999d")
    one_error(export, 2, "too long")


def test_deeply_nested_inputs_are_refused_before_the_run(playbook: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    deep = "[" * 5000 + "]" * 5000
    proc = soar("run", str(playbook), "-i", f"ids={deep}", "--run-dir", str(runs))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "input 'ids': error SOAR505: array inputs may nest at most 64 levels" in proc.stderr
    assert not runs.exists()  # no empty run log left behind
    ok = soar("run", str(playbook), "-i", 'ids=[["a"]]', "--json", "--run-dir", str(runs))
    assert json.loads(ok.stdout)["outputs"]["ids"] == [["a"]]


def test_auth0_domain_hosts_are_checked_as_dns_names() -> None:
    from engine.auth0.settings import base_url
    from engine.errors import ConfigError

    for bad in ("xn--zz.example.com", "a..b", "ex ample.com", "-acme.auth0.com", "x" * 64 + ".com"):
        with pytest.raises(ConfigError, match="AUTH0_DOMAIN: the host is not a valid domain name"):
            base_url(bad)
    assert base_url("acme.eu.auth0.com") == "https://acme.eu.auth0.com"
    assert base_url("bücher.example") == "https://xn--bcher-kva.example"
    assert base_url("http://127.0.0.1:8765/") == "http://127.0.0.1:8765"
    assert base_url("http://[::1]:8765") == "http://[::1]:8765"
