"""What a run is and how it ended: its id, result, tenant label, and what a resume replays.

Split from ``engine.run.executor`` (which re-exports these names) so that the
executor module holds only the running of steps.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets as pysecrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.httpguard import DryRunGuard
from engine.run.outcomes import StepOutcome

if TYPE_CHECKING:
    from engine.auth0 import Auth0Client, Auth0Settings

Auth0Factory = Callable[[DryRunGuard, Callable[[str], None]], "Auth0Client"]
Event = Callable[[dict[str, Any]], None]
ENV_SECRETS = ("AUTH0_CLIENT_SECRET", "AUTH0_TOKEN")  # always redacted when set


@dataclass(frozen=True)
class RunResult:
    """How a run ended. ``status``: ``succeeded``, ``failed`` or ``awaiting_approval``."""

    run_id: str
    status: str
    dry_run: bool
    outputs: dict[str, Any]
    run_log: Path
    final_hash: str
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    error: str | None = None


def new_run_id() -> str:
    """``20261128T081500Z-3f9a1c``: sortable by start time, unique by its random tail."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + pysecrets.token_hex(3)


def default_auth0_factory(guard: DryRunGuard, on_secret: Callable[[str], None]) -> Auth0Client:
    """The Auth0 client from ``AUTH0_*``; it reports every secret it holds through ``on_secret``."""
    from engine.auth0 import client_from_env

    return client_from_env(guard, on_secret=on_secret)


def tenant_label(logs_file: Path | None) -> str:
    """``offline:<file>`` with ``--logs``; else the ``AUTH0_DOMAIN`` host."""
    if logs_file is not None:
        return f"offline:{logs_file}"
    domain = os.environ.get("AUTH0_DOMAIN", "").strip()
    if not domain:
        return "(AUTH0_DOMAIN not set)"
    host = domain.split("://", 1)[-1]
    # never credentials given in the URL (user:pass@host): the settings refuse them
    return host.split("/", 1)[0].rpartition("@")[2]


def client_identity(client: Any) -> tuple[dict[str, str | None], str | None]:
    """The identity of the tenant an Auth0 client writes to, and why it is unknown if it is."""
    from engine.auth0 import Auth0Settings  # lazily: runs without Auth0 never load it

    settings = getattr(client, "settings", None)
    if not isinstance(settings, Auth0Settings):
        none: dict[str, str | None] = {"tenant_url": None, "client_id": None}
        return none, "the Auth0 client does not say which tenant it writes to"
    return tenant_identity(settings), None


def tenant_identity(settings: Auth0Settings) -> dict[str, str | None]:
    """``{"tenant_url", "client_id"}`` of the Auth0 settings a run writes with.

    ``tenant_url`` is scheme, host and port only (any userinfo in
    ``AUTH0_DOMAIN`` is left out: it is a credential). With a ready
    ``AUTH0_TOKEN`` the client id is the token's ``azp`` claim (read, not
    verified: it only names the credentials).
    """
    parts = urllib.parse.urlsplit(settings.base_url)
    host = (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    url = f"{parts.scheme}://{host}{port}"
    client_id = settings.client_id
    if not client_id and settings.token is not None:
        client_id = token_client_id(settings.token.reveal())
    return {"tenant_url": url, "client_id": client_id}


def token_client_id(token: str) -> str | None:
    """The client a JWT access token was issued to, if it says.

    Auth0's access token profiles (auth0.com/docs/secure/tokens/access-tokens/
    access-token-profiles): the Auth0 profile carries ``azp``, the RFC 9068
    profile ``client_id``; both have ``sub`` = ``<client id>@clients`` for the
    client-credentials grant.
    """
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    sub = str(claims.get("sub") or "")
    by_sub = sub.removesuffix("@clients") if sub.endswith("@clients") else None
    azp = claims.get("azp") or claims.get("client_id") or by_sub
    return str(azp)[:200] if azp else None


def operator_name() -> str:
    """The login name of who runs soar (``unknown`` when the system cannot tell)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
