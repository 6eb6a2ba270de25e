"""The HTTP face of ``soar serve``: ``POST /auth0/logs`` and ``GET /healthz`` (Starlette).

``POST /auth0/logs`` answers, in this order of checks:

- 401 when the ``Authorization`` header is missing or matches none of the
  tokens (compared in constant time, the value as Auth0 sends it, with or
  without ``Bearer ``); the body is not read and nothing is stored;
- 413 when the body is over ``max_body`` bytes (by ``Content-Length``, or
  while reading a chunked body); 408 when it takes longer than
  ``BODY_SECONDS`` to arrive;
- 400 when it is not a batch of log-stream items (``engine.serve.ingest``),
  with the reason; nothing of it is stored;
- 503 with ``Retry-After`` when the detection backlog cannot take the batch
  (``engine.serve.worker.Backlog``): Auth0 retries it later;
- 200 once the whole batch is committed to SQLite (``engine.serve.store``),
  with how many events were new and how many were already stored; the
  commit is shared with the batches of concurrent requests
  (``engine.serve.writer``);
- 503 with ``Retry-After`` when that commit failed (nothing of the batch was
  stored).

No answer, and nothing logged, quotes the header or the body: the token
cannot be echoed by sending it where a value is expected.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from engine.audit.htmlreport import CSP
from engine.errors import BatchError
from engine.secrets import Secret
from engine.serve.incidents import list_incidents
from engine.serve.ingest import parse_batch
from engine.serve.limits import BODY_SECONDS, MAX_BODY, RETRY_AFTER
from engine.serve.report import read_incident, render_incident_html, render_list_html
from engine.serve.store import DB_NAME, EventStore
from engine.serve.worker import Backlog, Worker
from engine.serve.writer import GroupWriter

log = structlog.get_logger("soar.serve")


@dataclass
class Endpoint:
    """What the routes need: the tokens, the store, its writer, the backlog and the worker."""

    tokens: Sequence[Secret]  # empty: no token required (--insecure-no-token, loopback only)
    events: EventStore
    backlog: Backlog
    writer: GroupWriter
    worker: Worker | None = None
    max_body: int = MAX_BODY
    viewers: Sequence[Secret] = ()  # --viewer-token: may read the pages, not post events
    state: Path | None = None  # the state folder the pages read (None: no pages)
    received: int = 0
    refused: int = 0

    def authorized(self, header: str | None) -> bool:
        """The header matches a token, in constant time, with or without ``Bearer ``."""
        if not self.tokens:
            return True
        return _matches(header, self.tokens, basic=False)

    def may_view(self, header: str | None) -> bool:
        """The header carries a stream or a viewer token (also as a Basic password, so a
        browser can ask for it); no token is needed only when serve has none at all."""
        if not self.tokens and not self.viewers:
            return True
        return _matches(header, [*self.tokens, *self.viewers], basic=True)


def _matches(header: str | None, tokens: Sequence[Secret], *, basic: bool) -> bool:
    """``header`` is one of ``tokens`` (as is, after ``Bearer ``, or, when ``basic``, as
    the password of ``Basic``), every token compared in constant time."""
    if header is None:
        return False
    raw = header.encode("latin-1", "replace")  # the bytes as sent (Starlette decodes latin-1)
    bare = raw[7:] if raw[:7].lower() == b"bearer " else raw
    password = b""
    if basic and raw[:6].lower() == b"basic ":
        try:
            password = base64.b64decode(raw[6:].strip(), validate=True).partition(b":")[2]
        except ValueError:
            password = b""
    ok = False
    for token in tokens:  # every token compared, whichever matches
        value = token.reveal().encode()
        ok |= hmac.compare_digest(raw, value) | hmac.compare_digest(bare, value)
        ok |= basic and bool(password) and hmac.compare_digest(password, value)
    return ok


def _problem(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


async def _body(request: Request, limit: int) -> bytes | JSONResponse:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return _problem(413, f"the body is over {limit} bytes: send smaller batches")
        except ValueError:
            return _problem(400, "Content-Length is not a number")
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(BODY_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return _problem(413, f"the body is over {limit} bytes: send smaller batches")
                chunks.append(chunk)
    except TimeoutError:
        return _problem(408, f"the body took longer than {BODY_SECONDS:g} s to arrive")
    except ClientDisconnect:
        return _problem(400, "the client went away before the body was complete")
    return b"".join(chunks)


def build_app(endpoint: Endpoint) -> Starlette:
    """The ASGI app of ``soar serve`` over ``endpoint``."""

    async def logs(request: Request) -> JSONResponse:
        if not endpoint.authorized(request.headers.get("authorization")):
            endpoint.refused += 1
            return _problem(401, "missing or wrong Authorization token; nothing was stored")
        body = await _body(request, endpoint.max_body)
        if isinstance(body, JSONResponse):
            return body
        try:
            items = await run_in_threadpool(parse_batch, body)
        except BatchError as exc:
            return _problem(400, f"{exc}; nothing of this batch was stored")
        if not endpoint.backlog.reserve(len(items)):
            return _problem(
                503,
                f"the detection backlog is full ({endpoint.backlog.depth} events waiting); "
                "nothing of this batch was stored: retry later",
                **{"Retry-After": RETRY_AFTER},
            )
        try:
            appended = await asyncio.wrap_future(endpoint.writer.submit(items))
        except Exception as exc:  # the group's commit failed: no batch of it is stored
            return _problem(
                503,
                f"the batch could not be stored ({type(exc).__name__}); nothing of it was "
                "stored: retry later",
                **{"Retry-After": RETRY_AFTER},
            )
        endpoint.received += len(items)
        return JSONResponse({"stored": appended.added, "duplicates": appended.duplicates})

    async def healthz(_request: Request) -> JSONResponse:
        worker = endpoint.worker
        failed = worker is not None and worker.failed is not None
        doc: dict[str, Any] = {
            "status": "degraded" if failed else "ok",
            "queue": endpoint.backlog.depth,
            "queue_capacity": endpoint.backlog.capacity,
            "last_event": await run_in_threadpool(endpoint.events.newest_date),
            "stored": endpoint.backlog.tail,
            "consumed": endpoint.backlog.consumed,
        }
        if failed:
            doc["detector"] = (
                "stopped after an internal error (see the log); events are still stored"
            )
        return JSONResponse(doc)

    def page(request: Request, render: Any) -> Response:
        """Run ``render(conn)`` for an authorized viewer; its page, or the error's answer."""
        if not endpoint.may_view(request.headers.get("authorization")):
            return Response(
                "a stream or viewer token is needed (Authorization: Bearer T, or as the "
                "password of Basic)\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Basic realm="soar incidents", charset="UTF-8"'},
            )
        if endpoint.state is None or not (endpoint.state / DB_NAME).is_file():
            return _page_error(404, "no incidents: soar serve has no state yet")
        conn = sqlite3.connect(f"file:{endpoint.state / DB_NAME}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            text = render(conn)
        finally:
            conn.close()
        if text is None:
            return _page_error(404, "no such incident (see /incidents)")
        return HTMLResponse(text, headers=PAGE_HEADERS)

    async def incident_list(request: Request) -> Response:
        return await run_in_threadpool(
            page, request, lambda conn: render_list_html(list_incidents(conn))
        )

    async def incident_page(request: Request) -> Response:
        wanted = int(request.path_params["incident"])

        def render(conn: sqlite3.Connection) -> str | None:
            view = read_incident(conn, wanted)
            return None if view is None else render_incident_html(view)

        return await run_in_threadpool(page, request, render)

    return Starlette(
        routes=[
            Route("/auth0/logs", logs, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/incidents", incident_list, methods=["GET"]),
            Route("/incidents/{incident:int}", incident_page, methods=["GET"]),
        ]
    )


# the pages' policy as a header too, where it can also forbid framing
PAGE_HEADERS = {
    "Content-Security-Policy": f"{CSP}; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page_error(status: int, message: str) -> Response:
    return Response(
        message + "\n", status_code=status, media_type="text/plain", headers=PAGE_HEADERS
    )
