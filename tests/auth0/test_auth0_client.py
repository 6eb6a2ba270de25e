"""The Auth0 client under faults a live server cannot easily produce (injected MockTransport).

Time is simulated: the client's ``sleep`` advances a fake clock that the fake
server's token bucket and token expiry also read, so these tests take no real time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from engine.auth0 import Auth0Client, Auth0Settings
from engine.auth0.client import quote_id
from engine.auth0.export import checkpoint
from engine.auth0.search import retention_warnings, window_query
from engine.errors import ActionError, ConfigError, RateLimitError, UpstreamError
from engine.httpguard import DryRunGuard
from engine.timeutil import parse_time

SECRET = "s3cr3t-value-never-shown"
EPOCH = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return EPOCH + self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


Handler = Callable[[httpx.Request], httpx.Response]


class FakeTenant:
    """Token endpoint plus a scripted API: ``api`` answers each /api/v2 request in turn."""

    def __init__(self, clock: Clock, api: Handler, token_ttl: int = 86400) -> None:
        self.clock = clock
        self.api = api
        self.token_ttl = token_ttl
        self.issued: list[str] = []
        self.token_bodies: list[dict[str, Any]] = []
        self.token_faults: list[httpx.Response] = []  # answered before a token is issued

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_bodies.append(json.loads(request.content))
            if self.token_faults:
                return self.token_faults.pop(0)
            if self.token_bodies[-1]["client_secret"] != SECRET:
                return httpx.Response(
                    401, json={"error": "access_denied", "error_description": "Unauthorized"}
                )
            token = f"tok-{len(self.issued)}-{'x' * 20}"
            self.issued.append(token)
            return httpx.Response(
                200,
                json={"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"},
            )
        return self.api(request)


def make(
    api: Handler, *, secret: str = SECRET, token_ttl: int = 86400, **kwargs: Any
) -> tuple[Auth0Client, FakeTenant, Clock, list[str]]:
    clock = Clock()
    tenant = FakeTenant(clock, api, token_ttl)
    learned: list[str] = []
    settings = Auth0Settings.create("acme.eu.auth0.com", client_id="cid", client_secret=secret)
    client = Auth0Client(
        settings,
        guard=DryRunGuard(False),
        transport=httpx.MockTransport(tenant),
        on_secret=learned.append,
        sleep=clock.sleep,
        clock=clock.now,
        wall=clock.wall,
        **kwargs,
    )
    return client, tenant, clock, learned


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=[{"auth": request.headers["authorization"]}])


def boom(status: int, message: str, code: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"statusCode": status, "error": "Err", "message": message}
    if code:
        body["errorCode"] = code
    return httpx.Response(status, json=body)


def test_token_is_cached_renewed_before_expiry_and_reported() -> None:
    client, tenant, clock, learned = make(ok, token_ttl=60)
    first = client.get("/logs")[0]["auth"]
    clock.t = 50.0
    assert client.get("/logs")[0]["auth"] == first  # still valid: no new token request
    clock.t = 55.0  # within 10% (6 s) of the 60 s lifetime: renewed first
    assert client.get("/logs")[0]["auth"] != first
    assert learned == [SECRET, *tenant.issued] and len(tenant.issued) == 2
    body = tenant.token_bodies[0]
    assert body["grant_type"] == "client_credentials"
    assert body["audience"] == "https://acme.eu.auth0.com/api/v2/"


def test_a_401_renews_the_token_once_and_retries() -> None:
    answers = [boom(401, "Expired token received for JSON Web Token validation")]
    seen: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return answers.pop(0) if answers else ok(request)

    client, tenant, _, _ = make(api)
    assert client.get("/logs")
    assert len(tenant.issued) == 2 and seen[0] != seen[1]


def test_a_second_401_is_an_error_and_no_token_leaks() -> None:
    client, tenant, _, _ = make(lambda r: boom(401, "Invalid token"))
    with pytest.raises(UpstreamError) as info:
        client.get("/logs", {"q": "user_id:x"})
    err = info.value
    assert err.status == 401 and err.path == "/api/v2/logs" and len(tenant.issued) == 2
    text = str(err)
    assert "AUTH0_AUDIENCE" in text
    assert not any(t in text for t in tenant.issued) and "user_id" not in text


def test_bad_secret_names_the_settings_and_hides_the_secret() -> None:
    client, _, _, _ = make(ok, secret="wrong-secret-abcdef")
    with pytest.raises(UpstreamError) as info:
        client.get("/logs")
    text = str(info.value)
    assert info.value.status == 401 and info.value.path == "/oauth/token"
    assert "AUTH0_CLIENT_SECRET" in text and "AUTH0_CLIENT_ID" in text
    assert "wrong-secret-abcdef" not in text and "wrong-secret-abcdef" not in repr(info.value)


def test_token_endpoint_faults_are_retried_and_a_bad_answer_is_clear() -> None:
    client, tenant, clock, _ = make(ok)
    tenant.token_faults = [httpx.Response(503), httpx.Response(429, headers={"retry-after": "2"})]
    assert client.get("/logs")
    assert len(clock.sleeps) == 2 and clock.sleeps[1] >= 2.0
    client, tenant, _, _ = make(ok)
    tenant.token_faults = [httpx.Response(200, json={"token_type": "Bearer"})]
    with pytest.raises(UpstreamError, match=r"no access_token.*AUTH0_DOMAIN"):
        client.get("/logs")


def test_5xx_is_retried_with_growing_backoff_then_fails() -> None:
    calls: list[int] = []

    def api(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return boom(503, "Service Unavailable")

    client, _, clock, _ = make(api, max_retries=4)
    with pytest.raises(UpstreamError) as info:
        client.get("/logs")
    assert info.value.status == 503 and len(calls) == 5
    assert client.stats.retries == 4
    # exponential: each nominal delay doubles (jitter is 0.5x..1.5x)
    for n, slept in enumerate(clock.sleeps):
        assert 0.125 * 2**n <= slept <= 0.375 * 2**n


def test_connection_errors_and_timeouts_are_retried() -> None:
    faults: list[Exception] = [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ]

    def api(request: httpx.Request) -> httpx.Response:
        if faults:
            raise faults.pop(0)
        return ok(request)

    client, _, _, _ = make(api)
    assert client.get("/logs") and client.stats.retries == 2

    def always_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    client, _, _, _ = make(always_slow, max_retries=2)
    with pytest.raises(UpstreamError, match=r"timed out.*after 3 attempts") as info:
        client.get("/logs")
    assert info.value.status is None


def test_429_waits_for_the_reset_then_retries_within_the_budget() -> None:
    clock_box: list[Clock] = []
    answers = 0

    def api(request: httpx.Request) -> httpx.Response:
        nonlocal answers
        answers += 1
        reset = str(int(clock_box[0].wall()) + 3)
        if answers == 1:
            return httpx.Response(
                429,
                json={"statusCode": 429, "error": "Too Many Requests", "message": "Global limit"},
                headers={
                    "x-ratelimit-limit": "10",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": reset,
                },
            )
        return ok(request)

    client, _, clock, _ = make(api)
    clock_box.append(clock)
    assert client.get("/logs")
    assert client.stats.throttled == 1 and 3.0 <= clock.sleeps[0] <= 3.6

    def always_429(request: httpx.Request) -> httpx.Response:
        reset = str(int(clock.wall()) + 30)
        return httpx.Response(
            429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
        )

    client, _, clock, _ = make(always_429, wait_budget=100.0)
    with pytest.raises(RateLimitError) as info:
        client.get("/logs")
    assert info.value.status == 429 and sum(clock.sleeps) <= 100.0


def test_insufficient_scope_names_the_scope_to_grant() -> None:
    message = "Insufficient scope, expected any of: read:users,read:current_user"
    client, _, _, _ = make(lambda r: boom(403, message, "insufficient_scope"))
    with pytest.raises(UpstreamError) as info:
        client.get("/users/auth0%7Cx")
    err = info.value
    assert err.status == 403 and err.error_code == "insufficient_scope"
    assert err.hint is not None and "grant the scope read:users" in err.hint
    assert "read:current_user" in err.hint


def test_404_keeps_auth0s_message_and_code_without_a_retry() -> None:
    client, _, clock, _ = make(lambda r: boom(404, "The user does not exist.", "inexistent_user"))
    with pytest.raises(UpstreamError) as info:
        client.request("DELETE", "/users/auth0%7Cx/sessions")
    err = info.value
    assert (err.method, err.path, err.status, err.error_code) == (
        "DELETE",
        "/api/v2/users/auth0%7Cx/sessions",
        404,
        "inexistent_user",
    )
    assert err.upstream_message == "The user does not exist." and clock.sleeps == []


def test_pacing_approaches_the_rate_bound_without_429s() -> None:
    """A token bucket of 10 burst / 20 per second: 200 requests take ~(200-10)/20 s, no 429."""
    burst, rate = 10.0, 20.0
    bucket = {"tokens": burst, "t": 0.0, "429": 0}
    clock_box: list[Clock] = []

    def api(request: httpx.Request) -> httpx.Response:
        now = clock_box[0].t
        bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["t"]) * rate)
        bucket["t"] = now
        headers = {"x-ratelimit-limit": str(int(burst))}
        if bucket["tokens"] < 1:
            bucket["429"] += 1
            headers |= {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int(clock_box[0].wall()) + 1),
            }
            return httpx.Response(429, headers=headers)
        bucket["tokens"] -= 1
        refill = math.ceil((burst - bucket["tokens"]) / rate)
        headers |= {
            "x-ratelimit-remaining": str(int(bucket["tokens"])),
            "x-ratelimit-reset": str(int(clock_box[0].wall()) + refill),
        }
        clock_box[0].t += 0.002  # the server's own latency
        return httpx.Response(200, json=[], headers=headers)

    client, _, clock, _ = make(api)
    clock_box.append(clock)
    for _ in range(200):
        client.get("/logs")
    bound = (200 - burst) / rate
    assert bucket["429"] <= 2, bucket
    assert clock.t <= 1.15 * bound, (clock.t, bound)


def test_quote_id_keeps_every_id_in_one_path_segment() -> None:
    assert quote_id("auth0|abc") == "auth0%7Cabc"
    assert quote_id("../x?y#z") == "..%2Fx%3Fy%23z"
    assert quote_id("email|a.b@c.d") == "email%7Ca.b%40c.d"
    for dots in (".", "..", "...", ""):
        with pytest.raises(ActionError):
            quote_id(dots)


def test_window_query_groups_the_user_query() -> None:
    since = parse_time("2026-11-01T00:00:00Z")
    until = parse_time("2026-11-02T00:00:00Z")
    q = window_query('type:"s" OR type:"ssa"', since, until)
    assert q == (
        '(type:"s" OR type:"ssa") AND date:[2026-11-01T00:00:00.000Z TO 2026-11-02T00:00:00.000Z}'
    )
    assert window_query("  ", since, until).startswith("date:[")


def test_retention_warning_only_past_thirty_days() -> None:
    now = parse_time("2026-11-28T00:00:00Z")
    assert retention_warnings(parse_time("2026-11-01T00:00:00Z"), now) == []
    [warning] = retention_warnings(parse_time("2026-10-01T00:00:00Z"), now)
    assert "58 days ago" in warning and "2026-10-29T00:00:00.000Z" in warning


def test_synthetic_checkpoint_has_the_log_id_shape() -> None:
    cp = checkpoint(parse_time("2026-11-28T07:05:09Z"))
    assert cp == "900" + "20261128070509" + "0" * 39 and len(cp) == 56


def test_settings_pool_and_timeout_from_the_environment() -> None:
    env = {
        "AUTH0_DOMAIN": "acme.auth0.com",
        "AUTH0_TOKEN": "tok-0123456789ab",
        "SOAR_HTTP_TIMEOUT": "5",
    }
    s = Auth0Settings.from_env({**env, "SOAR_HTTP_MAX_CONNECTIONS": "4"})
    assert (s.timeout, s.max_connections) == (5.0, 4)
    with pytest.raises(ConfigError, match="SOAR_HTTP_TIMEOUT"):
        Auth0Settings.from_env({**env, "SOAR_HTTP_TIMEOUT": "-1"})
    with pytest.raises(ConfigError, match="SOAR_HTTP_MAX_CONNECTIONS"):
        Auth0Settings.from_env({**env, "SOAR_HTTP_MAX_CONNECTIONS": "lots"})
    full = Auth0Settings.from_env(
        {"AUTH0_DOMAIN": "http://127.0.0.1:8765/", "AUTH0_TOKEN": "tok-0123456789ab"}
    )
    assert full.base_url == "http://127.0.0.1:8765"


def test_a_static_token_is_used_as_is_and_its_refusal_names_it() -> None:
    settings = Auth0Settings.create("acme.auth0.com", token="static-token-123456")
    learned: list[str] = []
    client = Auth0Client(
        settings,
        guard=DryRunGuard(False),
        transport=httpx.MockTransport(lambda r: boom(401, "Invalid token")),
        on_secret=learned.append,
        sleep=lambda s: None,
    )
    with pytest.raises(UpstreamError, match="AUTH0_TOKEN is invalid or expired") as info:
        client.get("/logs")
    assert learned == ["static-token-123456"] and "static-token-123456" not in str(info.value)


def test_checkpoint_export_continues_without_a_link_and_stops_at_until() -> None:
    import io

    from engine.auth0.export import export

    ids = [checkpoint(parse_time(f"2026-11-01T00:00:{s:02d}Z"))[:-2] + "01" for s in range(30)]
    asked: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        start = request.url.params["from"]
        asked.append(start)
        page = [{"log_id": i} for i in ids if i > start][:10]
        return httpx.Response(200, json=page)  # no Link header at all

    client, _, _, _ = make(api)
    out = io.StringIO()
    stats = export(
        client, out, parse_time("2026-11-01T00:00:00Z"), parse_time("2026-11-01T00:00:25Z")
    )
    got = [json.loads(line)["log_id"] for line in out.getvalue().splitlines()]
    assert got == ids[:25] and stats["events"] == 25 and stats["mode"] == "checkpoint"
    # it started below every prefix, continued from the last id without a Link, and at
    # `until` skipped the rest of the 900 prefix: one more request, for any later prefix
    assert asked[0] == checkpoint(parse_time("2026-11-01T00:00:00Z"), "000")
    assert asked[1] == ids[9] and asked[3] == "900" + "9" * 53 and len(asked) == 4
    bad, _, _, _ = make(lambda r: httpx.Response(200, json={"logs": []}))
    with pytest.raises(UpstreamError, match="expected a list"):
        export(bad, io.StringIO(), parse_time("2026-11-01"), parse_time("2026-11-02"))


def test_search_moves_past_1000_events_at_one_instant_and_says_what_it_missed() -> None:
    import re

    from engine.auth0.search import search

    stamps = [("2026-11-01T00:00:01.000Z", 500), ("2026-11-01T00:00:02.000Z", 1200)]
    stamps.append(("2026-11-01T00:00:03.000Z", 300))
    events = [
        {"log_id": f"{n:06d}", "date": date}
        for n, date in enumerate(d for d, count in stamps for _ in range(count))
    ]

    def api(request: httpx.Request) -> httpx.Response:
        q = request.url.params["q"]
        assert q.startswith("(x:1) AND date:[") and request.url.params["sort"] == "date:1"
        m = re.search(r"date:\[(\S+) TO (\S+)\}", q)
        assert m is not None
        window = [e for e in events if m.group(1) <= e["date"] < m.group(2)]
        page, per_page = int(request.url.params["page"]), int(request.url.params["per_page"])
        assert (page + 1) * per_page <= 1000  # never past Auth0's cap
        return httpx.Response(200, json=window[page * per_page : (page + 1) * per_page])

    client, _, _, _ = make(api)
    result = search(
        client, "x:1", parse_time("2026-11-01T00:00:00Z"), parse_time("2026-11-01T00:01:00Z")
    )
    ids = [e["log_id"] for e in result.events]
    assert len(ids) == len(set(ids)) == 1800  # 200 of the 1,200 at one instant are out of reach
    assert {e["log_id"] for e in events[-300:]} <= set(ids)
    assert any("2026-11-01T00:00:02.000Z" in w for w in result.warnings)
    assert result.windows == 3 and result.stats["requests"] == result.requests + 1  # + token


def test_max_connections_bounds_the_requests_in_flight() -> None:
    """SOAR_HTTP_MAX_CONNECTIONS=2: six threads, at most two requests reach the server at once."""
    import threading
    import time

    from localserver import Route, recording_server

    hold = threading.Event()
    with recording_server() as server:
        server.routes["/api/v2/logs"] = Route(body=[], hold=hold)
        settings = Auth0Settings.create(
            server.url, token="tok-3x4mple-0f-a-bearer-token", max_connections=2
        )
        client = Auth0Client(settings, guard=DryRunGuard(False))
        threads = [threading.Thread(target=client.get, args=("/logs",)) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        in_flight = server.hits.get("/api/v2/logs", 0)
        hold.set()
        for t in threads:
            t.join(10)
        client.close()
    assert in_flight == 2
    assert server.hits["/api/v2/logs"] == 6
