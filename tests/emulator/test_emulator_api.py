"""The emulator's validation and write paths through a real client: Auth0's 400s, PATCH, journal."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.emulator import RunningEmulator, start_emulator


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[tuple[RunningEmulator, httpx.Client, Path]]:
    journal = tmp_path / "journal.jsonl"
    with (
        start_emulator(
            scenario="credential-stuffing",
            seed=4,
            events=400,
            rate_limit=(1000, 1000.0),
            client_id="cid",
            client_secret="s3cr3t-value",
            journal_path=journal,
        ) as emu,
        httpx.Client(base_url=emu.base_url) as http,
    ):
        r = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "cid",
                "client_secret": "s3cr3t-value",
                "audience": emu.audience,
            },
        )
        assert r.status_code == 200, r.text
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield emu, http, journal


def user_path(uid: str) -> str:
    return "/api/v2/users/" + urllib.parse.quote(uid, safe="")


def bad(r: httpx.Response, code: str | None, text: str) -> None:
    body: dict[str, Any] = r.json()
    assert r.status_code == 400, r.text
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    assert body.get("errorCode") == code and text in body["message"]


def test_query_parameters_are_validated(tenant: Any) -> None:
    _, http, _ = tenant
    bad(http.get("/api/v2/logs", params={"per_page": "x"}), "invalid_query_string", "integer")
    bad(http.get("/api/v2/logs", params={"page": -1}), "invalid_query_string", "minimum 0")
    bad(
        http.get("/api/v2/logs", params={"include_totals": "yes"}),
        "invalid_query_string",
        "boolean",
    )
    bad(http.get("/api/v2/logs", params={"fields": "type,nope"}), "invalid_query_string", "nope")
    bad(http.get("/api/v2/logs", params={"sort": "date:2"}), "invalid_query_string", "sort")
    bad(http.get("/api/v2/logs", params={"q": "user_name:*sa"}), "invalid_query_string", "3 lit")
    assert http.get("/api/v2/logs", params={"per_page": 0}).json() == []
    r = http.get("/api/v2/logs", params={"fields": "type", "include_fields": "false"})
    assert r.status_code == 200 and "type" not in r.json()[0] and "ip" in r.json()[0]


def test_patch_merges_metadata_and_rejects_what_auth0_rejects(tenant: Any) -> None:
    emu, http, _ = tenant
    uid = emu.truth["legitimate_users"][0]
    path = user_path(uid)
    r = http.patch(path, json={"app_metadata": {"a": 1, "b": 2}, "user_metadata": {"x": "y"}})
    assert r.status_code == 200
    r = http.patch(path, json={"app_metadata": {"a": None, "c": 3}, "name": "New Name"})
    user = r.json()
    assert user["app_metadata"] == {"b": 2, "c": 3} and user["user_metadata"] == {"x": "y"}
    assert user["name"] == "New Name" and user["user_id"] == uid
    bad(http.patch(path, json={"colour": "red"}), "invalid_body", "colour")
    bad(http.patch(path, json={"blocked": "yes"}), "invalid_body", "boolean")
    bad(http.patch(path, json=[1]), "invalid_body", "object")
    r = http.patch(path, content=b"{not json", headers={"Content-Type": "application/json"})
    bad(r, None, "Invalid request payload JSON format")
    assert emu.tenant.users[uid]["blocked"] is False  # nothing invalid was applied
    r = http.patch(path, json={"password": "hunter2-new"})
    assert r.status_code == 200 and "password" not in r.json()
    assert r.json()["last_password_reset"]
    r = http.patch(user_path("auth0|nobody"), json={"blocked": True})
    assert (r.status_code, r.json()["errorCode"]) == (404, "inexistent_user")


def test_every_answer_is_json_with_rate_headers(tenant: Any) -> None:
    emu, http, _ = tenant
    uid = emu.truth["legitimate_users"][1]
    r = http.delete(user_path(uid))
    assert r.status_code == 204 and r.content == b""
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert int(r.headers["x-ratelimit-limit"]) == 1000
    r = http.get("/api/v2/nothing-here")
    assert r.status_code == 404 and r.json()["statusCode"] == 404


def test_user_logs_and_blocks_by_identifier(tenant: Any) -> None:
    emu, http, _ = tenant
    uid = emu.truth["compromised_users"][0]
    r = http.get(user_path(uid) + "/logs", params={"include_totals": "true", "per_page": 2})
    body = r.json()
    assert set(body) == {"start", "limit", "length", "total", "logs"}
    assert body["length"] == len(body["logs"]) <= 2 and body["total"] >= body["length"]
    assert all(e["user_id"] == uid for e in body["logs"])
    newest = http.get(user_path(uid) + "/logs").json()
    oldest = http.get(user_path(uid) + "/logs", params={"sort": "date:1"}).json()
    assert newest == oldest[::-1]
    blocked_uid = next(iter(emu.tenant.user_blocks))
    email = emu.tenant.users[blocked_uid]["email"]
    r = http.get("/api/v2/user-blocks", params={"identifier": email})
    assert r.json()["blocked_for"][0]["identifier"] == email
    assert http.delete("/api/v2/user-blocks", params={"identifier": email}).status_code == 204
    r = http.get("/api/v2/user-blocks", params={"identifier": email})
    assert r.json() == {"blocked_for": []}
    bad(http.get("/api/v2/user-blocks"), "invalid_query_string", "identifier")
    r = http.get("/api/v2/user-blocks/" + urllib.parse.quote("auth0|nobody", safe=""))
    assert r.status_code == 404


def test_journal_records_writes_without_credentials(tenant: Any) -> None:
    emu, http, journal = tenant
    uid = emu.truth["compromised_users"][0]
    http.patch(user_path(uid), json={"blocked": True, "password": "pw-never-kept"})
    http.delete(user_path(uid) + "/sessions")
    lines = [json.loads(x) for x in journal.read_text(encoding="utf-8").splitlines()]
    assert lines == emu.journal
    assert lines[0]["path"] == "/oauth/token" and lines[0]["body"]["client_id"] == "cid"
    text = journal.read_text(encoding="utf-8")
    assert "s3cr3t-value" not in text and "pw-never-kept" not in text
    assert [(e["method"], e["path"], e["status"]) for e in emu.tenant.writes()] == [
        ("PATCH", user_path(uid), 200),
        ("DELETE", user_path(uid) + "/sessions", 202),
    ]
    assert emu.tenant.writes()[0]["body"] == {"blocked": True}
    assert set(lines[1]) == {"ts", "method", "path", "query", "status", "body"}
    assert emu.stats.requests == 2 and emu.stats.throttled == emu.stats.faults == 0


def test_server_level_errors_are_json(tenant: Any) -> None:
    emu, http, _ = tenant
    r = http.get("/api/v2/logs", params={"q": "x" * 65525})  # request line over 64 KiB
    assert r.status_code == 414 and r.json()["error"] == "Request-URI Too Long"
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    with httpx.Client(base_url=emu.base_url) as fresh:
        r = fresh.request("OPTIONS", "/api/v2/logs")
    assert r.status_code == 501 and r.json()["statusCode"] == 501


def test_an_unordered_exported_file_is_served_in_log_id_order(tmp_path: Path) -> None:
    import random

    from engine.emulator.scenarios import generate

    events = list(generate("breached-password", seed=5, events=300).events)
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)
    f = tmp_path / "export.json"
    f.write_text(json.dumps(shuffled), encoding="utf-8")
    with (
        start_emulator(logs_file=f, rate_limit=(1000, 1000.0)) as emu,
        httpx.Client(base_url=emu.base_url) as http,
    ):
        r = http.post(
            "/oauth/token",
            json={
                "grant_type": "client_credentials",
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "audience": emu.audience,
            },
        )
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        newest = http.get("/api/v2/logs", params={"per_page": 100}).json()
        assert newest == sorted(events, key=lambda e: e["log_id"], reverse=True)[:100]
        walked = http.get("/api/v2/logs", params={"from": "", "take": 100}).json()
        assert walked == events[:100]
        success = http.get("/api/v2/logs", params={"q": 'type:"s"', "per_page": 100}).json()
        wanted = [e for e in reversed(events) if e["type"] == "s"][:100]
        assert success == wanted and wanted
        uid = next(e["user_id"] for e in events if e["type"] == "s")
        user = http.get(user_path(uid)).json()
        assert user["user_id"] == uid and user["blocked"] is False and "app_metadata" in user
        assert emu.truth["events"] == len(events) and emu.truth["attacker_ips"] == []
        assert uid in emu.truth["legitimate_users"]


def test_a_non_object_body_is_journaled_as_sent(tenant: Any) -> None:
    emu, http, _ = tenant
    uid = emu.truth["legitimate_users"][2]
    http.patch(user_path(uid), json=["not", "an", "object"])
    assert emu.journal[-1]["body"] == ["not", "an", "object"]
    assert emu.journal[-1]["status"] == 400
