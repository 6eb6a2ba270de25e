"""Secrets stay opaque in expressions: each attack is performed, none may show the value.

A secret may only reach the request that sends it (``http.request``'s headers,
URL and body); every other use either keeps it a ``Secret`` (shown ``***``) or
fails with an error that does not carry it, in any encoding, reversed, or spelled
out one character at a time.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from executor_actions import make_registry, playbook
from localserver import RecordingServer, Route, recording_server

from engine.errors import TemplateError
from engine.expr.templates import compile_template
from engine.run.executor import run_playbook
from engine.run.plan import plain
from engine.secrets import Secret, encodings

CANARY = "Zq7canaryK9x2Lw4"
CTX = {"secrets": {"key": Secret("key", CANARY)}, "inputs": {"n": 1}}

# every way we tried to get the value out of an expression
ATTACKS = [
    "{% set s %}{{ secrets.key }}{% endset %}{{ s|reverse }}",
    "{% set s %}{{ secrets.key }}{% endset %}{{ s[::-1] }}",
    "{% set s %}{{ secrets.key }}{% endset %}{{ s|list }}",
    "{% set s %}{{ secrets.key }}{% endset %}{{ s|list|join('-') }}",
    "{% set s %}{{ secrets.key }}{% endset %}{{ inputs[s] }}",
    "{% set s %}{{ secrets.key }}{% endset %}{{ inputs[s[::-1]] }}",
    "{% set s %}{{ secrets.key }}{% endset %}{{ s|int }}",
    "{% set s %}{{ secrets.key }}{% endset %}{% for c in s %}{{ c }},{% endfor %}",
    "{% set s %}{{ secrets.key }}{% endset %}{{ s|length }}",
    "{{ secrets.key|list }}",
    "{{ secrets.key|reverse }}",
    "{{ secrets.key|string|reverse }}",
    "{{ secrets.key|string|list }}",
    "{{ secrets.key|string|upper }}",
    "{{ secrets.key|string|urlencode }}",
    "{{ secrets.key|urlencode }}",
    "{{ secrets.key|tojson }}",
    "{{ secrets.key|pprint }}",
    "{{ secrets.key|length }}",
    "{{ secrets.key[0] }}",
    "{{ secrets.key[::-1] }}",
    "{{ (secrets.key|string)[1:] }}",
    "{{ (secrets.key ~ '')|reverse|join }}",
    "{% for c in secrets.key %}{{ c }}{% endfor %}",
    "{{ secrets.key._value }}",
    "{{ secrets.key.reveal() }}",
    "{{ secrets.key|attr('_value') }}",
    "{{ '%r' % secrets.key }}",
    "{{ '{0._value}'.format(secrets.key) }}",
    "{{ '{:>30}'.format(secrets.key) }}",
    "{{ secrets.key|format }}",
    "{{ inputs[secrets.key ~ ''] }}",
    "{{ {secrets.key ~ '': 1} }}",
    "{{ secrets.key|string|lucene }}",
    "{{ secrets.key|lucene }}",
    "{{ secrets.key|string|wordwrap(2) }}",
    "{{ secrets.key|string|replace('a', 'b') }}",
    "{{ (secrets.key|string).split('') }}",
    "{{ secrets.key ~ 1 + 1 }}",
    "{{ [secrets.key]|map('string')|map('reverse')|list }}",
]


def leak_forms(value: str) -> list[str]:
    """The value as it could leak: every encoding redaction knows, reversed, hex, base64."""
    forms = set(encodings(value)) | {
        value[::-1],
        value.encode().hex(),
        value.upper(),
        value.lower(),
    }
    forms.add(base64.b64encode(value.encode()).decode())
    return sorted(forms)


def assert_nowhere(text: str, value: str = CANARY) -> None:
    for form in leak_forms(value):
        assert form not in text, f"{form!r} leaked"
    squeezed = re.sub(r"[^A-Za-z0-9]", "", text)  # spelled out: 'Z', 'q', '7', ...
    assert value not in squeezed and value[::-1] not in squeezed


@pytest.mark.parametrize("src", ATTACKS)
def test_an_expression_cannot_get_a_secret_out(src: str) -> None:
    try:
        value = compile_template(src).render(CTX)
    except TemplateError as exc:
        assert_nowhere(str(exc))
        return
    if isinstance(value, Secret):
        # still opaque: only the code that sends it may reveal it
        assert_nowhere(repr(value) + str(value) + json.dumps(plain(value)))
        return
    assert_nowhere(json.dumps(plain(value), ensure_ascii=True) + str(value))


def test_a_secret_placed_whole_stays_a_secret_that_reveals_the_value() -> None:
    placed = [
        ("{{ secrets.key }}", CANARY),
        ("Bearer {{ secrets.key }}", f"Bearer {CANARY}"),
        ("{{ 'Bearer ' ~ secrets.key }}", f"Bearer {CANARY}"),
        ("{{ 'token=%s' % secrets.key }}", f"token={CANARY}"),
        ("{{ 'token={}'.format(secrets.key) }}", f"token={CANARY}"),
        ("{{ [secrets.key, 'x']|join(':') }}", f"{CANARY}:x"),
        ("{% set s %}{{ secrets.key }}{% endset %}Bearer {{ s }}", f"Bearer {CANARY}"),
        ("{{ secrets.key|string|trim }}", CANARY),
    ]
    for src, revealed in placed:
        value = compile_template(src).render(CTX)
        assert isinstance(value, Secret), src
        assert value.reveal() == revealed and str(value) == "***"
    inside = compile_template("{{ {'h': 'Bearer ' ~ secrets.key, 'n': 1} }}").render(CTX)
    assert isinstance(inside["h"], Secret) and inside["h"].reveal() == f"Bearer {CANARY}"
    assert inside["n"] == 1


def test_a_changed_secret_is_refused_clearly() -> None:
    with pytest.raises(TemplateError, match="secret was changed inside the expression"):
        compile_template("{{ secrets.key|string|upper }}").render(CTX)
    with pytest.raises(TemplateError, match="secret cannot be put into a log query"):
        compile_template("{{ secrets.key|string|lucene }}").render(CTX)


def test_comparisons_tell_nothing_about_a_secret() -> None:
    guesses = [CANARY, CANARY[:3], ""]
    for guess in guesses:
        for src in (
            "{{ secrets.key == g }}",
            "{{ (secrets.key|string) == g }}",
            "{{ (secrets.key|string).startswith(g) if g else false }}",
            "{{ g in (secrets.key|string) if g else false }}",
        ):
            assert compile_template(src).render({**CTX, "g": guess}) is False, (src, guess)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as s:
        yield s


def _attack_playbook(url: str) -> str:
    steps = []
    for n, src in enumerate(ATTACKS):
        quoted = json.dumps(src)
        steps.append(
            f"  - id: a{n}\n    uses: data.set\n    continue_on_error: true\n"
            f"    with: {{value: {quoted}}}\n"
        )
    return f"""
