"""What a responder's script does with the current official SDK, against ``soar emulator --tls``.

auth0-python 5 and later is generated (Fern) from the Management API
description and builds ``https://{domain}`` itself, so only an HTTPS tenant
can serve it. Each test goes through the SDK's own calls, unmodified; the only
setting is ``SSL_CERT_FILE``, as the emulator prints it.

Known SDK gap (auth0-facts.md section 1; auth0-java#842, go-auth0#812): the
SDK's ``logs.list(search=...)`` sends ``search``, which Auth0 refuses; a
script passes the log query as ``q`` through ``request_options``.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from typing import Any
from urllib.parse import unquote

import pytest

from engine.emulator import RunningEmulator, start_emulator
from engine.timeutil import parse_time

auth0_management = pytest.importorskip("auth0.management")
errors = pytest.importorskip("auth0.management.errors")

NOW = "2026-11-28T07:00:00.000Z"


def test_sdk_is_the_current_generation() -> None:
    assert int(version("auth0-python").split(".")[0]) >= 5


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with start_emulator(
        tls=True, rate_limit=(100, 500.0), now=parse_time(NOW), events=1500
    ) as running:
        yield running


@pytest.fixture
def sdk(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the process environment a responder's shell would have after `eval $(soar emulator --tls)`
    monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
    env = emu.env()
    return auth0_management.ManagementClient(
        domain=env["AUTH0_DOMAIN"],
        client_id=env["AUTH0_CLIENT_ID"],
        client_secret=env["AUTH0_CLIENT_SECRET"],
    )


def _q(query: str) -> dict[str, Any]:
    return {"additional_query_parameters": {"q": query}}


def test_client_credentials_token_then_search_logs_with_q(sdk: Any, emu: RunningEmulator) -> None:
    page = sdk.logs.list(per_page=100, page=0, request_options=_q('type:"s"'))
    events = list(page.items or [])
    assert events and all(e.type == "s" for e in events)
    token_requests = [r for r in emu.journal if r["path"] == "/oauth/token"]
    assert token_requests and token_requests[-1]["status"] == 200
    assert token_requests[-1]["body"]["grant_type"] == "client_credentials"
    # the SDK asked for the totals object (its default) and read it
    assert page.response.length == len(events)


def test_sdk_search_parameter_is_refused_as_auth0_does(sdk: Any) -> None:
    with pytest.raises(errors.BadRequestError) as refused:
        sdk.logs.list(search='type:"s"')
    assert refused.value.status_code == 400
    assert refused.value.body["errorCode"] == "invalid_query_string"


def test_page_through_every_match(sdk: Any, emu: RunningEmulator) -> None:
    logs = emu.tenant.logs
    failures = ("fp", "fu")
    expected = {e["log_id"] for p in range(len(logs)) if (e := logs.get(p))["type"] in failures}
    assert len(expected) > 100  # more than one page
    pager = sdk.logs.list(per_page=100, request_options=_q('type:"fp" OR type:"fu"'))
    seen = [e.log_id for e in pager]  # the SDK's pager follows page=1, 2, ... until empty
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_checkpoint_paging_through_the_sdks_http_client(sdk: Any, emu: RunningEmulator) -> None:
    # logs.list has no from/take (the OAS dropped them); a script sends them through the
    # SDK's own authenticated HTTP client, as it does for any endpoint the SDK lacks
    http = sdk._api._client_wrapper.httpx_client
    ids: list[str] = []
    checkpoint = emu.tenant.logs.ids[0]
    while True:
        response = http.request("logs", method="GET", params={"from": checkpoint, "take": 100})
        batch = response.json()
        assert response.status_code == 200 and 'rel="next"' in response.headers["link"]
        if not batch:
            break
        ids += [e["log_id"] for e in batch]
        checkpoint = batch[-1]["log_id"]
    assert ids == list(emu.tenant.logs.ids[1:])  # ascending log_id, the checkpoint excluded


def test_get_a_log_and_a_user_and_their_logs(sdk: Any, emu: RunningEmulator) -> None:
    log_id = emu.tenant.logs.ids[5]
    log = sdk.logs.get(log_id)
    assert log.log_id == log_id
    user_id = emu.truth["compromised_users"][0]
    user = sdk.users.get(user_id)
    assert user.user_id == user_id and user.blocked is not True

    # Auth0 writes `scope` as a string or as an array (auth0-facts.md section 4; elastic's
    # pipeline tests and Panther's fcoa samples carry arrays). The SDK's UserLog model
    # takes only a string: a user whose logs hold an array cannot be listed through it.
    def has_array_scope(uid: str) -> bool:
        return any(
            isinstance(emu.tenant.logs.get(p).get("scope"), list)
            for p in emu.tenant.logs.by_user(uid)
        )

    plain = next(u for u in emu.truth["legitimate_users"] if not has_array_scope(u))
    logs = list(sdk.users.logs.list(plain, per_page=50).items or [])
    assert logs and all(e.user_id == plain for e in logs)
    arrays = next(u for u in emu.truth["legitimate_users"] if has_array_scope(u))
    parsing_error = pytest.importorskip("auth0.management.core.parse_error").ParsingError
    with pytest.raises(parsing_error, match="scope"):
        sdk.users.logs.list(arrays, per_page=50)


def test_block_and_unblock_a_user(sdk: Any, emu: RunningEmulator) -> None:
    user_id = emu.truth["legitimate_users"][-1]
    assert sdk.users.update(user_id, blocked=True).blocked is True
    assert emu.tenant.users[user_id]["blocked"] is True
    assert sdk.users.update(user_id, blocked=False).blocked is False
    patches = [r for r in emu.journal if r["method"] == "PATCH" and user_id in unquote(r["path"])]
    assert [p["body"] for p in patches] == [{"blocked": True}, {"blocked": False}]


def test_list_and_delete_user_blocks(sdk: Any, emu: RunningEmulator) -> None:
    blocked = next(uid for uid, blocks in emu.tenant.user_blocks.items() if blocks)
    listing = sdk.user_blocks.list(blocked)
    assert listing.blocked_for
    identifier = listing.blocked_for[0].identifier
    assert sdk.user_blocks.list_by_identifier(identifier=identifier).blocked_for
    sdk.user_blocks.delete_by_identifier(identifier=identifier)
    assert not sdk.user_blocks.list(blocked).blocked_for


def test_revoke_sessions_and_refresh_tokens(sdk: Any, emu: RunningEmulator) -> None:
    user_id = emu.truth["compromised_users"][0]
    assert list(sdk.users.sessions.list(user_id))
    sdk.users.sessions.delete(user_id)
    sdk.users.refresh_token.delete(user_id)
    assert not list(sdk.users.sessions.list(user_id))
    statuses = [
        r["status"]
        for r in emu.journal
        if r["method"] == "DELETE" and user_id in unquote(r["path"])
    ]
    assert statuses == [202, 202]


def test_unknown_user_is_a_404(sdk: Any) -> None:
    with pytest.raises(errors.NotFoundError) as missing:
        sdk.users.get("auth0|does-not-exist")
    assert missing.value.body["errorCode"] == "inexistent_user"


def test_rate_limit_is_a_429_with_auth0s_body(monkeypatch: pytest.MonkeyPatch) -> None:
    with start_emulator(tls=True, rate_limit=(1, 0.01), now=parse_time(NOW), events=200) as emu:
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
        env = emu.env()
        client = auth0_management.ManagementClient(
            domain=env["AUTH0_DOMAIN"],
            client_id=env["AUTH0_CLIENT_ID"],
            client_secret=env["AUTH0_CLIENT_SECRET"],
        )
        once = {"max_retries": 0}
        client.logs.get(emu.tenant.logs.ids[0], request_options=once)
        with pytest.raises(errors.TooManyRequestsError) as throttled:
            client.logs.get(emu.tenant.logs.ids[1], request_options=once)
    assert throttled.value.body == {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": "Global limit has been reached",
        "errorCode": "too_many_requests",
    }
    assert throttled.value.headers["x-ratelimit-remaining"] == "0"
