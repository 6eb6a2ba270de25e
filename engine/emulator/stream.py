"""The emulator as a log-stream source: the tenant's events posted as Auth0's custom webhook does.

Auth0's custom-webhook log stream (auth0-facts.md section 8; Auth0 docs
``customize/log-streams.mdx`` and ``custom-log-streams.mdx``) POSTs each log
event as an item ``{"log_id", "data": <the log object>}``, with the stream's
Authorization Token as the ``Authorization`` header, verbatim. Content formats:

- ``jsonl`` (JSONLINES): one item a line, ``N`` items a request;
- ``array`` (JSONARRAY): a JSON array of ``N`` items;
- ``object`` (JSONOBJECT): one item, the object itself, a request. No source
  shows Auth0 putting several events in one object, and its docs say each log
  is delivered "as it is triggered" (``customize/log-streams.mdx``; the older
  ``articles/logs/streams/http-event.md``: "you'll receive a copy of that log
  event as a POST request"), so a batch in this format is one event.

Delivery is at least once: a request that fails (no answer, or not 2xx) is
tried up to ``attempts`` times (Auth0: three) with backoff; then a health
error is reported (``on_health``) and, as Auth0 "restarts this process for any
errored log", the batch is tried again after a pause, ``rounds`` times in all.
A batch given up on is counted in ``undelivered`` and named in the health
error: never a silent drop. Like Auth0 the source also repeats itself: a
seeded fraction of delivered batches (``redeliver``) is sent again later, as a
lost acknowledgement or a cursor restart would, and events leave in a seeded,
bounded disorder (each at most ``disorder`` places from its date order:
within a batch and across adjacent ones).

Events go as they happened: the tenant's history in date order, then (with
``follow``) every event it appends while serving (``engine.emulator.reactions``:
the ``sapi`` of each write, the attacker's further logins), until ``stop``.
The token is a ``Secret``: it is put in the header and nowhere else.
"""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from engine.backoff import backoff, bounded, spread
from engine.emulator.logstore import LogStore
from engine.emulator.scenarios import generate
from engine.errors import ConfigError
from engine.httpguard import require_safe_scheme
from engine.secrets import Secret, shown_url

Format = Literal["jsonl", "array", "object"]
FORMATS: tuple[Format, ...] = ("jsonl", "array", "object")
# the Content-Type of each format unless one is configured (Auth0 sends the stream's setting;
# auth0-cli's own example pairs JSONLINES with "application/json", which `content_type` gives)
CONTENT_TYPES: dict[Format, str] = {
    "jsonl": "application/x-ndjson",
    "array": "application/json",
    "object": "application/json",
}
ATTEMPTS = 3  # Auth0: "We attempt to deliver the log to your server up to three times"
MAX_BATCH = 10_000
POLL = 0.2  # seconds between looks at the tenant for new events (follow)


@dataclass(frozen=True)
class StreamSettings:
    """Where and how to stream; checked when made (``ConfigError`` names the setting)."""

    url: str
    token: Secret | None
    format: Format = "jsonl"
    batch: int = 100
    seed: int = 1
    disorder: int | None = None  # places an event may move; None: the batch size (0: none)
    redeliver: float = 0.05  # fraction of delivered batches sent again later
    attempts: int = ATTEMPTS
    rounds: int = 3  # retries of a failing batch's attempts before it is given up on
    retry_base: float = 0.5  # seconds: the first backoff; a round's pause is 10x it
    timeout: float = 10.0
    content_type: str | None = None
    linger: float = 0.5  # seconds a partial batch of live events waits for more before it goes

    def __post_init__(self) -> None:
        require_safe_scheme(self.url, "--stream-to")
        token = self.token.reveal() if self.token is not None else ""
        if any(not " " <= c <= "~" for c in token):  # a CR/LF would end the header: refused
            raise ConfigError(
                "--stream-token: only printable ASCII (no line breaks) can be a header"
            )
        if self.format not in FORMATS:
            raise ConfigError(f"--stream-format {self.format}: use one of {', '.join(FORMATS)}")
        if not 1 <= self.batch <= MAX_BATCH:
            raise ConfigError(f"--stream-batch {self.batch}: use 1 to {MAX_BATCH} events")
        if self.format == "object" and self.batch != 1:
            raise ConfigError(
                f"--stream-batch {self.batch} with --stream-format object: a JSON object carries "
                "one log-stream item (Auth0 sends one event per request in this format); "
                "use jsonl or array for batches"
            )
        if self.disorder is not None and self.disorder < 0:
            raise ConfigError(f"--stream-disorder {self.disorder}: 0 or more places")
        if not 0.0 <= self.redeliver <= 1.0:
            raise ConfigError(f"--stream-redeliver {self.redeliver}: a fraction from 0 to 1")
        if self.attempts < 1 or self.rounds < 1:
            raise ConfigError("a stream needs at least one attempt and one round")

    @property
    def shown(self) -> str:
        """The URL as messages show it: scheme and host (a path or query may hold a key)."""
        return shown_url(Secret("stream_url", self.url))


