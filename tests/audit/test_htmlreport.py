"""``soar report --format html``: the page's content, its timeline, and hostile data kept inert.

The page is read back with the standard library's HTML parser, as a browser
would tokenize it: what matters is which elements and attributes exist, not
which strings appear. tests/audit/test_report_browser.py renders it in Chromium.
"""

from __future__ import annotations

import html
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from soarcli import soar
from test_depth import nested

from engine.actions import default_registry
from engine.audit.htmlreport import CSP, render_html
from engine.audit.records import read_records
from engine.audit.redact import Redactor
from engine.audit.report import render
from engine.audit.runlog import RunLogWriter
from engine.audit.timeline import build, when
from engine.errors import UsageError
from engine.playbook.loader import load_playbook
from engine.run.executor import run_playbook

ROOT = Path(__file__).parents[2]
EXPORT = ROOT / "tests" / "data" / "auth0" / "triage-export.jsonl"

HOSTILE_NAMES = [
    "<script>document.title='pwned'</script>",
    "</svg><img src=x onerror=\"document.title='pwned'\">",
    "{{ 7*7 }} ${7*7} $\\alpha$ $x^2$",
    "\x1b[31mred\x1b[0m\x07 \u202eevil",
    '"><style>body{display:none}</style>',
]
HUGE = "A" * 2_000_000


def hostile_log(path: Path) -> None:
    """A complete run log whose every data field is hostile: names, descriptions, details."""
    users = [f"auth0|u{i}" for i in range(len(HOSTILE_NAMES))]
    names = dict(zip(users, HOSTILE_NAMES, strict=True))
    log = RunLogWriter(path, "run-h", Redactor())
    log.write(
        "run.started",
        playbook={"name": HOSTILE_NAMES[0], "path": "p.yaml", "sha256": "ab" * 32},
        inputs={"block": True},
        operator=HOSTILE_NAMES[1],
        host="laptop",
        tenant="acme.eu.auth0.com",
        dry_run=True,
    )
    log.write(
        "step.finished",
        step="logins",
        status="succeeded",
        output={
            "users": users,
            "user_names": names,
            "first_login": {u: f"2026-11-28T07:0{i}:00.000Z" for i, u in enumerate(users)},
        },
    )
    log.write(
        "step.finished",
        step="clients",
        status="succeeded",
        output={
            "clients": {
                users[0]: [{"client_name": HOSTILE_NAMES[1], "first_seen": "2026-11-28T07:30:00Z"}]
            }
        },
    )
    log.write(
        "action.planned",
        step="block",
        index=0,
        action="auth0.block_user",
        target=users[0],
        planned={"method": "PATCH", "path": "/api/v2/users/x"},
    )
    event = {
        "date": "2026-11-28T06:00:00.000Z",
        "type": "sapi",
        "user_name": HOSTILE_NAMES[0],
        "description": HOSTILE_NAMES[1],
        "details": {
            "request": {"method": "patch", "path": "/api/v2/users/x"},
            "deep": nested(5000),
        },
        "user_agent": HUGE,
    }
    log.write(
        "run.finished",
        status="succeeded",
        outputs={
            "suspicious_addresses": [
                {
                    "ip": "203.0.113.7",
                    "count": 412,
                    "first_seen": "2026-11-28T05:00:00.000Z",
                    "last_seen": "not a date",
                }
            ],
            "compromised_users": users,
            "user_names": names,
            "management_api_calls": [event],
        },
    )
    log.close()


