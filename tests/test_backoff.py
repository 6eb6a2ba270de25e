"""One backoff and one bound on announced waits, for the connector and the step retries alike."""

from __future__ import annotations

from engine.backoff import MAX_WAIT, backoff, bounded, spread


def test_backoff_doubles_from_its_base_up_to_its_cap_with_jitter() -> None:
    for _ in range(200):
        assert 0.125 <= backoff(1, 0.25, 8.0) <= 0.375
        assert 0.5 <= backoff(3, 0.25, 8.0) <= 1.5
        assert 4.0 <= backoff(30, 0.25, 8.0) <= 12.0  # capped at 8 before the jitter
        assert 5.0 <= spread(5.0) <= 6.0


def test_an_announced_wait_is_bounded() -> None:
    assert bounded(-3.0) == 0.05 and bounded(0.0, 0.02) == 0.02
    assert bounded(86400.0) == MAX_WAIT == 60.0 and bounded(2.5) == 2.5