@dataclass
class StreamStats:
    """What a stream did. ``duplicates``: items sent again, by a retry or a redelivery."""

    events: int = 0  # distinct events delivered
    batches: int = 0  # batches delivered (redeliveries not counted)
    requests: int = 0
    retries: int = 0  # requests that repeated a failed one
    redelivered: int = 0  # delivered batches sent again
    duplicates: int = 0
    undelivered: int = 0  # events given up on (each named in a health error)
    skipped: int = 0  # events without a log_id (a served file can hold them): no stream item
    health: list[str] = field(default_factory=list)


Health = Callable[[str], None]


def stream_tenant(
    logs: LogStore,
    settings: StreamSettings,
    *,
    follow: bool = False,
    stop: threading.Event | None = None,
    on_health: Health | None = None,
    transport: httpx.BaseTransport | None = None,
    stats: StreamStats | None = None,
) -> StreamStats:
    """Stream ``logs`` to ``settings.url``; returns when the history is out (or, following, at stop).

    ``stop`` ends it cleanly: the batch in flight finishes (or is counted
    undelivered), nothing else is sent. Health errors go to ``on_health`` as
    they happen and stay in ``StreamStats.health``; ``stats`` (if given) is
    the object counted into, so another thread can watch it.
    """
    stop = stop or threading.Event()
    stats = stats if stats is not None else StreamStats()
    sender = _Sender(settings, stats, stop, on_health, transport)
    try:
        rng = random.Random(settings.seed)
        disorder = settings.batch if settings.disorder is None else settings.disorder
        items = _disordered(_items(logs, stats, follow, stop), disorder, rng)
        for batch in _batches(items, settings.batch, settings.linger):
            if stop.is_set():
                break
            sender.deliver(batch)
            if stats.batches and rng.random() < settings.redeliver:
                sender.redeliver()
        sender.flush_redeliveries()
    finally:
        sender.close()
    return stats


def stream_scenario(
    settings: StreamSettings,
    *,
    scenario: str = "credential-stuffing",
    seed: int = 1,
    events: int | None = None,
    now: datetime | None = None,
    on_health: Health | None = None,
) -> tuple[StreamStats, dict[str, Any]]:
    """Generate a scenario's tenant (``engine.emulator.scenarios``) and stream its history.

    Returns when every event is out (or given up on): the stream's counts and the
    scenario's ground truth. A drill that also needs the tenant to answer writes
    runs ``start_emulator`` and streams ``emu.tenant.logs`` instead.
    """
    generated = generate(scenario, seed=seed, events=events, now=now)
    logs = LogStore(generated.events)
    return stream_tenant(logs, settings, on_health=on_health), generated.truth


def start_stream(
    logs: LogStore,
    settings: StreamSettings,
    *,
    follow: bool = True,
    on_health: Health | None = None,
) -> tuple[threading.Thread, threading.Event, StreamStats]:
    """``stream_tenant`` in a daemon thread: the thread, the event that stops it, its live stats."""
    stop = threading.Event()
    stats = StreamStats()

    def run() -> None:
        stream_tenant(logs, settings, follow=follow, stop=stop, on_health=on_health, stats=stats)

    thread = threading.Thread(target=run, name="soar-stream", daemon=True)
    thread.start()
    return thread, stop, stats


# -- the events, as items --------------------------------------------------------


def _items(
    logs: LogStore, stats: StreamStats, follow: bool, stop: threading.Event
) -> Iterator[bytes]:
    """Each event as a stream item's bytes, in date order; following, then the new ones.

    A log stream sends events as they happen, so the history goes by date (log
    id within a date), not by log id: Auth0's ids of different kinds carry
    different prefixes (``900…`` and ``800…`` in the emulator's tenant, as in
    real ones), and in id order a day's events of one kind would all come
    before the other's, hours later than the rules' lateness allows. Built from
    the store's own JSON text, so ``data`` is exactly the log object. Yields
    ``b""`` while following and nothing new has come (a batch may go).
    """
    end = len(logs.ids)  # the ids grow last: every position below is whole
    history = sorted(range(end), key=lambda n: (logs.dates[n], logs.ids[n]))
    yield from _as_items(logs, stats, history)
    pos = end
    while follow and not stop.wait(POLL):
        yield b""
        end = len(logs.ids)
        yield from _as_items(logs, stats, range(pos, end))  # appended ones: as they came
        pos = end


def _as_items(logs: LogStore, stats: StreamStats, positions: Iterable[int]) -> Iterator[bytes]:
    for pos in positions:
        log_id = logs.value("log_id", pos)
        if log_id is None:
            stats.skipped += 1
        else:
            yield b'{"log_id":%s,"data":%s}' % (json.dumps(log_id).encode(), logs.raw(pos))


