"""The Management API's error bodies and its query-parameter validation, as the emulator answers them.

``boom`` builds Auth0's Hapi/Boom error body; raising ``Reply`` answers a request
from anywhere in a handler. The validators reproduce Auth0's ``Query validation
error: ...`` 400s (errorCode ``invalid_query_string``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

MAX_RESULTS = 1000
CAP_MESSAGE = (
    "You can only page through the first 1000 records. See "
    "https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#limitations"
)
# the OAS pattern for `sort` and `fields` on GET /logs
LOG_FIELDS = frozenset(
    [
        "date",
        "connection",
        "client_id",
        "client_name",
        "ip",
        "user_id",
        "user_name",
        "description",
        "user_agent",
        "type",
        "details",
        "strategy",
        "strategy_type",
    ]
)

Query = dict[str, str]


def boom(status: int, message: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    """Auth0's Management API error body: statusCode, error (the reason), message[, errorCode]."""
    body: dict[str, Any] = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
    }
    if code:
        body["errorCode"] = code
    body.update(extra)
    return body


class Reply(Exception):
    """The answer to a request, raised to leave the handler from any depth."""

    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def invalid_query(detail: str) -> Reply:
    """Auth0's 400 for a query parameter it refuses: ``Query validation error: <detail>``."""
    return Reply(400, boom(400, f"Query validation error: {detail}", "invalid_query_string"))


def int_param(q: Query, name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_query(
            f"'Expected type integer but found type string' on property {name}."
        ) from None
    if value > hi:
        raise invalid_query(f"'Value {value} is greater than maximum {hi}' on property {name}.")
    if value < lo:
        raise invalid_query(f"'Value {value} is less than minimum {lo}' on property {name}.")
    return value


def bool_param(q: Query, name: str, default: bool) -> bool:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if raw not in ("true", "false"):
        raise invalid_query(f"'Expected type boolean but found type string' on property {name}.")
    return raw == "true"


def sort_param(q: Query) -> tuple[str, int] | None:
    raw = q.get("sort")
    if not raw:
        return None
    fieldname, _, direction = raw.partition(":")
    if fieldname not in LOG_FIELDS or direction not in ("1", "-1"):
        raise invalid_query(f"'String does not match pattern' on property sort ({raw}).")
    return fieldname, int(direction)


def fields_param(q: Query) -> list[str]:
    fields = [f for f in q.get("fields", "").split(",") if f]
    bad = [f for f in fields if f not in LOG_FIELDS and f not in ("log_id", "_id")]
    if bad:
        raise invalid_query(f"'String does not match pattern' on property fields ({bad[0]}).")
    return fields
