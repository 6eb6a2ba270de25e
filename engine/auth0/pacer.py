"""Pacing under Auth0's token-bucket rate limit, from the x-ratelimit-* headers.

The pacer keeps a model of the server's bucket: tokens now (from
``x-ratelimit-remaining``, which is the floor of the server's count), the
capacity (``x-ratelimit-limit``) and the refill rate. The rate is not sent, so
it is estimated: once from how much the bucket refilled during a wait, then
continually from the requests sent plus the change in ``remaining`` over a
window of at least a second (successive remaining values). A request is sent
only when the model holds at least one token plus a small margin, so a
harvest runs close to the rate bound while almost never meeting a 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MARGIN = 0.05  # tokens kept in hand against clock skew between us and the server
WINDOW = 1.0  # seconds of history before a rate estimate is trusted


class Pacer:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self.limit: float | None = None
        self.tokens: float | None = None  # model, as of self.t
        self.t = 0.0
        self.rate: float | None = None
        self.reset_wall: float | None = None
        self._win_t: float | None = None
        self._win_remaining = 0.0
        self._win_sent = 0
        self._depleted_at: float | None = None
        self._probe = False

    def _advance(self, now: float) -> None:
        if self.tokens is not None and self.rate:
            self.tokens = min(self.limit or 1e9, self.tokens + self.rate * (now - self.t))
        self.t = now

    def delay(self) -> float:
        """Seconds to wait before the next request; 0 when it may go now (and is counted)."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            if self.tokens is None:
                return 0.0
            need = 1.0 + (MARGIN if self.rate else 0.0)
            if self.tokens >= need or self._probe:
                self._probe = False
                self.tokens -= 1.0
                self._win_sent += 1
                return 0.0
            if self.rate:
                return (need - self.tokens) / self.rate
            # No rate known yet: wait for the reset the server announced, then probe once.
            if self._depleted_at is None:
                self._depleted_at = now
            self._probe = True
            wait = (self.reset_wall - self.wall()) if self.reset_wall else 1.0
            return min(max(wait, 0.05), 60.0)

    def observe(self, remaining: str | None, limit: str | None, reset: str | None) -> None:
        """Learn from a response's rate-limit headers."""
        try:
            r = float(remaining) if remaining is not None else None
            lim = float(limit) if limit is not None else None
            rst = float(reset) if reset is not None else None
        except ValueError:
            return
        if r is None:
            return
        with self._lock:
            now = self.clock()
            self._advance(now)
            self.limit = lim or self.limit
            self.reset_wall = rst
            if self.rate is None and self._depleted_at is not None:
                waited = now - self._depleted_at
                if waited > 0.02:
                    # between depletion and this answer the bucket gained about r + 1 tokens
                    self.rate = max((r + 1.0) / waited, 0.1)
                self._depleted_at = None
            self._window(now, r)
            if self.tokens is None or r > self.tokens + 0.5 or r < self.tokens - 1.0:
                self.tokens = r

    def _window(self, now: float, r: float) -> None:
        if self.limit is not None and r >= self.limit - 1:
            self._win_t = None  # a full bucket says nothing about the refill rate
            return
        if self._win_t is None:
            self._win_t, self._win_remaining, self._win_sent = now, r, 0
            return
        span = now - self._win_t
        if span >= WINDOW:
            estimate = (r - self._win_remaining + self._win_sent) / span
            if estimate > 0 and (self.rate is None or estimate > self.rate):
                self.rate = estimate
            self._win_t, self._win_remaining, self._win_sent = now, r, 0

    def throttled(self) -> float:
        """A 429 came back: the model was optimistic. Returns how long to wait."""
        with self._lock:
            now = self.clock()
            self.tokens = 0.0
            self.t = now
            if self.rate:
                self.rate *= 0.9
            wait = (self.reset_wall - self.wall()) if self.reset_wall else 1.0
            return min(max(wait, 0.05), 60.0)
