"""The detector: rules evaluated over Auth0 log events, in event time, in bounded memory.

Semantics (``docs/detections.md`` has them with examples):

- An event counts for a rule when its ``select`` query (the evaluator of
  ``auth0.search_logs``) and ``where`` conditions hold (for a sequence: and one
  of its stages'). Its group is the text of each ``group_by`` field; an event
  missing one (absent, null or ``""``) is not grouped, and counted.
- Time is the events' own ``date`` (any form ``engine.timeutil`` reads; an
  unreadable one is counted, never placed). The watermark is the newest date
  seen. An event older than the watermark by more than the rule's lateness is
  too late: counted, not placed (so it can never reopen a closed window).
- A threshold holds when some window of ``window`` length (both ends
  inclusive) holds at least ``count`` events and/or ``distinct`` values; a
  sequence when its stages complete in order (event date, then log_id) inside
  one window, each stage counting only events after the previous completed.
- A batch is placed in (date, log_id) order, so which windows hold, and so the
  detections' keys, do not depend on batching or on order within the lateness.
- Bounded: events older than watermark - window - lateness are forgotten; a rule
  keeps at most ``MAX_GROUPS`` groups (the least recently fed is evicted) and a
  group at most ``MAX_GROUP_EVENTS`` events (the oldest go), each counted in
  ``dropped``; a value longer than ``MAX_VALUE`` is kept as a prefix and a digest.
"""

from __future__ import annotations

import hashlib
import json
import time
from bisect import bisect_left, insort
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.ipforms import address_key
from engine.logs.query import field_text
from engine.serve.rules import Rule, Threshold, field_value
from engine.serve.windows import Entry, latest_sequence, latest_threshold
from engine.timeutil import date_key, iso_ms

MAX_EVIDENCE = 1000
MAX_GROUPS = (
    20_000  # live groups per rule (about 1 KB each): a flood of addresses is capped, counted
)
MAX_GROUP_EVENTS = 10_000  # events one group keeps in its window
# an event dated further ahead of the wall clock than this is not believed: it would move
# the watermark, and every event after it would count as too late until real time caught up
FUTURE_SKEW = timedelta(minutes=5)
_FUTURE_MS = int(FUTURE_SKEW.total_seconds() * 1000)
MAX_VALUE = 256  # characters of a group or distinct value kept as they are
MAX_FORMS = 16  # texts kept of how each group value was logged


def bounded(text: str) -> str:
    """``text``, or its head and a digest when longer than ``MAX_VALUE`` (still one value)."""
    if len(text) <= MAX_VALUE:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[: MAX_VALUE - 20]}…{digest}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _ms(key: str) -> int:
    """A date key (``timeutil.date_key``) as whole milliseconds since the epoch, exactly."""
    return (datetime.fromisoformat(key) - _EPOCH) // _MS


def _iso(ms: int) -> str:
    """An event time kept as milliseconds, as Auth0 writes a date."""
    return iso_ms(_EPOCH + ms * _MS)


@dataclass(frozen=True)
class Detection:
    rule: Rule
    group: Mapping[str, str]  # group_by field -> value (strings)
    key: str  # stable id of (rule, group): rule.id + canonical JSON of group
    first: str  # ISO dates (event time) of the evidence in the window
    last: str
    count: int  # events in the window that matched
    evidence: tuple[str, ...]  # their log_ids (at most MAX_EVIDENCE, the newest)
    # each group_by field's texts as logged, sorted: an address groups by its key
    # (engine.ipforms.address_key) and was logged in these forms
    forms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def detection_key(rule_id: str, group: Mapping[str, str]) -> str:
    return rule_id + json.dumps(dict(group), sort_keys=True, separators=(",", ":"))


@dataclass(slots=True)
class _Group:
    """One group's events in the window, and its counts over them (small: there are many)."""

    values: tuple[str, ...]
    entries: list[Entry]
    stage_counts: list[int]  # events per condition (a threshold's one, or each stage's)
    distinct: list[Counter[str] | None]  # values per condition that counts them
    new_lo: int | None = None  # the span of this batch's new events
    new_hi: int = 0
    forms: dict[int, set[str]] | None = None  # group_by index -> texts logged, when not the value


