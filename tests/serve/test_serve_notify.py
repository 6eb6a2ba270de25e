"""Notifications: Slack-compatible, hostile strings escaped, rate-limited, the webhook never shown.

Posted to the recording HTTP server (tests/localserver.py).
"""

from __future__ import annotations

import time

from localserver import Route, recording_server
from structlog.testing import capture_logs

from engine.secrets import Secret
from engine.serve import notify
from engine.serve.notify import Notifier, mrkdwn, opened_message

HOOK = "/services/T0/B0/Hook-Secret-0123456789"
INCIDENT = {
    "id": 7,
    "rule": "credential-stuffing",
    "title": "Stuffing <b>",
    "severity": "high",
    "group": {"user_name": "<!channel> <https://evil.example|click> &amp;\x1b]8;;x\x07\u202e"},
    "first": "2026-11-20T10:00:00.000Z",
    "last": "2026-11-20T10:05:00.000Z",
}


def test_hostile_strings_cannot_mention_link_or_control_a_terminal() -> None:
    text = opened_message(INCIDENT)["text"]
    assert "<!channel>" not in text and "<https://" not in text and "<b>" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp;amp;" in text
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]8;;x\\x07\\u202e" in text
    assert len(mrkdwn("x" * 10_000)) <= notify.MAX_VALUE + 3
    payload = opened_message(INCIDENT)
    assert payload["blocks"][0]["text"] == {"type": "mrkdwn", "text": text}


def test_posts_are_rate_limited_and_drops_are_said() -> None:
    with recording_server() as server:
        sender = Notifier(Secret("SOAR_NOTIFY_WEBHOOK", server.url + HOOK))
        try:
            for n in range(notify.BURST + 2):
                sender.post({"text": f"message {n}"})
            time.sleep(0.5)
            assert server.count("POST", HOOK) == notify.BURST  # the burst, then one a second
            for n in range(notify.QUEUE):
                sender.post({"text": f"more {n}"})
            assert sender.dropped == 2
            deadline = time.monotonic() + 5
            while server.count("POST", HOOK) == notify.BURST and time.monotonic() < deadline:
                time.sleep(0.05)
            texts = [r.body["text"] for r in server.requests]
            assert "2 earlier notification(s) dropped" in texts[notify.BURST]
        finally:
            sender.close(wait=0)


def test_a_failing_webhook_is_logged_without_its_url() -> None:
    with recording_server() as server:
        server.routes[HOOK] = Route(status=404, body={"error": f"no hook {HOOK}"})
        sender = Notifier(Secret("SOAR_NOTIFY_WEBHOOK", server.url + HOOK))
        with capture_logs() as logs:
            sender.post(opened_message(INCIDENT))
            sender.close(wait=5)
        assert sender.failed == 1 and server.count("POST", HOOK) == 1
        assert [e["event"] for e in logs] == ["notify.refused"] and logs[0]["status"] == 404
        assert "Hook-Secret" not in repr(logs)
    gone = Notifier(Secret("SOAR_NOTIFY_WEBHOOK", "http://127.0.0.1:9" + HOOK))
    with capture_logs() as logs:
        gone.post({"text": "x"})
        gone.close(wait=5)
    assert gone.failed == 1 and "Hook-Secret" not in repr(logs)
