"""Smaller leaks (issue 10, item 13): credentials in AUTH0_DOMAIN, ``*.localhost``, invisible
characters on the terminal, raw control characters in ``--json``."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import pytest
from soarcli import soar

from engine.errors import ConfigError
from engine.httpguard import is_loopback, require_safe_scheme
from engine.textsafe import json_text, safe

TRIAGE = "playbooks/auth0-attack-triage.yaml"


def test_credentials_in_auth0_domain_are_refused_before_a_run_log(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {
        "AUTH0_DOMAIN": "https://admin:Hunter2-Password@acme.eu.auth0.com",
        "AUTH0_CLIENT_ID": "cid",
        "AUTH0_CLIENT_SECRET": "Client-Secret-0123",
    }
    proc = soar("run", TRIAGE, "--run-dir", str(runs), env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: AUTH0_DOMAIN carries credentials (user:password@)" in proc.stderr
    assert "Hunter2" not in proc.stderr and "admin:" not in proc.stderr
    assert not runs.exists()


def test_only_real_loopback_hosts_get_plain_http(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in (
        "x.localhost",
        "evil.localhost",
        "localhost.evil.com",
        "10.0.0.1",
        "::ffff:8.8.8.8",
    ):
        assert not is_loopback(host), host
    with pytest.raises(ConfigError, match=r"plain http:// is refused for tenant\.localhost"):
        require_safe_scheme("http://tenant.localhost:8765", "AUTH0_DOMAIN")
    env = {
        "AUTH0_DOMAIN": "http://tenant.localhost:8765",
        "AUTH0_CLIENT_ID": "cid",
        "AUTH0_CLIENT_SECRET": "Client-Secret-0123",
    }
    proc = soar("run", TRIAGE, "--run-dir", str(tmp_path / "runs"), env=env)
    assert proc.returncode == 2 and "plain http:// is refused for tenant.localhost" in proc.stderr


INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\u2060\u00ad\U000e0041"


def test_safe_escapes_every_invisible_or_reordering_character() -> None:
    shown = safe(f"admin{INVISIBLE}@example.com\x1b[2J\x9b")
    assert shown.isascii() and shown.isprintable()
    assert "\\u202e" in shown and "\\ufeff" in shown and "\\x1b" in shown and "\\x9b" in shown
    assert safe("José Müller 日本 ✓") == "José Müller 日本 ✓"  # ordinary text untouched
    # every control, format, separator and surrogate character this Python knows
    bad = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp", "Cs") and c not in (9, 10)
    ]
    assert all(safe(c) != c for c in bad)


def test_hostile_names_reach_neither_terminal_nor_json_raw(tmp_path: Path) -> None:
    # a Management API call by an account whose name hides a right-to-left override
    # (sapi shape: elastic/integrations packages/auth0 test-mgmt-api-success.json)
    name = f"admin{INVISIBLE}\x9b31m@example.com"
    event = {
        "log_id": "90020261201000000000000000000000000000000000000077",
        "date": "2026-12-01T09:00:00.000Z",
        "type": "sapi",
        "description": "Delete a user",
        "ip": "203.0.113.9",
        "user_id": "auth0|admin",
        "user_name": name,
        "client_name": "",
        "details": {"request": {"method": "delete", "path": "/api/v2/users/auth0|x"}},
    }
    logs = tmp_path / "logs.jsonl"
    logs.write_text(json.dumps(event) + "\n")
    runs = tmp_path / "runs"
    proc = soar("run", TRIAGE, "--logs", str(logs), "--run-dir", str(runs), "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.isascii() and proc.stdout.strip().isprintable()  # escaped, not raw
    calls = json.loads(proc.stdout)["outputs"]["management_api_calls"]
    assert calls[0]["user_name"] == name  # the data itself is kept, verbatim
    shown = soar("show", json.loads(proc.stdout)["run_log"])
    human = soar("run", TRIAGE, "--logs", str(logs), "--run-dir", str(runs))  # outputs on stderr
    for text in (proc.stderr, shown.stdout, human.stderr):
        assert not any(ch in text for ch in INVISIBLE + "\x9b")
    assert "\\u202e" in shown.stdout and "\\u202e" in human.stderr
    assert json.loads(json_text({"n": name})) == {"n": name}
