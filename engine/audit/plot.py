"""The report's timeline plot: matplotlib's SVG output, inline in the HTML report.

matplotlib is the optional extra ``soar[report]`` (docs/report.md says why it
was chosen); it is imported only here and only when a plot is drawn, so the
Markdown report and ``soar --help`` never load it.

Every mark is one SVG group whose id says its kind (``soar-mark-<kind>-<n>``):
the browser test counts them. Lane labels are the only text from data; they
are made visible (``engine.textsafe.safe``), cut to ``MAX_LABEL`` characters,
and drawn with mathtext off (a ``$`` in a user name is a dollar sign, not a
formula). matplotlib escapes SVG text itself; text stays text (``svg.fonttype
none``), so the page can be searched and printed crisply.
"""

from __future__ import annotations

import importlib
import io
from types import ModuleType
from typing import Any
from xml.etree import ElementTree

from engine.audit.timeline import KINDS, Mark, Timeline
from engine.errors import UsageError
from engine.textsafe import safe

MAX_LABEL = 48
MAX_LANES = 12  # of one group (addresses, accounts): the table below the plot lists all
INSTALL = "pip install 'soar[report]'"
SVG, XLINK = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
STYLESHEET = "figure svg * { stroke-linejoin: round; stroke-linecap: butt; }"  # matplotlib's
STYLE = {  # kind -> (colour, marker)
    "failures": ("#c0392b", "_"),
    "login": ("#7b1fa2", "D"),
    "application": ("#ef8a17", "o"),
    "management": ("#1f6fb2", "s"),
    "containment": ("#1e8449", "v"),
}
_RC = {
    "svg.fonttype": "none",  # text as <text>, not glyph outlines
    "svg.hashsalt": "soar",  # ids the same on every render of the same run log
    "text.parse_math": False,  # a $ in data is not mathtext
    "text.usetex": False,
    "font.family": "sans-serif",
    "font.size": 9,
}


ElementTree.register_namespace("", SVG)  # written back as the browser reads it inline
ElementTree.register_namespace("xlink", XLINK)


def require() -> Any:
    """matplotlib, or a ``UsageError`` saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            f"the HTML report draws its timeline with matplotlib, which is not installed: "
            f"{INSTALL} (the Markdown report, --format md, needs nothing more)"
        ) from None
    return matplotlib


def _dates() -> ModuleType:
    """``matplotlib.dates`` as a module (partly untyped: mypy --strict would refuse its calls)."""
    return importlib.import_module("matplotlib.dates")


def available() -> bool:
    """Whether the plot can be drawn here (the ``soar[report]`` extra is installed)."""
    try:
        require()
    except UsageError:
        return False
    return True


def label(text: str) -> str:
    """A lane's label from data: visible characters only, at most ``MAX_LABEL`` of them."""
    shown = safe(text)
    return shown if len(shown) <= MAX_LABEL else shown[: MAX_LABEL - 3] + "..."


def lanes(line: Timeline) -> list[str]:
    """The lanes top to bottom: addresses, accounts, Management API, containment."""
    order: dict[str, list[str]] = {"failures": [], "accounts": [], "rest": []}
    for mark in line.marks:
        group = (
            "failures"
            if mark.kind == "failures"
            else "accounts"
            if mark.kind in ("login", "application")
            else "rest"
        )
        if mark.lane not in order[group]:
            order[group].append(mark.lane)
    rest = sorted(order["rest"], key=lambda lane: lane == "containment")
    return order["failures"][:MAX_LANES] + order["accounts"][:MAX_LANES] + rest


