"""The tests a rule carries (``tests:``): events in, whether it fires and for which groups.

Run by ``soar detections test DIR...`` and, for the standard detections, by
``make test``. Each test feeds its events to a ``Detector`` of that rule alone:
all in one delivery (``delivery: batch``, the default), or each event a delivery
of its own in the order written (``one-by-one``, to test lateness). An event
written as ``{event, repeat, every, vary}`` stands for ``repeat`` copies, each
``every`` later than the one before, with ``{n}`` in each ``vary`` text replaced
by the copy's number; an event without a ``log_id`` gets a stable one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.issues import Location
from engine.serve.detect import Detection, Detector, value_of
from engine.serve.rules import Rule, RuleTest
from engine.timeutil import iso_ms, parse_duration, read_date


@dataclass(frozen=True)
class RuleTestResult:
    rule: str
    name: str
    passed: bool
    why: str  # what was expected and what happened
    location: Location


def expand_events(test: RuleTest, number: int = 0) -> Iterator[dict[str, Any]]:
    """The test's events, each repetition expanded, each with a log_id."""
    made = 0
    for item in test.events:
        if "event" not in item:
            made += 1
            yield {"log_id": f"test{number:03d}{made:09d}", **item}
            continue
        base = read_date(str(item["event"]["date"]))
        step = parse_duration(item.get("every", 0))
        vary: Mapping[str, str] = item.get("vary") or {}
        for n in range(item.get("repeat", 1)):
            made += 1
            event = {"log_id": f"test{number:03d}{made:09d}", **item["event"]}
            event["date"] = iso_ms(base + step * n)
            for name, text in vary.items():
                event[name] = text.replace("{n}", str(n))
            yield event


def run_test(rule: Rule, test: RuleTest, number: int = 0) -> RuleTestResult:
    detector = Detector([rule], clock=None)  # a test is dated as its author wrote it
    found: list[Detection] = []
    events = list(expand_events(test, number))
    if test.delivery == "one-by-one":
        for event in events:
            found.extend(detector.feed([event]))
    else:
        found = detector.feed(events)
    groups = sorted({_canonical(d.group) for d in found})
    expect = test.expect
    problems = []
    fires = bool(found)
    if fires != expect["fires"]:
        problems.append(
            f"expected it {'to fire' if expect['fires'] else 'not to fire'}, "
            f"it {'fired for ' + ', '.join(groups) if fires else 'did not fire'}"
        )
    if "groups" in expect:
        # an address may be written in any form it is logged in: it is compared by its key
        wanted = sorted(
            {_canonical({k: value_of(k, str(v)) for k, v in g.items()}) for g in expect["groups"]}
        )
        if wanted != groups and fires == expect["fires"]:
            problems.append(
                f"expected groups {', '.join(wanted) or 'none'}, got {', '.join(groups) or 'none'}"
            )
    if "too_late" in expect:
        late = detector.rule_stats(rule.id)["too_late"]
        if late != expect["too_late"]:
            problems.append(f"expected {expect['too_late']} event(s) too late, counted {late}")
    if problems:
        return RuleTestResult(rule.id, test.name, False, "; ".join(problems), test.location)
    what = f"fired for {', '.join(groups)}" if fires else "did not fire"
    return RuleTestResult(rule.id, test.name, True, what, test.location)


def run_rule_tests(rules: Sequence[Rule]) -> list[RuleTestResult]:
    """Every test of every rule, in rule then test order."""
    return [run_test(rule, test, n) for rule in rules for n, test in enumerate(rule.tests)]


def _canonical(group: Mapping[str, str]) -> str:
    return json.dumps(dict(group), sort_keys=True, ensure_ascii=False)
