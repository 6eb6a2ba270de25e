"""The emulator through a real HTTP client: endpoints, Auth0's error bodies, limits, paging."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engine.emulator import RunningEmulator, start_emulator


def token(emu: RunningEmulator, http: httpx.Client) -> str:
    r = http.post(
        f"{emu.base_url}/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "audience": emu.audience,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    return str(body["access_token"])


@pytest.fixture(scope="module")
def api(emulator: RunningEmulator) -> Iterator[Any]:
    http = httpx.Client(base_url=emulator.base_url)
    bearer = {"Authorization": f"Bearer {token(emulator, http)}"}

    def get(path: str, **params: Any) -> httpx.Response:
        return http.get(f"/api/v2{path}", params=params, headers=bearer)

    yield get
    http.close()


def test_token_errors(emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=emulator.base_url) as http:
        r = http.post(
            "/oauth/token",
            json={
                "grant_type": "client_credentials",
                "client_id": emulator.client_id,
                "client_secret": "wrong",
                "audience": emulator.audience,
            },
        )
        assert (r.status_code, r.json()) == (
            401,
            {"error": "access_denied", "error_description": "Unauthorized"},
        )
        r = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
                "audience": "https://other/api/v2/",
            },
        )
        assert r.status_code == 403 and "client-grant" in r.json()["error_description"]
        assert r.headers["content-type"] == "application/json; charset=utf-8"
    entry = [e for e in emulator.journal if e["path"] == "/oauth/token"][-1]
    assert "client_secret" not in entry["body"] and emulator.client_secret not in str(
        emulator.journal
    )


def test_auth_errors(emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=emulator.base_url) as http:
        r = http.get("/api/v2/logs")
        assert (r.status_code, r.json()["message"]) == (401, "Missing authentication")
        r = http.get("/api/v2/logs", headers={"Authorization": "Basic abc"})
        assert r.status_code == 400 and r.json()["errorCode"] == "Bearer"
        r = http.get("/api/v2/logs", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["message"] == "Invalid token"
        assert "WWW-Authenticate" in r.headers


def test_logs_default_order_fields_totals(api: Any) -> None:
    r = api("/logs")
    logs = r.json()
    assert r.status_code == 200 and len(logs) == 50
    ids = [e["log_id"] for e in logs]
    assert ids == sorted(ids, reverse=True)
    first = logs[0]
    assert list(first)[:4] == ["_id", "log_id", "date", "type"] and first["_id"] == first["log_id"]
    assert len(first["log_id"]) == 56 and first["log_id"].startswith("900")
    assert "organization_id" in first and first["organization_id"] is None
    r = api("/logs", per_page=5, fields="type,ip", include_totals="true")
    body = r.json()
    assert set(body) == {"start", "limit", "length", "total", "logs"} and body["length"] == 5
    assert set(body["logs"][0]) == {"type", "ip"}
    for header in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert r.headers[header].isdigit()


def test_query_errors_and_the_cap(api: Any) -> None:
    r = api("/logs", q="details.ip:1")
    assert r.status_code == 400 and r.json()["errorCode"] == "invalid_query_string"
    r = api("/logs", per_page=101)
    assert r.status_code == 400 and "greater than maximum 100" in r.json()["message"]
    assert api("/logs", page=9, per_page=100).status_code == 200
    r = api("/logs", page=10, per_page=100)
    assert r.status_code == 400 and r.json()["errorCode"] == "invalid_paging"


def test_search_matches_and_sorts(emulator: RunningEmulator, api: Any) -> None:
    ip = emulator.truth["attacker_ips"][0]
    events = api("/logs", q=f'type:"s" AND ip:"{ip}"', per_page=100, sort="date:1").json()
    assert events and all(e["type"] == "s" and e["ip"] == ip for e in events)
    dates = [e["date"] for e in events]
    assert dates == sorted(dates)
    assert api(f"/logs/{events[0]['log_id']}").json() == events[0]
    assert api("/logs/900" + "0" * 53).status_code == 404


def test_checkpoint_paging_walks_the_whole_tenant(emulator: RunningEmulator, api: Any) -> None:
    seen: list[str] = []
    r = api("/logs", take=100, **{"from": ""})
    while True:
        batch = r.json()
        assert r.headers["link"].endswith('rel="next"')
        if not batch:
            break
        seen += [e["log_id"] for e in batch]
        next_url = r.headers["link"][1 : r.headers["link"].index(">")]
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(next_url).query))
        r = api("/logs", **params)
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == emulator.truth["events"]
    # q is ignored in checkpoint mode, as Auth0 documents
    assert len(api("/logs", q='type:"s"', take=100, **{"from": seen[0]}).json()) == 100


def test_users_blocks_sessions_and_journal() -> None:
    with (
        start_emulator(
            scenario="credential-stuffing", seed=2, events=500, rate_limit=(1000, 1000.0)
        ) as emu,
        httpx.Client(base_url=emu.base_url) as http,
    ):
        h = {"Authorization": f"Bearer {token(emu, http)}"}
        uid = emu.truth["compromised_users"][0]
        path = "/api/v2/users/" + urllib.parse.quote(uid, safe="")
        assert len(http.get(path + "/logs", headers=h).json()) >= 1
        assert http.get(path, headers=h).json()["blocked"] is False
        r = http.patch(path, json={"blocked": True, "app_metadata": {"x": 1}}, headers=h)
        assert r.status_code == 200 and r.json()["blocked"] is True
        assert http.get(path, headers=h).json()["blocked"] is True
        assert http.delete(path + "/sessions", headers=h).status_code == 202
        assert http.delete(path + "/refresh-tokens", headers=h).json() == {}
        assert emu.tenant.revoked_sessions == [uid] and emu.tenant.revoked_refresh_tokens == [uid]
        assert http.delete(path, headers=h).status_code == 204
        assert http.delete(path, headers=h).status_code == 204  # idempotent, as observed at Auth0
        r = http.get(path, headers=h)
        assert (r.status_code, r.json()["errorCode"]) == (404, "inexistent_user")
        blocked_user = next(iter(emu.tenant.user_blocks))
        bpath = "/api/v2/user-blocks/" + urllib.parse.quote(blocked_user, safe="")
        assert http.get(bpath, headers=h).json()["blocked_for"][0]["ip"]
        assert http.delete(bpath, headers=h).status_code == 204
        assert http.get(bpath, headers=h).json() == {"blocked_for": []}
        writes = [(e["method"], e["status"]) for e in emu.tenant.writes()]
        assert writes == [
            ("PATCH", 200),
            ("DELETE", 202),
            ("DELETE", 202),
            ("DELETE", 204),
            ("DELETE", 204),
            ("DELETE", 204),
        ]


def test_rate_limit_and_429() -> None:
    with (
        start_emulator(scenario="quiet", events=200, rate_limit=(3, 1.0)) as emu,
        httpx.Client(base_url=emu.base_url) as http,
    ):
        h = {"Authorization": f"Bearer {token(emu, http)}"}
        remaining = [
            http.get("/api/v2/logs", headers=h).headers["x-ratelimit-remaining"] for _ in range(3)
        ]
        assert remaining == ["2", "1", "0"]
        r = http.get("/api/v2/logs", headers=h)
        assert r.status_code == 429
        assert r.json() == {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": "Global limit has been reached",
            "errorCode": "too_many_requests",
        }
        assert int(r.headers["x-ratelimit-reset"]) >= int(time.time())
        assert emu.stats.throttled == 1


def test_faults_are_injected_deterministically() -> None:
    def run() -> list[int]:
        with (
            start_emulator(
                scenario="quiet", events=200, fail_rate=0.5, seed=3, rate_limit=(100, 100.0)
            ) as emu,
            httpx.Client(base_url=emu.base_url) as http,
        ):
            h = {"Authorization": f"Bearer {token(emu, http)}"}
            return [http.get("/api/v2/logs", headers=h).status_code for _ in range(20)]

    statuses = run()
    assert 200 in statuses and 503 in statuses and set(statuses) <= {200, 503}
    assert run() == statuses


def test_tokens_expire() -> None:
    with (
        start_emulator(scenario="quiet", events=200, token_ttl=0.3) as emu,
        httpx.Client(base_url=emu.base_url) as http,
    ):
        h = {"Authorization": f"Bearer {token(emu, http)}"}
        assert http.get("/api/v2/logs", headers=h).status_code == 200
        time.sleep(0.4)
        r = http.get("/api/v2/logs", headers=h)
        assert r.status_code == 401
        assert r.json()["message"] == "Expired token received for JSON Web Token validation"


def test_serving_an_exported_file(tmp_path: Any, emulator: RunningEmulator, api: Any) -> None:
    events = api("/logs", per_page=100, q='type:"s"').json()
    f = tmp_path / "export.jsonl"
    f.write_text("\n".join(json.dumps({"log_id": e["log_id"], "data": e}) for e in events))
    with start_emulator(logs_file=f) as emu, httpx.Client(base_url=emu.base_url) as http:
        h = {"Authorization": f"Bearer {token(emu, http)}"}
        got = http.get("/api/v2/logs", params={"per_page": 100}, headers=h).json()
        assert sorted(e["log_id"] for e in got) == sorted(e["log_id"] for e in events)


def test_unsupported_grant_type_is_a_400(emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=emulator.base_url) as http:
        r = http.post(
            "/oauth/token", json={"grant_type": "password", "client_id": emulator.client_id}
        )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
