"""What a run is and how it ended: its id, result, tenant label, and what a resume replays.

Split from ``engine.executor`` (which re-exports these names) so that the
executor module holds only the running of steps.
"""

from __future__ import annotations

import getpass
import os
import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.httpguard import DryRunGuard
from engine.steps import StepOutcome

if TYPE_CHECKING:
    from engine.auth0 import Auth0Client

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


@dataclass
class Replay:
    """What an earlier part of this run already did (``soar resume``).

    ``done``: full results of completed writes by call key; ``unknown``: writes
    sent (``action.call``) whose outcome the log does not know; ``approved``:
    the targets each step was approved for; ``resend_unknown``: the operator
    checked the unknown writes by hand and confirmed they may be sent again.
    """

    done: dict[str, Any] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    approved: dict[str, set[str]] = field(default_factory=dict)
    resend_unknown: bool = False


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


def operator_name() -> str:
    """The login name of who runs soar (``unknown`` when the system cannot tell)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