class Tree(HTMLParser):
    """The elements, attributes and text of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.style_blocks = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self.style_blocks += tag == "style"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: str) -> Tree:
    tree = Tree()
    tree.feed(page)
    return tree


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("hostile") / "run-h.jsonl"
    hostile_log(path)
    return render_html(path)


def test_hostile_names_show_literally_and_make_no_element_or_attribute(hostile_page: str) -> None:
    tree = parsed(hostile_page)
    assert "script" not in tree.tags and "img" not in tree.tags
    assert tree.style_blocks == 1  # the page's own, allowed by its hash: none from data
    assert not [a for a, _ in tree.attrs if a == "style"]  # the SVG's are attributes
    assert not [a for a, _ in tree.attrs if a.startswith("on")]
    # nothing to fetch: every link is to a fragment of the page itself
    refs = [v for a, v in tree.attrs if a in ("href", "xlink:href", "src", "action")]
    assert refs and all(str(v).startswith("#") for v in refs)
    text = "".join(tree.text)
    for name in HOSTILE_NAMES[:3] + HOSTILE_NAMES[4:]:
        assert name in text  # literally, in the tables, with its $ and braces
    assert "\\x1b[31mred\\x1b[0m\\x07 \\u202eevil" in text  # control characters shown
    assert "\x1b" not in hostile_page and "\u202e" not in hostile_page


def test_the_timeline_lanes_carry_hostile_names_as_escaped_svg_text(hostile_page: str) -> None:
    svg = hostile_page[hostile_page.index("<svg") : hostile_page.index("</svg>") + 6]
    assert svg.count("<svg") == 1  # no name closed the SVG early or opened another
    tree = parsed(svg)
    labels = "".join(tree.text)
    assert html.escape("<script>document.title='pwned'</script>", quote=False) in svg
    assert "<script>document.title" in labels  # as text, a label of its lane
    assert "$\\alpha$" in labels  # mathtext off: the dollar signs are drawn as they are


def test_huge_and_deep_details_are_cut_and_bounded(hostile_page: str) -> None:
    assert len(hostile_page) < 400_000  # the 2 MB user agent is not copied into the page
    assert "(2000000 chars)" in hostile_page
    # the 5,000 levels were cut at a marker (the run log's depth bound), so the value's text
    # is a few hundred characters, of which the cell shows the first
    [cell] = re.findall(r"&quot;deep&quot;: \{&quot;a&quot;[^<]*\((\d+) chars\)", hostile_page)
    assert 300 < int(cell) < 2000


def test_the_page_loads_nothing_and_says_what_it_could_not_place(hostile_page: str) -> None:
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in hostile_page
    assert CSP.startswith("default-src 'none'; style-src 'sha256-")
    assert "unsafe" not in CSP and "script" not in CSP
    assert "http://" not in hostile_page.replace("http://www.w3.org/", "")
    assert "https://" not in hostile_page
    # an address whose last event has no readable date is named, not silently dropped
    assert "1 finding(s) have no readable date" in hostile_page
    assert "address 203.0.113.7: first_seen" in hostile_page
    assert "last_seen &#x27;not a date&#x27;" in hostile_page  # the value that is not one


def test_a_real_shaped_export_gives_its_timeline(tmp_path: Path) -> None:
    """The triage of the real-shaped export (tests/data/auth0/triage-export.md says where each
    shape was seen): one span per suspicious address with its count, each account's fall,
    what it reached, the Management API calls, from the run log alone."""
    registry = default_registry()
    result = run_playbook(
        load_playbook(ROOT / "playbooks" / "auth0-attack-triage.yaml", registry),
        {"since": "2026-11-20"},
        registry=registry,
        run_dir=tmp_path,
        logs_file=EXPORT,
    )
    line = build(read_records(result.run_log))
    out = result.outputs
    spans = {m.lane: m.count for m in line.of("failures")}
    assert spans == {r["ip"]: r["count"] for r in out["suspicious_addresses"]}
    for m in line.of("failures"):
        row = next(r for r in out["suspicious_addresses"] if r["ip"] == m.lane)
        assert (m.start, m.end) == (when(row["first_seen"]), when(row["last_seen"]))
        # over time: its events in each hour, adding up to its count
        assert [(h, n) for h, n in m.hours] == [(when(h), n) for h, n in row["hours"]]
        assert sum(n for _, n in m.hours) == m.count
    assert {m.lane for m in line.of("login")} == set(out["user_names"].values())
    reached = {(m.lane, m.label) for m in line.of("application")}
    assert reached == {
        (out["user_names"][u], app) for u, apps in out["accessed_clients"].items() for app in apps
    }
    assert len(line.of("management")) == len(out["management_api_calls"]) > 0
    assert line.of("containment") == [] and line.unplaced == []
    page = render_html(result.run_log)
    assert page.count('id="soar-mark-failures-') == len(spans) == 3
    hours = sum(len(m.hours) for m in line.of("failures"))
    assert page.count('id="soar-hour-') == hours >= 3


def test_two_accounts_under_one_logged_name_keep_a_lane_each(tmp_path: Path) -> None:
    log = tmp_path / "run-t.jsonl"
    writer = RunLogWriter(log, "run-t", Redactor())
    writer.write("run.started", playbook={"name": "t"}, inputs={}, operator="o", host="h")
    output = {
        "user_names": {"auth0|a": "admin", "auth0|b": "admin", "auth0|c": "carol"},
        "first_login": dict.fromkeys(("auth0|a", "auth0|b", "auth0|c"), "2026-11-28T07:00:00Z"),
    }
    writer.write("step.finished", step="logins", status="succeeded", output=output)
    writer.write("run.finished", status="succeeded", outputs={})
    writer.close()
    lanes = [m.lane for m in build(read_records(log)).of("login")]
    assert sorted(lanes) == ["admin (auth0|a)", "admin (auth0|b)", "carol"]


def test_the_cli_writes_html_and_refuses_an_unknown_format(tmp_path: Path) -> None:
    log = tmp_path / "run-h.jsonl"
    hostile_log(log)
    page = tmp_path / "incident.html"
    proc = soar("report", str(log), "--format", "html", "-o", str(page))
    assert proc.returncode == 0, proc.stderr
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    bad = soar("report", str(log), "--format", "pdf")
    assert bad.returncode == 2 and "--format pdf: use one of md, html" in bad.stderr


def test_the_markdown_report_needs_no_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    log = tmp_path / "run-h.jsonl"
    hostile_log(log)
    assert render(log).startswith("# Incident report: ")
    with pytest.raises(UsageError, match=re.escape("pip install 'soar[report]'")):
        render_html(log)


def test_without_the_report_extra_html_says_what_to_install(tmp_path: Path) -> None:
    """matplotlib made unimportable for the child (a package of that name that fails first on
    its path), as on a machine where only ``pip install soar`` ran."""
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(shadow.parent), str(ROOT)])}
    log = tmp_path / "run-h.jsonl"
    hostile_log(log)
    proc = soar("report", str(log), "--format", "html", "-o", str(tmp_path / "x.html"), env=env)
    assert proc.returncode == 2
    assert "pip install 'soar[report]'" in proc.stderr and "--format md" in proc.stderr
    assert not (tmp_path / "x.html").exists()
    demo = soar("demo", "--run-dir", str(tmp_path / "runs"), env=env, cwd=tmp_path, timeout=120)
    assert demo.returncode == 0, demo.stderr
    assert "html:       not written: the HTML report draws its timeline with matplotlib" in (
        demo.stderr
    )
    assert len(list((tmp_path / "runs").glob("*.md"))) == 1
    assert list((tmp_path / "runs").glob("*.html")) == []


def test_a_run_with_no_dated_finding_says_so_instead_of_an_empty_plot(tmp_path: Path) -> None:
    log = tmp_path / "run-q.jsonl"
    writer = RunLogWriter(log, "run-q", Redactor())
    writer.write("run.started", playbook={"name": "quiet"}, inputs={}, operator="o", host="h")
    writer.write("step.finished", step="s", status="succeeded", output={"count": 0})
    writer.write("run.finished", status="succeeded", outputs={"suspicious_ips": []})
    writer.close()
    page = render_html(log)
    assert "<svg" not in page
    assert "The run log holds no dated finding to draw." in page
    assert "intact and complete" in page and "soar verify" in page
