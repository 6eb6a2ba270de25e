"""Redaction: every encoding of every secret, in text, values, keys and structlog events."""

from __future__ import annotations

import base64
import urllib.parse

from engine.redact import MASK, Redactor
from engine.secrets import Secret, encodings

CANARY = "canary-S3cr3t/+=&value"


def test_every_encoding_is_masked() -> None:
    r = Redactor([CANARY])
    forms = [
        CANARY,
        urllib.parse.quote(CANARY, safe=""),
        urllib.parse.quote_plus(CANARY),
        base64.b64encode(CANARY.encode()).decode(),
        base64.urlsafe_b64encode(CANARY.encode()).decode(),
        base64.b64encode(f"client:{CANARY}".encode()).decode(),  # a Basic auth header
    ]
    for form in forms:
        out = r.text(f"before {form} after")
        assert out.startswith("before ") and out.endswith(" after")
        for enc in encodings(CANARY):
            assert enc not in out, (form, enc)


def test_values_keys_and_secret_objects() -> None:
    r = Redactor([CANARY])
    value = {
        "a": [CANARY, {"b": f"x{CANARY}y"}],
        f"key-{CANARY}": 1,
        "s": Secret("tok", "other"),
        "n": 5,
        "none": None,
    }
    out = r.value(value)
    assert out == {
        "a": [MASK, {"b": f"x{MASK}y"}],
        f"key-{MASK}": 1,
        "s": MASK,
        "n": 5,
        "none": None,
    }


def test_secrets_added_later_and_short_values_ignored() -> None:
    r = Redactor()
    assert r.text("token abcdefgh") == "token abcdefgh"
    r.add("abcdefgh")
    r.add(Secret("t", "zyxwvuts"))
    r.add("ab")  # too short: masking it would mangle ordinary words
    r.add(None)
    assert r.text("token abcdefgh zyxwvuts about") == f"token {MASK} {MASK} about"


def test_structlog_processor_masks_event_values() -> None:
    r = Redactor([CANARY])
    event = {"event": f"got {CANARY}", "token": CANARY, "count": 2}
    assert r.processor(None, "info", event) == {
        "event": f"got {MASK}",
        "token": MASK,
        "count": 2,
    }


def test_json_and_repr_escaped_forms_are_masked() -> None:
    import json

    secret = 'q"uo\\te-\u00e9t\u00e9'
    r = Redactor([secret])
    body = json.dumps({"message": f"bad token {secret}"})  # an upstream error quoted raw
    assert r.text(body) == json.dumps({"message": f"bad token {MASK}"})
    ascii_body = json.dumps({"m": secret}, ensure_ascii=True)
    assert secret.encode("unicode_escape").decode() not in r.text(ascii_body)
    assert r.text(repr(("token", secret))) == f"('token', '{MASK}')"
