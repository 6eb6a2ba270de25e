"""Pacing under Auth0's token-bucket rate limit, from the x-ratelimit-* headers.

The pacer keeps a model of the server's bucket: tokens now (from
``x-ratelimit-remaining``, the floor of the server's count), the capacity
(``x-ratelimit-limit``) and the refill rate. The rate is not sent, so it is
estimated from successive remaining values: over a window that starts at the
first answer below a full bucket, ``(remaining_now - remaining_then + requests
sent) / elapsed``, less one token for the floor's rounding. The window grows as
long as the bucket is not full again, so the estimate sharpens as a harvest
goes on. A request is sent only when the model holds one token plus a small
margin; a harvest thus runs close to the rate bound while almost never meeting
a 429. Before any estimate exists, an empty bucket waits for one token at the
slowest rate the announced reset allows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.backoff import bounded

MARGIN = 0.1  # tokens kept in hand against timing jitter between us and the server
MIN_SPAN = 0.1  # seconds of history before a rate estimate is used


class Pacer:
    """A model of the server's token bucket, shared by the threads of one client."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self.limit: float | None = None
        self.tokens: float | None = None  # the model, as of self.t
        self.t = 0.0
        self.rate: float | None = None
        self.reset_wall: float | None = None
        self._epoch: tuple[float, float] | None = None  # (time, remaining) the window starts at
        self._sent = 0  # requests sent since the window started
        self._inflight = 0  # sent, not yet answered: the next remaining may not count them

    def _advance(self, now: float) -> None:
        if self.tokens is not None and self.rate:
            self.tokens = min(self.limit or 1e9, self.tokens + self.rate * (now - self.t))
        self.t = now

    def delay(self) -> float:
        """Seconds to wait before the next request; 0 when it may go now (it is then counted)."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            need = 1.0 + (MARGIN if self.rate else 0.0) - 1e-9  # float drift must not stall
            if self.tokens is None or self.tokens >= need:
                if self.tokens is not None:
                    self.tokens -= 1.0
                self._sent += 1
                self._inflight += 1
                return 0.0
            if self.rate:
                return max((1.0 + MARGIN - self.tokens) / self.rate, 0.001)
            # Empty, and no estimate yet. The announced reset bounds the rate from below
            # (the bucket is full by then): wait for one token at that slowest rate, so
            # the next answers, still below a full bucket, yield an estimate. Waiting
            # for the reset itself would refill the bucket and teach us nothing.
            wait = 1.0
            if self.reset_wall is not None and self.limit:
                until_reset = max(self.reset_wall - self.wall(), 0.05)
                wait = until_reset / max(self.limit - self.tokens, 1.0)
            wait = bounded(wait, 0.02)
            self.tokens = 1.0 + MARGIN  # one request may go after the wait
            self.t = now + wait
            return wait

    def release(self) -> None:
        """A request that got no answer (a transport error) is no longer in flight."""
        with self._lock:
            self._inflight = max(self._inflight - 1, 0)

    def observe(self, remaining: str | None, limit: str | None, reset: str | None) -> None:
        """Learn from a response's rate-limit headers (every answered request comes here)."""
        try:
            r = float(remaining) if remaining is not None else None
            lim = float(limit) if limit is not None else None
            rst = float(reset) if reset is not None else None
        except ValueError:
            r = lim = rst = None
        with self._lock:
            self._inflight = max(self._inflight - 1, 0)
            if r is None:
                return
            now = self.clock()
            self._advance(now)
            self.limit = lim or self.limit
            self.reset_wall = rst
            # other threads' requests may not be in this answer's count yet: assume they are
            visible = r - self._inflight
            if self.limit is not None and r >= self.limit - 1:
                self._epoch = None  # a full bucket says nothing about the refill rate
            elif self._epoch is None:
                self._epoch, self._sent = (now, visible), 0
            else:
                t0, r0 = self._epoch
                span = now - t0
                if span >= MIN_SPAN and self._sent >= 3:
                    estimate = (visible - r0 + self._sent - 1.0) / span
                    if estimate > 0:
                        self.rate = estimate
            if self.tokens is None or visible > self.tokens + 0.5 or visible < self.tokens - 1.0:
                self.tokens = visible

    def throttled(self) -> float:
        """A 429 came back: the model was optimistic. Returns how long to wait."""
        with self._lock:
            self.tokens = 0.0
            self.t = self.clock()
            self._epoch = None
            if self.rate:
                self.rate *= 0.9
            wait = (self.reset_wall - self.wall()) if self.reset_wall else 1.0
            return bounded(wait)
