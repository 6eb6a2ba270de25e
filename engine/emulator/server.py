"""The emulator's HTTP side: Auth0's endpoints, status codes, error bodies and headers.

Behaviour follows auth0-facts.md: client-credentials tokens that expire; the
Management API's Boom-style errors; one token bucket over ``/api/v2`` with
``x-ratelimit-*`` headers on every response and Auth0's 429 body; page search
capped at 1,000 results; checkpoint paging (``from``/``take``, ``q`` ignored)
with a ``Link: <...>; rel="next"`` header; deterministic fault injection.
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.depth import loads
from engine.emulator.network import anomaly_ip, network_acls
from engine.emulator.params import (
    CAP_MESSAGE,
    MAX_RESULTS,
    Reply,
    bool_param,
    boom,
    fields_param,
    int_param,
    invalid_query,
    sort_param,
)
from engine.emulator.reactions import record_write
from engine.emulator.tenant import Tenant, TokenBucket
from engine.emulator.tls import ServerTLS
from engine.emulator.users import user_blocks, users
from engine.errors import QueryError
from engine.logs.query import compile_query
from engine.secrets import MASK
from engine.timeutil import iso_ms, now_utc

JSON = "application/json; charset=utf-8"
# Auth0 (hapi) refuses larger bodies with this 413 (seen in auth0/auth0.js issue #1133:
# "payload content length greater than maximum allowed: 1048576")
MAX_BODY = 1 << 20
IDLE_TIMEOUT = 10.0  # seconds a connection may stay silent before it is closed
# never journaled as sent: credentials a client may put in a query string or body
SECRET_KEYS = frozenset({"client_secret", "password", "access_token", "refresh_token", "id_token"})
# the OAS pattern for `sort` and `fields` on GET /logs
_BAD_BODY = object()  # a request body that is not valid JSON


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        tenant: Tenant,
        *,
        rate_limit: tuple[int, float],
        fail_rate: float,
        latency_ms: float,
        seed: int,
        tls: ServerTLS | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        super().__init__(address, Handler)
        self.idle_timeout = idle_timeout
        self.tls = tls
        if tls is not None:
            # the handshake runs in the connection's own thread (Handler.setup), so
            # a client that connects and stalls cannot hold up accept()
            self.socket = tls.context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )
        self.tenant = tenant
        self.bucket = TokenBucket(*rate_limit)
        self.fail_rate = fail_rate
        self.latency = latency_ms / 1000.0
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or fails the TLS handshake is not the emulator's error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)

    def fault(self) -> bool:
        if self.fail_rate <= 0:
            return False
        with self.rng_lock:
            return self.rng.random() < self.fail_rate


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY a small
    # answer waits ~40 ms for the client's delayed ACK
    disable_nagle_algorithm = True
    server: EmulatorServer

    body: Any = None  # the parsed body of the request being handled, once read

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            # a TLS client has idle_timeout to finish its handshake, in this thread
            self.request.settimeout(self.server.idle_timeout)
            self.request.do_handshake()
        super().setup()
        # every read on the connection times out: a client that sends nothing (or
        # a slowloris trickle slower than one byte per idle_timeout) is dropped
        # and cannot hold a thread forever
        self.connection.settimeout(self.server.idle_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the journal records every request."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (414 URI too long, 400 bad request line, 501) as Auth0 JSON."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.respond(code, boom(code, phrase), {"Connection": "close"})

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_PATCH(self) -> None:
        self.handle_any("PATCH")

    def do_DELETE(self) -> None:
        self.handle_any("DELETE")

    def do_PUT(self) -> None:
        self.handle_any("PUT")

    # -- plumbing ------------------------------------------------------------
    def handle_any(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        headers: dict[str, str] = {}
        self._forget_body()  # answer() reads it only once the request may send one
        try:
            self.answer(method, url.path, query, headers)
            reply = Reply(500, boom(500, "Internal Server Error"))  # answer() always raises
        except Reply as answered:
            reply = answered
        except Exception:  # a bug in the emulator: the client still gets an Auth0-shaped 500
            reply = Reply(500, boom(500, "Internal Server Error"))
        if self.body is None and self._has_body():
            # an unread body cannot be left on a kept-alive connection
            self.close_connection = True
            headers["Connection"] = "close"
        # the journal never holds a credential: a token request's secret and a
        # password set through PATCH are dropped, one sent in a query string masked
        body = self.body
        logged: Any = None if body is _BAD_BODY else body
        if isinstance(body, dict):
            logged = {k: v for k, v in body.items() if k not in SECRET_KEYS}
        if url.path.startswith("/api/v2/"):
            record_write(
                self.server.tenant,
                method=method,
                path=url.path,
                query={k: MASK if k in SECRET_KEYS else v[-1] for k, v in query.items()},
                body=logged,
                status=reply.status,
                response=None if isinstance(reply.body, bytes) else reply.body,
                ip=str(self.client_address[0]),
                user_agent=self.headers.get("User-Agent", ""),
            )
        self.server.tenant.record(
            {
                "ts": iso_ms(now_utc()),
                "method": method,
                "path": url.path,
                "query": {
                    k: MASK if k in SECRET_KEYS else (v[0] if len(v) == 1 else v)
                    for k, v in query.items()
                },
                "status": reply.status,
                "body": logged,
            }
        )
        # the journal and the logs are written before the answer goes out: a client that
        # reads either next sees this request
        self.respond(reply.status, reply.body, {**headers, **reply.headers})

    def _forget_body(self) -> None:
        self.body = None

    def _has_body(self) -> bool:
        return bool(self.headers.get("Transfer-Encoding")) or self.headers.get(
            "Content-Length", "0"
        ).strip() not in ("", "0")

    def read_body(self) -> Any:
        """The parsed request body (``_BAD_BODY`` when not JSON), read at most ``MAX_BODY`` bytes.

        A larger body is refused with Auth0's 413 before any of it is read.
        """
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise Reply(411, boom(411, "Length Required"), {"Connection": "close"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise Reply(400, boom(400, "Invalid Content-Length header")) from None
        if length > MAX_BODY:
            self.close_connection = True
            raise Reply(
                413,
                boom(413, f"Payload content length greater than maximum allowed: {MAX_BODY}"),
                {"Connection": "close"},
            )
        try:
            raw = self.rfile.read(length) if length > 0 else b""
        except TimeoutError:  # the client stopped sending mid-body
            self.close_connection = True
            raise Reply(408, boom(408, "Request Timeout"), {"Connection": "close"}) from None
        self.body = self.parse_body(raw)
        return self.body

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
    ) -> None:
        """Raise the ``Reply`` for one request; ``headers`` gets the rate-limit headers.

        The body is read only after the credentials are checked (the token
        request carries them in its body, read within ``MAX_BODY``).
        """
        tenant = self.server.tenant
        if path.startswith("/api/v2/"):
            tenant.count("requests")
            ok, limits = self.server.bucket.take()
            headers.update(limits)
            if not ok:
                tenant.count("throttled")
                raise Reply(429, boom(429, "Global limit has been reached", "too_many_requests"))
            if self.server.latency:
                time.sleep(self.server.latency)
            if self.server.fault():
                tenant.count("faults")
                raise Reply(
                    503, boom(503, "The service is temporarily unavailable, please try again")
                )
            self.authenticate()
            body = self.read_body()
            if body is _BAD_BODY:
                raise Reply(400, boom(400, "Invalid request payload JSON format"))
            raise Reply(*self.route_api(method, path, query, body))
        if path == "/oauth/token" and method == "POST":
            raise Reply(*self.token(self.read_body()))
        raise Reply(404, boom(404, "Not Found"))

    def parse_body(self, raw: bytes) -> Any:
        if not raw:
            return None
        ctype = self.headers.get("Content-Type", "")
        try:
            if "application/x-www-form-urlencoded" in ctype:
                return {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            return loads(raw)  # nesting deeper than engine.depth.MAX_DEPTH is cut
        except (ValueError, UnicodeDecodeError):
            return _BAD_BODY

    def respond(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = (
            b""
            if body is None
            else (
                body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
            )
        )
        self.send_response(status)
        self.send_header("Content-Type", JSON)  # on every answer, 204 too, as Auth0 does
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    # -- auth ----------------------------------------------------------------
    def token(self, body: Any) -> tuple[int, Any]:
        tenant = self.server.tenant
        if body is _BAD_BODY:
            return 400, {
                "error": "invalid_request",
                "error_description": "Invalid request payload JSON format",
            }
        if not isinstance(body, dict):
            return 400, {
                "error": "invalid_request",
                "error_description": "Missing required parameter: grant_type",
            }
        if body.get("grant_type") != "client_credentials":
            return 400, {  # auth0-facts.md section 6 (OAS example)
                "error": "unsupported_grant_type",
                "error_description": "Unsupported grant type: " + str(body.get("grant_type")),
            }
        if (
            body.get("client_id") != tenant.client_id
            or body.get("client_secret") != tenant.client_secret
        ):
            return 401, {"error": "access_denied", "error_description": "Unauthorized"}
        audience = f"{self.server.base_url}/api/v2/"
        if body.get("audience") != audience:
            return 403, {
                "error": "access_denied",
                "error_description": f'Client is not authorized to access "{body.get("audience")}". You need to create a "client-grant" associated to this API.',
            }
        return 200, {
            "access_token": tenant.issue_token(),
            "expires_in": int(tenant.token_ttl) if tenant.token_ttl >= 1 else tenant.token_ttl,
            "scope": "read:logs read:users update:users delete:users delete:sessions delete:refresh_tokens",
            "token_type": "Bearer",
        }

    def authenticate(self) -> None:
        header = self.headers.get("Authorization")
        if not header:
            raise Reply(401, boom(401, "Missing authentication"))
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            raise Reply(400, boom(400, "Bad HTTP authentication header format", "Bearer"))
        state = self.server.tenant.token_state(token)
        if state == "expired":
            msg = "Expired token received for JSON Web Token validation"
            raise Reply(401, boom(401, msg, attributes={"error": msg}))
        if state != "valid":
            raise Reply(
                401,
                boom(401, "Invalid token", attributes={"error": "Invalid token"}),
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    # -- API -----------------------------------------------------------------
    def route_api(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        parts = [urllib.parse.unquote(p) for p in path[len("/api/v2/") :].split("/")]
        q = {k: v[-1] for k, v in query.items()}
        if parts == ["logs"] and method == "GET":
            return self.logs(q)
        if len(parts) == 2 and parts[0] == "logs" and method == "GET":
            pos = self.server.tenant.logs.position(parts[1])
            if pos is None:
                return 404, boom(404, "Log not found")
            return 200, self.server.tenant.logs.raw(pos)
        if parts[0] == "users" and len(parts) >= 2:
            return users(self.server.tenant, method, parts[1], parts[2:], q, body)
        if parts[0] == "network-acls" and len(parts) <= 2:
            return network_acls(
                self.server.tenant, method, parts[1] if len(parts) > 1 else None, q, body
            )
        if parts[:3] == ["anomaly", "blocks", "ips"] and len(parts) == 4:
            return anomaly_ip(self.server.tenant, method, parts[3])
        if parts[0] == "user-blocks":
            return user_blocks(self.server.tenant, method, parts[1] if len(parts) > 1 else None, q)
        return 404, boom(404, "Not Found")

    def _project(self, positions: list[int], q: dict[str, str]) -> bytes:
        logs = self.server.tenant.logs
        fields = fields_param(q)
        include = bool_param(q, "include_fields", True)
        if not fields:
            return b"[" + b",".join(logs.raw(p) for p in positions) + b"]"
        out = []
        for p in positions:
            event = logs.get(p)
            out.append({k: v for k, v in event.items() if (k in fields) == include})
        return json.dumps(out, ensure_ascii=False).encode()

    def logs(self, q: dict[str, str]) -> tuple[int, Any]:
        store = self.server.tenant.logs
        if "from" in q or ("take" in q and "page" not in q):
            take = int_param(q, "take", 50, 1, 100)
            start = store.after(q.get("from") or "")
            positions = list(range(start, min(start + take, len(store))))
            last = store.ids[positions[-1]] if positions else (q.get("from") or "")
            link = f'<{self.server.base_url}/api/v2/logs?from={last}&take={take}>; rel="next"'
            raise Reply(
                200, b"[" + b",".join(store.raw(p) for p in positions) + b"]", {"Link": link}
            )
        page = int_param(q, "page", 0, 0, 10**9)
        per_page = int_param(q, "per_page", 50, 0, 100)
        if (page + 1) * per_page > MAX_RESULTS:
            return 400, boom(
                400,
                CAP_MESSAGE,
                "invalid_paging",
            )
        if "search" in q:
            # The OAS (and the Fern SDKs generated from it, auth0-python 5+) name the
            # query `search`; Auth0 answers such a request 400 (auth0-java#842): the
            # query goes in `q`. Refusing it beats answering every log as if unfiltered.
            refused = invalid_query(
                "'Additional properties not allowed: search' (send the log query as q)"
            )
            return refused.status, refused.body
        try:
            query = compile_query(q.get("q", ""))
        except QueryError as exc:
            return 400, boom(400, str(exc), "invalid_query_string")
        positions = store.search(query, sort=sort_param(q), skip=page * per_page, take=per_page)
        data = self._project(positions, q)
        if bool_param(q, "include_totals", False):
            logs = json.loads(data)
            return 200, {
                "start": page * per_page,
                "limit": per_page,
                "length": len(logs),
                "total": len(logs),
                "logs": logs,
            }
        raise Reply(200, data)
