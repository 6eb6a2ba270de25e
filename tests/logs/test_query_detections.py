"""Auth0's own published detection queries parse and match the events they are written for.

Each query is the ``tenant_logs`` text of a rule in auth0/auth0-customer-detections
(``detections/<name>.yml``), verbatim: YAML ``|`` block scalars, so with their line
breaks and trailing newline, a space after the colon, and value lists written side by
side (``type: (seacft sertft)``), which only mean something if the implicit operator
is OR. Placeholders the rules ask the reader to fill in (``{your-tenant-url}``) are
filled in. The events carry the fields each query reads, with the descriptions the
rules quote.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.auth0 import Auth0Client, Auth0Settings
from engine.auth0.search import search, search_file
from engine.emulator import start_emulator
from engine.httpguard import DryRunGuard
from engine.logs.query import compile_query
from engine.timeutil import iso_ms


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "description": None, "hostname": None, "client_id": None, **fields}


def types(*codes: str) -> list[dict[str, Any]]:
    return [ev(c) for c in codes]


BRUTE = "Update Brute-force settings"
RULES: list[tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        "credential_stuffing_signals.yml",
        "type: (f fu fp pwd_leak limit_wc limit_sul limit_mu fcoa)\n",
        types("f", "fu", "fp", "pwd_leak", "limit_wc", "limit_sul", "limit_mu", "fcoa"),
        types("s", "fs", "ssa", "fcoa2", "limit"),
    ),
    (
        "refresh_token_from_multiple_user_agent.yml",
        "type: (seacft sertft)\n",
        types("seacft", "sertft"),
        types("sepft", "s", "fertft"),
    ),
    (
        "logins_from_suspicious_tls_fingerprints.yml",
        "type: (s scoa)\n",
        types("s", "scoa"),
        types("ssa", "fcoa"),
    ),
    (
        "logins_or_signups_from_suspicious_ips.yml",
        "type: (reset_pwd_leak pwd_leak signup_pwd_leak limit_wc limit_sul limit_mu pla)\n",
        types("reset_pwd_leak", "pwd_leak", "signup_pwd_leak", "pla"),
        types("s", "ss", "limit_ui"),
    ),
    (
        "many_unverified_accounts_created.yml",
        "type: (ss sv)\n",
        types("ss", "sv"),
        types("s", "svr"),
    ),
    (
        "cross_origin_authentication_enabled.yml",
        "type: (sapi)\n",
        types("sapi"),
        types("s", "fapi"),
    ),
    (
        "client_with_overpermissive_granted_scopes.yml",
        "type: sapi\n",
        types("sapi"),
        types("mgmt_api_read"),
    ),
    (
        "attack_protection_features_turned_off.yml",
        'type: "sapi" AND (description: "Update Suspicious IP Throttling settings"\n'
        'OR description: "Update Breached Password Detection settings"\n'
        'OR description: "Update Brute-force settings")\n',
        [
            ev("sapi", description="Update Suspicious IP Throttling settings"),
            ev("sapi", description="Update Breached Password Detection settings"),
            ev("sapi", description=BRUTE),
        ],
        [ev("sapi", description="Update a client"), ev("mgmt_api_read", description=BRUTE)],
    ),
    (
        "risk_of_signup_fraud_by_volume.yml",
        'type:"fs" OR type:"ss" OR type:"signup_pwd_leak"\n',
        types("fs", "ss", "signup_pwd_leak"),
        types("s", "f"),
    ),
    (
        "many_failed_authorization_requests.yml",
        'type:"f" AND description:*mismatch*\n',
        [ev("f", description="Callback URL mismatch. https://evil.example/cb is not in the list")],
        [ev("fp", description="Callback URL mismatch."), ev("f", description="Wrong password.")],
    ),
    (
        "rapid_creation_of_clients_with_dynamic_registration.yml",
        'type:sapi AND description:"Dynamic client registration"\n',
        [ev("sapi", description="Dynamic client registration")],
        [ev("sapi", description="Dynamic client registration.")],
    ),
    (
        "risk_of_tenant_takeover.yml",
        'type:"sapi" AND (description:"Delete tenant member" OR description:"Create tenant '
        'invitations for a given client")\n',
        [ev("sapi", description="Delete tenant member")],
        [ev("s", description="Delete tenant member"), ev("sapi", description="Delete a user")],
    ),
    (
        "use_of_auth0_tenant_name_url.yml ({your-tenant-url} filled in)",
        "type: (s f fs ss f u fp scoa fcoa sepft fepft) AND hostname: acme.us.auth0.com\n",
        [ev("s", hostname="acme.us.auth0.com"), ev("fepft", hostname="acme.us.auth0.com")],
        [ev("s", hostname="login.acme.com"), ev("w", hostname="acme.us.auth0.com")],
    ),
    (
        "risk_of_copying_the_most_powerful_token.yml ({api_explorer_client_id} filled in)",
        'type: "seccft" AND client_id: "vZCEFsDYzXc1x9IomB8dF185e4cdVah5"\n',
        [ev("seccft", client_id="vZCEFsDYzXc1x9IomB8dF185e4cdVah5")],
        [
            ev("seccft", client_id="other"),
            ev("sertft", client_id="vZCEFsDYzXc1x9IomB8dF185e4cdVah5"),
        ],
    ),
]


@pytest.mark.parametrize(("rule", "query", "hits", "misses"), RULES, ids=[r[0] for r in RULES])
def test_auth0_detection_queries_match_what_they_are_written_for(
    rule: str, query: str, hits: list[dict[str, Any]], misses: list[dict[str, Any]]
) -> None:
    q = compile_query(query)
    assert [e for e in hits if not q(e)] == [], rule
    assert [e for e in misses if q(e)] == [], rule
    assert q.ambiguities == ()


def test_a_value_list_is_one_index_lookup_per_value() -> None:
    q = compile_query("type: (f fu fp pwd_leak limit_wc limit_sul limit_mu fcoa)")
    assert q.hints.eq == {
        "type": frozenset(
            ["f", "fu", "fp", "pwd_leak", "limit_wc", "limit_sul", "limit_mu", "fcoa"]
        )
    }


def test_the_emulator_and_offline_search_read_value_lists_alike(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    codes = ["seacft", "s", "sertft", "sepft", "fu", "seacft"]
    path = tmp_path / "tenant.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "log_id": "900" + f"{n:053d}",
                    "type": code,
                    "date": iso_ms(now - timedelta(minutes=10 - n)),
                }
            )
            + "\n"
            for n, code in enumerate(codes)
        )
    )
    query = "type: (seacft sertft)\n"
    since, until = now - timedelta(hours=1), now + timedelta(minutes=1)
    offline = [e["type"] for e in search_file(path, query, since, until).events]
    with start_emulator(logs_file=path, rate_limit=(1000, 5000.0)) as emu:
        settings = Auth0Settings.create(
            emu.base_url, client_id=emu.client_id, client_secret=emu.client_secret
        )
        with Auth0Client(settings, guard=DryRunGuard(False)) as client:
            online = [e["type"] for e in search(client, query, since, until).events]
    assert offline == online == ["seacft", "sertft", "seacft"]
