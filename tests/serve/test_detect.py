"""The detector: event-time windows, lateness, groups, caps, determinism, hostile values."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.emulator.scenarios import generate
from engine.serve.detect import MAX_EVIDENCE, MAX_VALUE, Detector
from engine.serve.rules import Rule, load_rules
from engine.timeutil import iso_ms, read_date

ROOT = Path(__file__).resolve().parents[2]
T0 = read_date("2026-11-20T10:00:00.000Z")


def _rule(tmp_path: Path, body: str, rule_id: str = "r") -> Rule:
    path = tmp_path / f"{rule_id}.yaml"
    path.write_text(f"detection: 1\nid: {rule_id}\ntitle: t\nseverity: low\n{body}", "utf-8")
    (rule,) = load_rules([path])
    return rule


COUNT = "select: 'type:\"fp\"'\ngroup_by: [ip]\nwindow: 10m\nlateness: 1m\nthreshold: {count: {gte: 3}}\n"


def _fp(n: int, seconds: float, ip: str = "203.0.113.7", **extra: Any) -> dict[str, Any]:
    return {
        "log_id": f"{n:06d}",
        "type": "fp",
        "ip": ip,
        "date": iso_ms(T0 + timedelta(seconds=seconds)),
        **extra,
    }


def test_a_threshold_fires_with_its_window_evidence_and_again_on_new_evidence(
    tmp_path: Path,
) -> None:
    detector = Detector([_rule(tmp_path, COUNT)])
    assert detector.feed([_fp(1, 0), _fp(2, 60)]) == []
    (first,) = detector.feed(
        [_fp(3, 120), {"log_id": "x", "type": "s", "ip": "203.0.113.7", "date": iso_ms(T0)}]
    )
    assert first.key == 'r{"ip":"203.0.113.7"}' and first.group == {"ip": "203.0.113.7"}
    assert (first.first, first.last, first.count) == (
        "2026-11-20T10:00:00.000Z",
        "2026-11-20T10:02:00.000Z",
        3,
    )
    assert first.evidence == ("000001", "000002", "000003")
    assert detector.feed([_fp(9, 130, ip="198.51.100.1")]) == []  # no new evidence for the group
    (again,) = detector.feed([_fp(4, 180)])
    assert again.key == first.key and again.count == 4
    # the window slides: 11 minutes later the first three are outside it
    assert detector.feed([_fp(5, 900)]) == []


def test_dates_in_any_form_auth0_tools_write_are_one_time_line(tmp_path: Path) -> None:
    detector = Detector([_rule(tmp_path, COUNT)])
    found = detector.feed(
        [
            {**_fp(1, 0), "date": "2026-11-20T10:00:00Z"},  # Go's RFC3339 without a fraction
            {**_fp(2, 0), "date": "2026-11-20T11:00:01.5+01:00"},  # an offset
            {**_fp(3, 0), "date": "2026-11-20T10:00:02.000000Z"},  # six digits
            {**_fp(4, 0), "date": "yesterday"},
            {**_fp(5, 0), "date": None},
        ]
    )
    assert [d.count for d in found] == [3]
    assert detector.stats["undated"] == 2 and detector.stats["seen"] == 5


def test_an_event_dated_ahead_of_the_clock_cannot_make_the_stream_too_late(
    tmp_path: Path,
) -> None:
    """One event dated a year ahead (a skewed clock, a forged body) would move the watermark,
    and every real event after it would count as too late: it is counted, not believed."""
    now = (T0 + timedelta(minutes=3)).timestamp()
    detector = Detector([_rule(tmp_path, COUNT)], clock=lambda: now)
    ahead = {**_fp(99, 365 * 86400), "log_id": "999999"}
    assert detector.feed([ahead, _fp(1, 0)]) == []
    (found,) = detector.feed([_fp(2, 60), _fp(3, 120)])
    assert found.evidence == ("000001", "000002", "000003")
    assert detector.stats["future"] == 1 and detector.stats["too_late"] == 0
    # within the allowed skew an event is believed; without a clock (a rule's own tests) all are
    assert Detector([_rule(tmp_path, COUNT)], clock=lambda: now).feed(
        [_fp(4, 0), _fp(5, 60), _fp(6, 180 + 240)]
    )
    unbounded = Detector([_rule(tmp_path, COUNT)], clock=None)
    unbounded.feed([ahead])
    assert unbounded.stats["future"] == 0 and unbounded.watermark is not None


def test_lateness_keeps_late_events_within_it_and_counts_the_others(tmp_path: Path) -> None:
    detector = Detector([_rule(tmp_path, COUNT)])
    detector.feed([_fp(1, 600)])
    assert detector.feed([_fp(2, 550), _fp(3, 545)])  # 50 s late: within the minute
    assert detector.feed([_fp(4, 100), _fp(5, 110), _fp(6, 120)]) == []  # 8 minutes late
    assert detector.stats["too_late"] == 3 and detector.stats["matched"] == 6


def test_a_missing_group_field_is_counted_not_grouped(tmp_path: Path) -> None:
    detector = Detector([_rule(tmp_path, COUNT)])
    assert detector.feed([_fp(n, n, ip=ip) for n, ip in enumerate([None, "", None, ""])]) == []
    assert detector.stats["ungrouped"] == 4 and detector.stats["groups"] == 0


def test_distinct_counts_values_not_events(tmp_path: Path) -> None:
    body = COUNT.replace("{count: {gte: 3}}", "{distinct: {field: details.user, gte: 3}}")
    detector = Detector([_rule(tmp_path, body)])
    same = [_fp(n, n, details={"user": "a"}) for n in range(10)]
    assert detector.feed(same) == []
    (found,) = detector.feed([_fp(20, 20, details={"user": "b"}), _fp(21, 21, details={"user": 3})])
    assert found.count == 12


def test_state_is_bounded_by_the_window_and_the_caps(tmp_path: Path) -> None:
    rule = _rule(tmp_path, COUNT)
    assert Detector([rule]).horizon == timedelta(minutes=11)
    detector = Detector([rule], max_groups=100, max_group_events=50)
    flood = [
        _fp(n, n / 100, ip=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}") for n in range(1000)
    ]
    detector.feed(flood)
    assert detector.stats["groups"] == 100 and detector.stats["dropped"] == 900
    found = detector.feed(
        [_fp(2000 + n, 20 + n / 100) for n in range(200)]
    )  # one group, 200 events
    assert found[0].count == 50 and detector.stats["dropped"] == 900 + 150 + 1  # + an evicted group
    detector.feed([_fp(9999, 3600, ip="192.0.2.1")])  # an hour later everything else is forgotten
    assert detector.stats["groups"] == 1


def test_evidence_keeps_the_newest_log_ids(tmp_path: Path) -> None:
    detector = Detector([_rule(tmp_path, COUNT)])
    (found,) = detector.feed([_fp(n, n / 10) for n in range(MAX_EVIDENCE + 500)])
    assert found.count == MAX_EVIDENCE + 500 and len(found.evidence) == MAX_EVIDENCE
    assert found.evidence[-1] == f"{MAX_EVIDENCE + 499:06d}" and found.evidence[0] == f"{500:06d}"


def test_hostile_values_cannot_blow_it_up(tmp_path: Path) -> None:
    body = (
        "select: 'type:\"fp\"'\ngroup_by: [user_name]\nwindow: 10m\n"
        "where: {details.x: '*boom*'}\n"
        "threshold: {distinct: {field: user_agent, gte: 2}}\n"
    )
    detector = Detector([_rule(tmp_path, body)])
    deep: Any = "boom"
    for _ in range(100_000):
        deep = {"x": deep}
    huge = "{{ 7*7 }}\x1b[31m" + "A" * 5_000_000
    events = [
        _fp(1, 0, user_name=huge, user_agent="a" * 1_000_000, details={"x": "boom"}),
        _fp(2, 1, user_name=huge, user_agent="b" * 1_000_000, details={"x": "boom"}),
        _fp(3, 2, user_name="deep", details={"x": deep}),
    ]
    (found,) = detector.feed(events)
    (value,) = found.group.values()
    assert len(value) <= MAX_VALUE and value.startswith("{{ 7*7 }}")  # data, never rendered
    assert len(found.key) < 2 * MAX_VALUE


def _shuffled_within(
    events: list[dict[str, Any]], seconds: float, rng: random.Random
) -> list[dict[str, Any]]:
    """The events in date order, each moved by at most ``seconds`` of delivery delay."""
    keyed = [(read_date(e["date"]).timestamp() + rng.uniform(0, seconds), e) for e in events]
    return [e for _, e in sorted(keyed, key=lambda k: k[0])]


@pytest.fixture(scope="module")
def standard_rules() -> list[Rule]:
    return load_rules([ROOT / "detections"])


def test_the_same_events_in_any_batching_and_order_within_lateness_give_the_same_keys(
    standard_rules: list[Rule],
) -> None:
    tenant = generate("compromised-admin", seed=3, events=3000)
    events = sorted(tenant.events, key=lambda e: e["date"])
    whole = {d.key for d in Detector(standard_rules).feed(events)}
    assert len(whole) == 3
    rng = random.Random(7)
    for _ in range(3):
        delivered = _shuffled_within(events, 100, rng)  # the standard lateness is 2m or 5m
        detector = Detector(standard_rules)
        keys: set[str] = set()
        at = 0
        while at < len(delivered):
            size = rng.choice([1, 7, 100, 500])
            keys |= {d.key for d in detector.feed(delivered[at : at + size])}
            at += size
        assert keys == whole
        assert detector.stats["too_late"] == 0


SEQUENCE = (
    'select: \'type:"fp" OR type:"s"\'\ngroup_by: [user_id]\nwindow: 2h\nlateness: 5m\n'
    "sequence:\n  - {as: failures, select: 'type:\"fp\"', count: {gte: 3}}\n"
    "  - {as: success, select: 'type:\"s\"', count: {gte: 1}}\n"
)


def _login(n: int, seconds: float, kind: str, user: str = "auth0|1") -> dict[str, Any]:
    return {
        "log_id": f"{n:06d}",
        "type": kind,
        "user_id": user,
        "date": iso_ms(T0 + timedelta(seconds=seconds)),
    }


def test_a_sequence_keeps_a_users_own_logins_for_the_lateness_only(tmp_path: Path) -> None:
    """Successes no failures precede can never follow them: forgotten once past the lateness."""
    rule = _rule(tmp_path, SEQUENCE)
    detector = Detector([rule], clock=None)
    # 2,000 users each logging in every 10 minutes for 2 hours, two failures each
    for minute in range(0, 120, 10):
        batch = [_login(minute * 100_000 + u, minute * 60, "s", f"u{u}") for u in range(2_000)]
        if minute == 30:
            batch += [_login(9_000_000 + u, minute * 60 + 1, "fp", f"u{u}") for u in range(2_000)]
            batch += [_login(9_500_000 + u, minute * 60 + 2, "fp", f"u{u}") for u in range(2_000)]
        assert detector.feed(batch) == []
    # held: the failures, and the logins within the lateness (the last round), not 2 h of them
    assert detector.rule_stats(rule.id)["held"] == 3 * 2_000


def test_a_sequences_evidence_is_its_stages_in_order_in_any_delivery(tmp_path: Path) -> None:
    rule = _rule(tmp_path, SEQUENCE)
    events = [
        _login(1, 0, "s"),  # before any failure: no evidence of "failures, then a success"
        _login(2, 60, "fp"),
        _login(3, 120, "s"),  # one failure before it: not yet the sequence
        _login(4, 3000, "fp"),  # 50 minutes later, long after the lateness of the above
        _login(5, 3060, "fp"),
        _login(6, 3100, "fp"),  # more failures than the stage needs are evidence too
        _login(7, 3200, "s"),
        _login(8, 3300, "s"),
    ]
    whole = Detector([rule], clock=None).feed(events)
    one_by_one = Detector([rule], clock=None)
    found = [d for e in events for d in one_by_one.feed([e])]
    assert [d.evidence for d in whole] == [
        ("000002", "000004", "000005", "000006", "000007", "000008")
    ]
    assert found[-1].evidence == whole[0].evidence and found[-1].count == 6
    assert found[-1].first == iso_ms(T0 + timedelta(seconds=60))
    # the successes fewer than three failures precede were forgotten: they never can be
    assert one_by_one.rule_stats(rule.id)["held"] == 6


def test_a_large_tenant_loses_no_group(tmp_path: Path) -> None:
    """One group per active user or address: the default caps keep more than 20,000."""
    rule = _rule(tmp_path, COUNT)
    detector = Detector([rule], clock=None)
    detector.feed([_fp(n, n / 100, ip=f"10.{n >> 8 & 255}.{n & 255}.1") for n in range(25_000)])
    assert detector.stats["dropped"] == 0 and detector.stats["groups"] == 25_000


@pytest.mark.parametrize(
    "select",
    [
        'type:"fp" OR type:"s"',
        "type:f*",
        'type:"fp" AND NOT type:"s"',
        'type:"fp" AND ip:"203.0.113.7"',
    ],
)
def test_a_rule_read_by_type_matches_as_its_query_does(tmp_path: Path, select: str) -> None:
    """Which rules an event's type reaches is worked out once per type; the answers are the query's."""
    body = f"select: '{select}'\ngroup_by: [ip]\nwindow: 10m\nthreshold: {{count: {{gte: 1}}}}\n"
    rule = _rule(tmp_path, body)
    kinds = ["fp", "s", "fu", "f", None, 7, ["fp"], "FP"]
    events = [
        {**_fp(n, n, ip=f"203.0.113.{n % 2 + 7}"), "type": kind} for n, kind in enumerate(kinds * 2)
    ]
    detector = Detector([rule], clock=None)
    detector.feed(events)
    assert detector.stats["matched"] == sum(1 for e in events if rule.match(e)) > 0


def test_dates_of_one_second_and_odd_digits_are_read_exactly(tmp_path: Path) -> None:
    """The second of a date is read once; another second, a bad fraction or non-ASCII digits
    are each read on their own (a date with Arabic-Indic digits stopped the detector): digits
    Auth0 never writes make no date."""
    detector = Detector([_rule(tmp_path, COUNT)], clock=None)
    dates = [
        "2026-11-20T10:00:00.001Z",
        "2026-11-20T10:00:00.999Z",
        "2026-11-20T10:00:00.0x1Z",  # no date: not counted
        "2026-11-20T10:00:00.\u0663\u0663\u0663Z",  # ٣٣٣: no date either, not counted
        "2026-11-20T10:00:01.000Z",
    ]
    events = [{**_fp(n, 0), "date": d} for n, d in enumerate(dates)]
    (found,) = detector.feed(events)
    assert detector.stats["undated"] == 2 and found.count == 3
    assert (found.first, found.last) == ("2026-11-20T10:00:00.001Z", "2026-11-20T10:00:01.000Z")


def test_addresses_group_by_their_key_without_filling_the_address_caches(tmp_path: Path) -> None:
    """Dotted IPv4 is its own key: a stream of many addresses leaves ipforms' caches alone
    (they filled over hours of a stream, serve's memory growing with them); other forms
    still group by ``address_key``."""
    from engine.ipforms import address_key, key_of, parse_address
    from engine.serve.detect import value_of

    unspecified = ".".join("0" * 4)  # no client has it: no key
    odd = ["::ffff:1.2.3.4", " 1.2.3.4 ", "010.1.1.1", unspecified, "2001:DB8::1", "fe80::1%eth0"]
    odd += ["[::1]", "256.1.1.1", "\u0661.\u0662.\u0663.\u0664", "x", "1.2.3.4.5"]
    assert [value_of("ip", t) for t in odd] == [address_key(t) or t for t in odd]
    parse_address.cache_clear()
    key_of.cache_clear()
    detector = Detector([_rule(tmp_path, COUNT)], clock=None)
    detector.feed([_fp(n, n / 100, ip=f"172.16.{n >> 8}.{n & 255}") for n in range(2000)])
    assert detector.stats["groups"] == 2000
    assert parse_address.cache_info().currsize == 0 and key_of.cache_info().currsize == 0