class _RuleState:
    """One rule's groups, and how it reads an event."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.window = int(rule.window.total_seconds() * 1000)
        self.lateness = int(rule.lateness.total_seconds() * 1000)
        self.conditions: tuple[Threshold, ...] = (
            tuple(s.threshold for s in rule.sequence) if rule.sequence else (rule.threshold,)  # type: ignore[assignment]
        )
        # least recently fed first: OrderedDict moves and pops its ends in O(1), where a
        # dict emptied from the front makes every next(iter()) walk the deleted slots
        self.groups: OrderedDict[tuple[str, ...], _Group] = OrderedDict()
        self.types = _type_prefilter(rule)
        self.stats: Counter[str] = Counter()

    def entry_of(self, ms: int, log_id: str, event: Mapping[str, Any]) -> Entry | None:
        """The event as this rule keeps it, or None when it is not the rule's."""
        rule = self.rule
        if not rule.match(event):
            return None
        if rule.sequence:
            mask = 0
            for n, stage in enumerate(rule.sequence):
                if stage.match(event):
                    mask |= 1 << n
            if not mask:
                return None
        else:
            mask = 1
        values = tuple(_distinct_value(event, c) for c in self.conditions)
        return ms, log_id, mask, values

    def group_of(self, event: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The group's values (an address by ``address_key``), and the texts as logged."""
        values = []
        logged = []
        for name in self.rule.group_by:
            text = field_text(field_value(event, name))
            if not text:
                return None
            text = bounded(text)
            logged.append(text)
            values.append(value_of(name, text))
        return tuple(values), tuple(logged)


def _type_prefilter(rule: Rule) -> frozenset[str] | None:
    """The ``type`` values any event of the rule must have, when its queries say (fast path)."""
    queries = [rule.match.query] if rule.match.query is not None else []
    if rule.match.query is None and rule.sequence:
        queries = [s.match.query for s in rule.sequence if s.match.query is not None]
        if len(queries) != len(rule.sequence):
            return None
    if not queries:
        return None
    types: set[str] = set()
    for query in queries:
        allowed = query.hints.eq.get("type")
        if allowed is None:
            return None
        types |= allowed
    return frozenset(types)


def is_address_field(name: str) -> bool:
    """Auth0's address fields: ``ip``, and ``details.request.ip`` and the like."""
    return name == "ip" or name.endswith(".ip")


def value_of(name: str, text: str) -> str:
    """A field's text as a group or distinct value: an address as one key whatever its form.

    Auth0 logs an address as it received it (``::ffff:203.0.113.9``, upper-case or
    zero-padded IPv6): one attacker in two forms is one group (``engine.ipforms``).
    """
    if is_address_field(name):
        return address_key(text) or text
    return text


def _distinct_value(event: Mapping[str, Any], condition: Threshold) -> str | None:
    name = condition.distinct_field
    if name is None:
        return None
    text = field_text(field_value(event, name))
    return value_of(name, bounded(text)) if text else None


class Detector:
    """Rules over a stream of Auth0 log events; ``feed`` returns what holds after each batch."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        max_groups: int = MAX_GROUPS,
        max_group_events: int = MAX_GROUP_EVENTS,
        clock: Callable[[], float] | None = time.time,
    ) -> None:
        """``clock``: the wall clock (seconds) an event's date may run ahead of by at most
        ``FUTURE_SKEW``; None for none (a rule's own tests, dated as their author wrote them)."""
        self.rules = tuple(rules)
        self.clock = clock
        self.max_groups = max_groups
        self.max_group_events = max_group_events
        self._states = [_RuleState(r) for r in self.rules]
        self.horizon: timedelta = max(
            (r.window + r.lateness for r in self.rules), default=timedelta(0)
        )
        self.watermark: int | None = None  # ms of the newest event date seen
        self._swept = 0
        self._sweep_every = max(
            1000, min((s.window + s.lateness for s in self._states), default=0) // 4
        )
        self._stats: Counter[str] = Counter()
        # the rules an event of each type may reach (most rules select a few types)
        self._by_type: dict[Any, list[tuple[int, _RuleState]]] = {}

    def _states_for(self, kind: Any) -> list[tuple[int, _RuleState]]:
        if not isinstance(kind, str):
            kind = None  # a type that is no text: only rules without a type filter may take it
        found = self._by_type.get(kind)
        if found is None:
            found = [
                (n, s) for n, s in enumerate(self._states) if s.types is None or kind in s.types
            ]
            if len(self._by_type) < 4096:  # Auth0 has a few hundred codes; junk is not cached
                self._by_type[kind] = found
        return found

    @property
    def stats(self) -> Mapping[str, int]:
        """Events seen, undated, dated ahead of the clock, matched, too late, ungrouped; groups live; dropped."""
        out = {k: self._stats[k] for k in ("seen", "undated", "future")}
        for key in ("matched", "too_late", "ungrouped", "dropped"):
            out[key] = sum(s.stats[key] for s in self._states)
        out["groups"] = sum(len(s.groups) for s in self._states)
        return out

    def rule_stats(self, rule_id: str) -> Mapping[str, int]:
        """One rule's counts: matched, too_late, ungrouped, dropped, groups."""
        for state in self._states:
            if state.rule.id == rule_id:
                counts = {
                    k: state.stats[k] for k in ("matched", "too_late", "ungrouped", "dropped")
                }
                return {**counts, "groups": len(state.groups)}
        raise KeyError(rule_id)

    def feed(self, events: Iterable[Mapping[str, Any]]) -> list[Detection]:
        """Auth0 log objects (each log_id once), in any order: the detections that hold now."""
        batch: list[tuple[int, str, Mapping[str, Any]]] = []
        ahead = None if self.clock is None else int(self.clock() * 1000) + _FUTURE_MS
        for event in events:
            self._stats["seen"] += 1
            key = date_key(event.get("date")) if isinstance(event, Mapping) else None
            if key is None:
                self._stats["undated"] += 1
                continue
            ms = _ms(key)
            if ahead is not None and ms > ahead:
                self._stats["future"] += 1  # counted, never let move the watermark
                continue
            log_id = event.get("log_id")
            batch.append((ms, log_id[:128] if isinstance(log_id, str) else "", event))
        batch.sort(key=lambda b: (b[0], b[1]))
        touched: dict[tuple[int, tuple[str, ...]], _Group] = {}
        for ms, log_id, event in batch:
            if self.watermark is None or ms > self.watermark:
                self.watermark = ms
            for n, state in self._states_for(event.get("type")):
                entry = state.entry_of(ms, log_id, event)
                if entry is None:
                    continue
                state.stats["matched"] += 1
                if ms < self.watermark - state.lateness:
                    state.stats["too_late"] += 1
                    continue
                grouped = state.group_of(event)
                if grouped is None:
                    state.stats["ungrouped"] += 1
                    continue
                values, logged = grouped
                group = self._place(state, values, entry)
                if logged != values:
                    _note_forms(group, values, logged)
                touched[(n, values)] = group
        found = []
        for (n, _values), group in touched.items():
            state = self._states[n]
            if state.groups.get(group.values) is not group:
                continue  # evicted in this very batch
            detection = self._evaluate(state, group)  # before forgetting: a batch may span hours
            self._forget(state, group)
            group.new_lo = None
            if detection is not None:
                found.append(detection)
        if self.watermark is not None and self.watermark - self._swept >= self._sweep_every:
            self._sweep()
        found.sort(key=lambda d: (d.last, d.key))
        return found

    # -- state ------------------------------------------------------------------
    def _place(self, state: _RuleState, values: tuple[str, ...], entry: Entry) -> _Group:
        group = state.groups.get(values)
        if group is not None:
            state.groups.move_to_end(values)  # the most recently fed last
        else:
            if len(state.groups) >= self.max_groups:
                _, oldest = state.groups.popitem(last=False)
                state.stats["dropped"] += len(oldest.entries)
            group = _Group(
                values,
                [],
                [0] * len(state.conditions),
                [Counter() if c.distinct_field else None for c in state.conditions],
            )
            state.groups[values] = group
        if group.entries and entry < group.entries[-1]:
            insort(group.entries, entry)
        else:
            group.entries.append(entry)
        self._count(group, entry, 1)
        ms = entry[0]
        group.new_lo = ms if group.new_lo is None else min(group.new_lo, ms)
        group.new_hi = max(group.new_hi, ms)
        if len(group.entries) > self.max_group_events:
            self._count(group, group.entries.pop(0), -1)
            state.stats["dropped"] += 1
        return group

    @staticmethod
    def _count(group: _Group, entry: Entry, by: int) -> None:
        mask, values = entry[2], entry[3]
        for n, value in enumerate(values):
            if mask >> n & 1:
                group.stage_counts[n] += by
                counter = group.distinct[n]
                if value is not None and counter is not None:
                    counter[value] += by
                    if counter[value] <= 0:
                        del counter[value]

    def _forget(self, state: _RuleState, group: _Group) -> None:
        """Drop the group's events that no window within the lateness can reach any more."""
        assert self.watermark is not None
        limit = self.watermark - state.window - state.lateness
        entries = group.entries
        cut = bisect_left(entries, (limit,))
        for entry in entries[:cut]:
            self._count(group, entry, -1)
        del entries[:cut]

    def _sweep(self) -> None:
        """Forget the groups whose newest event no window can reach any more.

        Groups are kept in the order they were last fed, so the stale ones are at
        the front: the sweep stops at the first group still in reach (its cost is
        the groups it forgets, not all groups). A group that is fed again forgets
        its own old events then (``_forget``).
        """
        assert self.watermark is not None
        self._swept = self.watermark
        for state in self._states:
            limit = self.watermark - state.window - state.lateness
            groups = state.groups
            while groups:
                values = next(iter(groups))
                newest = groups[values].entries
                if newest and newest[-1][0] >= limit:
                    break
                groups.popitem(last=False)

    # -- evaluation -------------------------------------------------------------
    def _evaluate(self, state: _RuleState, group: _Group) -> Detection | None:
        if group.new_lo is None or not group.entries:
            return None
        if not all(_may_hold(c, group, n) for n, c in enumerate(state.conditions)):
            return None  # the whole group cannot reach it: no window can
        first, last = _candidates(state, group)
        if state.rule.sequence:
            span = latest_sequence(group.entries, state.conditions, state.window, first, last)
        else:
            span = latest_threshold(group.entries, state.conditions[0], state.window, first, last)
        if span is None:
            return None
        lo, hi = span
        window = group.entries[lo : hi + 1]
        rule = state.rule
        named = dict(zip(rule.group_by, group.values, strict=True))
        ids = tuple(e[1] for e in window[-MAX_EVIDENCE:] if e[1])
        return Detection(
            rule=rule,
            group=named,
            key=detection_key(rule.id, named),
            first=_iso(window[0][0]),
            last=_iso(window[-1][0]),
            count=len(window),
            evidence=ids,
            forms=_forms(rule.group_by, group),
        )


def _may_hold(condition: Threshold, group: _Group, n: int) -> bool:
    if condition.count is not None and group.stage_counts[n] < condition.count:
        return False
    counter = group.distinct[n]
    return not (
        condition.distinct is not None and counter is not None and len(counter) < condition.distinct
    )


def _note_forms(group: _Group, values: tuple[str, ...], logged: tuple[str, ...]) -> None:
    """Keep the texts an address was logged in that are not its key (a few per field)."""
    forms = group.forms if group.forms is not None else {}
    group.forms = forms
    for n, (value, text) in enumerate(zip(values, logged, strict=True)):
        if value != text:
            seen = forms.setdefault(n, {value})
            if len(seen) < MAX_FORMS:
                seen.add(text)


def _forms(names: tuple[str, ...], group: _Group) -> dict[str, tuple[str, ...]]:
    """Each group_by field's texts as logged, sorted (its value alone when only that was seen)."""
    forms = group.forms or {}
    return {
        name: tuple(sorted(forms.get(n, {value})))
        for n, (name, value) in enumerate(zip(names, group.values, strict=True))
    }


def _candidates(state: _RuleState, group: _Group) -> tuple[int, int]:
    """The index range of window ends a new event can have changed."""
    assert group.new_lo is not None
    entries = group.entries
    first = bisect_left(entries, (group.new_lo,))
    last = bisect_left(entries, (group.new_hi + state.window + 1,))
    return first, last
