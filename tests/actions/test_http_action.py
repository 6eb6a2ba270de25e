"""``http.request``: reads and writes, secrets only in the request, bounded bodies, safe schemes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from localserver import RecordingServer, Route, recording_server

from engine.actions.http import ACTIONS, MAX_BODY, plan, request
from engine.actions.registry import ActionContext
from engine.errors import ConfigError, UpstreamError
from engine.httpguard import DryRunGuard, guarded_client
from engine.secrets import Secret

ACTION = ACTIONS[0]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


@pytest.fixture
def ctx() -> Iterator[ActionContext]:
    with guarded_client(DryRunGuard(False)) as http:
        yield ActionContext(dry_run=False, http=http)


def test_get_is_a_read_and_other_methods_writes() -> None:
    assert not ACTION.is_write({"method": "GET", "url": "https://x"})
    assert not ACTION.is_write({"url": "https://x"})
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert ACTION.is_write({"method": method, "url": "https://x"})


def test_post_sends_json_and_unwraps_secrets_only_in_the_request(
    server: RecordingServer, ctx: ActionContext
) -> None:
    server.routes["/hook"] = Route(status=201, body={"id": 7})
    result = request(
        ctx,
        {
            "method": "POST",
            "url": f"{server.url}/hook",
            "headers": {"Authorization": Secret("hook", "Bearer s3cr3t-value")},
            "json": {"text": "user blocked", "n": 2},
        },
    )
    assert result == {"status": 201, "ok": True, "body": {"id": 7}, "truncated": False}
    seen = server.writes()[0]
    assert seen.method == "POST" and seen.body == {"text": "user blocked", "n": 2}
    assert seen.headers["Authorization"] == "Bearer s3cr3t-value"


def test_error_status_fails_unless_accepted(server: RecordingServer, ctx: ActionContext) -> None:
    server.routes["/bad"] = Route(status=404, body={"message": "no such hook"})
    with pytest.raises(UpstreamError) as err:
        request(ctx, {"method": "GET", "url": f"{server.url}/bad"})
    assert err.value.status == 404 and "no such hook" in str(err.value)
    result = request(ctx, {"method": "GET", "url": f"{server.url}/bad", "accept_errors": True})
    assert result["status"] == 404 and result["ok"] is False


def test_large_bodies_are_bounded(server: RecordingServer, ctx: ActionContext) -> None:
    server.routes["/big"] = Route(body={"blob": "x" * (MAX_BODY * 2)})
    result = request(ctx, {"url": f"{server.url}/big"})
    assert result["truncated"] is True
    assert isinstance(result["body"], str) and len(result["body"]) == MAX_BODY


def test_a_cut_through_an_echoed_secret_leaves_no_prefix(server: RecordingServer) -> None:
    secret = "echoed-Secret-value-77"
    echo = "".join(f"{i:05d}{secret}" for i in range(4000))  # both cuts fall inside one
    server.routes["/echo"] = Route(status=400, body={"echo": echo})
    with guarded_client(DryRunGuard(False)) as http:
        ctx = ActionContext(dry_run=False, http=http, secrets={"s": Secret("s", secret)})
        result = request(ctx, {"url": f"{server.url}/echo", "accept_errors": True})
        with pytest.raises(UpstreamError) as info:
            request(ctx, {"url": f"{server.url}/echo"})
    assert result["truncated"] is True and "***" in result["body"]
    for text in (result["body"], str(info.value)):
        assert secret[:6] not in text.replace(secret, "")  # no cut-off prefix left


def test_plain_http_is_refused_for_remote_hosts(ctx: ActionContext) -> None:
    with pytest.raises(ConfigError, match=r"plain http:// is refused for hooks\.example\.com"):
        request(ctx, {"method": "POST", "url": "http://hooks.example.com/x"})
    with pytest.raises(ConfigError, match=r"not a valid URL|https://"):
        request(ctx, {"url": "ftp://example.com/x"})


def test_allow_insecure_http_lets_a_remote_plain_url_through() -> None:
    # a remote host cannot be served locally: an injected transport stands in for it
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"ok": 1})

    with guarded_client(DryRunGuard(False), httpx.MockTransport(handler)) as http:
        ctx = ActionContext(dry_run=False, http=http)
        result = request(
            ctx,
            {"method": "POST", "url": "http://hooks.example.com/x", "allow_insecure_http": True},
        )
    assert result["status"] == 200 and str(seen[0].url) == "http://hooks.example.com/x"


def test_a_secret_url_is_sent_and_planned_as_its_host(
    server: RecordingServer, ctx: ActionContext
) -> None:
    # a Slack or Teams webhook URL carries its credential in the path
    server.routes["/services/T0/B0/hookToken9"] = Route(status=200, body={"ok": True})
    url = Secret("hook", f"{server.url}/services/T0/B0/hookToken9")
    assert request(ctx, {"method": "POST", "url": url, "json": {"t": 1}})["status"] == 200
    assert server.writes()[0].path == "/services/T0/B0/hookToken9"
    shown = plan(ctx, {"method": "POST", "url": url})[0]["url"]
    assert shown == f"{server.url.rsplit(':', 1)[0]}/***" and "hookToken9" not in shown


def test_a_non_ascii_header_fails_without_showing_its_value(
    server: RecordingServer, ctx: ActionContext
) -> None:
    from engine.errors import ActionError

    with pytest.raises(ActionError, match="'X-Token' is not ASCII") as info:
        request(ctx, {"url": server.url, "headers": {"X-Token": Secret("t", "s\u00e9cret-value")}})
    assert "cret-value" not in str(info.value)
    assert server.requests == []


def test_plan_shows_the_request_with_secrets_masked(ctx: ActionContext) -> None:
    planned = plan(
        ctx,
        {
            "method": "post",
            "url": "https://hooks.example.com/x",
            "headers": {"Authorization": Secret("h", "Bearer abcdefgh"), "X-Plain": "1"},
            "json": {"token": Secret("t", "zzzzzzzz"), "text": "hi"},
        },
    )
    assert planned == [
        {
            "method": "POST",
            "url": "https://hooks.example.com/x",
            "headers": {"Authorization": "***", "X-Plain": "1"},
            "body": {"token": "***", "text": "hi"},
        }
    ]


def test_a_dry_run_guard_refuses_the_write(server: RecordingServer) -> None:
    from engine.errors import DryRunViolation

    guard = DryRunGuard(True, read_hosts=["127.0.0.1"])
    with guarded_client(guard) as http:
        ctx = ActionContext(dry_run=True, http=http)
        lookup = {"url": f"{server.url}/read", "effect": "read"}
        assert request(ctx, lookup)["status"] == 200
        for args in ({"url": f"{server.url}/read"}, {"method": "POST", "url": f"{server.url}/w"}):
            with pytest.raises(DryRunViolation):
                request(ctx, args)  # the action itself refuses: not a lookup
        with pytest.raises(DryRunViolation, match="is a GET with effect: read"):
            http.get(f"{server.url}/raw")  # the guard refuses what bypasses the action
    assert [r.path for r in server.requests] == ["/read"] and guard.refused == 1
