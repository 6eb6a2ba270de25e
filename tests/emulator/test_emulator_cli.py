"""``soar emulator`` as a process: the settings lines first (or a file to source), a working
tenant, Ctrl-C and SIGTERM, usage errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import soarcli


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


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def sourced(env_file: Path) -> dict[str, str]:
    """What a shell has after ``. FILE``: the file is real shell, its quoting included."""
    shown = subprocess.run(
        ["sh", "-c", '. "$1" && env -0', "sh", str(env_file)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "")},
    ).stdout
    return dict(item.split("=", 1) for item in shown.split("\0") if item.startswith("AUTH0_"))


def test_env_file_is_private_sourced_by_a_script_and_removed_on_sigterm(tmp_path: Path) -> None:
    env_file, truth = tmp_path / "emu.env", tmp_path / "truth.json"
    secret = "it's-a-s3cret;$HOME`x`|"  # a quote, $, ; | and backquotes: quoting matters (no spaces: soar refuses a secret with whitespace)
    proc = soar(
        "emulator", "--port", "0", "--events", "300", "--client-secret", secret,
        "--truth", str(truth), "--env-file", str(env_file),
    )  # fmt: skip
    try:
        wait_for(env_file, proc)
        assert env_file.stat().st_mode & 0o777 == 0o600
        lines = env_file.read_text(encoding="utf-8").splitlines()
        assert [line.split("=", 1)[0] for line in lines] == [
            "export AUTH0_DOMAIN",
            "export AUTH0_CLIENT_ID",
            "export AUTH0_CLIENT_SECRET",
        ]
        assert all(re.fullmatch(r"export \w+='.*'", line) for line in lines), lines
        settings = sourced(env_file)
        assert settings["AUTH0_CLIENT_SECRET"] == secret
        assert settings["AUTH0_DOMAIN"].startswith("http://127.0.0.1:")
        user = json.loads(truth.read_text(encoding="utf-8"))["compromised_users"][0]
        dry = soarcli.soar(
            "run", "playbooks/auth0-contain-user.yaml", "-i", f"user_id={user}", "--dry-run",
            "--run-dir", str(tmp_path / "runs"), "--json", env=settings,
        )  # fmt: skip
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["status"] == "succeeded"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out == ""  # with --env-file the secret is not printed
    assert not env_file.exists() and "removed" in err and "Traceback" not in err
    assert list(tmp_path.glob(".emu.env.*")) == []  # no temporary file left behind


def test_print_env_prints_the_settings_too_and_stops_on_sigint(tmp_path: Path) -> None:
    env_file = tmp_path / "emu.env"
    proc = soar(
        "emulator", "--port", "0", "--events", "200", "--env-file", str(env_file), "--print-env"
    )
    try:
        assert proc.stdout is not None
        printed = [proc.stdout.readline().rstrip("\n") for _ in range(3)]
        wait_for(env_file, proc)
        # the same settings, quoted only where the shell needs it on stdout
        assert dict(line.removeprefix("export ").split("=", 1) for line in printed) == sourced(
            env_file
        )
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert not env_file.exists()


def test_env_file_in_a_missing_folder_is_refused_before_starting(tmp_path: Path) -> None:
    proc = soar("emulator", "--port", "0", "--env-file", str(tmp_path / "nope" / "e.env"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == "" and "--env-file" in err and "folder" in err
