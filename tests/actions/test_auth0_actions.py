"""Auth0 actions and ``soar logs export`` against the emulator (real HTTP, port 0)."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from soarcli import soar

from engine.actions import auth0 as actions
from engine.actions import auth0_containment as containment
from engine.actions.registry import ActionContext
from engine.emulator import RunningEmulator, start_emulator
from engine.errors import ActionError, DryRunViolation, UpstreamError

HOSTILE = ["../../logs", "x?per_page=1000", "a#b", "auth0|x/../../user-blocks", "%2e%2e", "a b"]


@pytest.fixture(scope="module")
def tenant() -> Iterator[RunningEmulator]:
    """A small tenant these tests may write to."""
    with start_emulator(scenario="credential-stuffing", seed=2, events=800) as emu:
        yield emu


def test_hostile_ids_stay_one_path_segment_in_every_action(
    tenant: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(tenant)
    calls = [
        lambda uid: actions.get_user(ctx, {"user_id": uid}),
        lambda uid: actions.user_logs(ctx, {"user_id": uid, "since": "1d"}),
        lambda uid: actions.list_user_blocks(ctx, {"user_id": uid}),
        lambda uid: containment._block(ctx, {"user_id": uid}),
        lambda uid: containment.revoke_sessions(ctx, {"user_id": uid}),
        lambda uid: containment.delete_user(ctx, {"user_id": uid}),
        lambda uid: containment.clear_user_blocks(ctx, {"user_id": uid}),
    ]
    start = len(tenant.journal)
    for hostile in HOSTILE:
        for call in calls:
            # an unknown user: 404 inexistent_user (UpstreamError is an ActionError)
            with contextlib.suppress(ActionError):
                call(hostile)
    for dots in (".", ".."):
        for call in calls:
            with pytest.raises(ActionError, match="not a valid Auth0 id"):
                call(dots)
    entries = [e for e in tenant.journal[start:] if e["path"] != "/oauth/token"]
    assert len(entries) >= len(HOSTILE) * len(calls)
    for e in entries:
        root, segment, *tail = e["path"].removeprefix("/api/v2/").split("/")
        assert root in ("users", "user-blocks") and urllib.parse.unquote(segment) in HOSTILE
        assert tail in ([], ["logs"], ["sessions"], ["refresh-tokens"]), e["path"]
        assert "1000" not in json.dumps(e["query"])


def test_unknown_user_is_a_404_with_auth0s_code(
    tenant: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(tenant)
    with pytest.raises(UpstreamError) as info:
        containment.revoke_sessions(ctx, {"user_id": "auth0|nobody"})
    err = info.value
    assert (err.status, err.error_code, err.method) == (404, "inexistent_user", "DELETE")
    assert err.path == "/api/v2/users/auth0%7Cnobody/sessions"
    with pytest.raises(ActionError, match="does not exist"):
        containment._block(ctx, {"user_id": "auth0|nobody"})


def test_user_logs_match_the_search_by_user_id(
    tenant: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(tenant)
    uid = tenant.truth["compromised_users"][0]
    out = actions.user_logs(ctx, {"user_id": uid, "since": "2d"})
    searched = actions.search_logs(ctx, {"query": f'user_id:"{uid}"', "since": "2d"})
    assert out["count"] > 0 and out["count"] == searched["count"]
    assert [e["log_id"] for e in out["events"]] == [e["log_id"] for e in searched["events"]]


def test_user_blocks_listed_by_id_and_identifier_then_cleared(
    tenant: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(tenant)
    uid, blocks = next(iter(tenant.tenant.user_blocks.items()))
    by_id = actions.list_user_blocks(ctx, {"user_id": uid})
    by_ident = actions.list_user_blocks(ctx, {"identifier": blocks[0]["identifier"]})
    assert by_id == by_ident and by_id["count"] == len(blocks) > 0
    assert containment.clear_user_blocks(ctx, {"user_id": uid}) == {
        "user_id": uid,
        "cleared": len(blocks),
        "changed": True,
    }
    assert containment.clear_user_blocks(ctx, {"user_id": uid})["changed"] is False
    assert actions.list_user_blocks(ctx, {"user_id": uid})["count"] == 0


def test_a_write_action_run_in_a_dry_run_is_refused_by_the_client(
    tenant: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    """The second line of defence: even if an action's func ran in a dry run, nothing is sent."""
    before = len(tenant.tenant.writes())
    ctx = auth0_ctx(tenant, dry_run=True)
    uid = tenant.truth["legitimate_users"][0]
    for write in (containment._block, containment.delete_user, containment.revoke_sessions):
        with pytest.raises(DryRunViolation):
            write(ctx, {"user_id": uid})
    assert len(tenant.tenant.writes()) == before and not tenant.tenant.users[uid].get("blocked")


def test_search_reports_its_own_stats_and_warns_past_retention(
    tenant: RunningEmulator, auth0_ctx: Callable[..., ActionContext]
) -> None:
    ctx = auth0_ctx(tenant)
    out = actions.search_logs(ctx, {"query": 'type:"fp"', "since": "45d", "limit": 5})
    assert out["count"] == 5 and out["stats"]["requests"] >= 1
    assert set(out["stats"]) >= {"requests", "retries", "waited_s"}
    assert any("1 to 30 days" in w for w in out["warnings"])
    fields = actions.search_logs(ctx, {"query": 'type:"fp"', "since": "2d", "fields": ["ip"]})
    assert fields["count"] > 0 and all(set(e) == {"ip"} for e in fields["events"])


def test_logs_export_cli(tenant: RunningEmulator, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    done = soar("logs", "export", "--since", "2d", "-o", str(out), env=tenant.env())
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    # every scenario event, plus the sapi events earlier tests' writes left (one in the
    # export's own last second falls after its `until`)
    scenario = {tenant.tenant.logs.ids[p] for p in range(tenant.truth["events"])}
    assert scenario <= {e["log_id"] for e in lines} and "wrote" in done.stderr
    assert len(lines) <= tenant.truth["events"] + tenant.stats.appended
    assert tenant.client_secret not in done.stderr + done.stdout
    fp = tmp_path / "fp.jsonl"
    done = soar("logs", "export", "-q", 'type:"fp"', "-o", str(fp), env=tenant.env())
    assert done.returncode == 0 and "search" in done.stderr
    assert {json.loads(x)["type"] for x in fp.read_text(encoding="utf-8").splitlines()} == {"fp"}
    bad = {**tenant.env(), "AUTH0_CLIENT_SECRET": "wrong-secret-for-the-test"}
    done = soar("logs", "export", "-o", str(tmp_path / "x.jsonl"), env=bad)
    assert done.returncode == 2 and "AUTH0_CLIENT_SECRET" in done.stderr
    assert "wrong-secret-for-the-test" not in done.stderr
    done = soar("logs", "export", "-o", str(tmp_path / "y.jsonl"), env={})
    assert done.returncode == 2 and "AUTH0_DOMAIN" in done.stderr
