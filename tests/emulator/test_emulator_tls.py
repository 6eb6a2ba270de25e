"""``soar emulator --tls``: HTTPS with a throwaway CA, trusted through SSL_CERT_FILE.

Clients are real and unmodified: soar's own CLI in a separate process, and the
current official Python SDK (auth0-python 5+, generated from the Management API
description), which builds ``https://{domain}`` itself.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engine.emulator import RunningEmulator, start_emulator
from tests.soarcli import soar

NOW = "2026-11-28T07:00:00.000Z"


@pytest.fixture(scope="module")
def tls_emu() -> Iterator[RunningEmulator]:
    from engine.timeutil import parse_time

    with start_emulator(tls=True, rate_limit=(50, 200.0), now=parse_time(NOW)) as emu:
        yield emu


def test_serves_https_only_to_clients_that_trust_its_ca(tls_emu: RunningEmulator) -> None:
    assert tls_emu.base_url.startswith("https://127.0.0.1:")
    env = tls_emu.env()
    assert env["AUTH0_DOMAIN"] == tls_emu.base_url.removeprefix("https://")
    assert env["SSL_CERT_FILE"] == str(tls_emu.ca_file)
    pem = tls_emu.ca_file.read_text() if tls_emu.ca_file else ""
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE KEY" not in pem


def test_a_client_trusting_the_ca_gets_auth0s_answer(tls_emu: RunningEmulator) -> None:
    trusting = ssl.create_default_context(cafile=str(tls_emu.ca_file))
    refused = httpx.get(f"{tls_emu.base_url}/api/v2/logs", verify=trusting)
    assert refused.status_code == 401
    assert refused.json()["message"] == "Missing authentication"

    default = ssl.create_default_context()  # the system's CAs only
    with pytest.raises(httpx.ConnectError) as untrusted:
        httpx.get(f"{tls_emu.base_url}/api/v2/logs", verify=default)
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)


def test_soar_cli_runs_a_playbook_over_tls(tls_emu: RunningEmulator) -> None:
    user = tls_emu.truth["compromised_users"][0]
    done = soar(
        "run",
        "playbooks/auth0-account-activity.yaml",
        "-i",
        f"user_id={user}",
        "-i",
        "since=30d",
        "--json",
        env=tls_emu.env(),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert result["outputs"]["events_count"] > 0

    # without the CA the same run is refused before it starts (the tenant is checked first)
    # with a one-line certificate error naming SSL_CERT_FILE, not a traceback
    env = {k: v for k, v in tls_emu.env().items() if k != "SSL_CERT_FILE"}
    refused = soar("run", "playbooks/auth0-account-activity.yaml", "-i", f"user_id={user}", env=env)
    assert refused.returncode == 2 and "SSL_CERT_FILE" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "certificate" in refused.stderr.lower()


def test_cli_prints_ssl_cert_file_with_the_settings(tmp_path: Any) -> None:
    import subprocess
    import sys

    from tests.soarcli import ROOT

    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "emulator", "--tls", "--port", "0", "--ca-file", str(ca)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    settings = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert settings["SSL_CERT_FILE"] == str(ca)
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    host, _, port = settings["AUTH0_DOMAIN"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0

    wrong = soar("emulator", "--ca-file", str(tmp_path / "x.pem"), "--port", "0")
    assert wrong.returncode == 2 and "--ca-file goes with --tls" in wrong.stderr
