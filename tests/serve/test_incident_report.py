"""The report of an incident (``soar report --incident``) and the pages of ``soar serve``.

A real ``soar serve`` (subprocess) takes a hostile attack (user name and
description carrying markup, a template and an escape sequence), opens an
incident and runs its dry-run response to its end; the report is rendered
from that state in Markdown and HTML, and the pages are read over HTTP.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import Browser, find_chromium
from serving import TOKEN, Served, incidents, item, jsonl, launch, serving
from soarcli import soar, wait_until

VIEWER = "viewer-Token-9876543210"
PLAYBOOK = """
playbook: 1
name: serve-note
description: notes who the incident is about
inputs:
  who: {type: string, required: true}
steps:
  - id: note
    uses: data.set
    with: {value: "{{ inputs.who }}"}
outputs:
  who: "{{ steps.note.output.value }}"
"""
RULE = """
detection: 1
id: user-failures
title: Failures for one account
description: three failed logins for one user name
severity: high
select: 'type:"fp"'
group_by: [user_name]
window: 10m
quiet: 30m
threshold:
  count: {gte: 3}
response:
  playbook: ../playbooks/note.yaml
  inputs: {who: "{{ group.user_name }}"}
  respond: dry-run
"""
HOSTILE = "<script>alert(1)</script>{{ 7*7 }}\x1b[31m"
DESCRIPTION = '"><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("incident-report")
    (root / "rules").mkdir()
    (root / "playbooks").mkdir()
    (root / "rules" / "user-failures.yaml").write_text(RULE)
    (root / "playbooks" / "note.yaml").write_text(PLAYBOOK)
    args = ["--detections", str(root / "rules"), "--run-dir", str(root / "runs")]
    # shape of a failed-password event (type "fp") as in Auth0's log event docs
    events = [
        item(
            f"9000{i}",
            type="fp",
            user_name=HOSTILE,
            ip="203.0.113.7",
            client_name="My App",
            description=DESCRIPTION,
            date=f"2026-11-20T10:00:0{i}.000Z",
        )
        for i in range(4)
    ]
    with serving(root / "state", [*args, "--viewer-token", VIEWER]) as server:
        assert server.post(jsonl(events)).json() == {"stored": 4, "duplicates": 0}
        wait_until(
            server.proc,
            lambda: any(
                (i["response"] or {}).get("status") == "succeeded" for i in incidents(server.state)
            ),
        )
        (incident,) = incidents(server.state)
        yield server, incident
        out, err = server.stop()
        assert VIEWER not in out + err


def _escaped_everywhere(page: str) -> None:
    assert "<script" not in page and "<img" not in page and "\x1b" not in page
    assert html.escape("<script>alert(1)</script>{{ 7*7 }}", quote=True) in page


def test_the_incident_report_in_markdown_and_html(served: tuple[Served, dict[str, Any]]) -> None:
    server, incident = served
    state = str(server.state)
    md = soar("report", "--incident", str(incident["id"]), "--state", state)
    assert md.returncode == 0, md.stderr
    text = md.stdout
    assert f"# Incident {incident['id']}: Failures for one account" in text
    assert "- **Severity:** high" in text and "- **Evidence:** 4 event\\(s\\)" in text
    assert "`90000`" in text and "`90003`" in text and "203.0.113.7" in text
    assert "\\<script\\>" in text and "<script>" not in text and "\x1b" not in text
    assert "- **Status:** succeeded" in text and "- **Mode:** dry-run" in text
    assert incident["response"]["run_log"] in text.replace("\\", "")
    assert "### who" in text or "**who:**" in text  # the run's outputs, from its run log

    out = Path(state).parent / "incident.html"
    page = soar(
        "report",
        "--incident",
        str(incident["id"]),
        "--state",
        state,
        "--format",
        "html",
        "-o",
        str(out),
    )
    assert page.returncode == 0, page.stderr
    doc = out.read_text()
    assert "Content-Security-Policy" in doc and "default-src &#x27;none&#x27;" not in doc
    assert "default-src 'none'" in doc and 'id="evidence"' in doc and 'id="writes"' in doc
    assert doc.count("<td><code>9000") == 4
    _escaped_everywhere(doc)


def test_report_takes_exactly_one_of_runlog_or_incident(
    served: tuple[Served, dict[str, Any]],
) -> None:
    server, _ = served
    both = soar("report", "x.jsonl", "--incident", "1", "--state", str(server.state))
    neither = soar("report")
    unknown = soar("report", "--incident", "999", "--state", str(server.state))
    for result in (both, neither):
        assert result.returncode != 0 and "exactly one of RUNLOG or --incident" in result.stderr
    assert unknown.returncode != 0 and "no incident 999" in unknown.stderr


def test_the_pages_need_a_token_and_show_hostile_strings_literally(
    served: tuple[Served, dict[str, Any]],
) -> None:
    server, incident = served
    page = f"{server.url}/incidents/{incident['id']}"
    for headers in ({}, {"Authorization": "Bearer wrong-token-123456"}):
        refused = httpx.get(page, headers=headers, timeout=10)
        assert refused.status_code == 401 and HOSTILE not in refused.text
        assert refused.headers["www-authenticate"].startswith("Basic")
    basic = "Basic " + base64.b64encode(f"anyone:{VIEWER}".encode()).decode()
    for auth in (TOKEN, f"Bearer {VIEWER}", basic):
        shown = httpx.get(page, headers={"Authorization": auth}, timeout=10)
        assert shown.status_code == 200, auth
        assert shown.headers["content-type"].startswith("text/html")
        assert shown.headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
        _escaped_everywhere(shown.text)
        assert "<td><code>90002</code></td>" in shown.text
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    listed = httpx.get(f"{server.url}/incidents", headers=viewer, timeout=10)
    assert listed.status_code == 200 and f'<a href="/incidents/{incident["id"]}">' in listed.text
    _escaped_everywhere(listed.text)
    assert httpx.get(f"{server.url}/incidents/999", headers=viewer, timeout=10).status_code == 404
    assert httpx.post(page, headers=viewer, timeout=10).status_code == 405
    # the viewer token reads; it cannot feed the stream
    posted = server.post(jsonl([item("9100", type="fp", user_name="x")]), token=VIEWER)
    assert posted.status_code == 401


CHROMIUM = find_chromium()


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium here: .ci/run installs Debian's package (apt-get install -y chromium)",
)
def test_the_incident_page_in_chromium_runs_nothing_and_loads_nothing(
    served: tuple[Served, dict[str, Any]], tmp_path: Path
) -> None:
    server, incident = served
    shown = httpx.get(
        f"{server.url}/incidents/{incident['id']}",
        headers={"Authorization": f"Bearer {VIEWER}"},
        timeout=10,
    )
    path = tmp_path / "incident.html"
    path.write_text(shown.text, encoding="utf-8")  # the page as served, opened offline
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)
    try:
        page = browser.open(path)
        assert page.dialogs() == [] and page.problems() == []
        assert page.requests() == [page.url]  # the <img src=x> in a description fetched nothing
        assert page.evaluate("document.querySelectorAll('script, img').length") == 0
        text = page.evaluate("document.body.innerText")
        assert "<script>alert(1)</script>{{ 7*7 }}" in text and DESCRIPTION in text
        rows = page.evaluate("document.querySelectorAll('#evidence tbody tr, #evidence tr').length")
        assert rows >= 4
    finally:
        browser.close()


def test_a_big_incident_shows_its_first_events_and_says_what_is_missing(tmp_path: Path) -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from engine.serve.incidents import record
    from engine.serve.ingest import Item
    from engine.serve.report import MAX_SHOWN, read_incident, render_incident_html
    from engine.serve.report import render_incident_md as render
    from engine.serve.store import EventStore, connect

    conn = connect(tmp_path)
    ids = [f"9{i:04d}" for i in range(MAX_SHOWN + 50)]
    stored = [
        Item(x, {"log_id": x, "type": "fp", "date": "2026-11-20T10:00:00.000Z"}) for x in ids[1:]
    ]
    EventStore(conn).append(stored)  # the first evidence id was never stored
    rule = SimpleNamespace(id="r", title="t", severity="low", quiet=timedelta(minutes=5))
    det = SimpleNamespace(
        rule=rule,
        key="r{}",
        group={"ip": "203.0.113.9"},
        first="2026-11-20T10:00:00.000Z",
        last="2026-11-20T10:00:00.000Z",
        evidence=tuple(ids),
    )
    with conn:
        (opened,) = record(conn, [det], lambda _d, _i: None).opened
    view = read_incident(conn, opened)
    assert view is not None and len(view.events) == MAX_SHOWN
    text = render(view)
    assert f"the first {MAX_SHOWN} of {MAX_SHOWN + 50} evidence events" in text
    assert "| `90000` | not in the store \\(or unreadable\\) |" in text
    assert "`90199`" in text and "`90200`" not in text
    assert "the rule names no response" in text
    assert "not in the store" in render_incident_html(view)
    assert read_incident(conn, opened + 1) is None


def test_a_weak_viewer_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    weak = "weakviewer"
    refused = soar(
        "serve", "--token", TOKEN, "--state", str(tmp_path), env={"SOAR_VIEWER_TOKEN": weak}
    )
    assert refused.returncode == 2 and "the viewer token" in refused.stderr
    assert weak not in refused.stdout + refused.stderr


def test_without_a_stream_token_the_viewer_token_still_guards_the_pages(tmp_path: Path) -> None:
    server = launch(tmp_path, ["--insecure-no-token", "--viewer-token", VIEWER])
    try:
        assert httpx.get(f"{server.url}/incidents", timeout=10).status_code == 401
        viewer = {"Authorization": f"Bearer {VIEWER}"}
        assert httpx.get(f"{server.url}/incidents", headers=viewer, timeout=10).status_code == 200
        assert server.post(jsonl([item("9200", type="fp")]), token=None).status_code == 200
    finally:
        server.stop()
