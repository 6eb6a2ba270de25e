"""The Auth0 connector against the emulator: complete searches, limits, faults, errors, writes."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from engine.actions import auth0 as actions
from engine.actions import auth0_containment as containment
from engine.actions import auth0_logins as investigate
from engine.actions.registry import ActionContext
from engine.auth0 import Auth0Client, Auth0Settings, quote_id
from engine.auth0.search import search
from engine.emulator import RunningEmulator, start_emulator
from engine.errors import ActionError, ConfigError, DryRunViolation, UpstreamError
from engine.timeutil import now_utc

# the four most frequent codes of the emulator's background mix, ~63% of its events
TYPES = ("s", "ssa", "sertft", "seccft")
QUERY = " OR ".join(f'type:"{t}"' for t in TYPES)


NOW = now_utc()  # both tenants of the tight-limit test are generated at the same instant


@pytest.fixture(scope="module")
def big() -> Any:
    with start_emulator(
        scenario="credential-stuffing", seed=5, events=9000, rate_limit=(1000, 5000.0), now=NOW
    ) as emu:
        yield emu


def _window() -> tuple[Any, Any]:
    return NOW - timedelta(days=2), now_utc() + timedelta(minutes=1)


def test_search_returns_every_match_once_near_the_request_floor(
    big: RunningEmulator, auth0_client: Callable[..., Auth0Client]
) -> None:
    client = auth0_client(big)
    since, until = _window()
    result = search(client, QUERY, since, until)
    ids = [e["log_id"] for e in result.events]
    expected = {
        e["log_id"]
        for e in (big.tenant.logs.get(i) for i in range(len(big.tenant.logs)))
        if e["type"] in TYPES
    }
    assert len(ids) > 5000
    assert len(ids) == len(set(ids)) and set(ids) == expected
    floor = math.ceil(len(ids) / 100)
    assert result.requests <= 1.05 * floor + 2, (result.requests, floor)
    assert result.windows >= 6  # it had to move the window past the 1,000 cap
    assert [e["date"] for e in result.events] == sorted(e["date"] for e in result.events)


def test_tight_rate_limit_faults_and_short_tokens_give_the_same_result(
    big: RunningEmulator, auth0_client: Callable[..., Auth0Client]
) -> None:
    since, until = _window()
    reference = {e["log_id"] for e in search(auth0_client(big), QUERY, since, until).events}
    with start_emulator(
        scenario="credential-stuffing",
        seed=5,
        events=9000,
        rate_limit=(5, 60.0),
        fail_rate=0.1,
        token_ttl=2.0,
        now=NOW,
    ) as hard:
        client = auth0_client(hard)
        result = search(client, QUERY, since, until)
        stats = client.stats
        assert hard.stats.faults > 0 and stats.retries >= hard.stats.faults
        assert hard.stats.throttled <= 0.05 * stats.requests  # paced, not bounced
        assert stats.tokens >= 2  # the token expired mid-search and was renewed
    ids = [e["log_id"] for e in result.events]
    assert len(ids) == len(set(ids)) and set(ids) == reference  # the same events, each once


def test_bad_secret_is_a_clear_error_naming_the_setting(
    emulator: RunningEmulator, auth0_client: Callable[..., Auth0Client]
) -> None:
    client = auth0_client(emulator, secret="not-the-secret-123")
    with pytest.raises(UpstreamError) as info:
        client.get("/logs")
    text = str(info.value)
    assert "HTTP 401" in text and "AUTH0_CLIENT_SECRET" in text and "AUTH0_CLIENT_ID" in text
    assert "not-the-secret-123" not in text


def test_settings_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="AUTH0_DOMAIN is not set"):
        Auth0Settings.from_env({})
    with pytest.raises(ConfigError, match="AUTH0_CLIENT_SECRET not set"):
        Auth0Settings.from_env({"AUTH0_DOMAIN": "acme.auth0.com", "AUTH0_CLIENT_ID": "x"})
    with pytest.raises(ConfigError, match="plain http:// is refused"):
        Auth0Settings.from_env(
            {"AUTH0_DOMAIN": "http://acme.auth0.com", "AUTH0_TOKEN": "tok-0123456789ab"}
        )
    s = Auth0Settings.from_env(
        {"AUTH0_DOMAIN": "acme.eu.auth0.com", "AUTH0_TOKEN": "tok-0123456789ab"}
    )
    assert (
        s.base_url == "https://acme.eu.auth0.com"
        and s.audience == "https://acme.eu.auth0.com/api/v2/"
    )
    assert "0123456789ab" not in repr(s)


def test_dry_run_guard_refuses_writes_in_the_client(
    emulator: RunningEmulator, auth0_client: Callable[..., Auth0Client]
) -> None:
    before = len(emulator.tenant.writes())
    client = auth0_client(emulator, dry_run=True)
    assert client.get("/logs", {"per_page": 1})  # reads and the token request go through
    with pytest.raises(DryRunViolation):
        client.request("PATCH", "/users/auth0%7Cx", json={"blocked": True})
    assert len(emulator.tenant.writes()) == before
    assert client.guard.refused == 1


def test_writes_are_idempotent_and_say_what_changed(
    auth0_ctx: Callable[..., ActionContext],
) -> None:
    with start_emulator(scenario="credential-stuffing", seed=2, events=500) as emu:
        ctx = auth0_ctx(emu)
        uid = emu.truth["compromised_users"][0]
        block = containment._block
        assert block(ctx, {"user_id": uid})["changed"] is True
        assert block(ctx, {"user_id": uid})["changed"] is False
        assert emu.tenant.users[uid]["blocked"] is True
        assert containment._unblock(ctx, {"user_id": uid})["changed"] is True
        out = containment.revoke_sessions(ctx, {"user_id": uid})
        assert out["revoked"] == ["sessions", "refresh_tokens"] and emu.tenant.revoked_sessions == [
            uid
        ]
        assert containment.delete_user(ctx, {"user_id": uid})["changed"] is True
        assert containment.delete_user(ctx, {"user_id": uid})["changed"] is False
        assert actions.get_user(ctx, {"user_id": uid}) == {"found": False, "user": None}
        patches = [e for e in emu.tenant.writes() if e["method"] == "PATCH"]
        assert len(patches) == 2  # the second block sent nothing
        deletes = [e for e in emu.tenant.writes() if e["path"] == "/api/v2/users/" + quote_id(uid)]
        assert [e["method"] for e in deletes] == ["PATCH", "PATCH", "DELETE"]  # one DELETE
        assert containment._plan_delete(ctx, {"user_id": uid}) == []  # nothing left to plan


def test_hostile_user_ids_cannot_change_the_path(auth0_ctx: Callable[..., ActionContext]) -> None:
    with start_emulator(scenario="quiet", events=200) as emu:
        ctx = auth0_ctx(emu)
        for hostile in ["../../logs", "x?per_page=1000", "a#b", "auth0|x/../../user-blocks"]:
            assert actions.get_user(ctx, {"user_id": hostile})["found"] is False
        paths = [e["path"] for e in emu.journal if e["method"] == "GET"]
        assert all(p.startswith("/api/v2/users/") and p.count("/") == 4 for p in paths), paths


def test_plans_read_but_never_write(auth0_ctx: Callable[..., ActionContext]) -> None:
    with start_emulator(scenario="credential-stuffing", seed=2, events=500) as emu:
        ctx = auth0_ctx(emu, dry_run=True)
        uid = emu.truth["compromised_users"][0]
        plan = containment._plan_block(ctx, {"user_id": uid})
        assert plan == [
            {
                "method": "PATCH",
                "path": "/api/v2/users/" + uid.replace("|", "%7C"),
                "body": {"blocked": True},
                "target": uid,
            }
        ]
        assert emu.tenant.writes() == []


def test_find_logins_and_accessed_clients_match_the_truth(
    emulator: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(emulator)
    out = investigate.find_successful_logins(
        ctx, {"ips": emulator.truth["attacker_ips"], "since": "2d"}
    )
    assert sorted(out["users"]) == emulator.truth["compromised_users"]
    assert out["user_names"] == emulator.truth["compromised_user_names"]
    clients = investigate.list_accessed_clients(
        ctx, {"user_ids": out["users"], "events": out["events"]}
    )
    assert clients["client_names"] == emulator.truth["accessed_clients"]
    # the tenant logs one attacker as 2A05:D014:...:0000:...:E970 and every victim reaches
    # one more application by silent authentication (ssa) after a code exchange (seacft)
    assert {"s", "ssa", "seacft"} <= set(out["types"])
    assert any(":0000:" in ip for ip in emulator.truth["attacker_ips"])
    searched = investigate.list_accessed_clients(
        ctx, {"user_ids": out["users"], "ips": emulator.truth["attacker_ips"], "since": "2d"}
    )
    assert searched["client_names"] == emulator.truth["accessed_clients"]
    later = investigate.activity_after_compromise(
        ctx, {"logins": out["events"], "ips": emulator.truth["attacker_ips"], "since": "2d"}
    )
    assert set(later["activity"]) == set(emulator.truth["compromised_users"])
    for uid, ips in emulator.truth["activity_elsewhere"].items():
        assert set(ips) <= set(later["activity"][uid]["ips"])
        assert "sertft" in later["activity"][uid]["types"]
    seen = {ip for a in later["activity"].values() for ip in a["ips"]}
    assert not seen & set(emulator.truth["attacker_ips"])


def test_offline_file_search_matches_the_tenant(
    tmp_path: Any, emulator: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    import json

    f = tmp_path / "logs.jsonl"
    store = emulator.tenant.logs
    f.write_text("\n".join(store.raw(i).decode() for i in range(len(store))), encoding="utf-8")
    online = actions.search_logs(auth0_ctx(emulator), {"query": 'type:"fu"', "since": "2d"})
    ctx = ActionContext(dry_run=True, http=httpx.Client(), logs_file=f)
    offline = actions.search_logs(ctx, {"query": 'type:"fu"', "since": "2d"})
    assert [e["log_id"] for e in offline["events"]] == [e["log_id"] for e in online["events"]]
    assert offline["count"] > 100 and json.dumps(offline["events"][0])
    ips = emulator.truth["attacker_ips"]
    logins = investigate.find_successful_logins(ctx, {"ips": ips, "since": "2d"})
    assert sorted(logins["users"]) == emulator.truth["compromised_users"]
    for user_call in (actions.get_user, actions.list_user_blocks, containment.revoke_sessions):
        with pytest.raises(ActionError, match="without --logs"):
            user_call(ctx, {"user_id": "auth0|x"})


def test_export_by_checkpoint_and_by_query(
    tmp_path: Any, emulator: RunningEmulator, auth0_client: Callable[..., Auth0Client]
) -> None:
    import json

    from engine.auth0.export import export_to_file

    since, until = _window()
    everything = tmp_path / "all.jsonl"
    stats = export_to_file(auth0_client(emulator), everything, since, until)
    lines = [json.loads(x) for x in everything.read_text().splitlines()]
    assert stats["mode"] == "checkpoint" and len(lines) == emulator.truth["events"]
    assert [e["log_id"] for e in lines] == sorted(e["log_id"] for e in lines)
    fu = tmp_path / "fu.jsonl"
    stats = export_to_file(auth0_client(emulator), fu, since, until, 'type:"fu"')
    got = [json.loads(x)["type"] for x in fu.read_text().splitlines()]
    assert stats["mode"] == "search" and got and set(got) == {"fu"}
    assert got.count("fu") == sum(1 for e in lines if e["type"] == "fu")


def test_threads_sharing_a_client_renew_an_expiring_token_once_each_time(
    auth0_client: Callable[..., Auth0Client],
) -> None:
    import threading
    import time

    with start_emulator(
        scenario="quiet", events=300, rate_limit=(1000, 5000.0), token_ttl=1.0, latency_ms=30
    ) as emu:
        client = auth0_client(emu)
        errors: list[Exception] = []

        def work() -> None:
            try:
                for _ in range(60):
                    client.get("/logs", {"per_page": 1})
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        start = time.monotonic()
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        assert errors == []
        # a token lives 0.9 s here: renewed as it expires, once per lifetime, not once per thread
        assert client.stats.tokens >= 2
        assert client.stats.tokens <= elapsed / 0.9 + 2, (client.stats.tokens, elapsed)
        assert client.stats.requests == 480 + client.stats.tokens + client.stats.retries + sum(
            1 for e in emu.journal if e["status"] == 401
        )