playbook: 1
name: secret-attacks
steps:
{"".join(steps)}
  - id: hook
    uses: http.request
    with:
      method: POST
      url: "{{{{ secrets.hook_url }}}}"
      headers: {{Authorization: "Bearer {{{{ secrets.key }}}}"}}
      json: {{text: "user blocked"}}
  - id: bad
    uses: http.request
    continue_on_error: true
    with: {{method: POST, url: "{url}/fail", headers: {{X-Key: "{{{{ secrets.key }}}}"}}}}
outputs:
  first: "{{{{ steps.a0.output }}}}"
  hook: "{{{{ steps.hook.output.status }}}}"
"""


def _everything(result: Any, seen: list[dict[str, Any]]) -> str:
    text = result.run_log.read_text(encoding="utf-8") + json.dumps(seen, default=str)
    text += json.dumps(plain(result.outputs)) + str(result.error)
    for outcome in result.steps.values():
        text += str(getattr(outcome, "error", "")) + json.dumps(plain(outcome.output), default=str)
    return text


def test_attacks_in_a_run_leave_no_trace_and_the_webhook_gets_its_secrets(
    server: RecordingServer, tmp_path: Path
) -> None:
    hook_path = "/services/T000/B000/XyZ9webhookPath7"
    hook_url = f"{server.url}{hook_path}"
    server.routes[hook_path] = Route(status=200, body={"ok": True})
    server.routes["/fail"] = Route(status=400, body={"echo": f"bad key {CANARY}"})
    reg = make_registry(server.url)
    seen: list[dict[str, Any]] = []
    result = run_playbook(
        playbook(_attack_playbook(server.url), reg),
        {},
        registry=reg,
        approve=True,
        secrets={"key": CANARY, "hook_url": hook_url},
        run_dir=tmp_path,
        on_event=seen.append,
    )
    assert result.status == "succeeded", result.error
    sent = [w for w in server.writes() if w.path == hook_path]
    assert len(sent) == 1 and sent[0].headers["Authorization"] == f"Bearer {CANARY}"
    assert result.outputs["hook"] == 200
    text = _everything(result, seen)
    assert_nowhere(text)
    assert_nowhere(text, "XyZ9webhookPath7")
    assert hook_path not in text


def test_a_secret_webhook_url_is_masked_in_the_plan_and_errors(
    server: RecordingServer, tmp_path: Path
) -> None:
    reg = make_registry(server.url)
    secret_path = "T000/B000/planSecret42"
    source = """
playbook: 1
name: hook
steps:
  - id: hook
    uses: http.request
    with: {method: POST, url: "{{ secrets.hook_url }}", json: {text: hi}}
"""
    seen: list[dict[str, Any]] = []
    dry = run_playbook(
        playbook(source, reg),
        {},
        registry=reg,
        dry_run=True,
        secrets={"hook_url": f"https://hooks.slack.example/services/{secret_path}"},
        run_dir=tmp_path,
        on_event=seen.append,
    )
    assert dry.status == "succeeded" and server.writes() == []
    planned = next(r for r in seen if r["type"] == "action.planned")["planned"]
    assert planned[0]["url"] == "https://hooks.slack.example/***"
    assert "planSecret42" not in _everything(dry, seen)
    # a secret that is not a usable URL fails without quoting it
    bad = run_playbook(
        playbook(source, reg),
        {},
        registry=reg,
        approve=True,
        secrets={"hook_url": f"ftp://hooks.slack.example/{secret_path}"},
        run_dir=tmp_path,
    )
    assert bad.status == "failed" and "secrets.hook_url is not an https:// URL" in str(bad.error)
    assert "planSecret42" not in _everything(bad, [])
    # a webhook that answers an error echoing its own path shows neither in the error
    server.routes[f"/services/{secret_path}"] = Route(
        status=404, body={"error": f"no such hook /services/{secret_path}"}
    )
    asked: list[Any] = []
    echo = run_playbook(
        playbook(source, reg),
        {},
        registry=reg,
        approve=lambda request: asked.append(request) or True,
        secrets={"hook_url": f"{server.url}/services/{secret_path}"},
        run_dir=tmp_path,
    )
    assert echo.status == "failed" and "404" in str(echo.error)
    assert "planSecret42" not in _everything(echo, []) + repr(asked)
    assert asked  # the operator was asked, and the question showed no part of the path
