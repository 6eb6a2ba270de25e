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

from luqum import tree

from engine.ipforms import keyed
from engine.logs.query import Query, field_text, parse_query
from engine.serve.rules import Match, Rule, Threshold, field_value
from engine.serve.windows import Entry, latest_sequence, latest_threshold, sequence_evidence
from engine.timeutil import date_key, iso_ms

MAX_EVIDENCE = 1000
MAX_GROUPS = (
    100_000  # live groups per rule (about 1 KB each): a flood of addresses is capped, counted
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
    """A date key (``timeutil.date_key``: ASCII digits, Auth0's form) as whole milliseconds
    since the epoch, exactly."""
    return (datetime.fromisoformat(key) - _EPOCH) // _MS


class _Dates:
    """An event's ``date`` as milliseconds, Auth0's form read once per second of event time.

    A stream carries hundreds of events in each second: the second
    (``YYYY-MM-DDTHH:MM:SS``, checked by ``date_key`` the first time) is kept
    with its milliseconds, and a date of the same second only adds its own
    three digits. Anything else is read by ``date_key`` as before.
    """

    LIMIT = 4096  # seconds kept (about an hour of a stream's event time): cleared past it

    def __init__(self) -> None:
        self.seconds: dict[str, int] = {}

    def ms(self, value: Any) -> int | None:
        if type(value) is str and len(value) == 24 and value[19] == "." and value[23] == "Z":
            base = self.seconds.get(value[:19])
            frac = value[20:23]
            if base is not None and frac.isascii() and frac.isdigit():
                return base + int(frac)
        key = date_key(value)
        if key is None:
            return None
        ms = _ms(key)
        if key is value:  # Auth0's own form (ASCII digits, timeutil): its second is reusable
            if len(self.seconds) >= self.LIMIT:
                self.seconds.clear()
            self.seconds[value[:19]] = ms - int(value[20:23])
        return ms


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
    # values per condition that counts them (a rule counting none: one tuple of Nones for all)
    distinct: Sequence[Counter[str] | None]
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
        # whether the rule's select and its stages' read the event's type and nothing
        # else: then which of them an event matches is known from its type alone
        self.by_type = all(
            _reads_type_only(m) for m in (rule.match, *(s.match for s in rule.sequence))
        )
        self.stats: Counter[str] = Counter()
        # a group_by of one top-level field: its name, and whether it is an address
        by = rule.group_by
        self.single = (
            (by[0], is_address_field(by[0])) if len(by) == 1 and "." not in by[0] else None
        )
        # no condition counts distinct values: every entry's values are this one tuple
        self.counts_only = (
            (None,) * len(self.conditions)
            if all(c.distinct_field is None for c in self.conditions)
            else None
        )

    def mask_of(self, event: Mapping[str, Any]) -> int:
        """The conditions the event matches as bits (a threshold's one, or each stage's); 0: none."""
        rule = self.rule
        if not rule.match(event):
            return 0
        if not rule.sequence:
            return 1
        mask = 0
        for n, stage in enumerate(rule.sequence):
            if stage.match(event):
                mask |= 1 << n
        return mask

    def entry_of(
        self, ms: int, log_id: str, event: Mapping[str, Any], mask: int | None = None
    ) -> Entry | None:
        """The event as this rule keeps it, or None when it is not the rule's.

        ``mask``: what ``mask_of`` gives for the event when already known (from its type).
        """
        if mask is None:
            mask = self.mask_of(event)
        if not mask:
            return None
        if self.counts_only:
            return ms, log_id, mask, self.counts_only  # one tuple of Nones shared by all
        return ms, log_id, mask, tuple([_distinct_value(event, c) for c in self.conditions])

    def group_of(self, event: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The group's values (an address by ``address_key``), and the texts as logged."""
        if self.single is not None:  # one top-level field, the common case
            name, address = self.single
            text = event.get(name)
            if type(text) is not str:
                text = field_text(text)
            if not text:
                return None
            text = bounded(text)
            value = _address_value(text) if address else text
            return (value,), (text,)
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


def _reads_type_only(match: Match) -> bool:
    """Whether ``match`` reads no field of an event but ``type`` (its query's fields; no ``where``)."""
    if match.where:
        return False
    return match.query is None or _fields_read(match.query) <= {"type"}


def _fields_read(query: Query) -> set[str]:
    """The fields a query's terms name; ``*`` for a term on the default fields."""
    node = parse_query(query.text)
    if node is None:
        return set()
    found: set[str] = set()
    todo: list[tree.Item] = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, tree.SearchField):
            found.add(item.name)
        elif item.children:
            todo.extend(item.children)
        else:
            found.add("*")  # a term (or anything else) outside a field reads the default ones
    return found


def is_address_field(name: str) -> bool:
    """Auth0's address fields: ``ip``, and ``details.request.ip`` and the like."""
    return name == "ip" or name.endswith(".ip")


def value_of(name: str, text: str) -> str:
    """A field's text as a group or distinct value: an address as one key whatever its form.

    Auth0 logs an address as it received it (``::ffff:203.0.113.9``, upper-case or
    zero-padded IPv6): one attacker in two forms is one group (``engine.ipforms``).
    """
    if is_address_field(name):
        return _address_value(text)
    return text


def _address_value(text: str) -> str:
    """``address_key(text) or text``, by ``keyed``: dotted IPv4 as Python writes it (most
    addresses) is its own key without a place in ``ipforms``' caches of parsed addresses,
    which a stream of many addresses would otherwise fill over hours (65,536 entries each,
    about 25 MB: serve's memory grew by them all through a 10-minute stream)."""
    found = keyed(text)
    return text if found is None else found[0]


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
        self._dates = _Dates()
        # the rules an event of each type may reach (most rules select a few types), each
        # with the conditions the type matches when the rule reads nothing else (else None)
        self._by_type: dict[Any, list[tuple[int, _RuleState, int | None]]] = {}

    def _states_for(self, kind: Any) -> list[tuple[int, _RuleState, int | None]]:
        plain = kind is None or type(kind) is str  # a type that is text (or none): cached
        text = kind if plain else None
        found = self._by_type.get(kind) if plain else None
        if found is not None:
            return found
        probe = {"type": kind}
        found = []
        for n, state in enumerate(self._states):
            if state.types is not None and text not in state.types:
                continue  # a type that is no text: only rules without a type filter take it
            if not state.by_type:
                found.append((n, state, None))
            elif mask := state.mask_of(probe):
                found.append((n, state, mask))
        # Auth0 has a few hundred codes; junk is not cached, nor a type that is no text
        if plain and len(self._by_type) < 4096:
            self._by_type[kind] = found
        return found

    @property
    def stats(self) -> Mapping[str, int]:
        """Events seen, undated, dated ahead of the clock, matched, too late, ungrouped; groups
        live; dropped; held (events kept in the groups' windows)."""
        out = {k: self._stats[k] for k in ("seen", "undated", "future")}
        for key in ("matched", "too_late", "ungrouped", "dropped"):
            out[key] = sum(s.stats[key] for s in self._states)
        out["groups"] = sum(len(s.groups) for s in self._states)
        out["held"] = sum(len(g.entries) for s in self._states for g in s.groups.values())
        return out

    def rule_stats(self, rule_id: str) -> Mapping[str, int]:
        """One rule's counts: matched, too_late, ungrouped, dropped, groups, held."""
        for state in self._states:
            if state.rule.id == rule_id:
                counts = {
                    k: state.stats[k] for k in ("matched", "too_late", "ungrouped", "dropped")
                }
                held = sum(len(g.entries) for g in state.groups.values())
                return {**counts, "groups": len(state.groups), "held": held}
        raise KeyError(rule_id)

    def feed(self, events: Iterable[Mapping[str, Any]]) -> list[Detection]:
        """Auth0 log objects (each log_id once), in any order: the detections that hold now."""
        batch: list[tuple[int, str, Mapping[str, Any]]] = []
        ahead = None if self.clock is None else int(self.clock() * 1000) + _FUTURE_MS
        for event in events:
            self._stats["seen"] += 1
            ms = self._dates.ms(event.get("date")) if isinstance(event, Mapping) else None
            if ms is None:
                self._stats["undated"] += 1
                continue
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
            for n, state, mask in self._states_for(event.get("type")):
                entry = state.entry_of(ms, log_id, event, mask)
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
                state.counts_only
                or [Counter() if c.distinct_field else None for c in state.conditions],
            )
            state.groups[values] = group
        if group.entries and entry < group.entries[-1]:
            insort(group.entries, entry)
        else:
            group.entries.append(entry)
        self._count(group, entry, 1)
        ms = entry[0]
        if group.new_lo is None or ms < group.new_lo:
            group.new_lo = ms
        if ms > group.new_hi:
            group.new_hi = ms
        if len(group.entries) > self.max_group_events:
            self._count(group, group.entries.pop(0), -1)
            state.stats["dropped"] += 1
        return group

    @staticmethod
    def _count(group: _Group, entry: Entry, by: int) -> None:
        mask, values = entry[2], entry[3]
        if mask == 1 and group.distinct[0] is None:  # one condition counting events: most
            group.stage_counts[0] += by
            return
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
        if entries and entries[0][0] < limit:
            cut = bisect_left(entries, (limit,))
            for entry in entries[:cut]:
                self._count(group, entry, -1)
            del entries[:cut]
        if state.rule.sequence and entries and entries[0][0] < self.watermark - state.lateness:
            self._settle(state, group)

    def _settle(self, state: _RuleState, group: _Group) -> None:
        """Drop a sequence's later-stage events that can never be part of it.

        Such an event counts, and is evidence (``sequence_evidence``), only after
        the first stage was met before it in its window. Once it is settled (past
        the lateness: no event can be placed before it any more), the events
        before it are all there will be: when the group's whole first stage cannot
        be met, or when no first-stage event precedes it, it never will be.
        (A user's own successful logins, the most common event, are kept so for
        the lateness only, instead of the window.)
        """
        assert self.watermark is not None
        entries = group.entries
        settled = bisect_left(entries, (self.watermark - state.lateness,))
        lead = 0
        while lead < settled and not entries[lead][2] & 1:
            lead += 1  # before the first first-stage event
        if _may_hold(state.conditions[0], group, 0):
            drop, keep = entries[:lead], entries[lead:]
        else:
            drop = [e for e in entries[:settled] if not e[2] & 1]
            keep = [e for e in entries[:settled] if e[2] & 1] + entries[settled:]
        if drop:
            for entry in drop:
                self._count(group, entry, -1)
            group.entries = keep

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
        if state.rule.sequence:
            window = sequence_evidence(state.conditions, group.entries, lo, hi)
        else:
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
