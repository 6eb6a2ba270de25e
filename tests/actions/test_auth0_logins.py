"""auth0_logins on an offline file: every success type, every IP form, activity after compromise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.actions import auth0_logins as logins
from engine.actions.registry import ActionContext
from engine.errors import ActionError
from engine.eventcodes import ATTACK_INDICATORS, USER_AUTH_SUCCESS

ATTACKER = "2001:db8:0:0:0:0:0:e970"  # logged unabbreviated; the responder types 2001:db8::e970


def event(n: int, type_: str, ip: str, user: str = "auth0|v", **kw: Any) -> dict[str, Any]:
    log_id = f"9002026112110{n:04d}" + "0" * 38
    return {
        "log_id": log_id,
        "date": f"2026-11-21T10:{n // 60:02d}:{n % 60:02d}.000Z",
        "type": type_,
        "ip": ip,
        "user_id": user,
        "user_name": f"{user}@example.com",
        "client_id": f"c{n}",
        "client_name": f"App {type_}",
        **kw,
    }


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Any]:
    def make(events: list[dict[str, Any]]) -> ActionContext:
        f = tmp_path / "logs.jsonl"
        f.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        return ActionContext(dry_run=True, http=client, logs_file=f)

    with httpx.Client() as client:
        yield make


def test_every_success_type_is_a_login_and_no_failure_is(offline: Any) -> None:
    success = sorted(USER_AUTH_SUCCESS)
    events = [event(i, t, ATTACKER, user=f"auth0|u{i}") for i, t in enumerate(success)]
    events += [event(100 + i, t, ATTACKER, user="auth0|f") for i, t in enumerate(ATTACK_INDICATORS)]
    events.append(event(200, "seccft", ATTACKER, user=""))  # a machine, not a user
    ctx = offline(events)
    out = logins.find_successful_logins(ctx, {"ips": ["2001:db8::e970"], "since": "2026-11-20"})
    assert sorted(out["types"]) == success
    assert out["users"] == [f"auth0|u{i}" for i in range(len(success))]
    clients = logins.list_accessed_clients(ctx, {"user_ids": out["users"], "since": "2026-11-20"})
    assert all(len(c) == 1 for c in clients["client_names"].values())


def test_every_form_of_the_address_is_searched_and_no_other_address(offline: Any) -> None:
    forms = [
        "2001:db8:0:0:0:0:0:e970",
        "2001:0db8:0000:0000:0000:0000:0000:e970",
        "2001:DB8::E970",
        "2001:db8::e970",
    ]
    events = [event(i, "s", f, user=f"auth0|u{i}") for i, f in enumerate(forms)]
    events.append(event(9, "s", "2001:db8::e971", user="auth0|neighbour"))
    events.append(event(10, "s", "::ffff:198.51.100.7", user="auth0|mapped"))
    events.append(event(11, "ssa", "198.51.100.7", user="auth0|plain"))
    events.append(event(12, "s", "fe80::1%eth0", user="auth0|zoned"))
    ctx = offline(events)
    args = {"since": "2026-11-20"}
    out = logins.find_successful_logins(ctx, {**args, "ips": ["2001:db8::e970"]})
    assert out["users"] == ["auth0|u0", "auth0|u1", "auth0|u2", "auth0|u3"]
    v4 = logins.find_successful_logins(ctx, {**args, "ips": ["198.51.100.7"]})
    assert v4["users"] == ["auth0|mapped", "auth0|plain"]
    # an ip.extract row: its forms are searched as logged
    row = {"ip": "fe80::1%eth0", "forms": ["fe80::1%eth0"]}
    assert logins.find_successful_logins(ctx, {**args, "ips": [row]})["users"] == ["auth0|zoned"]
    with pytest.raises(ActionError, match=r"string or an ip\.extract row"):
        logins.find_successful_logins(ctx, {**args, "ips": [7]})


def test_activity_after_compromise_leaves_out_before_and_the_attackers_addresses(
    offline: Any,
) -> None:
    events = [
        event(1, "s", "81.2.69.143"),  # the owner, before the compromise
        event(2, "s", ATTACKER),  # the compromise
        event(3, "sertft", "2001:DB8::E970"),  # the attacker again, another form
        event(4, "fp", "203.0.113.66"),  # another suspicious address, left out by `ips`
        event(5, "sertft", "146.70.117.41"),  # the attacker's new address
        event(6, "slo", "146.70.117.41"),
        event(7, "s", "81.2.69.143", user="auth0|other"),  # not compromised
        event(8, "fn", None),  # no address
    ]
    ctx = offline(events)
    found = logins.find_successful_logins(ctx, {"ips": [ATTACKER], "since": "2026-11-20"})
    out = logins.activity_after_compromise(
        ctx, {"logins": found["events"], "ips": ["203.0.113.66"], "since": "2026-11-20"}
    )
    assert out["first_compromise"] == {"auth0|v": "2026-11-21T10:00:02.000Z"}
    (only,) = out["activity"].values()
    assert (only["ips"], only["types"], only["count"]) == (
        ["146.70.117.41"],
        {"sertft": 1, "slo": 1},
        2,
    )
    assert only["addresses"][0]["first_seen"] == "2026-11-21T10:00:05.000Z"
    assert logins.activity_after_compromise(ctx, {"logins": []})["activity"] == {}
