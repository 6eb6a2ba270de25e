"""The emulator under attack: bodies read only after the credentials, capped, idle connections dropped.

Raw sockets against a real emulator on port 0: the attacker controls every
byte and every pause, as a client on the network would.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_emulator import token

from engine.emulator import RunningEmulator, start_emulator
from engine.emulator.server import MAX_BODY


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[RunningEmulator]:
    with start_emulator(scenario="quiet", events=50, journal_path=tmp_path / "journal.jsonl") as e:
        yield e


def connect(emu: RunningEmulator) -> socket.socket:
    host, port = emu.server.server_address[:2]
    sock = socket.create_connection((str(host), int(port)), timeout=3)
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def test_credentials_are_checked_before_a_body_is_read(emu: RunningEmulator) -> None:
    # an unauthenticated client announces 100 MB and sends none of it
    with connect(emu) as sock:
        sock.sendall(
            b"PATCH /api/v2/users/auth0%7Cx HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        start = time.monotonic()
        status, headers, body = answer(sock)
    assert status == 401 and json.loads(body)["message"] == "Missing authentication"
    assert (
        time.monotonic() - start < 2
    )  # answered at once, not after reading (or waiting for) a body
    assert headers.get("connection") == "close"


def test_large_bodies_get_auth0s_413_before_being_read(emu: RunningEmulator) -> None:
    with httpx.Client() as http:
        bearer = token(emu, http)
    for path, auth in (
        ("/api/v2/users/auth0%7Cx", f"Authorization: Bearer {bearer}\r\n"),
        ("/oauth/token", ""),
    ):
        with connect(emu) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
                f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode()
            )
            status, _, body = answer(sock)
        assert status == 413, path
        assert json.loads(body) == {
            "statusCode": 413,
            "error": "Request Entity Too Large",
            "message": "Payload content length greater than maximum allowed: 1048576",
        }


def test_idle_and_slowloris_connections_are_closed(emu: RunningEmulator) -> None:
    emu.server.idle_timeout = 0.5
    silent = connect(emu)
    trickle = connect(emu)
    trickle.sendall(b"GET /api/v2/logs HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    start = time.monotonic()
    try:
        assert silent.recv(1024) == b""  # closed by the server, not by our 3 s timeout
        assert trickle.recv(1024) == b""
    finally:
        silent.close()
        trickle.close()
    assert time.monotonic() - start < 2.5
    # the server still answers
    assert httpx.get(f"{emu.base_url}/api/v2/logs").status_code == 401


def test_a_client_secret_in_a_query_string_is_masked_in_the_journal(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    leaked = "Query-Secret-0123456789"
    httpx.get(f"{emu.base_url}/api/v2/logs", params={"client_secret": leaked, "q": "type:s"})
    httpx.post(f"{emu.base_url}/oauth/token?client_secret={leaked}", json={"grant_type": "x"})
    entries = [e for e in emu.journal if e["query"].get("client_secret")]
    assert [e["query"]["client_secret"] for e in entries] == ["***", "***"]
    assert entries[0]["query"]["q"] == "type:s"
    assert leaked not in (tmp_path / "journal.jsonl").read_text()
