"""GET /users/{id}/sessions: live sessions from the user's logins, emptied by revocation."""

from __future__ import annotations

import httpx

from engine.emulator import start_emulator


def test_sessions_listed_then_revoked() -> None:
    with (
        start_emulator(scenario="credential-stuffing", events=400, rate_limit=(100, 100.0)) as emu,
        httpx.Client(base_url=emu.base_url) as http,
    ):
        tok = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "audience": emu.audience,
            },
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        uid = emu.truth["compromised_users"][0]
        r = http.get(f"/api/v2/users/{uid}/sessions", headers=h)
        assert r.status_code == 200
        sessions = r.json()["sessions"]
        reached = {s["clients"][0]["client_id"] for s in sessions}
        logins = http.get(f"/api/v2/users/{uid}/logs", params={"per_page": 100}, headers=h).json()
        assert reached == {e["client_id"] for e in logins if e["type"] == "s"}
        assert all(s["user_id"] == uid and s["id"].startswith("ses_") for s in sessions)
        assert http.delete(f"/api/v2/users/{uid}/sessions", headers=h).status_code == 202
        assert http.get(f"/api/v2/users/{uid}/sessions", headers=h).json() == {"sessions": []}
        assert uid in emu.tenant.revoked_sessions
        r = http.get("/api/v2/users/auth0|nobody/sessions", headers=h)
        assert (r.status_code, r.json()["errorCode"]) == (404, "inexistent_user")
