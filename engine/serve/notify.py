"""Notifications: an incident opening and each response's outcome, posted to a webhook.

The webhook (``SOAR_NOTIFY_WEBHOOK``, a Slack incoming webhook or anything
that takes its payload) is a secret: its URL is held as a ``Secret`` and never
appears in a message, a log event or an error (a failed post is logged with
its status or the error's type only). Messages are Slack-compatible
(``text`` plus one ``mrkdwn`` section block) and every value that came from
data (a group's IP or user name, a rule title, an error) is escaped for
Slack's mrkdwn (``&``, ``<``, ``>``: no ``<!channel>`` mention nor a link
that says something else) and for control characters (``engine.textsafe``),
and cut to ``MAX_VALUE`` characters.

Posting is off the detection path: messages go to a bounded queue that one
thread drains at most ``RATE`` per second (Slack accepts about one message a
second per webhook), bursts of ``BURST`` allowed. When the queue is full the
oldest waiting message is dropped and counted; the next one sent says how
many were dropped.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from engine.secrets import Secret
from engine.textsafe import safe

MAX_VALUE = 200  # characters of one data value in a message
QUEUE = 100  # messages waiting at most
RATE = 1.0  # messages per second, sustained
BURST = 5
TIMEOUT = 10.0  # seconds for one post

log = structlog.get_logger("soar.serve.notify")


def mrkdwn(value: object) -> str:
    """``value`` as text Slack shows literally: controls escaped, ``& < >`` as entities, cut."""
    text = safe(value)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + "..."
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _group_text(group: Mapping[str, Any]) -> str:
    return ", ".join(f"{mrkdwn(k)}={mrkdwn(v)}" for k, v in sorted(group.items()))


def opened_message(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The payload for a newly opened incident (``Incident.as_json()``)."""
    text = (
        f"*soar: incident {incident['id']} opened* ({mrkdwn(incident['severity'])}): "
        f"{mrkdwn(incident['title'])}\n"
        f"rule `{mrkdwn(incident['rule'])}`, group {_group_text(incident['group'])}, "
        f"events {mrkdwn(incident['first'])} .. {mrkdwn(incident['last'])}"
    )
    return _payload(text)


def outcome_message(incident: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, Any]:
    """The payload for a response's outcome: its status, mode, run log, error."""
    text = (
        f"*soar: incident {incident['id']} response {mrkdwn(response['status'])}* "
        f"({mrkdwn(response['mode'])}): playbook `{mrkdwn(response['playbook'])}` for "
        f"{_group_text(incident['group'])}"
    )
    if response.get("run_log"):
        text += f"\nrun log `{mrkdwn(response['run_log'])}`"
    if response.get("error"):
        text += f"\nerror: {mrkdwn(response['error'])}"
    return _payload(text)


def _payload(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class Notifier:
    """Posts payloads to one webhook from a thread, rate-limited, through a bounded queue."""

    def __init__(self, url: Secret, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.dropped = 0
        self.sent = 0
        self.failed = 0
        self.cond = threading.Condition()
        self.closing = False
        self.deadline = float("inf")  # when closing: the queue is given up after this
        self.http = httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False)
        self.thread = threading.Thread(target=self._drain, name="soar-notify", daemon=True)
        self.thread.start()

    def post(self, payload: dict[str, Any]) -> None:
        """Queue ``payload``; when the queue is full the oldest waiting one is dropped."""
        with self.cond:
            if len(self.queue) >= QUEUE:
                self.queue.popleft()
                self.dropped += 1
            self.queue.append(payload)
            self.cond.notify()

    def close(self, wait: float = 5.0) -> None:
        """Send what is queued within ``wait`` seconds (the rest is dropped), then stop."""
        with self.cond:
            self.closing = True
            self.deadline = time.monotonic() + wait
            self.cond.notify()
        self.thread.join(wait + TIMEOUT)

    def _drain(self) -> None:
        try:
            self._drain_queue()
        finally:
            self.http.close()

    def _drain_queue(self) -> None:
        tokens, last = float(BURST), time.monotonic()
        while True:
            with self.cond:
                while not self.queue and not self.closing:
                    self.cond.wait()
                if not self.queue or time.monotonic() > self.deadline:
                    self.dropped += len(self.queue)
                    return
                now = time.monotonic()
                tokens = min(float(BURST), tokens + (now - last) * RATE)
                last = now
                if tokens < 1.0:
                    self.cond.wait((1.0 - tokens) / RATE)
                    continue
                tokens -= 1.0
                payload = self.queue.popleft()
                dropped, self.dropped = self.dropped, 0
            if dropped:
                note = f"\n({dropped} earlier notification(s) dropped by the rate limit)"
                payload = _payload(payload["text"] + note)
            self._send(payload)

    def _send(self, payload: dict[str, Any]) -> None:
        try:
            reply = self.http.post(self.url.reveal(), json=payload)
        except httpx.HTTPError as exc:  # the message of an httpx error may quote the URL
            self.failed += 1
            log.warning("notify.failed", error=type(exc).__name__)
            return
        if reply.status_code >= 300:
            self.failed += 1
            log.warning("notify.refused", status=reply.status_code)
        else:
            self.sent += 1
