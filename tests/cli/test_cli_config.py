"""Configuration is checked before a run starts: the setting named, no run log, within seconds.

Only runs that use Auth0 need ``AUTH0_*``: a playbook without ``auth0.*``
actions runs without them (tests/cli/test_cli_errors.py's ``tiny`` playbook),
and so does one given ``--logs FILE`` (tests/run/test_offline_run.py).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from soarcli import soar

from engine.auth0.settings import Auth0Settings
from engine.emulator import RunningEmulator
from engine.errors import ConfigError

PLAYBOOK = "playbooks/auth0-suspicious-ip.yaml"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused_before_the_run(tmp_path: Path, env: dict[str, str], *needles: str) -> str:
    """``soar run --json`` exits 2 with one ``failed`` object naming the problem; no run log."""
    runs = tmp_path / "runs"
    start = time.monotonic()
    proc = soar("run", PLAYBOOK, "-i", "ip=1.2.3.4", "--json", "--run-dir", str(runs), env=env)
    assert time.monotonic() - start < 10  # the tenant check waits 5 s at most
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "failed" and set(doc) == {"status", "error"}
    for needle in needles:
        assert needle in doc["error"], doc["error"]
    assert f"error: {doc['error']}" in proc.stderr
    assert not runs.exists()  # a run that never started leaves no run log
    return proc.stdout + proc.stderr


def test_missing_and_pasted_settings_are_named(tmp_path: Path) -> None:
    refused_before_the_run(tmp_path, {}, "AUTH0_DOMAIN is not set")
    secret = "Pasted-Secret-0123456789"
    pasted = {
        "AUTH0_DOMAIN": "acme.eu.auth0.com",
        "AUTH0_CLIENT_ID": "cid",
        "AUTH0_CLIENT_SECRET": secret + "\n",
    }
    said = refused_before_the_run(tmp_path, pasted, "AUTH0_CLIENT_SECRET has whitespace")
    assert secret not in said  # the value is never repeated


def test_an_unreachable_tenant_is_refused_within_seconds(tmp_path: Path) -> None:
    env = {
        "AUTH0_DOMAIN": f"http://127.0.0.1:{closed_port()}",
        "AUTH0_CLIENT_ID": "cid",
        "AUTH0_CLIENT_SECRET": "Client-Secret-0123456789",
    }
    refused_before_the_run(tmp_path, env, "AUTH0_DOMAIN: no answer from the tenant", "ConnectError")


def test_refused_credentials_then_one_token_for_a_good_run(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    wrong = {**emulator.env(), "AUTH0_CLIENT_SECRET": "Wrong-Secret-0123456789"}
    said = refused_before_the_run(tmp_path, wrong, "refused the run's credentials")
    assert "AUTH0_CLIENT_SECRET" in said and "Wrong-Secret-0123456789" not in said
    before = len(emulator.journal)
    runs = tmp_path / "ok"
    ok = soar(
        "run", PLAYBOOK, "-i", "ip=1.2.3.4", "--dry-run", "--json", "--run-dir", str(runs),
        env=emulator.env(),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "succeeded"
    paths = [e["path"] for e in emulator.journal[before:]]
    assert paths.count("/oauth/token") == 1  # the check's token is the run's token


@pytest.mark.parametrize("name", ["AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "AUTH0_TOKEN"])
@pytest.mark.parametrize("value", ["tok\n", " tok", "to k", "tok\r"])
def test_credentials_with_whitespace_are_refused(name: str, value: str) -> None:
    env = {"AUTH0_DOMAIN": "acme.eu.auth0.com", "AUTH0_CLIENT_ID": "cid", name: value + "x" * 20}
    with pytest.raises(ConfigError, match=f"^{name} has whitespace") as info:
        Auth0Settings.from_env(env)
    assert "x" * 20 not in str(info.value)


def test_a_rate_limited_token_request_is_not_called_bad_credentials(tmp_path: Path) -> None:
    from localserver import Route, recording_server

    with recording_server() as server:
        server.routes["/oauth/token"] = Route(status=429, body={"error": "too_many_requests"})
        env = {
            "AUTH0_DOMAIN": server.url,
            "AUTH0_CLIENT_ID": "client-id-1234",
            "AUTH0_CLIENT_SECRET": "a-long-enough-client-secret-value",
        }
        error = refused_before_the_run(tmp_path, env, "rate-limiting", "HTTP 429")
        assert "refused the run's credentials" not in error
        assert server.count("POST", "/oauth/token") == 1  # the check does not hammer it
