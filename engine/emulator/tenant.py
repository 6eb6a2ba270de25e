"""The emulated tenant's state: users, tokens, blocks, revocations, rate limit, journal."""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.emulator.logstore import LogStore
from engine.errors import EmulatorError


def user_record(user_id: str, created_at: str | None, **fields: Any) -> dict[str, Any]:
    """A user in the shape ``GET /users/{id}`` returns (auth0-facts.md section 7), in Auth0's order.

    Every property is present, null or empty unless ``fields`` sets it.
    """
    user: dict[str, Any] = {
        "user_id": user_id,
        "email": None,
        "email_verified": False,
        "username": None,
        "phone_number": None,
        "phone_verified": False,
        "created_at": created_at,
        "updated_at": created_at,
        "identities": [],
        "app_metadata": {},
        "user_metadata": {},
        "picture": None,
        "name": None,
        "nickname": None,
        "multifactor": [],
        "last_ip": None,
        "last_login": None,
        "last_password_reset": None,
        "logins_count": 0,
        "blocked": False,
        "given_name": None,
        "family_name": None,
    }
    unknown = set(fields) - set(user)
    if unknown:
        raise EmulatorError(f"not a user property: {', '.join(sorted(unknown))}")
    user.update(fields)
    return user


class TokenBucket:
    """Burst ``capacity``, refilled at ``rate`` per second (Auth0's algorithm, §5)."""

    def __init__(self, capacity: int, rate: float, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.tokens = float(capacity)
        self.t = clock()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, dict[str, str]]:
        """Spend one token if there is one; the x-ratelimit-* headers either way."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
            self.t = now
            ok = self.tokens >= 1.0
            if ok:
                self.tokens -= 1.0
            missing = (
                max(0.0, 1.0 - self.tokens) if self.tokens < 1.0 else 1.0 - (self.tokens % 1.0)
            )
            reset = math.ceil(now + missing / self.rate) if self.rate > 0 else math.ceil(now + 60)
            headers = {
                "x-ratelimit-limit": str(self.capacity),
                "x-ratelimit-remaining": str(int(self.tokens)),
                "x-ratelimit-reset": str(reset),
            }
            return ok, headers


@dataclass
class Stats:
    """Counters: /api/v2 requests, 429s served, faults injected, tokens issued, events appended."""

    requests: int = 0
    throttled: int = 0
    faults: int = 0
    appended: int = 0  # log events the tenant wrote while serving (engine.emulator.reactions)


@dataclass
class Tenant:
    """Everything the emulator serves; tests and drills inspect it directly."""

    logs: LogStore
    users: dict[str, dict[str, Any]]
    client_id: str
    client_secret: str
    token_ttl: float = 86400.0
    user_blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    revoked_sessions: list[str] = field(default_factory=list)
    revoked_refresh_tokens: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    # Tenant ACLs by id, and the addresses Suspicious IP Throttling blocks (engine.emulator.network)
    network_acls: dict[str, dict[str, Any]] = field(default_factory=dict)
    ip_blocks: set[str] = field(default_factory=set)
    journal: list[dict[str, Any]] = field(default_factory=list)
    journal_path: Path | None = None
    stats: Stats = field(default_factory=Stats)
    _tokens: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str) -> int:
        """Add one to a ``Stats`` counter (handler threads run concurrently); its new value."""
        with self._lock:
            value: int = getattr(self.stats, name) + 1
            setattr(self.stats, name, value)
        return value

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + self.token_ttl
        return token

    def token_state(self, token: str) -> str:
        """``valid``, ``expired`` or ``invalid``."""
        with self._lock:
            expires = self._tokens.get(token)
        if expires is None:
            return "invalid"
        return "valid" if time.time() < expires else "expired"

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.journal.append(entry)
            if self.journal_path is not None:
                with self.journal_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def find_user(self, identifier: str) -> dict[str, Any] | None:
        for user in self.users.values():
            if identifier in (user.get("email"), user.get("username"), user.get("phone_number")):
                return user
        return None

    def writes(self) -> list[dict[str, Any]]:
        """Journal entries that changed (or tried to change) the tenant."""
        return [e for e in self.journal if e["method"] != "GET" and e["path"] != "/oauth/token"]
