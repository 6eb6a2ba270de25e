"""The background mix: which Auth0 event codes a healthy tenant writes, how often, with what.

Codes come from ``engine.eventcodes`` (checked at import: a code the catalog
does not know is a bug here). The weights are a B2C tenant's day: logins,
silent authentication and refresh-token exchanges dominate; a web app's
backend exchanges authorization codes; a machine client takes tokens; users
log out, verify emails, reset passwords, pass MFA; a few typos, expired
silent sessions and failed notifications. Fields per type follow Auth0's log
catalog (auth0/docs-v2 ``oas/tenant-logs/logs-schema.json``) and the real
samples cited in ``tests/data/auth0/SOURCES.md``: which types carry a
connection, an ``audience`` and a ``scope`` (a string, or for some types an
array), and the shape of their ``details``.

Ground truth stays valid: every user event comes from the user's own home
IP, failures are spread thinly (about 6% of events, so no legitimate IP
comes near the triage's 20 indicator events), and no attack-protection code
(``limit_*``, ``*pwd_leak``) appears in background traffic at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import EmulatorError
from engine.eventcodes import ATTACK_INDICATORS, lookup

Source = Literal["user", "backend", "machine", "tenant"]
API = "https://api.acme-emulated.example/"
_ERROR = {"error": {"message": "Wrong email or password."}}
_PROMPTS = {
    "prompts": [
        {"name": "prompt-authenticate", "strategy": "auth0", "elapsedTime": None},
        {"name": "login", "flow": "universal-login", "timers": {"rules": 4}, "elapsedTime": 10076},
    ],
    "stats": {"loginsCount": 4},
}
_GUARDIAN = {"authenticator": {"type": "sms"}, "remember_browser": False}
_SPA = {"audience": API, "scope": ["openid", "profile", "email"]}  # scope as an array


@dataclass(frozen=True)
class Kind:
    """One event code of the mix.

    ``source``: ``user`` (the user's home IP and a human application),
    ``backend`` (the web application's server exchanging codes for a user),
    ``machine`` (the machine client, no user), ``tenant`` (no user, no IP).
    ``fields`` override the event's other fields (audience, scope, hostname).
    """

    code: str
    weight: float
    source: Source = "user"
    description: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    connection: bool = True
    fields: Mapping[str, Any] = field(default_factory=dict)


MIX: tuple[Kind, ...] = (
    Kind("s", 0.28, description="Successful login", details=_PROMPTS),
    Kind(
        "ssa",
        0.12,
        description="Successful silent authentication",
        details={"prompts": [], "elapsedTime": None},
        connection=False,
    ),
    Kind(
        "sertft",
        0.08,
        description="Successful exchange of refresh token for access token",
        details={"familyId": "fam_emulated", "tokenCounter": 2},
        connection=False,
        fields={"audience": API, "scope": "openid profile offline_access"},
    ),
    Kind(
        "seacft",
        0.06,
        "backend",
        details={"code": "******************************************VM-"},
        connection=False,
    ),
    Kind("scoa", 0.02, description="Successful cross-origin authentication"),
    Kind(
        "slo",
        0.07,
        description="User successfully logged out",
        details={"return_to": "https://portal.acme-emulated.example/", "allowed_logout_url": []},
    ),
    Kind(
        "seccft",
        0.10,
        "machine",
        description="Client Credentials for Access Token",
        connection=False,
        fields={"scope": "read:users read:logs", "user_name": ""},
    ),
    Kind("fp", 0.03, description="Wrong email or password.", details=_ERROR),
    Kind("fu", 0.008, description="Wrong email or password.", details=_ERROR),
    Kind(
        "f",
        0.003,
        description="Invalid state",
        details={"error": {"message": "Invalid state", "type": "invalid-state"}},
    ),
    Kind(
        "fcoa",
        0.002,
        description="Wrong email or password.",
        details=_ERROR,
        fields=_SPA,
    ),
    Kind(
        "fsa",
        0.02,
        description="Login required",
        connection=False,
        fields=_SPA,
    ),
    Kind("ss", 0.01, description="Successful signup", fields={"hostname": None}),
    Kind(
        "sv", 0.05, description="Your email was verified. You can continue using the application."
    ),
    Kind("svr", 0.005, description="Successful verification email request"),
    Kind("scpr", 0.006, description="Successful change password request"),
    Kind("scp", 0.005, description="Password changed successfully"),
    Kind("sce", 0.002, description="Successful change email"),
    Kind("mfar", 0.012, description="Multifactor authentication required"),
    Kind("gd_start_auth", 0.01, description="Second factor started.", details=_GUARDIAN),
    Kind("gd_send_sms", 0.008, description="SMS sent", details=_GUARDIAN),
    Kind("gd_auth_succeed", 0.01, description="MFA Auth success", details=_GUARDIAN),
    Kind("gd_enrollment_complete", 0.001, description="Guardian - Enrollment complete (sms)"),
    Kind(
        "fn",
        0.003,
        "tenant",
        details={"email_type": "verify_email", "error": "the domain is blacklisted"},
        fields={"hostname": None},
    ),
    Kind(
        "depnote",
        0.002,
        "backend",
        description="Deprecation Notice",
        details={"feature": {"id": "legacy_lock_api"}, "method": "GET", "path": "/authorize"},
        connection=False,
    ),
)

for _kind in MIX:  # the catalog is the one list of codes
    if lookup(_kind.code) is None:
        raise EmulatorError(f"background code {_kind.code!r} is not in engine.eventcodes")
    if _kind.code in ATTACK_INDICATORS and _kind.code not in ("f", "fp", "fu", "fcoa"):
        raise EmulatorError(f"background code {_kind.code!r} is an attack-protection event")
