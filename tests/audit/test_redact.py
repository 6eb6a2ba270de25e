"""Redaction: every encoding of every secret, in text, values, keys and structlog events."""

from __future__ import annotations

import base64
import html
import json
import secrets
import urllib.parse
from pathlib import Path

import pytest
from localserver import Route, recording_server
from soarcli import soar

from engine.audit.redact import Redactor, check_secret
from engine.errors import ConfigError
from engine.secrets import MASK, Secret, encodings

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
    assert r.text("token abcdefgh-1234") == "token abcdefgh-1234"
    r.add("abcdefgh-1234")
    r.add(Secret("t", "zyxwvuts-9876"))
    r.add("about")  # learnt at run time and too short: masking it would mangle ordinary words
    r.add(None)
    assert r.text("token abcdefgh-1234 zyxwvuts-9876 about") == f"token {MASK} {MASK} about"


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

    secret = 'q"uo\\te-\u00e9t\u00e9-42'
    r = Redactor([secret])
    body = json.dumps({"message": f"bad token {secret}"})  # an upstream error quoted raw
    assert r.text(body) == json.dumps({"message": f"bad token {MASK}"})
    ascii_body = json.dumps({"m": secret}, ensure_ascii=True)
    assert secret.encode("unicode_escape").decode() not in r.text(ascii_body)
    assert r.text(repr(("token", secret))) == f"('token', '{MASK}')"


# -- the attacks of issue 10, item 8 -------------------------------------------

SECRET = "hook-S3cr3t/&<'value"  # has characters that percent and HTML escaping change


def explicit_forms(secret: str) -> list[str]:
    """The forms an upstream echoes, spelled out here (not from ``encodings``)."""
    raw = secret.encode()
    lower_pct = "".join(c if c.isalnum() or c in "-_.~" else f"%{ord(c):02x}" for c in secret)
    return [
        raw.hex(),
        raw.hex().upper(),
        lower_pct,
        html.escape(secret),  # &amp; &lt; &#x27;
        secret.replace("&", "&amp;")
        .replace("/", "&#x2F;")
        .replace("<", "&lt;")
        .replace("'", "&#39;"),
        "".join(c if c.isalnum() else f"&#{ord(c)};" for c in secret),
        "".join(c if c.isalnum() else f"&#x{ord(c):x};" for c in secret),
    ]


def test_hex_lower_percent_and_html_forms_are_masked() -> None:
    r = Redactor([SECRET])
    for form in explicit_forms(SECRET):
        assert r.text(f"echo <{form}> end") == f"echo <{MASK}> end", form


PLAYBOOK = """\
playbook: 1
name: echo
steps:
  - id: look
    uses: http.request
    with:
      url: "URL/echo"
      headers: {Authorization: "Bearer {{ secrets.hook }}"}
outputs:
  body: "{{ steps.look.output.body }}"
  note: "status succeeded for the incident-response team; password reset done"
"""


def test_a_run_masks_echoed_forms_and_keeps_its_normal_text(tmp_path: Path) -> None:
    with recording_server() as server:
        server.routes["/echo"] = Route(body={"echo": explicit_forms(SECRET)})
        pb = tmp_path / "echo.yaml"
        pb.write_text(PLAYBOOK.replace("URL", server.url))
        runs = tmp_path / "runs"
        env = {"SOAR_SECRET_HOOK": SECRET}
        out = soar("run", str(pb), "--json", "--run-dir", str(runs), env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["outputs"]["body"] == {"echo": [MASK] * len(explicit_forms(SECRET))}
    # masking ate nothing else
    assert (
        doc["outputs"]["note"]
        == "status succeeded for the incident-response team; password reset done"
    )
    assert "status: succeeded" in out.stderr
    sinks = out.stdout + out.stderr + next(runs.iterdir()).read_text()
    for form in [SECRET, *explicit_forms(SECRET)]:
        assert form not in sinks, form


def test_weak_secrets_are_refused_at_configuration_time(tmp_path: Path) -> None:
    pb = tmp_path / "echo.yaml"
    pb.write_text(PLAYBOOK.replace("URL", "http://127.0.0.1:9"))
    for name, value in (
        ("SOAR_SECRET_X", "success"),  # a common word would be masked in every status line
        ("SOAR_SECRET_HOOK", "hunter2"),
        ("AUTH0_CLIENT_SECRET", "abc123"),
        ("SOAR_SECRET_LONG_WORD", "administratorpassword"),  # one kind of character, too short
    ):
        out = soar("run", str(pb), "--run-dir", str(tmp_path / "runs"), env={name: value})
        assert out.returncode == 2, (name, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {name} is too weak"), lines
        assert value not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()  # refused before any run log


def test_the_rule_accepts_real_credentials() -> None:
    for value in (
        "xoxb-1234-5678-abcdEFGH",  # a Slack bot token's shape
        "Zx9" + "a" * 3 + "bcdefgh",
        secrets.token_urlsafe(48),  # what the emulator generates
        "correct horse battery staple",  # a passphrase: 28 characters
    ):
        check_secret("SOAR_SECRET_OK", value)
    for value in ("aaaaaaaaaaaa1", "success", "Password1", "internationalization"):
        with pytest.raises(ConfigError, match="SOAR_SECRET_BAD is too weak"):
            check_secret("SOAR_SECRET_BAD", value)


def test_json_value_masks_as_value_does_and_skips_the_walk_when_it_can() -> None:
    secret = 'Ab"c\\d/é\u2028-Secret-0123'
    r = Redactor([secret])
    clean = {"events": [{"user_name": "x" * 50, "n": i, "d": {"k": [1, None]}} for i in range(300)]}
    assert r.json_value(clean) is clean  # nothing to mask: returned as it is
    for holder in (
        {"a": [{"b": f"before {secret} after"}]},
        {f"key {secret}": 1},
        [["deep", [f"{secret}"]]],
        {"s": json.dumps({"inner": secret})},  # the secret JSON-escaped inside a string
    ):
        assert r.json_value(holder) == r.value(holder)
        assert secret not in json.dumps(r.json_value(holder), ensure_ascii=False)
