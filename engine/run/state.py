"""What a run is and how it ended: its state (``Run``), its result, its id and tenant.

``Run`` holds everything one run uses and builds (the redactor, the dry-run
guard and HTTP client, the Auth0 client on first use, the guardrails, the run
log and the approvals, the steps' results so far); ``engine.run.executor``
runs it and ``engine.run.step`` runs each of its steps. What a resumed run
takes from its log is ``engine.run.replay.Replay``.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets as pysecrets
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.actions.registry import ActionContext, ActionRegistry
from engine.audit.redact import Redactor
from engine.httpguard import DryRunGuard, guarded_client
from engine.playbook.model import Playbook
from engine.run.approval import Approvals, Approve
from engine.run.guardrails import Guardrails
from engine.run.outcomes import StepOutcome, describe
from engine.run.replay import Continuation, Replay
from engine.secrets import Secret

if TYPE_CHECKING:
    import httpx

    from engine.auth0 import Auth0Client, Auth0Settings
    from engine.logs.store import EventStore

Auth0Factory = Callable[[DryRunGuard, Callable[[str], None]], "Auth0Client"]
Event = Callable[[dict[str, Any]], None]
# always redacted when set; TEMPORAL_*: the Temporal engine's credentials (its client reads
# them, engine.temporal.spec.connect_config)
ENV_SECRETS = (
    "AUTH0_CLIENT_SECRET",
    "AUTH0_TOKEN",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
)


class LogSink(Protocol):
    """Where a run's records go: a ``RunLogWriter``, or a Temporal activity's records staged
    for an append idempotent by sequence number (``engine.temporal.effects``)."""

    path: Path
    run_id: str
    seq: int
    prev: str

    def write(self, type_: str, **fields: Any) -> dict[str, Any]: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


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


class Run:
    """The state of one run: its settings, clients, run log and step results.

    Built per run, never shared between runs. ``run_playbook`` and
    ``engine.run.resume.resume_run`` build one, ``open`` it on a run log and
    hand it to ``execute``.
    """

    writer: LogSink

    def __init__(
        self,
        playbook: Playbook,
        inputs: dict[str, Any],
        *,
        registry: ActionRegistry,
        dry_run: bool,
        approve: Approve,
        logs_file: Path | None,
        auth0_factory: Auth0Factory | None,
        protected_users: Sequence[str],
        secrets: Mapping[str, str | Secret],
        protected_ips: Sequence[str] = (),
        transport: httpx.BaseTransport | None,
        on_event: Event | None,
        redactor: Redactor | None,
        replay: Replay | None = None,
        http_read_hosts: Sequence[str] | None = None,
        cache: bool = True,
        clock: datetime | None = None,
        events_dir: Path | None = None,
    ) -> None:
        self.playbook = playbook
        self.events_dir = events_dir  # where its event store spills (default: beside the log)
        self.clock = clock  # relative times count from it (run.started's clock), else from now
        self.inputs = inputs
        self.registry = registry
        self.dry_run = dry_run
        self.plan_writes = dry_run or logs_file is not None  # offline runs write nothing
        self.on_event = on_event
        self.replay = replay or Replay()
        self.redactor = redactor if redactor is not None else Redactor()
        for name in ENV_SECRETS:
            self.redactor.add(os.environ.get(name))
        self.secrets = {
            name: v if isinstance(v, Secret) else Secret(name, v) for name, v in secrets.items()
        }
        for secret in self.secrets.values():
            self.redactor.add(secret)
        self.guardrails = Guardrails(protected_users, protected_ips)
        self.approve = approve
        self.tenant = tenant_label(logs_file)  # shown at approval; run_playbook may name it
        self.guard = DryRunGuard(self.plan_writes, http_read_hosts)  # the one guard of this run
        self.http = guarded_client(self.guard, transport, timeout=30.0)
        self.auth0_factory = auth0_factory or default_auth0_factory
        self._auth0: Auth0Client | None = None
        self._open_lock = threading.Lock()  # the Auth0 client and the event store, each opened once
        self.cache = cache
        self._events: EventStore | None = None
        self.ctx = ActionContext(
            dry_run=self.plan_writes,
            http=self.http,
            auth0_factory=self.auth0,
            logs_file=logs_file,
            secrets=self.secrets,
            events_factory=self.event_store,
            now=clock,
        )
        self.steps: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self.continuation = Continuation(self.replay, self.log)

    def auth0(self) -> Auth0Client:
        """The run's one Auth0 client, built on first use (``for_each`` threads may race here)."""
        with self._open_lock:
            if self._auth0 is None:
                self._auth0 = self.auth0_factory(self.guard, self.redactor.add)
            return self._auth0

    def event_store(self) -> EventStore:
        """The run's one event store, opened on first use; it spills to ``<run log>.events/``."""
        from engine.logs.cache import cache_dir
        from engine.logs.store import EventStore

        with self._open_lock:
            if self._events is None:
                workdir = self.events_dir or self.writer.path.with_suffix(".events")
                self._events = EventStore(workdir, cache_dir(self.cache))
            return self._events

    def tenant_identity(self) -> tuple[dict[str, str | None], str | None]:
        """``{"tenant_url", "client_id"}`` this run's writes go to, and why they are unknown.

        Builds the Auth0 client (no request is sent): its settings are what the
        writes will use. Offline runs and runs without Auth0 settings have none.
        """
        if self.ctx.logs_file is not None:
            return {"tenant_url": None, "client_id": None}, None
        try:
            client = self.auth0()
        except Exception as exc:  # no usable settings: the steps that need them will say so
            return {"tenant_url": None, "client_id": None}, self.redactor.text(describe(exc))
        return client_identity(client)

    def open(self, writer: LogSink) -> None:
        """Attach the run log this run writes to (a new one, or a stopped run's, reopened)."""
        self.writer = writer
        self.approvals = Approvals(self.approve, self.log, self.replay.approved)

    def log(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Write one run-log record (redacted, chained) and show it to ``on_event``."""
        record = self.writer.write(type_, **fields)
        if self.on_event:
            self.on_event(record)
        return record

    def context(self) -> dict[str, Any]:
        """The template context: inputs, the steps so far, secrets, the run."""
        return {
            "inputs": self.inputs,
            "steps": self.steps,
            "secrets": self.secrets,
            "run": {"id": self.writer.run_id, "dry_run": self.dry_run},
        }

    def close(self) -> None:
        """Close the run log and the run's HTTP clients."""
        self.writer.close()
        self.http.close()
        if self._auth0 is not None:
            self._auth0.close()
        if self._events is not None:
            self._events.close()


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
