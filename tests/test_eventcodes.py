"""The event code catalog: every code from Auth0's table, each with a category."""

from __future__ import annotations

from engine import eventcodes


def test_catalog_holds_auth0s_table_and_legacy_codes() -> None:
    # 165 codes in Auth0's current table (auth0-facts.md section 3), 16 catalog-only or legacy.
    current = [c for c in eventcodes.CODES.values() if not c.legacy]
    assert len(current) == 165
    assert eventcodes.lookup("fp") is not None
    assert eventcodes.lookup("fp").category == "failure"  # type: ignore[union-attr]
    assert eventcodes.lookup("pwd_leak").category == "attack_protection"  # type: ignore[union-attr]
    assert eventcodes.lookup("sapi").category == "management"  # type: ignore[union-attr]
    assert eventcodes.lookup("gd_send_pn").category == "mfa"  # type: ignore[union-attr]
    assert eventcodes.lookup("no_such_code") is None


def test_user_auth_success_covers_sso_and_exchanges_not_machines() -> None:
    for code in ("s", "ssa", "scoa", "seacft", "sertft", "sepft"):
        assert code in eventcodes.USER_AUTH_SUCCESS
    assert "seccft" not in eventcodes.USER_AUTH_SUCCESS  # client credentials: a machine
    assert all(eventcodes.CODES[c].category == "success" for c in eventcodes.USER_AUTH_SUCCESS)