def svg(line: Timeline) -> str | None:
    """The timeline as one SVG document (no XML prolog); None when nothing has a date."""
    if not line.marks:
        return None
    mpl = require()
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    dates = _dates()
    shown = lanes(line)
    row = {lane: len(shown) - 1 - i for i, lane in enumerate(shown)}
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(11, 1.9 + 0.34 * len(shown)), layout="constrained")
        ax = fig.add_subplot()
        for n, mark in enumerate(m for m in line.marks if m.lane in row):
            _draw(ax, mark, row[mark.lane], f"soar-mark-{mark.kind}-{n}")
        writes = line.of("containment")
        if writes:  # where containment began, across every lane
            ax.axvline(
                dates.date2num(writes[0].start),
                color=STYLE["containment"][0],
                linestyle="--",
                linewidth=0.8,
                alpha=0.7,
            )
        ax.set_yticks(range(len(shown)), [label(lane) for lane in reversed(shown)])
        ax.set_ylim(-0.7, len(shown) - 0.3)
        ax.xaxis.set_major_locator(dates.AutoDateLocator(tz=dates.UTC))
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.set_xlabel("time (UTC)")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        kinds = [k for k in KINDS if line.of(k)]
        handles = [
            Line2D([], [], color=STYLE[k][0], linewidth=7, alpha=0.75)
            if k == "failures"
            else Line2D([], [], color=STYLE[k][0], marker=STYLE[k][1], linestyle="", markersize=7)
            for k in kinds
        ]
        fig.legend(handles, [KINDS[k] for k in kinds], loc="outside lower center", ncols=3)
        buf = io.StringIO()
        fig.savefig(
            buf, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type"))
        )
    return presentational(buf.getvalue())


def presentational(text: str) -> str:
    """matplotlib's SVG with every ``style`` as presentation attributes, and no ``<style>``.

    Each property matplotlib writes in a ``style`` attribute (fill, stroke,
    font-size, text-anchor, ...) is also an SVG presentation attribute, which a
    Content-Security-Policy does not treat as inline style: so the page's
    policy allows no inline style at all, only its own stylesheet by hash
    (``STYLESHEET`` holds the rule of matplotlib's ``<style>``). Only soar's
    own output is parsed here; data in it is already escaped text.
    """
    # S314: this parses matplotlib's own output, cut before any doctype; data in it is escaped
    root = ElementTree.fromstring(text[text.index("<svg") :])  # noqa: S314
    elements = list(root.iter())  # all of them before the tree changes
    for element in elements:
        for part in element.attrib.pop("style", "").split(";"):
            name, sep, value = part.partition(":")
            if sep and name.strip():
                element.set(name.strip(), value.strip())
        for child in [c for c in element if c.tag == f"{{{SVG}}}style"]:
            element.remove(child)
    return ElementTree.tostring(root, encoding="unicode")


def _draw(ax: Any, mark: Mark, y: int, gid: str) -> None:
    dates = _dates()
    colour, marker = STYLE[mark.kind]
    x = dates.date2num(mark.start)
    if mark.kind == "failures" and mark.end is not None:
        end = dates.date2num(mark.end)
        if mark.hours:  # the span thin, each hour a bar as tall as its share of the busiest
            ax.hlines(y, x, end, colors=colour, linewidth=2, alpha=0.45, gid=gid)
            busiest = max(n for _, n in mark.hours)
            bars = ax.bar(
                [dates.date2num(h) for h, _ in mark.hours],
                [0.8 * n / busiest for _, n in mark.hours],
                width=1 / 24,
                bottom=y - 0.4,
                align="edge",
                color=colour,
                alpha=0.8,
                linewidth=0,
            )
            for k, bar in enumerate(bars):
                bar.set_gid(f"soar-hour-{y}-{k}")
        else:
            ax.hlines(y, x, end, colors=colour, linewidth=9, alpha=0.75, gid=gid)
        ax.annotate(
            f" {mark.count}", (end, y), va="center", fontsize=8, color=colour, gid=f"soar-count-{y}"
        )
        return
    hollow = mark.kind == "containment" and mark.label.startswith("planned")
    ax.plot(
        [x],
        [y],
        marker="X" if mark.label.startswith("refused") else marker,
        markersize=9 if mark.kind in ("login", "containment") else 6,
        color=colour,
        markerfacecolor="white" if hollow else colour,
        linestyle="",
        markeredgecolor="#333333" if mark.kind == "application" else colour,
        alpha=0.9,
        zorder=3 if mark.kind == "application" else 2,  # what it reached, over its fall
        gid=gid,
    )
