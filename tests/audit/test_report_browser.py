"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``, tests/browser.py).

One browser for the module. The report of a live drill run (the shipped
credential-stuffing drill against the emulator: its attack, its three blocks)
loads with no console error and no request but the file itself, and its
timeline has exactly the marks the run log gives, per kind; a run log of
hostile names runs no script and shows them literally. The screenshot of the
drill's report is docs/report.png.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser, Page, find_chromium
from test_htmlreport import HOSTILE_NAMES, hostile_log

from engine.audit.htmlreport import render_html
from engine.audit.records import read_records
from engine.audit.timeline import KINDS, build
from engine.drills.drill import load_drill, run_drill

ROOT = Path(__file__).parents[2]
DRILL = ROOT / "drills" / "credential-stuffing.yaml"
SHOT = ROOT / "docs" / "report.png"

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium here: .ci/run installs Debian's package "
    "(apt-get install -y chromium as root); these tests need a real browser",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    chromium = Browser(CHROMIUM)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def drill_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The shipped drill run live against its emulated tenant; its run log and HTML report."""
    folder = tmp_path_factory.mktemp("drill")
    result = run_drill(load_drill(DRILL), folder)
    assert result.passed
    page = folder / "incident.html"
    page.write_text(render_html(result.run.run_log), encoding="utf-8")
    return result.run.run_log, page


@pytest.fixture(scope="module")
def drill_page(browser: Browser, drill_run: tuple[Path, Path]) -> Page:
    return browser.open(drill_run[1])


def test_the_drill_report_loads_offline_without_errors(drill_page: Page) -> None:
    assert drill_page.problems() == []
    assert drill_page.requests() == [drill_page.url]  # the file itself, nothing else
    assert drill_page.evaluate("document.querySelectorAll('svg').length") >= 1
    assert drill_page.evaluate("document.title").startswith("Incident report: ")


def test_the_timeline_has_the_marks_of_each_kind_the_run_log_gives(
    drill_page: Page, drill_run: tuple[Path, Path]
) -> None:
    line = build(read_records(drill_run[0]))
    for kind in KINDS:
        drawn = drill_page.evaluate(
            f"document.querySelectorAll('[id^=\"soar-mark-{kind}-\"]').length"
        )
        assert drawn == len(line.of(kind)) > 0, kind
    # each mark is drawn, with a size of its own on the page (a span's line has no height
    # but its stroke's; a point has both)
    sizes = drill_page.evaluate(
        "[...document.querySelectorAll('[id^=\"soar-mark-\"]')]"
        ".map(e => [e.id, e.getBoundingClientRect().width, e.getBoundingClientRect().height])"
    )
    assert len(sizes) == len(line.marks)
    assert all(w > 0 and (h > 0 or "failures" in i) for i, w, h in sizes), sizes
    # the live drill blocked its three accounts: three writes done, drawn as containment
    assert [m.label.split(":")[0] for m in line.of("containment")] == ["done"] * 3


def test_the_screenshot_for_the_docs(drill_page: Page, tmp_path: Path) -> None:
    """Taken from the drill's report; docs/report.png is refreshed with SOAR_UPDATE_DOCS=1."""
    shot = SHOT if os.environ.get("SOAR_UPDATE_DOCS") == "1" else tmp_path / "report.png"
    drill_page.screenshot(shot, until="#timeline figure")  # the summary and the timeline
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert SHOT.exists(), "docs/report.png: run this test once with SOAR_UPDATE_DOCS=1"


def test_hostile_names_run_no_script_and_show_literally(browser: Browser, tmp_path: Path) -> None:
    log = tmp_path / "run-h.jsonl"
    hostile_log(log)
    path = tmp_path / "hostile.html"
    path.write_text(render_html(log), encoding="utf-8")
    page = browser.open(path)
    assert page.dialogs() == [] and page.problems() == []
    assert page.requests() == [page.url]  # the <img src=x> in a name fetched nothing
    # the name is the title, as text: a script it carried would have made it "pwned"
    assert page.evaluate("document.title") == f"Incident report: {HOSTILE_NAMES[0]}"
    assert (
        page.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length") == 0
    )
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes])"
        ".filter(a => a.name.startsWith('on')).length"
    )
    assert handlers == 0
    text = page.evaluate("document.body.innerText")
    for name in (HOSTILE_NAMES[0], HOSTILE_NAMES[1], HOSTILE_NAMES[2], HOSTILE_NAMES[4]):
        assert name in text
    assert page.evaluate("getComputedStyle(document.body).display") == "block"
    lanes = page.evaluate("[...document.querySelectorAll('svg text')].map(t => t.textContent)")
    assert HOSTILE_NAMES[0] in lanes  # a lane's label, as text


def test_it_prints_with_the_timeline_whole_on_one_page(drill_page: Page) -> None:
    """In print media (A4, 14 mm margins: 688 CSS pixels wide, 1017 high) the plot is
    scaled to the page and kept in one piece; Chromium prints the page to PDF."""
    browser, session = drill_page.browser, drill_page.session
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session)
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 688, "height": 1017, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    try:
        size = drill_page.evaluate(
            "(() => { const r = document.querySelector('#timeline figure').getBoundingClientRect();"
            " return [r.width, r.height, getComputedStyle(document.body).paddingTop,"
            " getComputedStyle(document.querySelector('figure')).breakInside]; })()"
        )
        pdf = browser.call("Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69}, session)
    finally:
        browser.call("Emulation.setEmulatedMedia", {"media": ""}, session)
    width, height, padding, breaking = size
    assert width <= 688 and 0 < height < 1017 and padding == "0px" and breaking == "avoid"
    assert base64.b64decode(pdf["data"])[:5] == b"%PDF-"
