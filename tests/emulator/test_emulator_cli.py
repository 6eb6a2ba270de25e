"""``soar emulator`` as a process: the settings lines first, a working tenant, Ctrl-C, usage errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx


def soar(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_prints_settings_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    truth, journal = tmp_path / "truth.json", tmp_path / "journal.jsonl"
    proc = soar(
        "emulator",
        "--port",
        "0",
        "--events",
        "300",
        "--scenario",
        "password-spray",
        "--client-id",
        "cid",
        "--client-secret",
        "the-secret",
        "--now",
        "2026-11-28T07:00:00Z",
        "--truth",
        str(truth),
        "--journal",
        str(journal),
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(3)]
        env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        assert [line.split("=")[0] for line in lines] == [
            "export AUTH0_DOMAIN",
            "export AUTH0_CLIENT_ID",
            "export AUTH0_CLIENT_SECRET",
        ]
        base = env["AUTH0_DOMAIN"]
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
        assert (env["AUTH0_CLIENT_ID"], env["AUTH0_CLIENT_SECRET"]) == ("cid", "the-secret")
        facts = json.loads(truth.read_text(encoding="utf-8"))
        assert facts["scenario"] == "password-spray" and facts["now"] == "2026-11-28T07:00:00.000Z"
        with httpx.Client(base_url=base) as http:
            r = http.post(
                "/oauth/token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": "cid",
                    "client_secret": "the-secret",
                    "audience": f"{base}/api/v2/",
                },
            )
            h = {"Authorization": f"Bearer {r.json()['access_token']}"}
            ip = facts["attacker_ips"][0]
            logs = http.get("/api/v2/logs", params={"q": f'ip:"{ip}"'}, headers=h).json()
            assert logs and {e["ip"] for e in logs} == {ip}
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "password-spray" in err
    entries = [json.loads(x) for x in journal.read_text(encoding="utf-8").splitlines()]
    assert [e["path"] for e in entries] == ["/oauth/token", "/api/v2/logs"]
    assert "the-secret" not in journal.read_text(encoding="utf-8")


def test_usage_errors_exit_2_before_printing_settings() -> None:
    for args in (["--rate-limit", "ten"], ["--scenario", "nope"]):
        proc = soar("emulator", "--port", "0", "--events", "200", *args)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 2 and out == "", (args, err)
        assert "Traceback" not in err
    proc = soar("emulator", "--port", "0", "--scenario", "nope")
    _, err = proc.communicate(timeout=30)
    assert "credential-stuffing" in err  # the valid scenarios are named


def test_impossible_settings_are_named() -> None:
    for args, word in (
        (["--fail-rate", "1.5"], "fail rate"),
        (["--latency", "-1"], "latency"),
        (["--token-ttl", "0"], "token lifetime"),
        (["--events", "0"], "events"),
    ):
        proc = soar("emulator", "--port", "0", *args)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 2 and out == "" and word in err, (args, err)
        assert err.startswith("error: "), err  # one error line from the boundary
