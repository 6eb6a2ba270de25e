"""The Auth0 connector's events in the operational log: one per page, wait, retry, refusal.

Every wait is one event: ``auth0.wait`` (``reason: pacing``, the pacer's
sleep) or ``auth0.retry`` (``reason``: ``rate_limited`` after a 429,
``server_error``, ``connection``, ``token_expired``; with ``status``,
``attempt`` and ``wait_s``). A request the dry-run guard or the tenant refused
is ``auth0.refused`` (``by``, ``status``, ``error_code``); a call given up is
``auth0.failed``; a token obtained is ``auth0.token``; each page of log events
read is ``auth0.page``. Each carries ``method`` and ``path``, never a query
string, a body or a token. The CLI configures where they go
(``engine.cli.oplog``; fields: docs/logging.md).
"""

from __future__ import annotations

from typing import Any

PAGE_EVENT = "auth0.page"  # one page of log events read (a search's or an export's)
WAIT_EVENT = "auth0.wait"  # the pacer keeping under the rate limit: routine, not trouble
PACING = "pacing"  # the reason of a wait that is no retry
LOGS_PATH = "/api/v2/logs"


def logger() -> Any:
    """This module's ``structlog.get_logger(__name__)``, structlog imported on first use.

    ``soar validate`` loads every action, hence this connector, and logs
    nothing: importing structlog (and rich, which it pulls in) would cost every
    such command about a tenth of a second.
    """
    import structlog

    return structlog.get_logger(__name__)


def waiting(where: dict[str, Any], seconds: float, reason: str, status: int | None) -> None:
    """A wait about to be slept: pacing (``attempt`` is the one about to go) or a retry
    (``attempt`` is the one that failed)."""
    if reason == PACING:
        logger().info(WAIT_EVENT, **where, reason=reason, wait_s=round(seconds, 3))
    else:
        logger().warning(
            "auth0.retry", **where, reason=reason, status=status, wait_s=round(seconds, 3)
        )


def renewed(where: dict[str, Any]) -> None:
    """A 401: the token is renewed once and the request sent again, with no wait."""
    logger().info("auth0.retry", **where, reason="token_expired", status=401, wait_s=0)


def refused(
    where: dict[str, Any], by: str, status: int | None, error_code: str | None = None, **more: Any
) -> None:
    """Refused by the tenant (its final answer) or by the dry-run guard (``status`` None)."""
    # a 404 is often an answer the caller expects (no such user), not a fault
    log = logger().info if status == 404 else logger().warning
    log("auth0.refused", **where, by=by, status=status, error_code=error_code, **more)


def failed(where: dict[str, Any], reason: str, **more: Any) -> None:
    """A call given up without an answer to show (connection, certificate, wait budget)."""
    logger().error("auth0.failed", **where, reason=reason, **more)


def token(expires_in: float) -> None:
    logger().info("auth0.token", method="POST", path="/oauth/token", expires_in=expires_in)


def page_read(
    mode: str,
    count: int,
    events: int,
    requests: int,
    window: int | None = None,
    number: int | None = None,
) -> None:
    """One page read: ``count`` events in it, ``events`` kept (or written) so far."""
    logger().info(
        PAGE_EVENT,
        method="GET",
        path=LOGS_PATH,
        mode=mode,
        window=window,
        page=number,
        count=count,
        events=events,
        requests=requests,
    )