def _disordered(items: Iterator[bytes], disorder: int, rng: random.Random) -> Iterator[bytes]:
    """``items`` shuffled so that none moves more than ``disorder`` places: seeded, bounded.

    Item ``i`` sorts by ``i + U[0, disorder)``; an item leaves once no later
    one can sort before it, so at most ``disorder`` items are held.
    """
    if disorder == 0:
        yield from items
        return
    heap: list[tuple[float, int, bytes]] = []
    i = 0
    for item in items:
        if not item:  # following, nothing new: let the held ones go
            while heap:
                yield heapq.heappop(heap)[2]
            yield item
            continue
        heapq.heappush(heap, (i + rng.random() * disorder, i, item))
        i += 1
        while heap and heap[0][0] < i:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def _batches(items: Iterator[bytes], size: int, linger: float) -> Iterator[list[bytes]]:
    """Items in batches of ``size``; a partial batch goes at the end, or after ``linger`` live."""
    batch: list[bytes] = []
    since = time.monotonic()
    for item in items:
        if item:
            if not batch:
                since = time.monotonic()
            batch.append(item)
        if len(batch) >= size or (batch and not item and time.monotonic() - since >= linger):
            yield batch
            batch = []
    if batch:
        yield batch


def body_of(batch: list[bytes], fmt: Format) -> bytes:
    """A request body in ``fmt``: JSON lines, a JSON array, or the one item itself."""
    if fmt == "jsonl":
        return b"\n".join(batch) + b"\n"
    if fmt == "array":
        return b"[" + b",".join(batch) + b"]"
    (item,) = batch
    return item


# -- delivery ------------------------------------------------------------------------


class _Sender:
    """Posts batches at least once: attempts with backoff, rounds, redeliveries."""

    def __init__(
        self,
        settings: StreamSettings,
        stats: StreamStats,
        stop: threading.Event,
        on_health: Health | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.settings, self.stats, self.stop, self.on_health = settings, stats, stop, on_health
        headers = {"content-type": settings.content_type or CONTENT_TYPES[settings.format]}
        if settings.token is not None:
            headers["authorization"] = settings.token.reveal()  # verbatim, as Auth0 sends it
        self.client = httpx.Client(
            headers=headers, timeout=settings.timeout, transport=transport, follow_redirects=False
        )
        self.delivered: list[list[bytes]] = []  # the last few, for redelivery
        self.pending: list[list[bytes]] = []  # redeliveries to send after the next batch

    def close(self) -> None:
        self.client.close()

    def deliver(self, batch: list[bytes]) -> None:
        self._send_pending()
        if self._send(batch, first=True):
            self.stats.batches += 1
            self.stats.events += len(batch)
            self.delivered = [*self.delivered[-1:], batch]

    def redeliver(self) -> None:
        """Send a delivered batch again, after the next one: a duplicate, out of order."""
        if self.delivered:
            self.pending.append(self.delivered[0])

    def flush_redeliveries(self) -> None:
        self._send_pending()

    def _send_pending(self) -> None:
        pending, self.pending = self.pending, []
        for batch in pending:
            if self.stop.is_set():
                return
            if self._send(batch, first=False):
                self.stats.redelivered += 1

    def _send(self, batch: list[bytes], *, first: bool) -> bool:
        """One batch at least once; whether it was acknowledged (a 2xx)."""
        s = self.settings
        body = body_of(batch, s.format)
        sent = 0
        for round_ in range(1, s.rounds + 1):
            why = ""
            for attempt in range(1, s.attempts + 1):
                if sent and self.stop.is_set():
                    break
                if sent or not first:
                    self.stats.duplicates += len(batch)
                if sent:
                    self.stats.retries += 1
                sent += 1
                self.stats.requests += 1
                why, wait = self._post(body)
                if not why:
                    return True
                if attempt < s.attempts:
                    self.stop.wait(wait or backoff(attempt, s.retry_base, 10 * s.retry_base))
            last = round_ == s.rounds or self.stop.is_set()
            self._health(batch, why, sent, gave_up=last)
            if last:
                break
            self.stop.wait(10 * s.retry_base)
        self.stats.undelivered += len(batch) if first else 0
        return False

    def _post(self, body: bytes) -> tuple[str, float]:
        """POST ``body``: ``""`` once acknowledged, else why not, and any wait the peer asked."""
        try:
            # the answer's status and headers are all a stream reads: its body is never taken in
            with self.client.stream("POST", self.settings.url, content=body) as response:
                status, retry_after = response.status_code, response.headers.get("retry-after", "")
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})", 0.0
        if 200 <= status < 300:
            return "", 0.0
        wait = 0.0
        if retry_after.isdigit():
            wait = bounded(spread(float(retry_after)))
        return f"HTTP {status}", wait

    def _health(self, batch: list[bytes], why: str, sent: int, *, gave_up: bool) -> None:
        first, last = _log_id(batch[0]), _log_id(batch[-1])
        span = first if len(batch) == 1 else f"{first} .. {last}"
        what = "given up on: these events were NOT delivered" if gave_up else "will be tried again"
        message = (
            f"stream to {self.settings.shown}: a batch of {len(batch)} events ({span}) failed "
            f"{sent} attempts ({why}); {what}"
        )
        self.stats.health.append(message)
        if self.on_health is not None:
            self.on_health(message)


def _log_id(item: bytes) -> str:
    """The log_id of an item this module built (its first field)."""
    head = item[len(b'{"log_id":') :]
    text: str = json.JSONDecoder().raw_decode(head.decode("utf-8", "replace"))[0]
    return text
