"""The limits of ``soar serve`` in one place (docs/serve.md "Limits"); importing it costs nothing."""

from __future__ import annotations

MAX_BODY = 16 * 1024 * 1024  # bytes of one batch (413 past it); Auth0's batches are far smaller
BODY_SECONDS = 30.0  # to receive one body (408 past it): a slow sender cannot hold a connection
RETRY_AFTER = "2"  # seconds, in a 503 when the detection backlog is full
QUEUE_EVENTS = 200_000  # events stored but not yet detected before batches get 503
GROUP_EVENTS = 20_000  # events of concurrent batches in one commit at most (one batch always fits)
CONCURRENCY = 64  # connections at once; uvicorn answers 503 past it
KEEP_ALIVE = 30  # seconds an idle connection is kept: Auth0 posts batches back to back
GRACE = 30  # seconds for the requests in flight at shutdown
HEADER_BYTES = 64 * 1024  # request line and headers at most
