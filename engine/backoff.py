"""How long to wait before trying again: one backoff, one bound on a server's announced wait.

Used by the Auth0 connector (retries of one request, rate-limit waits) and by
the executor (a step's ``retry`` policy), so both wait the same way.
"""

from __future__ import annotations

import random

MIN_WAIT = 0.05  # seconds: an announced wait of zero or less still yields the thread
MAX_WAIT = 60.0  # seconds: a header cannot make a run sleep for a day


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before try ``attempt + 1``: ``base * 2**(attempt-1)``, capped, jittered 50-150%.

    The jitter keeps clients that failed together from trying again together.
    """
    return min(base * 2.0 ** (attempt - 1), cap) * random.uniform(0.5, 1.5)


def spread(seconds: float) -> float:
    """An announced wait (Retry-After, a rate-limit reset), lengthened by up to 20%.

    Never shorter than announced; the spread keeps clients told the same time
    from all coming back at once.
    """
    return seconds * random.uniform(1.0, 1.2)


def bounded(seconds: float, floor: float = MIN_WAIT) -> float:
    """``seconds`` within ``floor`` .. ``MAX_WAIT`` (a wait read from a header or a model)."""
    return min(max(seconds, floor), MAX_WAIT)
