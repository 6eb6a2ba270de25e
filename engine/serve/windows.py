"""Which windows hold: a threshold or a sequence over one group's events, in time order.

A group's events are ``Entry`` tuples sorted by (date in milliseconds, log_id);
these functions find the latest window of a given length (both ends included)
that holds, among the windows ending at the events a batch may have changed
(``engine.serve.detect`` decides which).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

from engine.serve.rules import Threshold

# an event as a rule keeps it: (ms, log_id, stages matched as bits, distinct value per
# condition: the threshold's one, or each stage's); its date is the ms (iso_ms gives it back)
Entry = tuple[int, str, int, tuple[str | None, ...]]
Span = tuple[int, int]  # the first and last index of a window's events


def holds(condition: Threshold, count: int, distinct: int) -> bool:
    """Whether ``count`` events with ``distinct`` values meet the threshold (none: one event)."""
    if condition.count is not None and count < condition.count:
        return False
    if condition.distinct is not None and distinct < condition.distinct:
        return False
    return condition.count is not None or condition.distinct is not None or count >= 1


def latest_threshold(
    entries: list[Entry], condition: Threshold, window: int, first: int, last: int
) -> Span | None:
    """The latest window that holds, ending at an index in ``[first, last)``.

    ``window`` is in milliseconds. Two pointers, so linear in the events.
    """
    if first >= last:
        return None
    i = bisect_left(entries, (entries[first][0] - window,))
    if condition.distinct is None:  # a count alone: the index span is the count
        best = None
        for j in range(first, last):
            while entries[i][0] < entries[j][0] - window:
                i += 1
            if holds(condition, j - i + 1, 0):
                best = (i, j)
        return best
    seen: Counter[str] = Counter()
    for e in entries[i:first]:
        if e[3][0] is not None:
            seen[e[3][0]] += 1
    best = None
    for j in range(first, last):
        ms, value = entries[j][0], entries[j][3][0]
        if value is not None:
            seen[value] += 1
        while entries[i][0] < ms - window:
            old = entries[i][3][0]
            if old is not None:
                seen[old] -= 1
                if not seen[old]:
                    del seen[old]
            i += 1
        if holds(condition, j - i + 1, len(seen)):
            best = (i, j)
    return best


def latest_sequence(
    entries: list[Entry], conditions: tuple[Threshold, ...], window: int, first: int, last: int
) -> Span | None:
    """The latest window that holds the sequence, ending at an index in ``[first, last)``.

    Only an event of the last stage can end a minimal holding window, and the
    window ending at it holds whenever a later one does: so only those ends are
    tried (a flood of first-stage events costs nothing until the last stage comes).
    """
    final = 1 << (len(conditions) - 1)
    for j in range(last - 1, first - 1, -1):
        if not entries[j][2] & final:
            continue
        i = bisect_left(entries, (entries[j][0] - window,))
        if sequence_holds(conditions, entries, i, j):
            return i, j
    return None


def sequence_holds(conditions: tuple[Threshold, ...], entries: list[Entry], i: int, j: int) -> bool:
    """Each stage reaches its threshold, in order, within entries[i..j] (greedy: earliest)."""
    return _walk(conditions, entries, i, j, None)


def sequence_evidence(
    conditions: tuple[Threshold, ...], entries: list[Entry], i: int, j: int
) -> list[Entry]:
    """The events of entries[i..j] that are evidence of the sequence: each event of a stage
    reached by then (the first stage's from the start; a later stage's once the stages
    before it were met). A success before the failures it would follow is not evidence.
    """
    kept: list[Entry] = []
    _walk(conditions, entries, i, j, kept)
    return kept


def _walk(
    conditions: tuple[Threshold, ...],
    entries: list[Entry],
    i: int,
    j: int,
    kept: list[Entry] | None,
) -> bool:
    """The greedy walk of ``sequence_holds``; ``kept`` (when given) gets ``sequence_evidence``."""
    stage = 0
    count = 0
    seen: set[str] = set()
    reached = 1  # the stages reached so far, as bits
    done = False
    for e in entries[i : j + 1]:
        if kept is not None and e[2] & reached:
            kept.append(e)
        if done or not e[2] >> stage & 1:
            continue
        count += 1
        value = e[3][stage]
        if value is not None:
            seen.add(value)
        if holds(conditions[stage], count, len(seen)):
            stage += 1
            if stage == len(conditions):
                if kept is None:
                    return True
                done = True  # the rest of the window: each event of any stage is evidence
                continue
            reached |= 1 << stage
            count, seen = 0, set()
    return done
